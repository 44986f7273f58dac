"""Console pages of the auth flow: sign-in, sign-out, switch role and back, static files.

Sign-in follows AWS's IAM user sign-in: account ID, user name and password.
The sign-in form carries a token that must match a cookie set with the form,
so another site cannot sign a browser in to an account of its choosing. An
unknown user and a wrong password get the same message. Failures are counted
in the database per account and user name, and per client address.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tocsin.iam import login_profiles, users
from tocsin.iam.errors import PasswordPolicyViolationException
from tocsin.iam.login_profiles import VerifiedUser, password_stamp
from tocsin.web.console import sessions
from tocsin.web.console.auth import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SIGN_IN_PATH,
    current_session,
    render,
    require_session,
    runtime_of,
    verify_csrf,
)

if TYPE_CHECKING:
    from tocsin.app import Runtime

logger = logging.getLogger(__name__)

SIGN_IN_COOKIE = "tocsin-console-signin"
SIGN_IN_FORM_SECONDS = 3600
HOME_PATH = "/console/"
FAILED_MESSAGE = "The account ID, user name or password is incorrect. Check them and try again."
# IAM's limits: a 12-digit account ID, a user name of 1 to 64 ASCII letters,
# digits and +=,.@_- characters, and a password of at most 128 characters.
ACCOUNT_ID = re.compile(r"[0-9]{12}")
USER_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
MAX_PASSWORD_LENGTH = 128
# The number of characters of a submitted account ID or user name that logs show.
MAX_LOGGED_CHARS = 80
STATIC_DIRECTORY = Path(__file__).parent / "static"


@dataclass(frozen=True)
class SignInForm:
    account_id: str
    user_name: str
    password: str
    new_password: str
    confirm_password: str


@dataclass(frozen=True)
class SignInOutcome:
    kind: Literal["signed_in", "failed", "blocked", "reset_required"]
    cookie_value: str = ""
    lifetime: timedelta = timedelta(0)
    message: str = ""


def safe_next(target: str | None) -> str:
    """Return ``target`` if it is a console path on this server, else the console home."""
    if not target or not target.startswith("/console"):
        return HOME_PATH
    if target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return HOME_PATH
    return target


def client_address(request: Request) -> str:
    # NOTE: behind a reverse proxy every client has the proxy's address, so the
    # per-client limit then applies to all clients together.
    return request.client.host if request.client is not None else "unknown"


def _cookie_secure(runtime: Runtime) -> bool:
    return not runtime.settings.console_plain_http


@dataclass(frozen=True)
class FormValues:
    """Values that the sign-in form shows again after a failed attempt; never the password."""

    next_path: str
    account_id: str = ""
    user_name: str = ""


def _sign_in_page(
    request: Request,
    values: FormValues,
    *,
    error: str = "",
    reset_required: bool = False,
    status_code: int = 200,
) -> Response:
    """Render the sign-in form with a new form token, and set the cookie that token must match."""
    form_token = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        {
            "form_token": form_token,
            "next_path": values.next_path,
            "account_id": values.account_id,
            "user_name": values.user_name,
            "error": error,
            "reset_required": reset_required,
        },
        status_code=status_code,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        form_token,
        max_age=SIGN_IN_FORM_SECONDS,
        path=SIGN_IN_PATH,
        secure=_cookie_secure(runtime_of(request)),
        httponly=True,
        samesite="lax",
    )
    return response


async def sign_in_form(request: Request) -> Response:
    # The form is shown to a signed-in browser too: signing in again, as
    # another user or to another account, replaces the session.
    await current_session(request)
    next_path = safe_next(request.query_params.get("next"))
    return _sign_in_page(request, FormValues(next_path))


def well_formed(form: SignInForm) -> bool:
    """Tell whether the account ID, user name and password are within IAM's limits."""
    return bool(
        ACCOUNT_ID.fullmatch(form.account_id)
        and USER_NAME.fullmatch(form.user_name)
        and 0 < len(form.password) <= MAX_PASSWORD_LENGTH
        and len(form.new_password) <= MAX_PASSWORD_LENGTH
        and len(form.confirm_password) <= MAX_PASSWORD_LENGTH
    )


def loggable(text: str) -> str:
    """Return ``text`` quoted for a log line, cut to MAX_LOGGED_CHARS characters."""
    if len(text) <= MAX_LOGGED_CHARS:
        return repr(text)
    return f"{text[:MAX_LOGGED_CHARS]!r}... ({len(text)} characters)"


def _verify(runtime: Runtime, form: SignInForm, client: str) -> VerifiedUser | SignInOutcome:
    """Check the throttle and the password in a read-only transaction."""
    limits = sessions.ThrottleLimits.from_settings(runtime.settings)
    now = runtime.clock.wall_now()
    with runtime.database.read() as connection, Session(bind=connection) as session:
        if sessions.sign_in_blocked(session, limits, now, form.account_id, form.user_name, client):
            minutes = max(1, round(limits.window.total_seconds() / 60))
            message = (
                f"Too many failed sign-in attempts. Wait up to {minutes} minutes, then try again."
            )
            return SignInOutcome("blocked", message=message)
        if not well_formed(form):
            return SignInOutcome("failed", message=FAILED_MESSAGE)
        verified = login_profiles.verify_sign_in(
            session, form.account_id, form.user_name, form.password
        )
    return verified or SignInOutcome("failed", message=FAILED_MESSAGE)


def _sign_in(
    runtime: Runtime, form: SignInForm, client: str, old_cookie: str | None
) -> SignInOutcome:
    verified = _verify(runtime, form, client)
    now = runtime.clock.wall_now()
    if isinstance(verified, SignInOutcome):
        if verified.kind == "failed":
            limits = sessions.ThrottleLimits.from_settings(runtime.settings)
            with runtime.database.session() as session:
                sessions.record_failure(
                    session, limits, now, form.account_id, form.user_name, client
                )
            logger.info(
                "console sign-in failed for user %s of account %s from %s",
                loggable(form.user_name),
                loggable(form.account_id),
                client,
            )
        else:
            # INFO rather than WARNING, because a guessing client repeats this line at will.
            logger.info(
                "console sign-in throttled for user %s of account %s from %s",
                loggable(form.user_name),
                loggable(form.account_id),
                client,
            )
        return verified

    with runtime.database.session() as session:
        if verified.password_reset_required:
            reset = _set_new_password(session, runtime, verified, form)
            if isinstance(reset, str):
                return SignInOutcome("reset_required", message=reset)
            verified = reset
        if old_cookie:
            sessions.delete_session_of_cookie(session, old_cookie)
        lifetime = sessions.session_lifetime(runtime.settings, verified)
        cookie_value = sessions.create_session(session, now, verified, lifetime)
    return SignInOutcome("signed_in", cookie_value=cookie_value, lifetime=lifetime)


def _set_new_password(
    session: Session, runtime: Runtime, verified: VerifiedUser, form: SignInForm
) -> VerifiedUser | str:
    """Store the new password of a user who must reset it.

    Returns the user with the new password's stamp, or the problem to show.
    """
    if not form.new_password:
        return "Your password must be changed before you sign in. Choose a new password."
    if form.new_password != form.confirm_password:
        return "The new password and its confirmation do not match."
    if form.new_password == form.password:
        return "The new password must differ from the current one."
    user = users.get_user(session, verified.account_id, verified.user_name)
    try:
        profile = login_profiles.update_login_profile(
            session,
            runtime.clock,
            user,
            password=form.new_password,
            password_reset_required=False,
        )
    except PasswordPolicyViolationException as exc:
        return exc.message
    logger.info("console user %s chose a new password at sign-in", verified.arn)
    return replace(verified, password_reset_required=False, password_stamp=password_stamp(profile))


async def sign_in(request: Request) -> Response:
    runtime = runtime_of(request)
    fields = await request.form()

    def field(name: str) -> str:
        value = fields.get(name)
        return value if isinstance(value, str) else ""

    next_path = safe_next(field("next"))
    form = SignInForm(
        account_id=field("account_id").strip(),
        user_name=field("user_name").strip(),
        password=field("password"),
        new_password=field("new_password"),
        confirm_password=field("confirm_password"),
    )
    # The form shows the values again only up to the lengths that its fields accept.
    values = FormValues(next_path, form.account_id[:12], form.user_name[:64])
    expected_token = request.cookies.get(SIGN_IN_COOKIE, "")
    submitted_token = field("form_token")
    if not expected_token or not secrets.compare_digest(expected_token, submitted_token):
        error = "The sign-in form expired or was not sent by this site. Sign in again."
        return _sign_in_page(request, values, error=error, status_code=403)

    old_cookie = request.cookies.get(SESSION_COOKIE)
    outcome = await run_in_threadpool(_sign_in, runtime, form, client_address(request), old_cookie)
    if outcome.kind == "blocked":
        return _sign_in_page(request, values, error=outcome.message, status_code=429)
    if outcome.kind == "failed":
        return _sign_in_page(request, values, error=outcome.message, status_code=401)
    if outcome.kind == "reset_required":
        return _sign_in_page(request, values, error=outcome.message, reset_required=True)

    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        outcome.cookie_value,
        max_age=int(outcome.lifetime.total_seconds()),
        path=COOKIE_PATH,
        secure=_cookie_secure(runtime),
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=SIGN_IN_PATH)
    return response


@require_session
async def sign_out(request: Request) -> Response:
    session = request.state.console_session
    fields = await request.form()
    token = fields.get("csrf_token")
    await verify_csrf(request, session, token if isinstance(token, str) else None)
    runtime = runtime_of(request)

    def delete() -> None:
        with runtime.database.session() as db_session:
            sessions.delete_session(db_session, session.session_id)

    await run_in_threadpool(delete)
    logger.info("console sign-out of %s", session.user_arn)
    response = RedirectResponse(SIGN_IN_PATH, status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        secure=_cookie_secure(runtime),
        httponly=True,
        samesite="lax",
    )
    return response


@require_session
async def not_found(request: Request) -> Response:
    return render(request, "not_found.html", {"path": request.url.path}, status_code=404)


async def console_root(_request: Request) -> Response:
    return RedirectResponse(HOME_PATH, status_code=307)


def sign_in_routes() -> list[BaseRoute]:
    """Return the sign-in, sign-out and static-file routes."""
    from tocsin.web.console.role_pages import role_routes

    return [
        Route(SIGN_IN_PATH, sign_in_form, methods=["GET"]),
        Route(SIGN_IN_PATH, sign_in, methods=["POST"]),
        Route("/console/signout", sign_out, methods=["POST"]),
        *role_routes(),
        Mount("/console/static", StaticFiles(directory=STATIC_DIRECTORY), name="console-static"),
    ]


def fallback_routes() -> list[BaseRoute]:
    """Return the routes of console paths that no page serves; mount them last."""
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Route("/console", console_root, methods=["GET", "HEAD"]),
        Route("/console/{path:path}", not_found, methods=methods),
    ]
