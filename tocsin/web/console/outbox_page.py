"""The console's development outbox page, /console/outbox.

The page lists what the outbox provider stored in place of sending: pages
and activation codes of the signed-in account's contact channels, newest
first, with the links of each body clickable. A message is shown only when
GetContact, called as the signed-in principal, may read the contact that
owns its channel, so IAM policies decide what the page shows.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tocsin.notify.outbox import list_outbox
from tocsin.web.console.auth import ConsoleApiError, invoke, require_session, runtime_of
from tocsin.web.console.form_support import page_with_flash, session_of

logger = logging.getLogger(__name__)

# NOTE: the page reads this many of the newest messages of the account before
# it filters them by permission, so it may show fewer. `tocsin outbox` reads more.
MAX_MESSAGES = 200
LINK = re.compile(r"https?://[^\s<>\"']+")
CHANNEL_ARN = re.compile(r"^(arn:aws:ssm-contacts:[^:]*:\d{12}:)contact-channel/([^/]+)/[^/]+$")


@dataclass(frozen=True)
class Segment:
    """A piece of a message body: plain text, or a link when ``link`` is true."""

    text: str
    link: bool


def body_segments(body: str) -> list[Segment]:
    """Split ``body`` into text and http(s) links, so the template can make the links clickable."""
    segments = []
    position = 0
    for match in LINK.finditer(body):
        url = match.group(0).rstrip(".,;:)")
        end = match.start() + len(url)
        if match.start() > position:
            segments.append(Segment(body[position : match.start()], link=False))
        segments.append(Segment(url, link=True))
        position = end
    if position < len(body):
        segments.append(Segment(body[position:], link=False))
    return segments


def contact_of_channel(channel_arn: str) -> str | None:
    """Return the ARN of the contact that owns ``channel_arn``, or None when it is malformed."""
    match = CHANNEL_ARN.match(channel_arn)
    if match is None:
        return None
    return f"{match.group(1)}contact/{match.group(2)}"


def _read(request: Request, account_id: str) -> list[dict[str, Any]]:
    runtime = runtime_of(request)
    with runtime.database.read() as connection, Session(bind=connection) as session:
        return [
            {
                "created": message.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "channel_type": message.channel_type,
                "channel_arn": message.channel_arn,
                "address": message.address,
                "subject": message.subject,
                "body": message.body,
            }
            for message in list_outbox(session, account_id=account_id, limit=MAX_MESSAGES)
        ]


async def _readable(request: Request, contact_arn: str) -> bool:
    try:
        await invoke(request, "ssm-contacts", "GetContact", {"ContactId": contact_arn})
    except ConsoleApiError as exc:
        logger.debug("outbox messages of %s hidden: %s", contact_arn, exc.code)
        return False
    return True


@require_session
async def outbox(request: Request) -> Response:
    session = session_of(request)
    stored = await run_in_threadpool(_read, request, session.account_id)
    readable: dict[str, bool] = {}
    messages = []
    hidden = 0
    for message in stored:
        contact = contact_of_channel(message["channel_arn"])
        if contact is not None and contact not in readable:
            readable[contact] = await _readable(request, contact)
        if contact is None or not readable[contact]:
            hidden += 1
            continue
        message["contact"] = contact.rsplit("/", 1)[-1]
        message["segments"] = body_segments(message.pop("body"))
        messages.append(message)
    context = {"messages": messages, "hidden": hidden, "limit": MAX_MESSAGES}
    return page_with_flash(request, "outbox.html", context)


def routes() -> list[BaseRoute]:
    """Return the route of the outbox page."""
    return [Route("/console/outbox", outbox, methods=["GET"])]
