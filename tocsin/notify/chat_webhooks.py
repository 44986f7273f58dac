"""Chat webhooks of response plans: where their URLs come from, and the delivery job.

A response plan names its chat webhooks in the tag ``tocsin:chat-webhooks``,
whose value lists webhook names separated by spaces. The operator registers
each name with its kind and URL, per account, in the JSON file of the
``chat_webhooks_file`` setting, because webhook URLs are secrets and tags
are readable by every caller who may list them::

    {"111122223333": {"oncall-slack": {"kind": "slack", "url": "https://..."},
                      "ops": {"kind": "webhook", "url": "https://...", "secret": "..."}}}

Each message to each webhook is a chain of ``CHAT_DELIVERY_JOB`` jobs, one
per attempt. The engine runs a job again only when its claim ended without
a recorded outcome, such as after a crash, and then it posts the same
message id again. An attempt is a ``SendingHandler``: it builds the message in a
read-only transaction, posts it with no transaction open, and records the
outcome. Every attempt of one message carries the same message id in the
``Idempotency-Key`` and ``X-Tocsin-Message-Id`` headers. A failed attempt
is written to the incident's timeline and retried after ``retry_delay``.
After ``MAX_ATTEMPTS`` attempts, or after a failure that no retry can fix,
the delivery is given up, and the give-up is written to the timeline too.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.config import Settings
from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext
from tocsin.engine.queue import enqueue
from tocsin.iam.crypto import SecretBox
from tocsin.incidents import records, timeline
from tocsin.incidents.automation import CHAT_WEBHOOKS_TAG
from tocsin.incidents.models import IncidentRecord
from tocsin.notify import chat_formats
from tocsin.notify.base import ATTEMPT_FAILED_EVENT, NOTIFICATION_FAILED_EVENT, DeliveryFailed
from tocsin.notify.incident_messages import notice
from tocsin.notify.incident_pages import ack_links
from tocsin.notify.providers import expected_send_seconds
from tocsin.notify.webhook import SIGNATURE_HEADER, TRANSIENT_CLIENT_ERRORS, sign

logger = logging.getLogger(__name__)

CHAT_DELIVERY_JOB = "notify.chat_delivery"
WEBHOOKS_TAG = CHAT_WEBHOOKS_TAG
KINDS = tuple(chat_formats.FORMATS)
MESSAGE_ID_HEADER = "X-Tocsin-Message-Id"
# Attempts of one message. With the delays of ``retry_delay`` they span 6,330 s (105.5 min).
MAX_ATTEMPTS = 12
FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 900.0
MAX_QUOTED_RESPONSE = 200

FAILED_EVENT = NOTIFICATION_FAILED_EVENT


class ChatWebhookError(Exception):
    """A chat webhook is not registered, or the webhooks file cannot be used."""


@dataclass(frozen=True)
class ChatWebhook:
    """One registered chat webhook."""

    name: str
    kind: str
    url: str
    secret: str | None = None

    @property
    def origin(self) -> str:
        """Return scheme://host[:port], which names the webhook in logs and timelines.

        The path is left out because chat services put the webhook's token there.
        """
        parsed = httpx.URL(self.url)
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme}://{parsed.host}{port}"


def webhook_names(tag_value: str | None) -> list[str]:
    """Return the webhook names of a ``tocsin:chat-webhooks`` tag value, without repeats."""
    return list(dict.fromkeys((tag_value or "").split()))


def _parse_entry(path: Path, account_id: str, name: str, entry: Any) -> ChatWebhook:
    where = f"chat webhook {name!r} of account {account_id} in {path}"
    if not isinstance(entry, dict):
        raise ChatWebhookError(f"{where} must be an object with kind and url")
    kind, url, secret = entry.get("kind"), entry.get("url"), entry.get("secret")
    if kind not in KINDS:
        raise ChatWebhookError(f"{where} has kind {kind!r}; use one of {', '.join(KINDS)}")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ChatWebhookError(f"{where} needs a url that starts with https:// or http://")
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        host = ""
    if not host:
        raise ChatWebhookError(f"{where} has a url that is invalid or names no host")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise ChatWebhookError(f"{where} has a secret that is not a non-empty string")
    return ChatWebhook(name, kind, url, secret)


def find_webhook(settings: Settings, account_id: str, name: str) -> ChatWebhook:
    """Return the webhook ``name`` of ``account_id`` from the webhooks file.

    Raises ChatWebhookError when no file is set, it cannot be read or parsed,
    or it has no valid entry of that name.
    """
    path = settings.chat_webhooks_file
    if path is None:
        raise ChatWebhookError(
            f"chat webhook {name!r} is not registered: the server has no chat webhooks file "
            "(setting TOCSIN_CHAT_WEBHOOKS_FILE)"
        )
    try:
        registered = json.loads(path.expanduser().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ChatWebhookError(f"cannot read the chat webhooks file {path}: {error}") from error
    accounts = registered if isinstance(registered, dict) else {}
    entries = accounts.get(account_id)
    if not isinstance(entries, dict) or name not in entries:
        raise ChatWebhookError(
            f"chat webhook {name!r} is not registered for account {account_id} in {path}"
        )
    return _parse_entry(path, account_id, name, entries[name])


def retry_delay(attempt: int) -> float:
    """Return the seconds to wait after failed attempt ``attempt``: 30 s doubling to 15 min."""
    return min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** min(attempt - 1, 20))


def enqueue_delivery(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    *,
    webhook: str,
    event: str,
    changes: Sequence[Mapping[str, Any]],
    message_id: str | None = None,
    attempt: int = 1,
    due_at: datetime | None = None,
) -> str:
    """Enqueue attempt ``attempt`` of one incident message to one webhook; return its message id."""
    message_id = message_id or str(uuid.uuid4())
    payload = {
        "incidentRecordArn": incident.arn,
        "webhook": webhook,
        "event": event,
        "changes": [dict(change) for change in changes],
        "messageId": message_id,
        "attempt": attempt,
    }
    enqueue(
        session,
        clock,
        CHAT_DELIVERY_JOB,
        payload,
        due_at=due_at,
        key=f"chat-delivery:{message_id}:{attempt}",
        account_id=incident.account_id,
    )
    return message_id


@dataclass(frozen=True)
class ChatPost:
    """One attempt to post a message, built in the prepare step."""

    webhook: ChatWebhook
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class ChatDeliveryHandler:
    """The chat delivery job: build in a read-only transaction, post, then record."""

    settings: Settings
    box: SecretBox
    client: httpx.Client

    def exclusive_key(self, intent: object) -> None:
        return None

    @property
    def send_timeout_seconds(self) -> float:
        return expected_send_seconds(self.settings)

    def prepare(self, job: JobContext) -> ChatPost | None:
        """Return the post to make, or None when the incident or the webhook is gone."""
        payload = job.payload
        incident = records.find_by_arn(job.session, payload["incidentRecordArn"])
        if incident is None:
            return None
        try:
            webhook = find_webhook(self.settings, incident.account_id, payload["webhook"])
        except ChatWebhookError:
            # The record step reads the file again and writes the reason.
            return None

        base_url = self.settings.effective_public_url
        links = ack_links(job.session, self.box, incident, base_url)
        built = notice(
            incident,
            payload["event"],
            now=job.clock.now(),
            base_url=base_url,
            changes=payload["changes"],
            ack_links=links,
        )

        message = chat_formats.FORMATS[webhook.kind](built)
        if webhook.kind == "webhook":
            message = {"messageId": payload["messageId"], **message}
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": payload["messageId"],
            MESSAGE_ID_HEADER: payload["messageId"],
        }
        if webhook.secret is not None:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(webhook.secret.encode(), body)
        return ChatPost(webhook, body, headers)

    def send(self, intent: ChatPost) -> DeliveryFailed | None:
        origin = intent.webhook.origin
        try:
            response = self.client.post(
                intent.webhook.url, content=intent.body, headers=intent.headers
            )
        except httpx.TimeoutException:
            return DeliveryFailed(f"chat webhook {origin} timed out")
        except httpx.TransportError as error:
            return DeliveryFailed(
                f"cannot reach chat webhook {origin}: {str(error) or type(error).__name__}"
            )
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            # Such as a redirect loop or a URL that httpx cannot send to: retrying cannot help.
            return DeliveryFailed(
                f"chat webhook {origin} failed: {str(error) or type(error).__name__}",
                permanent=True,
            )
        status = response.status_code
        if 200 <= status < 300:
            return None
        quoted = response.text[:MAX_QUOTED_RESPONSE].strip()
        detail = f"chat webhook {origin} returned HTTP {status}" + (f": {quoted}" if quoted else "")
        permanent = 300 <= status < 500 and status not in TRANSIENT_CLIENT_ERRORS
        return DeliveryFailed(detail, permanent=permanent)

    def record(
        self, job: JobContext, intent: ChatPost | None, outcome: DeliveryFailed | None
    ) -> None:
        payload = job.payload
        incident = records.find_by_arn(job.session, payload["incidentRecordArn"])
        if incident is None:
            logger.info(
                "job %s sent nothing to chat webhook %s: incident %s no longer exists",
                job.job_id,
                payload["webhook"],
                payload["incidentRecordArn"],
            )
            return
        if intent is None:
            # The prepare step found no webhook; read the file again for the reason.
            try:
                find_webhook(self.settings, incident.account_id, payload["webhook"])
                error = DeliveryFailed("the chat webhook changed while the message was built")
            except ChatWebhookError as problem:
                error = DeliveryFailed(str(problem), permanent=True)
            self._record_failure(job, incident, error, origin=None)
            return
        if outcome is not None:
            self._record_failure(job, incident, outcome, origin=intent.webhook.origin)
            return
        logger.info(
            "delivered %s message %s of incident %s to chat webhook %s on attempt %d",
            payload["event"],
            payload["messageId"],
            incident.arn,
            payload["webhook"],
            payload["attempt"],
        )

    def _record_failure(
        self, job: JobContext, incident: IncidentRecord, error: DeliveryFailed, origin: str | None
    ) -> None:
        payload = job.payload
        attempt = int(payload["attempt"])
        gave_up = error.permanent or attempt >= MAX_ATTEMPTS
        data: dict[str, Any] = {
            "channel": "chatWebhook",
            "webhook": payload["webhook"],
            "event": payload["event"],
            "messageId": payload["messageId"],
            "attempt": attempt,
            "error": str(error),
        }
        if origin is not None:
            data["endpoint"] = origin

        if gave_up:
            timeline.add(job.session, job.clock, incident, FAILED_EVENT, data)
            logger.error(
                "gave up sending %s message %s of incident %s to chat webhook %s after %d "
                "attempts: %s",
                payload["event"],
                payload["messageId"],
                incident.arn,
                payload["webhook"],
                attempt,
                error,
            )
            return

        delay = retry_delay(attempt)
        due_at = job.clock.now() + timedelta(seconds=delay)
        data["nextAttemptTime"] = due_at.isoformat()
        timeline.add(job.session, job.clock, incident, ATTEMPT_FAILED_EVENT, data)
        enqueue_delivery(
            job.session,
            job.clock,
            incident,
            webhook=payload["webhook"],
            event=payload["event"],
            changes=payload["changes"],
            message_id=payload["messageId"],
            attempt=attempt + 1,
            due_at=due_at,
        )
        logger.warning(
            "attempt %d to send message %s of incident %s to chat webhook %s failed, "
            "retrying in %.0f s: %s",
            attempt,
            payload["messageId"],
            incident.arn,
            payload["webhook"],
            delay,
            error,
        )


def make_handler(settings: Settings, box: SecretBox, tls: Any) -> ChatDeliveryHandler:
    """Build the chat delivery handler with an HTTP client that follows no redirects."""
    client = httpx.Client(
        timeout=settings.delivery_timeout_seconds,
        verify=tls,
        follow_redirects=False,
        headers={"User-Agent": f"tocsin/{__version__}"},
    )
    return ChatDeliveryHandler(settings, box, client)
