"""Tables of engagements, the pages they send to personal contacts, and page receipts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class Engagement(Base):
    """One StartEngagement of a personal contact, an escalation plan or an on-call schedule.

    The engagement belongs to the account that owns the engaged contact, also
    when an account that the contact is shared with started it.
    """

    __tablename__ = "engagements"
    __table_args__ = (
        Index("ix_engagements_account_id_start_time", "account_id", "start_time"),
        Index("ix_engagements_contact_arn_start_time", "contact_arn", "start_time"),
    )

    arn: Mapped[str] = mapped_column(String(600), primary_key=True)
    engagement_id: Mapped[str] = mapped_column(String(36), unique=True)  # UUID
    account_id: Mapped[str] = mapped_column(String(12))
    # Account of the caller that started the engagement.
    started_by: Mapped[str] = mapped_column(String(12))
    contact_arn: Mapped[str] = mapped_column(String(512))
    contact_type: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    public_subject: Mapped[str | None] = mapped_column(Text)
    public_content: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[str | None] = mapped_column(String(1024), index=True)
    # The escalation plan's Stages as they were when the engagement started;
    # empty for a personal contact or an on-call schedule engaged directly.
    stages: Mapped[list[Any]]
    # Indexes of the escalation stages that have started, so a stage starts once.
    started_stages: Mapped[list[Any]]
    start_time: Mapped[datetime]
    stop_time: Mapped[datetime | None]
    stop_reason: Mapped[str | None] = mapped_column(String(255))
    # Set when an essential target acknowledged, which ends the escalation.
    escalation_ended_at: Mapped[datetime | None]


class Page(Base):
    """The engagement of one personal contact: its own plan's stages, run from ``start_time``."""

    __tablename__ = "pages"
    __table_args__ = (
        Index("ix_pages_engagement_arn_start_time", "engagement_arn", "start_time"),
        Index("ix_pages_contact_arn_start_time", "contact_arn", "start_time"),
    )

    arn: Mapped[str] = mapped_column(String(600), primary_key=True)
    page_id: Mapped[str] = mapped_column(String(36), unique=True)  # UUID
    # Account of the paged personal contact.
    account_id: Mapped[str] = mapped_column(String(12))
    engagement_arn: Mapped[str] = mapped_column(ForeignKey("engagements.arn", ondelete="CASCADE"))
    contact_arn: Mapped[str] = mapped_column(String(512))
    # The escalation stage that paged the contact; None when it was engaged directly.
    stage_index: Mapped[int | None] = mapped_column(Integer)
    essential: Mapped[bool]
    # ResolutionContact items from the engaged contact down to this personal contact.
    resolution: Mapped[list[Any]]
    # The personal contact's Stages as they were when the page started.
    stages: Mapped[list[Any]]
    # pages.DERIVED_ACCEPT_CODE when the code is derived from page_id and the
    # server's secret key. Older rows contain the code as a Fernet token of that key.
    accept_code: Mapped[str] = mapped_column(Text)
    start_time: Mapped[datetime]
    sent_time: Mapped[datetime | None]
    delivery_time: Mapped[datetime | None]
    read_time: Mapped[datetime | None]
    stop_time: Mapped[datetime | None]


class PageReceipt(Base):
    """One SENT, DELIVERED, READ, ERROR or STOP event of a page."""

    __tablename__ = "page_receipts"
    __table_args__ = (Index("ix_page_receipts_page_arn_id", "page_arn", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    page_arn: Mapped[str] = mapped_column(ForeignKey("pages.arn", ondelete="CASCADE"))
    channel_arn: Mapped[str | None] = mapped_column(String(560))
    receipt_type: Mapped[str] = mapped_column(String(16))
    receipt_info: Mapped[str | None] = mapped_column(Text)
    receipt_time: Mapped[datetime]
    # Idempotency key of the send that a SENT receipt records, so a send is recorded once.
    send_key: Mapped[str | None] = mapped_column(String(255), unique=True)
