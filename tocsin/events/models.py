"""Tables of EventBridge event buses, rules and rule targets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class EventBus(Base):
    """An event bus of one account and Region.

    The default bus gets a row only when something is stored on it, such as a
    permission. Until then it exists without a row, because every account
    has a ``default`` bus in EventBridge.
    """

    __tablename__ = "event_buses"
    __table_args__ = (
        UniqueConstraint("account_id", "region", "name", name="uq_event_buses_account_name"),
    )

    arn: Mapped[str] = mapped_column(String(1600), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(String(512))
    # The resource-based policy as JSON text, or None when the bus has none.
    policy: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_modified_at: Mapped[datetime]


class EventRule(Base):
    """A rule on an event bus: an event pattern and whether it is enabled."""

    __tablename__ = "event_rules"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "region", "bus_name", "name", name="uq_event_rules_bus_name"
        ),
    )

    arn: Mapped[str] = mapped_column(String(1600), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    bus_name: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(64))
    event_pattern: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(48))
    description: Mapped[str | None] = mapped_column(String(512))
    role_arn: Mapped[str | None] = mapped_column(String(1600))
    created_at: Mapped[datetime]


class EventTarget(Base):
    """One target of a rule: where matching events go, and how they are transformed."""

    __tablename__ = "event_targets"
    __table_args__ = (
        UniqueConstraint("rule_arn", "target_id", name="uq_event_targets_rule_target"),
        Index("ix_event_targets_arn", "arn"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_arn: Mapped[str] = mapped_column(String(1600))
    target_id: Mapped[str] = mapped_column(String(64))
    arn: Mapped[str] = mapped_column(String(1600))
    role_arn: Mapped[str | None] = mapped_column(String(1600))
    input: Mapped[str | None] = mapped_column(Text)
    input_path: Mapped[str | None] = mapped_column(String(256))
    # InputTransformer in its wire form: {"InputPathsMap": {...}, "InputTemplate": "..."}.
    input_transformer: Mapped[dict[str, Any] | None]
