"""Form handling shared by the response plan and contact pages.

A form action reads the posted fields, calls AWS operations through
``invoke`` and returns where the browser goes next and what that page
shows. ``form_route`` wraps it: it checks the CSRF token, turns a
``FormError`` or an AWS error into a readable message, and responds with
a 303 redirect (POST-redirect-GET). The message travels in the signed
one-time cookie of ``incident_forms``.

NOTE: the posted values are not kept across the redirect, so a create form
starts empty again after a failure, and an edit form shows the stored values.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tocsin.web.console import incident_forms
from tocsin.web.console.auth import (
    ConsoleApiError,
    ConsoleSession,
    render,
    require_session,
    runtime_of,
    verify_csrf,
)
from tocsin.web.console.incident_forms import FormError

logger = logging.getLogger(__name__)

__all__ = [
    "FailureLocation",
    "FormError",
    "Outcome",
    "field",
    "form_route",
    "lines",
    "page_status",
    "page_with_flash",
    "region_of",
    "session_of",
    "values",
]


@dataclass(frozen=True)
class Outcome:
    """The page that a successful form leads to, and the message shown there."""

    location: str
    message: str


# An action returns the outcome of a success. On failure, the browser goes
# back to ``failure_location(request)``, which is usually the form's own page.
FormAction = Callable[[Request, ConsoleSession, FormData], Awaitable[Outcome]]
FailureLocation = Callable[[Request], str]


def session_of(request: Request) -> ConsoleSession:
    session: ConsoleSession = request.state.console_session
    return session


def field(form: FormData, name: str, label: str, *, required: bool = True) -> str:
    """Return the stripped text of field ``name``; raise FormError naming ``label`` when missing."""
    value = form.get(name, "")
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise FormError(f"{label} is missing: enter a value.")
    return text


def lines(form: FormData, name: str) -> list[str]:
    """Return the non-empty stripped lines of a textarea."""
    return [
        line.strip()
        for line in field(form, name, name, required=False).splitlines()
        if line.strip()
    ]


def values(form: FormData, name: str) -> list[str]:
    """Return every non-empty value of a repeated field, such as a group of checkboxes."""
    return [
        value.strip() for value in form.getlist(name) if isinstance(value, str) and value.strip()
    ]


def region_of(request: Request) -> str:
    return runtime_of(request).settings.console_region


def form_route(
    path: str, action: FormAction, failure_location: FailureLocation, name: str
) -> Route:
    """Return the POST route of ``action``: CSRF check, AWS calls, then a 303 redirect."""

    @require_session
    async def handle(request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        token = form.get("csrf_token")
        await verify_csrf(request, session, token if isinstance(token, str) else None)
        try:
            outcome = await action(request, session, form)
        except FormError as exc:
            logger.info("console form %s by %s was invalid: %s", name, session.principal_arn, exc)
            return _redirect(request, failure_location(request), "error", str(exc))
        except ConsoleApiError as exc:
            logger.info("console form %s failed for %s: %s", name, session.principal_arn, exc.code)
            message = f"{exc.code}: {exc.message}"
            return _redirect(request, failure_location(request), "error", message)
        return _redirect(request, outcome.location, "success", outcome.message)

    return Route(path, handle, methods=["POST"], name=name)


def page_status(error: ConsoleApiError) -> int:
    """Return the HTTP status of a page that could not load what ``error`` names.

    ssm-contacts returns ResourceNotFoundException with status 400, as AWS
    does, but the page of a missing resource is 404 for the browser.
    """
    return 404 if error.code == "ResourceNotFoundException" else error.status


def _redirect(request: Request, location: str, kind: str, text: str) -> Response:
    response = RedirectResponse(location, status_code=303)
    incident_forms.set_flash(request, response, kind, text)
    return response


def page_with_flash(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    """Render a page with the message that the previous form left, and delete the message."""
    page_context = {**context, "flash": incident_forms.read_flash(request)}
    response = render(request, template, page_context, status_code=status_code)
    if incident_forms.FLASH_COOKIE in request.cookies:
        incident_forms.clear_flash(response)
    return response
