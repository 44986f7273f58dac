"""GET and HEAD /calendar/{token}.ics: the iCalendar feed that a secret token opens."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tocsin.contacts.calendar import fetch_feed

if TYPE_CHECKING:
    from tocsin.app import Runtime

logger = logging.getLogger(__name__)

MEDIA_TYPE = "text/calendar; charset=utf-8"
# The URL is a credential, so shared caches must not keep the document.
CACHE_CONTROL = "private, max-age=300"


def routes(runtime: Runtime) -> list[BaseRoute]:
    async def calendar_feed(request: Request) -> Response:
        token: str = request.path_params["token"]
        body = await run_in_threadpool(fetch_feed, runtime.database, runtime.clock.now(), token)
        if body is None:
            # One response for unknown, malformed and revoked tokens and for
            # deleted targets, so a caller learns nothing about other URLs.
            # The token is a credential and stays out of the log.
            logger.debug("calendar feed not found, request from %s", request.client)
            return PlainTextResponse(
                "Calendar feed not found.\n", status_code=404, headers={"Cache-Control": "no-store"}
            )
        return Response(body, media_type=MEDIA_TYPE, headers={"Cache-Control": CACHE_CONTROL})

    # Starlette routes HEAD requests to every GET route, and the server sends the
    # GET headers without the body.
    return [Route("/calendar/{token}.ics", calendar_feed, methods=["GET"])]
