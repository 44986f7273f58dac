"""Resolution of an access key id to its secret and the caller it stands for.

This runs on every request, so it reads with one joined query per key kind
and caches what is pure: decrypted secrets by their ciphertext and parsed
policies by their text. Nothing about a key's validity is cached, so a
deleted or deactivated key stops working with the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.engine import Connection

from tocsin.iam.crypto import SecretBox
from tocsin.iam.models import AccessKey, Account, Role, RolePolicy, RoleSession, User, UserPolicy
from tocsin.iam.principal import Caller
from tocsin.protocol.errors import AuthError

UNKNOWN_KEY_MESSAGE = "The security token included in the request is invalid."
EXPIRED_MESSAGE = "The security token included in the request is expired"


@dataclass(frozen=True)
class ResolvedKey:
    secret_access_key: str
    caller: Caller


def token_digest(session_token: str) -> str:
    return hashlib.sha256(session_token.encode()).hexdigest()


@lru_cache(maxsize=4096)
def _parsed_policy(document: str) -> dict[str, Any]:
    # Callers only read the result, so one parsed copy per distinct text is shared.
    parsed: dict[str, Any] = json.loads(document)
    return parsed


def _policies(documents: list[str | None]) -> tuple[dict[str, Any], ...]:
    return tuple(_parsed_policy(document) for document in documents if document is not None)


class SecretCache:
    """Decrypted secrets by ciphertext: Fernet decryption is the costliest step of a lookup."""

    def __init__(self, secrets: SecretBox, size: int = 4096) -> None:
        self.decrypt = lru_cache(maxsize=size)(secrets.decrypt)


def resolve_access_key(
    connection: Connection,
    secrets: SecretCache,
    access_key_id: str,
    session_token: str | None,
    now: datetime,
) -> ResolvedKey:
    """Return the secret and caller behind ``access_key_id``.

    Raises AuthError for an unknown or inactive key, for a temporary key used
    without its session token or with another one, and for an expired session.
    """
    if access_key_id.startswith("ASIA"):
        return _resolve_role_session(connection, secrets, access_key_id, session_token, now)

    rows = connection.execute(USER_KEY_QUERY, {"access_key_id": access_key_id}).all()
    if not rows or rows[0].status != "Active":
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    if session_token:
        # A long-term key signs without a session token; AWS rejects the pair.
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    first = rows[0]
    caller = Caller(
        account_id=first.account_id,
        arn=f"arn:aws:iam::{first.account_id}:user{first.path}{first.name}",
        user_id=first.user_id,
        kind="user",
        access_key_id=access_key_id,
        policies=_policies([row.document for row in rows]),
        organization_id=first.organization_id,
    )
    return ResolvedKey(secrets.decrypt(first.encrypted_secret), caller)


def resolve_user(connection: Connection, user_id: str) -> Caller | None:
    """Return the caller of a user signed in with a password, or None if the user is gone.

    The console signs users in without an access key, so ``access_key_id`` is empty.
    """
    rows = connection.execute(USER_QUERY, {"user_id": user_id}).all()
    if not rows:
        return None
    first = rows[0]
    return Caller(
        account_id=first.account_id,
        arn=f"arn:aws:iam::{first.account_id}:user{first.path}{first.name}",
        user_id=first.user_id,
        kind="user",
        access_key_id="",
        policies=_policies([row.document for row in rows]),
        organization_id=first.organization_id,
    )


def _user_key_query() -> Any:
    """Build the key lookup once: statement construction costs more than running it."""
    return (
        select(
            AccessKey.status,
            AccessKey.encrypted_secret,
            User.user_id,
            User.account_id,
            User.name,
            User.path,
            Account.organization_id,
            UserPolicy.document,
        )
        .join(User, User.user_id == AccessKey.user_id)
        .join(Account, Account.account_id == User.account_id)
        .outerjoin(UserPolicy, UserPolicy.user_id == User.user_id)
        .where(AccessKey.access_key_id == bindparam("access_key_id"))
        .order_by(UserPolicy.name)
    )


def _role_session_query() -> Any:
    return (
        select(
            RoleSession.session_name,
            RoleSession.encrypted_secret,
            RoleSession.session_token_digest,
            RoleSession.session_policy,
            RoleSession.expires_at,
            Role.role_id,
            Role.account_id,
            Role.name,
            Role.path,
            Account.organization_id,
            RolePolicy.document,
        )
        .join(Role, Role.role_id == RoleSession.role_id)
        .join(Account, Account.account_id == Role.account_id)
        .outerjoin(RolePolicy, RolePolicy.role_id == Role.role_id)
        .where(RoleSession.access_key_id == bindparam("access_key_id"))
        .order_by(RolePolicy.name)
    )


def _user_query() -> Any:
    return (
        select(
            User.user_id,
            User.account_id,
            User.name,
            User.path,
            Account.organization_id,
            UserPolicy.document,
        )
        .join(Account, Account.account_id == User.account_id)
        .outerjoin(UserPolicy, UserPolicy.user_id == User.user_id)
        .where(User.user_id == bindparam("user_id"))
        .order_by(UserPolicy.name)
    )


USER_KEY_QUERY = _user_key_query()
USER_QUERY = _user_query()
ROLE_SESSION_QUERY = _role_session_query()


def _resolve_role_session(
    connection: Connection,
    secrets: SecretCache,
    access_key_id: str,
    session_token: str | None,
    now: datetime,
) -> ResolvedKey:
    rows: list[Row[Any]] = list(
        connection.execute(ROLE_SESSION_QUERY, {"access_key_id": access_key_id}).all()
    )
    if not rows or not session_token:
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    first = rows[0]
    if not hmac.compare_digest(first.session_token_digest, token_digest(session_token)):
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    if now >= first.expires_at:
        raise AuthError("expired_token", EXPIRED_MESSAGE)
    role_arn = f"arn:aws:iam::{first.account_id}:role{first.path}{first.name}"
    caller = Caller(
        account_id=first.account_id,
        arn=f"arn:aws:sts::{first.account_id}:assumed-role/{first.name}/{first.session_name}",
        user_id=f"{first.role_id}:{first.session_name}",
        kind="assumed-role",
        access_key_id=access_key_id,
        policies=_policies([row.document for row in rows]),
        organization_id=first.organization_id,
        source_arn=role_arn,
        expires_at=first.expires_at,
        session_policies=_policies([first.session_policy]),
    )
    return ResolvedKey(secrets.decrypt(first.encrypted_secret), caller)
