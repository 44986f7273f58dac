"""Table of inbound alerting webhook registrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class AlertWebhook(Base):
    """A secret URL at which a monitoring tool posts alerts that become events on a bus.

    Only the SHA-256 digest of the URL's token is stored, so a copy of the
    database does not reveal working webhook URLs. A revoked registration
    keeps its row, so ``tocsin webhook list`` still shows it, but its URL
    returns 404.
    """

    __tablename__ = "alert_webhooks"

    webhook_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID
    account_id: Mapped[str] = mapped_column(String(12), index=True)
    # Hex SHA-256 digest of the token in the webhook's URL.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # Payload format: alertmanager, grafana or generic.
    format: Mapped[str] = mapped_column(String(16))
    # Name of the event bus in the account that receives the events.
    bus_name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
