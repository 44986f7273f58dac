"""One-click acknowledgement links of pages: ``/ack/{token}``.

Every page message carries a link whose token signs the page and the contact
channel it was sent to. GET shows the page and a confirm button, and only
POST acknowledges, because mail systems fetch the links in incoming messages
to scan them. A POST records a READ receipt as AcceptPage does. An invalid or
altered token, or one whose page no longer exists, gets HTTP 404.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tocsin.contacts import engagements
from tocsin.contacts.engagement_models import Engagement
from tocsin.contacts.models import ContactChannel
from tocsin.contacts.pages import accept_code, find_page_by_id, read_ack_token
from tocsin.web.console.headers import SecurityHeaders

if TYPE_CHECKING:
    from tocsin.app import Runtime

logger = logging.getLogger(__name__)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
NOT_FOUND_TEXT = "This acknowledgement link is not valid, or its page no longer exists.\n"
LINK_NOTE = "Acknowledged with the link in the page."


@dataclass(frozen=True)
class PageView:
    """Details of one page that the acknowledgement page shows."""

    page_arn: str
    subject: str
    sender: str
    read_time: datetime | None
    stopped: bool
    acknowledged_now: bool = False


def _view(runtime: Runtime, token: str, *, acknowledge: bool) -> PageView | None:
    ids = read_ack_token(runtime.secrets, token)
    if ids is None:
        return None
    page_id, channel_id = ids
    with runtime.database.session() as session:
        page = find_page_by_id(session, page_id)
        engagement = session.get(Engagement, page.engagement_arn) if page is not None else None
        if page is None or engagement is None:
            return None
        first_read = False
        if acknowledge and page.read_time is None:
            params = {
                "AcceptType": "READ",
                "AcceptCode": accept_code(runtime.secrets, page),
                "AcceptCodeValidation": "IGNORE",
                "Note": LINK_NOTE,
            }
            channel = session.get(ContactChannel, channel_id)
            if channel is not None and channel.contact_arn == page.contact_arn:
                params["ContactChannelId"] = channel.arn
            first_read = engagements.accept_page(
                session, runtime.clock, runtime.secrets, page, params
            )
        stopped = page.stop_time is not None or engagement.stop_time is not None
        return PageView(
            page.arn, engagement.subject, engagement.sender, page.read_time, stopped, first_read
        )


def _document(title: str, body: str) -> HTMLResponse:
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer"></head>'
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
    return HTMLResponse(text, headers={"Cache-Control": "no-store"})


def _render(view: PageView) -> HTMLResponse:
    details = (
        f"<p><strong>{html.escape(view.subject)}</strong></p>"
        f"<p>From {html.escape(view.sender)}</p>"
        f"<p><code>{html.escape(view.page_arn)}</code></p>"
    )
    if view.acknowledged_now:
        return _document("Page acknowledged", details + "<p>Thank you.</p>")
    if view.read_time is not None:
        when = view.read_time.strftime("%Y-%m-%d %H:%M:%S UTC")
        return _document("Page already acknowledged", details + f"<p>At {when}.</p>")
    note = "<p>The engagement has stopped.</p>" if view.stopped else ""
    form = '<form method="post"><button type="submit">Acknowledge this page</button></form>'
    return _document("Acknowledge page", details + note + form)


def routes(runtime: Runtime) -> list[BaseRoute]:
    """Return the route of acknowledgement links."""

    async def acknowledgement(request: Request) -> Response:
        if request.method not in ("GET", "HEAD", "POST"):
            logger.info(
                "acknowledgement link requested with method %s, answered 405", request.method
            )
            return PlainTextResponse(
                f"Method {request.method} is not allowed; open the link with GET, and "
                "acknowledge with the page's POST form.",
                status_code=405,
                headers={"Allow": "GET, HEAD, POST"},
            )
        token = request.path_params["token"]
        acknowledge = request.method == "POST"
        view = await run_in_threadpool(_view, runtime, token, acknowledge=acknowledge)
        if view is None:
            logger.info("acknowledgement link with an invalid token was requested")
            return PlainTextResponse(NOT_FOUND_TEXT, status_code=404)
        return _render(view)

    # Every method is routed here, so that other methods get 405 rather than
    # falling through to the AWS endpoint. The console's headers keep the
    # page out of frames, so its button cannot be clicked through a decoy.
    route = Route("/ack/{token}", acknowledgement, methods=ALL_METHODS)
    route.app = SecurityHeaders(route.app)
    return [route]
