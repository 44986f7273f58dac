"""Inbound alerting webhooks: secret URLs at which monitoring tools post alerts.

A registration belongs to one account and names a payload format
(alertmanager, grafana, generic or sns) and an event bus of the account. Its URL
``/webhooks/{token}`` carries a random token, and the database stores only
the token's SHA-256 digest: the token has 256 bits of entropy, so a plain
digest cannot be reversed or guessed, and lookups need no server key.

A body posted to the URL is converted to events (see ``webhook_formats``,
and ``webhook_sns`` for the sns format),
and every event is put on the registration's bus in one transaction. The
events and the jobs that match them against the bus's rules are therefore
stored before the sender gets its response. Rules then route them to
response plans, other buses or SNS topics like any other event.

In the same transaction, the post is first counted against the
registration's quota of posts per minute (see ``webhook_quotas``). Posts
that name an alert group update the group's state and its incidents (see
``alert_groups``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.events import alert_groups, buses, ingest, webhook_formats, webhook_quotas, webhook_sns
from tocsin.events.webhook_formats import AlertEvent, convert, parse_body
from tocsin.events.webhook_models import AlertWebhook
from tocsin.iam.models import Account
from tocsin.incidents.models import ReplicationSet
from tocsin.store.database import Database

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32
# secrets.token_urlsafe(32) yields 43 characters of the URL-safe base64 alphabet.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# EventBridge event bus names: 1 to 256 of these characters.
_BUS_NAME = re.compile(r"^[A-Za-z0-9._\-/]{1,256}$")
# Region of the events of an account that has no replication set.
DEFAULT_REGION = "us-east-1"
# A post updates last_used_at only when the stored value is older than this,
# so the column records the last use to the minute.
USE_RECORD_INTERVAL = timedelta(minutes=1)
# Upper bound of a webhook's own --max-per-minute.
MAX_PER_MINUTE_LIMIT = 1_000_000
FORMATS = (*webhook_formats.FORMATS, webhook_sns.SNS)
# Built once, because every post runs it and building it costs more CPU than running it.
_FIND_BY_DIGEST = select(AlertWebhook).where(AlertWebhook.token_digest == bindparam("digest"))


class WebhookError(ValueError):
    """A registration that cannot be created, found or revoked, with a message for the operator."""


class WebhookBusMissing(LookupError):
    """The event bus of a registration does not exist, so posted alerts cannot be accepted."""


@dataclass(frozen=True)
class NewWebhook:
    """A created registration and its token, which exists only in this object and the URL."""

    webhook: AlertWebhook
    token: str


@dataclass(frozen=True)
class Delivery:
    """The events that one accepted post put on the bus."""

    webhook_id: str
    account_id: str
    region: str
    bus_name: str
    event_ids: list[str]


def token_digest(token: str) -> str:
    """Return the hex SHA-256 digest under which a webhook token is stored."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def webhook_url(base_url: str, token: str) -> str:
    """Return the URL that a monitoring tool posts to."""
    return f"{base_url.rstrip('/')}/webhooks/{token}"


def create_webhook(
    session: Session,
    now: datetime,
    account_id: str,
    format_name: str,
    bus_name: str = "default",
    *,
    resolve_incidents: bool = False,
    max_per_minute: int | None = None,
) -> NewWebhook:
    """Create a registration of ``account_id`` that puts events on ``bus_name``.

    ``resolve_incidents`` makes an alert group that has wholly resolved
    resolve its open incidents. ``max_per_minute`` overrides the server's
    default quota of posts per minute. Raises WebhookError for an unknown
    account or format, an invalid bus name or quota, and ``resolve_incidents``
    with a format that has no alert groups. The bus is not required to exist
    yet: events posted before it exists are rejected then, with the bus's name.
    """
    _check_account(session, account_id)
    if format_name not in FORMATS:
        raise WebhookError(
            f"Format {format_name!r} is not supported; use one of {', '.join(FORMATS)}."
        )
    if not _BUS_NAME.match(bus_name):
        raise WebhookError(
            f"Event bus name {bus_name!r} is invalid: use 1 to 256 letters, digits and . _ - /."
        )
    if max_per_minute is not None and not 1 <= max_per_minute <= MAX_PER_MINUTE_LIMIT:
        raise WebhookError(
            f"Maximum posts per minute {max_per_minute} is invalid: use 1 to "
            f"{MAX_PER_MINUTE_LIMIT}, or leave it out for the server's default."
        )
    if resolve_incidents and format_name not in alert_groups.GROUPED_FORMATS:
        raise WebhookError(
            f"Format {format_name} has no alert groups, so its webhooks cannot resolve "
            f"incidents; use {' or '.join(alert_groups.GROUPED_FORMATS)}."
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    webhook = AlertWebhook(
        webhook_id=str(uuid.uuid4()),
        account_id=account_id,
        token_digest=token_digest(token),
        format=format_name,
        bus_name=bus_name,
        created_at=now,
        revoked_at=None,
        last_used_at=None,
        resolve_incidents=resolve_incidents,
        max_per_minute=max_per_minute,
        window_start=None,
        window_posts=0,
        window_noticed=False,
    )
    session.add(webhook)
    session.flush()
    logger.info(
        "created %s webhook %s to bus %s in account %s (resolves incidents: %s, "
        "max posts per minute: %s)",
        format_name,
        webhook.webhook_id,
        bus_name,
        account_id,
        resolve_incidents,
        max_per_minute or "server default",
    )
    return NewWebhook(webhook, token)


def list_webhooks(session: Session, account_id: str) -> list[AlertWebhook]:
    """Return the registrations of ``account_id``, revoked ones included, by creation time."""
    _check_account(session, account_id)
    return list(
        session.scalars(
            select(AlertWebhook)
            .where(AlertWebhook.account_id == account_id)
            .order_by(AlertWebhook.created_at, AlertWebhook.webhook_id)
        )
    )


def revoke_webhook(
    session: Session, now: datetime, account_id: str, webhook_id: str
) -> AlertWebhook:
    """Revoke the registration ``webhook_id``, so that its URL returns 404 from now on."""
    _check_account(session, account_id)
    webhook = session.scalar(
        select(AlertWebhook).where(
            AlertWebhook.account_id == account_id,
            AlertWebhook.webhook_id == webhook_id.strip().lower(),
        )
    )
    if webhook is None:
        raise WebhookError(
            f"No webhook {webhook_id!r} exists in account {account_id}; "
            f"`tocsin webhook list --account {account_id}` shows its webhooks."
        )
    if webhook.revoked_at is not None:
        raise WebhookError(
            f"Webhook {webhook.webhook_id} was already revoked at "
            f"{webhook.revoked_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}."
        )
    webhook.revoked_at = now
    logger.info("revoked webhook %s in account %s", webhook.webhook_id, account_id)
    return webhook


def find_webhook(session: Session, token: str) -> AlertWebhook | None:
    """Return the active registration whose URL carries ``token``, or None for any other text."""
    if not _TOKEN.match(token):
        return None
    digest = token_digest(token)
    webhook = session.scalar(_FIND_BY_DIGEST, {"digest": digest})
    # Registrations are looked up by digest, never by token, so the lookup's
    # timing reveals nothing about a stored token. compare_digest repeats the
    # match in constant time.
    if webhook is None or not hmac.compare_digest(webhook.token_digest, digest):
        return None
    if webhook.revoked_at is not None:
        return None
    return webhook


def event_region(session: Session, account_id: str) -> str:
    """Return the Region of the events of ``account_id``.

    That is the Region of the account's replication set, the first in
    alphabetical order when the set has several, or us-east-1 when the
    account has no replication set.
    """
    replication_set = session.get(ReplicationSet, account_id)
    if replication_set is None or not replication_set.regions:
        return DEFAULT_REGION
    return sorted(replication_set.regions)[0]


def registration_format(database: Database, token: str) -> str | None:
    """Return the format of the active registration that ``token`` opens, or None."""
    with database.session() as session:
        webhook = find_webhook(session, token)
        return webhook.format if webhook is not None else None


def receive(
    database: Database,
    clock: Clock,
    token: str,
    body: bytes,
    sns_trust: webhook_sns.SnsTrust | None = None,
    *,
    max_per_minute: int,
) -> Delivery | None:
    """Convert a posted body to events and put them on the registration's bus.

    Returns None when ``token`` opens no active registration.
    ``max_per_minute`` is the quota of registrations that set none; a post
    over the quota raises WebhookQuotaExceeded and stores no event. Raises
    WebhookPayloadError when the body cannot become events, and
    WebhookBusMissing when the registration's bus does not exist. In both
    cases nothing is stored and the post is not counted. Every event of the body is
    stored in one transaction, so a body is either accepted whole or not at
    all. An sns registration also raises SnsSignatureError, and trusts only
    the certificates that ``sns_trust`` allows (none when it is None).
    """
    payload = parse_body(body)
    with database.session() as session:
        webhook = find_webhook(session, token)
        if webhook is None:
            return None
        # On PostgreSQL the count's row lock makes the posts of one webhook
        # wait for each other until they commit.
        rejection = webhook_quotas.count_post(session, clock, webhook, max_per_minute)
        if rejection is None:
            delivery = _put_events(session, clock, webhook, payload, sns_trust)
    # A rejected post commits its count and the notice of the first rejection.
    if rejection is not None:
        raise webhook_quotas.WebhookQuotaExceeded(rejection)
    logger.debug(
        "webhook %s put %d events on bus %s of account %s",
        delivery.webhook_id,
        len(delivery.event_ids),
        delivery.bus_name,
        delivery.account_id,
    )
    return delivery


def _put_events(
    session: Session,
    clock: Clock,
    webhook: AlertWebhook,
    payload: Any,
    sns_trust: webhook_sns.SnsTrust | None,
) -> Delivery:
    """Convert a parsed body of ``webhook`` to events and put them on its bus."""
    if webhook.format == webhook_sns.SNS:
        trust = sns_trust or webhook_sns.SnsTrust(own_base_url="")
        events = webhook_sns.events_of_message(session, clock, trust, webhook.webhook_id, payload)
    else:
        events = convert(webhook.format, payload)

    region = event_region(session, webhook.account_id)
    bus = buses.BusRef(webhook.account_id, region, webhook.bus_name)
    if not buses.exists(session, bus):
        # The bus would drop the events when their match job runs, so the
        # sender learns now that its alerts go nowhere.
        raise WebhookBusMissing(
            f"Event bus {webhook.bus_name} does not exist in account "
            f"{webhook.account_id}, Region {region}; create it, or create a webhook "
            "for another bus."
        )

    now = clock.now()
    post = alert_groups.group_post(webhook.format, payload, events)
    if post is not None:
        principal = alert_groups.webhook_principal(region, webhook.account_id, webhook.webhook_id)
        alert_groups.record_post(session, clock, webhook, post, principal)
    if webhook.format in alert_groups.GROUPED_FORMATS:
        # Target jobs find an event's alert group from this member and groupKey.
        for event in events:
            event.detail["webhookId"] = webhook.webhook_id

    envelopes = [envelope(event, webhook.account_id, region, now) for event in events]
    event_ids = ingest.put_events(session, clock, bus, envelopes)
    _record_use(session, webhook, now)
    return Delivery(webhook.webhook_id, webhook.account_id, region, webhook.bus_name, event_ids)


def envelope(event: AlertEvent, account_id: str, region: str, now: datetime) -> dict[str, Any]:
    """Return ``event`` in the full EventBridge envelope, as rules match and targets receive it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event.detail_type,
        "source": event.source,
        "account": account_id,
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": list(event.resources),
        "detail": event.detail,
    }


def _record_use(session: Session, webhook: AlertWebhook, now: datetime) -> None:
    last_used_at = webhook.last_used_at
    if last_used_at is not None and last_used_at > now - USE_RECORD_INTERVAL:
        # The value read by find_webhook is less than USE_RECORD_INTERVAL old,
        # so the UPDATE's WHERE would match no row.
        return
    session.execute(
        update(AlertWebhook)
        .where(
            AlertWebhook.webhook_id == webhook.webhook_id,
            or_(
                AlertWebhook.last_used_at.is_(None),
                AlertWebhook.last_used_at <= now - USE_RECORD_INTERVAL,
            ),
        )
        .values(last_used_at=now)
    )


def _check_account(session: Session, account_id: str) -> None:
    if not _ACCOUNT_ID.match(account_id):
        raise WebhookError(f"Account id {account_id!r} is not a 12-digit account id.")
    if session.get(Account, account_id) is None:
        raise WebhookError(f"No account {account_id} exists in the database.")
