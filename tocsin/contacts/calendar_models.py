"""Table of iCalendar feeds of on-call shifts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class CalendarFeed(Base):
    """A secret feed URL that serves the on-call shifts of one rotation or contact.

    Only the SHA-256 digest of the URL's token is stored, so a copy of the
    database does not reveal working feed URLs.
    """

    __tablename__ = "calendar_feeds"

    feed_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID
    account_id: Mapped[str] = mapped_column(String(12), index=True)
    # Hex SHA-256 digest of the token in the feed's URL.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The rotation or contact ARN as stored on that resource.
    target_arn: Mapped[str] = mapped_column(String(512))
    # Creation time of the target when the feed was made. A rotation or contact
    # deleted and created again under the same name has another creation time,
    # so the feed does not start serving the new resource.
    target_created_at: Mapped[datetime]
    created_at: Mapped[datetime]
    last_fetched_at: Mapped[datetime | None]
