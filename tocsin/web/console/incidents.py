"""The console's incident pages: the list at /console/, the details page and their event streams.

Pages read everything through ``invoke`` as the signed-in principal, so they
show what the API lets that principal see and nothing more. The forms of
the details page are in ``incident_forms``.

An incident's URL carries the parts of its ARN,
``arn:aws:ssm-incidents::ACCOUNT:incident-record/PLAN/ID``, as
``/console/incidents/ACCOUNT/PLAN/ID``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from tocsin.web.console import incident_forms
from tocsin.web.console.auth import (
    ConsoleApiError,
    ConsoleSession,
    current_session,
    render,
    require_session,
    runtime_of,
)
from tocsin.web.console.incident_data import (
    IMPACTS,
    STATUSES,
    IncidentKey,
    ListFilters,
    ViewCache,
    contacts,
    key_from_path,
    list_incidents,
    response_plans,
)
from tocsin.web.console.incident_view import SECTIONS, incident_view

logger = logging.getLogger(__name__)

INCIDENT_PATH = "/console/incidents/{account}/{plan}/{incident}"
# A stream closes after this many seconds and the browser's EventSource opens a
# new one. The bound lets a graceful shutdown of the server finish, because the
# server waits for open responses before it stops.
STREAM_LIFETIME_SECONDS = 30.0
# A comment line at least this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0


def digest(value: Any) -> str:
    """Return a short digest of a JSON-ready value, which the page and the stream compare."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def session_of(request: Request) -> ConsoleSession:
    session: ConsoleSession = request.state.console_session
    return session


async def reload_session(request: Request) -> ConsoleSession | None:
    """Look the request's session up again, so that a long stream notices a sign-out.

    ``current_session`` keeps the first lookup for the rest of the request,
    and ``invoke`` runs as that session, so each poll drops it first.
    """
    if hasattr(request.state, "console_session"):
        del request.state.console_session
    return await current_session(request)


def incident_key(request: Request) -> IncidentKey | None:
    params = request.path_params
    return key_from_path(params["account"], params["plan"], params["incident"])


@require_session
async def incident_list(request: Request) -> Response:
    session = session_of(request)
    filters = ListFilters.from_query(request.query_params)
    error = None
    rows: list[dict[str, Any]] = []
    plans: list[dict[str, Any]] = []
    try:
        rows = await list_incidents(request, filters, session.account_id)
    except ConsoleApiError as exc:
        error = f"{exc.code}: {exc.message}"
    try:
        plans = await response_plans(request, session.account_id)
    except ConsoleApiError as exc:
        # Without ssm-incidents:ListResponsePlans the list still works, with fewer filter choices.
        logger.info("response plans of %s not listed: %s", session.principal_arn, exc)
    owners = sorted(
        {session.account_id, *(plan["owner"] for plan in plans), *(row["owner"] for row in rows)}
    )
    for row in rows:
        row["digest"] = digest(row)
    return render(
        request,
        "incidents_list.html",
        {
            "rows": rows,
            "filters": filters,
            "plans": plans,
            "owners": owners,
            "statuses": STATUSES,
            "impacts": IMPACTS,
            "error": error,
            "stream_url": "/console/api/incidents/stream",
        },
    )


@require_session
async def incident_details(request: Request) -> Response:
    session = session_of(request)
    key = incident_key(request)
    if key is None:
        context = {"message": "No such incident."}
        return render(request, "incidents_missing.html", context, status_code=404)
    try:
        view = await incident_view(request, key, session.account_id, ViewCache())
    except ConsoleApiError as exc:
        context = {"message": f"{exc.code}: {exc.message}"}
        return render(request, "incidents_missing.html", context, status_code=exc.status)
    try:
        engageable = await contacts(request)
    except ConsoleApiError as exc:
        # A principal without ssm-contacts:ListContacts can still read the incident.
        logger.info("contacts of %s not listed: %s", session.principal_arn, exc)
        engageable = []
    flash = incident_forms.read_flash(request)
    response = render(
        request,
        "incidents_details.html",
        {
            "key": key,
            "view": view,
            "digests": {section: digest(view[section]) for section in SECTIONS},
            "contacts": engageable,
            "impacts": IMPACTS,
            "flash": flash,
            "stream_url": f"/console/api{key.path.removeprefix('/console')}/stream",
        },
    )
    if incident_forms.FLASH_COOKIE in request.cookies:
        incident_forms.clear_flash(response)
    return response


def sse(event: str, data: Any) -> str:
    """Return one server-sent event. Compact JSON has no newline, so one data line is enough."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


Poll = Callable[[ConsoleSession], Awaitable[list[str]]]


async def _stream(request: Request, poll: Poll, subject: str) -> AsyncIterator[str]:
    """Yield what ``poll`` returns every poll interval until the stream ends.

    Each poll makes its own ``invoke`` calls, which each run in one short
    transaction, so no transaction stays open while the stream waits. A
    failed poll sends its AWS error once, until a poll succeeds again.
    """
    interval = runtime_of(request).settings.console_poll_seconds
    started = last_sent = time.monotonic()
    last_problem = None
    yield f"retry: {int(interval * 1000)}\n\n"
    while time.monotonic() - started < STREAM_LIFETIME_SECONDS:
        session = await reload_session(request)
        if session is None:
            yield sse("end", {"reason": "The console session has ended. Sign in again."})
            return
        try:
            events = await poll(session)
            last_problem = None
        except ConsoleApiError as exc:
            problem = f"{exc.code}: {exc.message}"
            events = []
            if problem != last_problem:
                logger.warning("%s for %s failed: %s", subject, session.principal_arn, problem)
                events = [sse("problem", {"message": problem})]
            last_problem = problem

        for event in events:
            yield event
        if events:
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(interval)


def _event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


@require_session
async def list_stream(request: Request) -> Response:
    """Send the list's rows that changed since the previous poll.

    The first poll sends every row with its digest. The page skips the rows
    whose digest it already shows, so a new stream after a reconnection
    repairs what changed while it was away.
    """
    filters = ListFilters.from_query(request.query_params)
    known: dict[str, str] = {}
    first = True

    async def poll(session: ConsoleSession) -> list[str]:
        nonlocal first
        rows = await list_incidents(request, filters, session.account_id)
        current = {}
        changed = []
        for row in rows:
            row["digest"] = digest(row)
            current[row["arn"]] = row["digest"]
            if known.get(row["arn"]) != row["digest"]:
                changed.append(row)
        removed = [arn for arn in known if arn not in current]
        known.clear()
        known.update(current)
        if not changed and not removed and not first:
            return []

        first = False
        order = [row["arn"] for row in rows]
        return [sse("incidents", {"changed": changed, "removed": removed, "order": order})]

    return _event_stream(_stream(request, poll, "incident list stream"))


@require_session
async def details_stream(request: Request) -> Response:
    """Send the sections of the incident's details that changed since the previous poll."""
    key = incident_key(request)
    if key is None:
        return Response("No such incident.", status_code=404)
    cache = ViewCache()
    known: dict[str, str] = {}

    async def poll(session: ConsoleSession) -> list[str]:
        view = await incident_view(request, key, session.account_id, cache)
        events = []
        for section in SECTIONS:
            section_digest = digest(view[section])
            if known.get(section) != section_digest:
                known[section] = section_digest
                events.append(sse(section, {"digest": section_digest, "data": view[section]}))
        return events

    return _event_stream(_stream(request, poll, f"stream of incident {key.arn}"))


def routes() -> list[BaseRoute]:
    """Return the routes of the incident pages, their forms and their event streams."""
    return [
        Route("/console/", incident_list, methods=["GET"]),
        Route("/console/api/incidents/stream", list_stream, methods=["GET"]),
        Route(
            f"/console/api{INCIDENT_PATH.removeprefix('/console')}/stream",
            details_stream,
            methods=["GET"],
        ),
        Route(INCIDENT_PATH, incident_details, methods=["GET"]),
        *incident_forms.routes(INCIDENT_PATH),
    ]
