"""Tables of Incident Manager preparation: replication sets, response plans, policies and tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class ReplicationSet(Base):
    """The one replication set of an account, which switches Incident Manager on for it."""

    __tablename__ = "incident_replication_sets"

    # One per account, so the account id is the key and a second insert fails.
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    set_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    # Region name -> {"sseKmsKeyId", "status", "statusMessage", "statusUpdateDateTime"},
    # with the time as an ISO 8601 string.
    regions: Mapped[dict[str, Any]]
    deletion_protected: Mapped[bool]
    created_by: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime]
    last_modified_by: Mapped[str] = mapped_column(String(1000))
    last_modified_at: Mapped[datetime]

    @property
    def arn(self) -> str:
        return f"arn:aws:ssm-incidents::{self.account_id}:replication-set/{self.set_id}"


class ResponsePlan(Base):
    """A response plan: the template and automatic actions of the incidents started from it."""

    __tablename__ = "incident_response_plans"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # The IncidentTemplate structure as it travels on the wire.
    incident_template: Mapped[dict[str, Any]]
    chat_channel: Mapped[dict[str, Any] | None]
    engagements: Mapped[list[Any]]
    actions: Mapped[list[Any]]
    integrations: Mapped[list[Any]]
    created_at: Mapped[datetime]
    last_modified_at: Mapped[datetime]

    @property
    def arn(self) -> str:
        return f"arn:aws:ssm-incidents::{self.account_id}:response-plan/{self.name}"


class ResourcePolicy(Base):
    """A resource policy attached to a response plan, which shares it with other accounts."""

    __tablename__ = "incident_resource_policies"

    policy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("incident_response_plans.id", ondelete="CASCADE"), index=True
    )
    document: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class IncidentTag(Base):
    """One tag of an Incident Manager resource, which any resource type with an ARN can use."""

    __tablename__ = "incident_tags"
    __table_args__ = (Index("ix_incident_tags_account_id", "account_id"),)

    resource_arn: Mapped[str] = mapped_column(String(1000), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))
