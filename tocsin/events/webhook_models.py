"""Tables of inbound alerting webhook registrations and of the alert groups posted to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, Text, false, text
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
    # Payload format: alertmanager, grafana, generic or sns.
    format: Mapped[str] = mapped_column(String(16))
    # Name of the event bus in the account that receives the events.
    bus_name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    # If true, an alert group whose alerts have all resolved resolves its open incidents.
    resolve_incidents: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Maximum posts per minute; NULL means the server's TOCSIN_WEBHOOK_MAX_PER_MINUTE.
    max_per_minute: Mapped[int | None]
    # The current one-minute quota window: its start, the posts counted in it,
    # and whether the first rejected post of the window has been reported.
    window_start: Mapped[datetime | None]
    window_posts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    window_noticed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AlertGroup(Base):
    """The state of one alert group (Alertmanager's groupKey) posted to one webhook.

    Incidents that the group's alerts start carry ``group_id`` in
    ``incident_records.alert_group``, so that a later post of the group can
    find them.
    """

    __tablename__ = "alert_groups"

    # Hex SHA-256 digest of the webhook id and the group key.
    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(36), index=True)
    group_key: Mapped[str] = mapped_column(Text)
    # "firing" or "resolved": the status of the group's latest post.
    status: Mapped[str] = mapped_column(String(16))
    # Alert resolutions already written to timelines since the group last
    # started firing, as "FINGERPRINT ENDS_AT" strings, so a repeated
    # resolution is recorded once.
    recorded_resolutions: Mapped[list[Any]]
    updated_at: Mapped[datetime]
