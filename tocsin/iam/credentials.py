"""Resolution of an access key id to its secret and the caller it stands for."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.iam.crypto import SecretBox
from tocsin.iam.models import AccessKey, Account, Role, RoleSession, User
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


def _policies(documents: list[str]) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(document) for document in documents)


def _organization_id(session: Session, account_id: str) -> str | None:
    account = session.get(Account, account_id)
    return account.organization_id if account else None


def resolve_access_key(
    session: Session,
    secrets: SecretBox,
    access_key_id: str,
    session_token: str | None,
    now: datetime,
) -> ResolvedKey:
    """Return the secret and caller behind ``access_key_id``.

    Raises AuthError for an unknown or inactive key, for a temporary key used
    without its session token or with another one, and for an expired session.
    """
    if access_key_id.startswith("ASIA"):
        return _resolve_role_session(session, secrets, access_key_id, session_token, now)

    key = session.get(AccessKey, access_key_id)
    if key is None or key.status != "Active":
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    if session_token:
        # A long-term key signs without a session token; AWS rejects the pair.
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    user = session.get(User, key.user_id)
    if user is None:
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    caller = Caller(
        account_id=user.account_id,
        arn=user.arn,
        user_id=user.user_id,
        kind="user",
        access_key_id=access_key_id,
        policies=_policies([policy.document for policy in user.policies]),
        organization_id=_organization_id(session, user.account_id),
    )
    return ResolvedKey(secrets.decrypt(key.encrypted_secret), caller)


def _resolve_role_session(
    session: Session,
    secrets: SecretBox,
    access_key_id: str,
    session_token: str | None,
    now: datetime,
) -> ResolvedKey:
    record = session.get(RoleSession, access_key_id)
    if record is None or not session_token:
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    if not hmac.compare_digest(record.session_token_digest, token_digest(session_token)):
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    if now >= record.expires_at:
        raise AuthError("expired_token", EXPIRED_MESSAGE)
    role = session.get(Role, record.role_id)
    if role is None:
        raise AuthError("unknown_key", UNKNOWN_KEY_MESSAGE)
    caller = Caller(
        account_id=role.account_id,
        arn=f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{record.session_name}",
        user_id=f"{role.role_id}:{record.session_name}",
        kind="assumed-role",
        access_key_id=access_key_id,
        policies=_policies([policy.document for policy in role.policies]),
        organization_id=_organization_id(session, role.account_id),
        source_arn=role.arn,
        expires_at=record.expires_at,
        session_policies=_policies([record.session_policy] if record.session_policy else []),
    )
    return ResolvedKey(secrets.decrypt(record.encrypted_secret), caller)
