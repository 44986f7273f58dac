"""Console sessions and sign-in throttling, stored in the database.

A session is identified by a random cookie value, and the database stores
only its SHA-256 digest. Each sign-in creates a new value, so a value that
was planted in a browser before sign-in never becomes a session (session
fixation). Sessions carry their own expiry, so they survive a restart of the
server and end at the same moment on every node.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.iam.credentials import SecretCache, resolve_access_key, resolve_user
from tocsin.iam.crypto import SecretBox
from tocsin.iam.login_profiles import VerifiedUser, password_stamp
from tocsin.iam.models import LoginProfile, User
from tocsin.iam.principal import Caller
from tocsin.protocol.errors import AuthError
from tocsin.web.console.models import ConsoleSessionRecord, SignInFailure

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsoleSession:
    """The signed-in principal of a console request.

    ``credentials`` is the caller that ``invoke`` runs operations as: the
    user, or the role session that the user switched to.
    """

    session_id: str  # digest of the cookie value, safe to log
    account_id: str
    principal_arn: str
    display_name: str
    csrf_token: str
    credentials: Caller
    # The signed-in user itself, which a switch of role calls AssumeRole as.
    user_credentials: Caller
    user_arn: str
    user_name: str
    # Set while the session acts as an assumed role.
    role_display_name: str | None
    expires_at: datetime

    @property
    def acting_as_role(self) -> bool:
        return self.role_display_name is not None


def session_digest(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def session_lifetime(settings: Settings, user: VerifiedUser) -> timedelta:
    """Return the lifetime of a new session: the setting, or the login profile's shorter one."""
    seconds = settings.console_session_hours * 3600
    if user.max_signin_session_duration is not None:
        seconds = min(seconds, user.max_signin_session_duration)
    return timedelta(seconds=seconds)


def create_session(session: Session, now: datetime, user: VerifiedUser, lifetime: timedelta) -> str:
    """Store a new session of ``user`` and return its cookie value."""
    cookie_value = secrets.token_urlsafe(32)
    session.add(
        ConsoleSessionRecord(
            session_digest=session_digest(cookie_value),
            account_id=user.account_id,
            user_id=user.user_id,
            csrf_token=secrets.token_urlsafe(32),
            password_stamp=user.password_stamp,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    # Expired sessions are removed here rather than by a job: sign-ins are rare.
    session.execute(delete(ConsoleSessionRecord).where(ConsoleSessionRecord.expires_at <= now))
    logger.info("console sign-in of %s until %s", user.arn, (now + lifetime).isoformat())
    return cookie_value


def find_record(session: Session, cookie_value: str, now: datetime) -> ConsoleSessionRecord | None:
    """Return the unexpired session record of ``cookie_value``, or None."""
    record = session.get(ConsoleSessionRecord, session_digest(cookie_value))
    if record is None or record.expires_at <= now:
        return None
    return record


def load_session(
    session: Session, secret_box: SecretBox, cookie_value: str, now: datetime
) -> ConsoleSession | None:
    """Return the console session of ``cookie_value``, or None when it is not valid.

    A session ends when it expires, when its user is deleted, loses its login
    profile or gets a new password after the sign-in. A switched-to role whose
    credentials expired falls back to the user. Nothing is written, so this
    may run in a read-only transaction.
    """
    record = find_record(session, cookie_value, now)
    if record is None:
        return None
    row = session.execute(
        select(User, LoginProfile)
        .join(LoginProfile, LoginProfile.user_id == User.user_id)
        .where(User.user_id == record.user_id)
    ).first()
    if row is None:
        return None
    user, profile = row
    if not hmac.compare_digest(password_stamp(profile), record.password_stamp):
        return None
    connection = session.connection()
    user_caller = resolve_user(connection, record.user_id)
    if user_caller is None:
        return None

    caller = user_caller
    role_caller = _role_caller(session, secret_box, record, now)
    if role_caller is not None:
        caller = role_caller
    display_name = record.role_display_name if role_caller is not None else user.name
    return ConsoleSession(
        session_id=record.session_digest,
        account_id=caller.account_id,
        principal_arn=caller.arn,
        display_name=display_name or user.name,
        csrf_token=record.csrf_token,
        credentials=caller,
        user_credentials=user_caller,
        user_arn=user_caller.arn,
        user_name=user.name,
        role_display_name=record.role_display_name if role_caller is not None else None,
        expires_at=record.expires_at,
    )


def _role_caller(
    session: Session, secret_box: SecretBox, record: ConsoleSessionRecord, now: datetime
) -> Caller | None:
    if record.role_access_key_id is None or record.encrypted_role_session_token is None:
        return None
    token = secret_box.decrypt(record.encrypted_role_session_token)
    try:
        resolved = resolve_access_key(
            session.connection(),
            SecretCache(secret_box, size=1),
            record.role_access_key_id,
            token,
            now,
        )
    except AuthError:
        # The row keeps the stale role until the next switch, and every request
        # acts as the user meanwhile, so this is logged at DEBUG only.
        logger.debug(
            "console session %s: role credentials %s expired or were removed; acting as the user",
            record.session_digest[:12],
            record.role_access_key_id,
        )
        return None
    return resolved.caller


def switch_role(
    session: Session,
    secret_box: SecretBox,
    session_id: str,
    access_key_id: str,
    session_token: str,
    display_name: str,
) -> None:
    """Make the session act as the role session whose temporary credentials are given."""
    record = session.get(ConsoleSessionRecord, session_id)
    if record is None:
        return
    record.role_access_key_id = access_key_id
    record.encrypted_role_session_token = secret_box.encrypt(session_token)
    record.role_display_name = display_name


def clear_role(record: ConsoleSessionRecord) -> None:
    record.role_access_key_id = None
    record.encrypted_role_session_token = None
    record.role_display_name = None


def switch_back(session: Session, session_id: str) -> None:
    """Make the session act as its user again."""
    record = session.get(ConsoleSessionRecord, session_id)
    if record is not None:
        clear_role(record)


def delete_session(session: Session, session_id: str) -> None:
    session.execute(
        delete(ConsoleSessionRecord).where(ConsoleSessionRecord.session_digest == session_id)
    )


def delete_session_of_cookie(session: Session, cookie_value: str) -> None:
    delete_session(session, session_digest(cookie_value))


@dataclass(frozen=True)
class ThrottleLimits:
    """How many failed sign-ins are allowed within a window, per user name and per client."""

    per_user: int
    per_client: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottleLimits:
        return cls(
            per_user=settings.console_sign_in_max_failures,
            per_client=settings.console_sign_in_max_failures_per_client,
            window=timedelta(seconds=settings.console_sign_in_window_seconds),
        )


def sign_in_blocked(
    session: Session,
    limits: ThrottleLimits,
    now: datetime,
    account_id: str,
    user_name: str,
    client_address: str,
) -> bool:
    """Return whether recent failures for this user name or this client exceed the limits.

    NOTE: failures count per user name whoever sends them, so anyone who knows
    an account id and user name can block that user's sign-in for a window.
    """
    since = now - limits.window
    user_failures = session.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(
            SignInFailure.account_id == account_id,
            SignInFailure.user_name == user_name.lower(),
            SignInFailure.failed_at > since,
        )
    )
    if (user_failures or 0) >= limits.per_user:
        return True
    client_failures = session.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.client_address == client_address, SignInFailure.failed_at > since)
    )
    return (client_failures or 0) >= limits.per_client


def record_failure(
    session: Session,
    limits: ThrottleLimits,
    now: datetime,
    account_id: str,
    user_name: str,
    client_address: str,
) -> None:
    """Count one failed sign-in, and drop the failures that no longer count."""
    session.add(
        SignInFailure(
            account_id=account_id[:12],
            user_name=user_name.lower()[:64],
            client_address=client_address[:64],
            failed_at=now,
        )
    )
    session.execute(delete(SignInFailure).where(SignInFailure.failed_at <= now - limits.window))
