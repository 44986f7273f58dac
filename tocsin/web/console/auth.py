"""The console's sessions, CSRF checks, AWS calls and page rendering, for every console page.

Console endpoints use this module's public API:

- ``current_session(request)`` returns the signed-in ``ConsoleSession`` or None;
- ``require_session`` wraps an endpoint so that it runs only with a session,
  which it finds at ``request.state.console_session``;
- ``verify_csrf(request, session, token)`` must be awaited by every POST,
  PUT and DELETE handler; it reads the ``X-CSRF-Token`` header when ``token``
  is None;
- ``invoke(request, service, operation, params)`` runs one AWS operation as
  the signed-in principal, with the API's own authorization;
- ``render(request, template, context)`` renders a template of
  ``templates/`` that extends ``base.html``.

The runtime and the dispatcher come from ``request.app.state``, which
``tocsin.app.create_app`` fills.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute

import tocsin
from tocsin.iam.principal import Caller
from tocsin.protocol.dispatch import Dispatcher, InvocationError
from tocsin.web.console.sessions import ConsoleSession, load_session

if TYPE_CHECKING:
    from tocsin.app import Runtime

__all__ = [
    "ConsoleApiError",
    "ConsoleSession",
    "current_session",
    "invoke",
    "render",
    "require_session",
    "routes",
    "verify_csrf",
]

logger = logging.getLogger(__name__)

SESSION_COOKIE = "tocsin-console-session"
COOKIE_PATH = "/console"
SIGN_IN_PATH = "/console/signin"
API_PREFIX = "/console/api/"
STATIC_PREFIX = "/console/static/"
TEMPLATES = Path(__file__).parent / "templates"

Endpoint = Callable[[Request], Awaitable[Response]]
# Marks a request whose session has not been looked up yet; None means "signed out".
_NOT_LOADED = object()

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


class ConsoleApiError(Exception):
    """An AWS operation that the console called failed; ``code`` and ``status`` are AWS's."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _dispatcher_of(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


def _load(runtime: Runtime, cookie_value: str) -> ConsoleSession | None:
    with runtime.database.read() as connection, Session(bind=connection) as session:
        return load_session(session, runtime.secrets, cookie_value, runtime.clock.wall_now())


async def current_session(request: Request) -> ConsoleSession | None:
    """Return the session of the request's cookie, or None when it has no valid one."""
    cached = getattr(request.state, "console_session", _NOT_LOADED)
    if cached is not _NOT_LOADED:
        return cast("ConsoleSession | None", cached)
    cookie_value = request.cookies.get(SESSION_COOKIE)
    session = None
    if cookie_value:
        session = await run_in_threadpool(_load, runtime_of(request), cookie_value)
    request.state.console_session = session
    return session


def signed_out_response(request: Request) -> Response:
    """Redirect a signed-out GET of a page to the sign-in page; return 401 for anything else."""
    path = request.url.path
    wants_stream = "text/event-stream" in request.headers.get("accept", "")
    if request.method in ("GET", "HEAD") and not path.startswith(API_PREFIX) and not wants_stream:
        target = path + (f"?{request.url.query}" if request.url.query else "")
        location = f"{SIGN_IN_PATH}?next={quote(target, safe='')}"
        return RedirectResponse(location, status_code=303)
    message = "Sign in to the console first."
    if path.startswith(API_PREFIX):
        return JSONResponse({"message": message}, status_code=401)
    return PlainTextResponse(message, status_code=401)


def require_session(handler: Endpoint) -> Endpoint:
    """Run ``handler`` only for a signed-in request; others are redirected or get 401."""

    @functools.wraps(handler)
    async def with_session(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            return signed_out_response(request)
        return await handler(request)

    return with_session


async def verify_csrf(
    request: Request, session: ConsoleSession, submitted_token: str | None
) -> None:
    """Raise HTTPException 403 unless the request carries the session's CSRF token.

    ``submitted_token`` is the form field ``csrf_token``; when it is None the
    ``X-CSRF-Token`` header is checked instead.
    """
    token = submitted_token
    if token is None:
        token = request.headers.get("x-csrf-token")
    if not token or not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
        logger.warning(
            "console request %s %s by %s rejected: missing or wrong CSRF token",
            request.method,
            request.url.path,
            session.principal_arn,
        )
        raise HTTPException(403, "The form is out of date or was not sent by the console.")


async def invoke(
    request: Request, service: str, operation: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Run one AWS operation as the signed-in principal and return its output members.

    ``service`` is the service name of the dispatcher ("ssm-incidents",
    "ssm-contacts", "ssm", "sts", ...) and ``params`` contains the input members
    as decoded Python values. Raises ConsoleApiError with the AWS error code,
    message and HTTP status of a failure, including status 401 without a
    session.
    """
    session = await current_session(request)
    if session is None:
        raise ConsoleApiError("NotSignedIn", "Sign in to the console first.", 401)
    return await invoke_as(request, session.credentials, service, operation, params)


async def invoke_as(
    request: Request, caller: Caller, service: str, operation: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Run one AWS operation as ``caller``, which the console has authenticated."""
    runtime = runtime_of(request)
    try:
        return await run_in_threadpool(
            _dispatcher_of(request).invoke_as,
            caller,
            service,
            operation,
            dict(params),
            region=runtime.settings.console_region,
        )
    except InvocationError as exc:
        raise ConsoleApiError(exc.code, exc.message, exc.status) from exc


def static_url(name: str) -> str:
    """Return the URL of a static file, with the version so that browsers reload it on upgrade."""
    return f"{STATIC_PREFIX}{quote(name)}?v={tocsin.__version__}"


def render(
    request: Request,
    template_name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template_name`` with ``context`` plus the request, session and CSRF token."""
    session: ConsoleSession | None = getattr(request.state, "console_session", None)
    values: dict[str, Any] = {
        "request": request,
        "session": session,
        "csrf_token": session.csrf_token if session is not None else "",
        "static_url": static_url,
        "version": tocsin.__version__,
    }
    values.update(context or {})
    text = _templates.get_template(template_name).render(values)
    return HTMLResponse(text, status_code=status_code, headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    """Return the routes of sign-in, sign-out, role switching and static files."""
    from tocsin.web.console.signin_pages import sign_in_routes

    return sign_in_routes()


def fallback_routes() -> list[BaseRoute]:
    """Return the routes of console paths that no page serves; they go last."""
    from tocsin.web.console.signin_pages import fallback_routes as signin_fallback_routes

    return signin_fallback_routes()
