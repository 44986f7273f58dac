"""The forms of an incident's details page: each POST runs AWS operations, then redirects back.

Every form carries the session's CSRF token. The outcome, or the AWS error
with its code and message, travels to the page that the browser loads next
in a short-lived cookie signed with the server's key, which the page shows
once and deletes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tocsin.web.console.auth import (
    COOKIE_PATH,
    ConsoleApiError,
    ConsoleSession,
    invoke,
    require_session,
    runtime_of,
    verify_csrf,
)
from tocsin.web.console.incident_data import IMPACTS, IncidentKey, key_from_path

logger = logging.getLogger(__name__)

FLASH_COOKIE = "tocsin-console-flash"
FLASH_SECONDS = 60
# Longer messages are cut, so that the cookie stays well under browsers' 4 KB limit.
MAX_FLASH_CHARACTERS = 1000
# AcceptPage requires an AcceptCode of 6 to 10 digits. With AcceptCodeValidation
# IGNORE the service does not compare it, and the principal's IAM permission
# for ssm-contacts:AcceptPage is what allows the acknowledgement.
IGNORED_ACCEPT_CODE = "000000"
# Characters that StartEngagement's Sender may contain, from the service model.
SENDER_UNSAFE = re.compile(r"[^\\a-zA-Z0-9_@#%*+=:?./!\s-]")
EXECUTION_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,50}$")


class FormError(Exception):
    """A form field is missing or invalid. The message names the field."""


Action = Callable[[Request, ConsoleSession, IncidentKey, FormData], Awaitable[str]]


def _flash_key(request: Request) -> bytes:
    return runtime_of(request).secrets.derive("console-flash")


def _flash_signature(request: Request, session_id: str, payload: str) -> str:
    message = f"{session_id}\n{payload}".encode()
    return hmac.new(_flash_key(request), message, hashlib.sha256).hexdigest()


def set_flash(request: Request, response: Response, kind: str, text: str) -> None:
    """Attach a one-time message for the page that the redirect leads to."""
    session: ConsoleSession = request.state.console_session
    message = {"kind": kind, "text": text[:MAX_FLASH_CHARACTERS]}
    payload = base64.urlsafe_b64encode(json.dumps(message).encode()).decode()
    signature = _flash_signature(request, session.session_id, payload)
    response.set_cookie(
        FLASH_COOKIE,
        f"{payload}.{signature}",
        max_age=FLASH_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=not runtime_of(request).settings.console_plain_http,
    )


def read_flash(request: Request) -> dict[str, str] | None:
    """Return the message that the previous form left, when its signature is valid."""
    value = request.cookies.get(FLASH_COOKIE, "")
    payload, _, signature = value.partition(".")
    if not payload or not signature:
        return None
    session: ConsoleSession = request.state.console_session
    expected = _flash_signature(request, session.session_id, payload)
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if not isinstance(decoded, dict) or decoded.get("kind") not in ("success", "error"):
        return None
    return {"kind": decoded["kind"], "text": str(decoded.get("text", ""))}


def clear_flash(response: Response) -> None:
    response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)


def _field(form: FormData, name: str, label: str, *, required: bool = True) -> str:
    value = form.get(name, "")
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise FormError(f"{label} is missing: enter a value.")
    return text


async def _add_note(
    request: Request, _session: ConsoleSession, key: IncidentKey, form: FormData
) -> str:
    text = _field(form, "note", "The note")
    await invoke(
        request,
        "ssm-incidents",
        "CreateTimelineEvent",
        {
            "incidentRecordArn": key.arn,
            "eventTime": datetime.now(UTC),
            "eventType": "Note",
            # Notes hold their text as a JSON string, as the AWS CLI examples write them.
            "eventData": json.dumps(text),
            "clientToken": str(uuid.uuid4()),
        },
    )
    return "The note was added to the timeline."


async def _update(
    request: Request, _session: ConsoleSession, key: IncidentKey, form: FormData
) -> str:
    params: dict[str, Any] = {}
    for name in ("title", "summary", "status"):
        value = form.get(name)
        if isinstance(value, str) and value != form.get(f"original_{name}"):
            params[name] = value.strip() if name == "title" else value
    impact = form.get("impact")
    if isinstance(impact, str) and impact != form.get("original_impact"):
        if not impact.isdigit() or int(impact) not in IMPACTS:
            raise FormError(f"The impact {impact!r} is invalid: choose a value from 1 to 5.")
        params["impact"] = int(impact)
    if not params:
        return "Nothing changed."
    await invoke(
        request,
        "ssm-incidents",
        "UpdateIncidentRecord",
        {"arn": key.arn, "clientToken": str(uuid.uuid4()), **params},
    )
    return "Updated " + ", ".join(sorted(params)) + "."


async def _resolve(
    request: Request, _session: ConsoleSession, key: IncidentKey, _form: FormData
) -> str:
    await invoke(
        request,
        "ssm-incidents",
        "UpdateIncidentRecord",
        {"arn": key.arn, "status": "RESOLVED", "clientToken": str(uuid.uuid4())},
    )
    return "The incident is resolved."


async def _engage(
    request: Request, session: ConsoleSession, key: IncidentKey, form: FormData
) -> str:
    contact = _field(form, "contact", "The contact")
    subject = _field(form, "subject", "The subject")
    content = _field(form, "content", "The message")
    sender = SENDER_UNSAFE.sub("", session.display_name or session.principal_arn)[:255]
    output = await invoke(
        request,
        "ssm-contacts",
        "StartEngagement",
        {
            "ContactId": contact,
            "Sender": sender,
            "Subject": subject,
            "Content": content,
            "IncidentId": key.arn,
            "IdempotencyToken": uuid.uuid4().hex,
        },
    )
    return f"Engagement {output.get('EngagementArn', '')} started."


async def _accept_page(
    request: Request, session: ConsoleSession, _key: IncidentKey, form: FormData
) -> str:
    page = _field(form, "page", "The page")
    await invoke(
        request,
        "ssm-contacts",
        "AcceptPage",
        {
            "PageId": page,
            "AcceptType": "READ",
            "AcceptCode": IGNORED_ACCEPT_CODE,
            "AcceptCodeValidation": "IGNORE",
            "Note": f"Acknowledged in the Tocsin console by {session.principal_arn}",
        },
    )
    return "The page is acknowledged."


def parse_parameters(text: str) -> dict[str, list[str]]:
    """Return automation parameters from ``Name=value`` lines. A repeated name adds a value."""
    parameters: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, separator, value = line.partition("=")
        name = name.strip()
        if not separator or not PARAMETER_NAME.match(name):
            raise FormError(
                f"Parameters line {number} ({line.strip()[:60]!r}) is invalid: "
                "write Name=value, one parameter value per line."
            )
        parameters.setdefault(name, []).append(value.strip())
    return parameters


async def _start_runbook(
    request: Request, session: ConsoleSession, key: IncidentKey, form: FormData
) -> str:
    document = _field(form, "document", "The runbook document")
    parameters = parse_parameters(_field(form, "parameters", "Parameters", required=False))
    params: dict[str, Any] = {"DocumentName": document}
    if parameters:
        params["Parameters"] = parameters
    output = await invoke(request, "ssm", "StartAutomationExecution", params)
    execution_id = output["AutomationExecutionId"]
    region = runtime_of(request).settings.console_region
    execution_arn = f"arn:aws:ssm:{region}:{session.account_id}:automation-execution/{execution_id}"
    # The run becomes a related item of the incident, so that its runbook tab lists it.
    try:
        await invoke(
            request,
            "ssm-incidents",
            "UpdateRelatedItems",
            {
                "incidentRecordArn": key.arn,
                "clientToken": str(uuid.uuid4()),
                "relatedItemsUpdate": {
                    "itemToAdd": {
                        "identifier": {"type": "AUTOMATION", "value": {"arn": execution_arn}},
                        "title": f"Runbook {document}"[:200],
                    }
                },
            },
        )
    except ConsoleApiError as exc:
        message = (
            f"Runbook {document} started as automation execution {execution_id}, but it was "
            f"not added to the incident's related items: {exc.message}"
        )
        raise ConsoleApiError(exc.code, message, exc.status) from exc
    return f"Runbook {document} started as automation execution {execution_id}."


async def _signal(
    request: Request, _session: ConsoleSession, _key: IncidentKey, form: FormData
) -> str:
    execution_id = request.path_params["execution"]
    if not EXECUTION_ID.match(execution_id):
        raise FormError(f"The automation execution id {execution_id!r} is invalid.")
    decision = form.get("signal")
    if decision not in ("Approve", "Reject"):
        raise FormError(f"The decision {decision!r} is invalid: choose Approve or Reject.")
    params: dict[str, Any] = {"AutomationExecutionId": execution_id, "SignalType": decision}
    comment = _field(form, "comment", "The comment", required=False)
    if comment:
        params["Payload"] = {"Comment": [comment]}
    await invoke(request, "ssm", "SendAutomationSignal", params)
    return f"{'Approved' if decision == 'Approve' else 'Rejected'} the waiting step."


def _handler(action: Action, anchor: str) -> Callable[[Request], Awaitable[Response]]:
    @require_session
    async def handle(request: Request) -> Response:
        session: ConsoleSession = request.state.console_session
        form = await request.form()
        token = form.get("csrf_token")
        await verify_csrf(request, session, token if isinstance(token, str) else None)
        params = request.path_params
        key = key_from_path(params["account"], params["plan"], params["incident"])
        if key is None:
            return Response("No such incident.", status_code=404)
        response = RedirectResponse(f"{key.path}#{anchor}", status_code=303)
        try:
            set_flash(request, response, "success", await action(request, session, key, form))
        except FormError as exc:
            logger.info(
                "console form %s on incident %s by %s was invalid: %s",
                anchor,
                key.arn,
                session.principal_arn,
                exc,
            )
            set_flash(request, response, "error", str(exc))
        except ConsoleApiError as exc:
            logger.info(
                "console form %s on incident %s failed for %s: %s",
                anchor,
                key.arn,
                session.principal_arn,
                exc.code,
            )
            set_flash(request, response, "error", f"{exc.code}: {exc.message}")
        return response

    return handle


def routes(incident_path: str) -> list[BaseRoute]:
    """Return the POST routes of the details page's forms under ``incident_path``."""
    forms: list[tuple[str, Action, str]] = [
        ("/notes", _add_note, "timeline"),
        ("/update", _update, "overview"),
        ("/resolve", _resolve, "overview"),
        ("/engagements", _engage, "engagements"),
        ("/pages/accept", _accept_page, "engagements"),
        ("/runbooks", _start_runbook, "runbooks"),
        ("/runbooks/{execution}/signal", _signal, "runbooks"),
    ]
    return [
        Route(incident_path + suffix, _handler(action, anchor), methods=["POST"])
        for suffix, action, anchor in forms
    ]
