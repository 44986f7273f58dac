"""Per-webhook post quotas: at most N posts per minute, counted in the database.

Each webhook counts its posts in fixed one-minute windows that start on
the minute of the server clock. The count is a column of the webhook's row
and grows with one UPDATE per post, so it survives restarts and every
server process on one database shares it. A post over the limit is
rejected with the seconds left in the window. The first rejection of a
window adds one notice to the timeline of each open incident that the
webhook's alert groups started, or logs a warning when there is none.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, case, false, true, update
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.events import alert_groups
from tocsin.events.webhook_models import AlertWebhook
from tocsin.incidents import timeline

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)
QUOTA_EVENT = "Tocsin Webhook Quota Exceeded"


@dataclass(frozen=True)
class QuotaRejection:
    """A post over its webhook's limit, and when the sender may post again."""

    webhook_id: str
    max_per_minute: int
    window_start: datetime
    retry_after_seconds: int

    @property
    def message(self) -> str:
        return (
            f"Webhook {self.webhook_id} accepts at most {self.max_per_minute} posts per minute; "
            f"send this one again in {self.retry_after_seconds} seconds."
        )


class WebhookQuotaExceeded(Exception):
    """A post that its webhook's quota rejects."""

    def __init__(self, rejection: QuotaRejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


def window_of(moment: datetime) -> datetime:
    """Return the start of the one-minute window that contains ``moment``."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


_WEBHOOKS = cast(Table, AlertWebhook.__table__)
_SAME_WINDOW = _WEBHOOKS.c.window_start == bindparam("post_window")
# One statement reads and increments the count, so concurrent posts cannot
# lose counts. Every SET expression reads the row's old values. It is built
# once, because building it costs more CPU than running it.
_COUNT_POST = (
    update(_WEBHOOKS)
    .where(_WEBHOOKS.c.webhook_id == bindparam("counted_webhook"))
    .values(
        window_posts=case((_SAME_WINDOW, _WEBHOOKS.c.window_posts + 1), else_=1),
        window_noticed=case((_SAME_WINDOW, _WEBHOOKS.c.window_noticed), else_=false()),
        window_start=bindparam("post_window"),
    )
    .returning(_WEBHOOKS.c.window_posts)
)


def count_post(
    session: Session, clock: Clock, webhook: AlertWebhook, default_max_per_minute: int
) -> QuotaRejection | None:
    """Count one post of ``webhook`` and return a rejection when it is over the limit.

    The webhook's own ``max_per_minute`` wins over ``default_max_per_minute``.
    Rejected posts count too, so a sender that keeps posting does not get
    through before the window ends. The caller's transaction holds the
    webhook row's lock from here until it ends.
    """
    now = clock.now()
    window_start = window_of(now)
    limit = webhook.max_per_minute or default_max_per_minute
    same_window = AlertWebhook.window_start == window_start
    posts = (
        session.connection()
        .execute(_COUNT_POST, {"counted_webhook": webhook.webhook_id, "post_window": window_start})
        .scalar_one()
    )
    if posts <= limit:
        return None

    remaining = (window_start + WINDOW - now).total_seconds()
    rejection = QuotaRejection(
        webhook.webhook_id, limit, window_start, max(1, math.ceil(remaining))
    )
    first = session.execute(
        update(AlertWebhook)
        .where(
            AlertWebhook.webhook_id == webhook.webhook_id,
            same_window,
            AlertWebhook.window_noticed.is_(False),
        )
        .values(window_noticed=true())
        .execution_options(synchronize_session=False)
    )
    if first.rowcount == 1:  # type: ignore[attr-defined]
        _notify(session, clock, webhook, rejection)
    return rejection


def _notify(
    session: Session, clock: Clock, webhook: AlertWebhook, rejection: QuotaRejection
) -> None:
    """Report the first rejected post of a window where the people on the incident see it."""
    window_end = rejection.window_start + WINDOW
    text = (
        f"Webhook {webhook.webhook_id} went over its limit of {rejection.max_per_minute} posts "
        f"per minute at {clock.now():%H:%M:%S} UTC. It rejects posts with HTTP 429 until "
        f"{window_end:%H:%M} UTC, and alerts in them are lost unless the sender retries."
    )
    data = {
        "summary": text,
        "webhookId": webhook.webhook_id,
        "maxPerMinute": rejection.max_per_minute,
        "windowStart": rejection.window_start.isoformat(),
    }
    group_ids = alert_groups.webhook_group_ids(session, webhook.webhook_id)
    incidents = alert_groups.open_incidents(session, group_ids)
    for incident in incidents:
        timeline.add(session, clock, incident, QUOTA_EVENT, data)
    if incidents:
        logger.info(
            "webhook %s of account %s is over its limit of %d posts per minute; "
            "noted on %d incident timeline(s)",
            webhook.webhook_id,
            webhook.account_id,
            rejection.max_per_minute,
            len(incidents),
        )
        return
    logger.warning(
        "webhook %s of account %s is over its limit of %d posts per minute; it rejects "
        "posts until %s and no open incident of its alerts records this",
        webhook.webhook_id,
        webhook.account_id,
        rejection.max_per_minute,
        f"{window_end:%Y-%m-%dT%H:%M:%SZ}",
    )
