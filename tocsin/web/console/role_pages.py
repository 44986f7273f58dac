"""Switching the console to an IAM role with STS AssumeRole, and back to the user.

The switch calls AssumeRole as the signed-in user through the same path as
a signed API request, so the role's trust policy and the user's own
policies decide, exactly as for the AWS CLI. The console then acts with the
role session's credentials until they expire or the user switches back.
"""

from __future__ import annotations

import logging
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tocsin.web.console import sessions
from tocsin.web.console.auth import (
    ConsoleApiError,
    invoke_as,
    render,
    require_session,
    runtime_of,
    verify_csrf,
)

logger = logging.getLogger(__name__)

SWITCH_ROLE_PATH = "/console/switch-role"
SWITCH_BACK_PATH = "/console/switch-back"
HOME_PATH = "/console/"
ACCOUNT_ID = re.compile(r"^\d{12}$")
# A role name, optionally after its path, as the AWS console's switch-role form takes it.
ROLE_NAME = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
DISPLAY_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
# The AWS console's role sessions last one hour.
ROLE_SESSION_SECONDS = 3600


def _form_page(
    request: Request, values: dict[str, str], error: str = "", status_code: int = 200
) -> Response:
    context = {"values": values, "error": error}
    return render(request, "switch_role.html", context, status_code=status_code)


@require_session
async def switch_role_form(request: Request) -> Response:
    values = {"account_id": "", "role_name": "", "display_name": ""}
    return _form_page(request, values)


def _problem(values: dict[str, str]) -> str:
    if not ACCOUNT_ID.match(values["account_id"]):
        return f"Account ID {values['account_id']!r} is invalid: enter the 12 digits."
    if not ROLE_NAME.match(values["role_name"]) or len(values["role_name"]) > 512:
        return (
            f"Role name {values['role_name']!r} is invalid: use letters, digits and +=,.@_- "
            "(up to 64 characters, after an optional path such as team/)."
        )
    if values["display_name"] and not DISPLAY_NAME.match(values["display_name"]):
        return "Display name must be 1 to 64 characters without control characters."
    return ""


def _session_name(user_name: str) -> str:
    # RoleSessionName needs 2 to 64 characters; AWS's console uses the user name.
    return user_name if len(user_name) >= 2 else f"{user_name}-console"


@require_session
async def switch_role(request: Request) -> Response:
    session: sessions.ConsoleSession = request.state.console_session
    fields = await request.form()
    token = fields.get("csrf_token")
    await verify_csrf(request, session, token if isinstance(token, str) else None)

    def field(name: str) -> str:
        value = fields.get(name)
        return value.strip() if isinstance(value, str) else ""

    values = {name: field(name) for name in ("account_id", "role_name", "display_name")}
    problem = _problem(values)
    if problem:
        return _form_page(request, values, problem, status_code=400)
    role_name = values["role_name"].rsplit("/", 1)[-1]
    role_path = values["role_name"][: -len(role_name)]
    role_arn = f"arn:aws:iam::{values['account_id']}:role/{role_path}{role_name}"
    display_name = values["display_name"] or f"{role_name} @ {values['account_id']}"

    params = {
        "RoleArn": role_arn,
        "RoleSessionName": _session_name(session.user_name),
        "DurationSeconds": ROLE_SESSION_SECONDS,
    }
    try:
        # Always as the user, not as a role switched to before: the console does no role chaining.
        output = await invoke_as(request, session.user_credentials, "sts", "AssumeRole", params)
    except ConsoleApiError as exc:
        return _form_page(request, values, exc.message, status_code=exc.status)
    credentials = output["Credentials"]
    runtime = runtime_of(request)

    def store() -> None:
        with runtime.database.session() as db_session:
            sessions.switch_role(
                db_session,
                runtime.secrets,
                session.session_id,
                credentials["AccessKeyId"],
                credentials["SessionToken"],
                display_name,
            )

    await run_in_threadpool(store)
    logger.info("console user %s switched to role %s", session.user_arn, role_arn)
    return RedirectResponse(HOME_PATH, status_code=303)


@require_session
async def switch_back(request: Request) -> Response:
    session: sessions.ConsoleSession = request.state.console_session
    fields = await request.form()
    token = fields.get("csrf_token")
    await verify_csrf(request, session, token if isinstance(token, str) else None)
    runtime = runtime_of(request)

    def store() -> None:
        with runtime.database.session() as db_session:
            sessions.switch_back(db_session, session.session_id)

    await run_in_threadpool(store)
    logger.info("console user %s switched back from %s", session.user_arn, session.principal_arn)
    return RedirectResponse(HOME_PATH, status_code=303)


def role_routes() -> list[BaseRoute]:
    return [
        Route(SWITCH_ROLE_PATH, switch_role_form, methods=["GET"]),
        Route(SWITCH_ROLE_PATH, switch_role, methods=["POST"]),
        Route(SWITCH_BACK_PATH, switch_back, methods=["POST"]),
    ]
