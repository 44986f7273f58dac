"""Tables of contacts, contact channels, rotations, resource tags and the development outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class Contact(Base):
    """A personal contact, an escalation plan or an on-call schedule."""

    __tablename__ = "contacts"
    # Aliases are unique per account in every Region, because Incident Manager
    # replicates contacts to all Regions of the replication set.
    __table_args__ = (UniqueConstraint("account_id", "alias"),)

    arn: Mapped[str] = mapped_column(String(512), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    alias: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    # The Plan member as the API shows it: {"Stages": [...]} and, for an
    # ONCALL_SCHEDULE contact, "RotationIds" too.
    plan: Mapped[dict[str, Any]]
    # Resource policy from PutContactPolicy, as the JSON text the owner sent.
    policy: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContactChannel(Base):
    """An SMS, voice or email address of a contact, and its activation state.

    The engagement engine must page only channels whose ``activation_status``
    is ACTIVATED.
    """

    __tablename__ = "contact_channels"
    __table_args__ = (
        UniqueConstraint("contact_arn", "type", "address"),
        Index("ix_contact_channels_contact_arn_created_at", "contact_arn", "created_at"),
    )

    channel_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID
    arn: Mapped[str] = mapped_column(String(560), unique=True)
    contact_arn: Mapped[str] = mapped_column(ForeignKey("contacts.arn", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(320))
    activation_status: Mapped[str] = mapped_column(String(16))
    # HMAC-SHA256 of the pending activation code; the code itself is never stored.
    code_digest: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None]
    # Number of codes issued so far; a delivery job sends only the newest code.
    code_serial: Mapped[int] = mapped_column(Integer, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Send times of recent codes, ISO-8601, for the hourly send limit.
    code_sends: Mapped[list[Any]] = mapped_column(default=list)
    activated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ResourceTag(Base):
    """One tag of a taggable ssm-contacts resource (a contact or a rotation), by ARN."""

    __tablename__ = "contacts_resource_tags"

    resource_arn: Mapped[str] = mapped_column(String(1011), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    account_id: Mapped[str] = mapped_column(String(12), index=True)


class OutboxMessage(Base):
    """A message that no delivery provider was configured to send.

    Development servers and tests read these in place of a real inbox. The
    body is stored as sent, activation codes included, so production servers
    configure SMTP and providers instead.
    """

    __tablename__ = "contacts_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Idempotency key of the send; a retried job does not write a second row.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    account_id: Mapped[str] = mapped_column(String(12), index=True)
    channel_arn: Mapped[str] = mapped_column(String(560))
    channel_type: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Rotation(Base):
    """An on-call rotation: contacts in shift order, a time zone and a recurrence."""

    __tablename__ = "rotations"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    arn: Mapped[str] = mapped_column(String(512), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(255))
    # Contact ARNs in shift order.
    contact_ids: Mapped[list[Any]]
    start_time: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(255))
    # The RecurrenceSettings member as the API shows it.
    recurrence: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RotationOverride(Base):
    """Contacts that replace a rotation's on-call contacts from ``start_time`` to ``end_time``."""

    __tablename__ = "rotation_overrides"
    __table_args__ = (
        Index("ix_rotation_overrides_rotation_arn_start_time", "rotation_arn", "start_time"),
    )

    override_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID
    rotation_arn: Mapped[str] = mapped_column(ForeignKey("rotations.arn", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(String(12))
    contact_ids: Mapped[list[Any]]
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    created_at: Mapped[datetime]
