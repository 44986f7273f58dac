"""IAM users, roles, inline policies and access keys of one account."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam import ids
from tocsin.iam.accounts import add_access_key
from tocsin.iam.crypto import SecretBox
from tocsin.iam.errors import (
    DeleteConflictException,
    EntityAlreadyExistsException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    NoSuchEntityException,
)
from tocsin.iam.models import AccessKey, Account, LoginProfile, Role, RolePolicy, User, UserPolicy
from tocsin.iam.policy import PolicyError, parse_policy

logger = logging.getLogger(__name__)

InlinePolicy = UserPolicy | RolePolicy

# An AWS principal ARN in a trust policy: the account root, a user, a role or
# a role session.
IAM_PRINCIPAL_ARN = re.compile(
    r"^arn:aws:(?:iam|sts)::(?P<account>\d{12}):(?:root"
    r"|(?P<kind>user|role)/(?:[^/]+/)*(?P<name>[^/]+)"
    r"|assumed-role/(?P<session_role>[^/]+)/[^/]+)$"
)
ACCOUNT_ID = re.compile(r"^\d{12}$")

# IAM quotas, as AWS documents them in "IAM and AWS STS quotas".
ACCESS_KEYS_PER_USER = 2
USER_INLINE_POLICY_CHARACTERS = 2048  # all inline policies of a user, whitespace excluded
ROLE_INLINE_POLICY_CHARACTERS = 10240  # all inline policies of a role, whitespace excluded
TRUST_POLICY_CHARACTERS = 2048


def policy_size(document: str) -> int:
    """Count characters as IAM quotas do, without whitespace."""
    return sum(1 for character in document if not character.isspace())


def checked_policy(document: str, member: str, *, resource_policy: bool = False) -> str:
    """Return ``document`` unchanged if it is a well-formed policy; raise otherwise.

    An identity policy may not name a Principal; a resource policy (a role's
    trust policy) needs one in every statement.
    """
    try:
        parse_policy(document, resource_policy=resource_policy)
    except PolicyError as exc:
        raise MalformedPolicyDocumentException(f"{member}: {exc}") from exc
    return document


def get_user(session: Session, account_id: str, name: str) -> User:
    # IAM names are unique without regard to case, and found the same way.
    user = session.scalar(
        select(User).where(User.account_id == account_id, func.lower(User.name) == name.lower())
    )
    if user is None:
        raise NoSuchEntityException(f"The user with name {name} cannot be found.")
    return user


def get_role(session: Session, account_id: str, name: str) -> Role:
    role = session.scalar(
        select(Role).where(Role.account_id == account_id, func.lower(Role.name) == name.lower())
    )
    if role is None:
        raise NoSuchEntityException(f"The role with name {name} cannot be found.")
    return role


def create_user(
    session: Session, clock: Clock, account_id: str, name: str, path: str, tags: list[Any]
) -> User:
    existing = session.scalar(
        select(User.user_id).where(
            User.account_id == account_id, func.lower(User.name) == name.lower()
        )
    )
    if existing is not None:
        raise EntityAlreadyExistsException(f"User with name {name} already exists.")
    user = User(
        user_id=ids.new_user_id(),
        account_id=account_id,
        name=name,
        path=path,
        tags=tags,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    logger.info("created IAM user %s", user.arn)
    return user


def delete_user(session: Session, user: User) -> None:
    if user.policies:
        raise DeleteConflictException("Cannot delete entity, must delete policies first.")
    has_keys = session.scalar(
        select(AccessKey.access_key_id).where(AccessKey.user_id == user.user_id)
    )
    if has_keys is not None:
        raise DeleteConflictException("Cannot delete entity, must delete access keys first.")
    if session.get(LoginProfile, user.user_id) is not None:
        raise DeleteConflictException("Cannot delete entity, must delete login profile first.")
    session.delete(user)
    logger.info("deleted IAM user %s", user.arn)


def create_access_key(
    session: Session, clock: Clock, secrets: SecretBox, user: User
) -> tuple[AccessKey, str]:
    count = len(session.scalars(select(AccessKey).where(AccessKey.user_id == user.user_id)).all())
    if count >= ACCESS_KEYS_PER_USER:
        raise LimitExceededException(
            f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}"
        )
    access_key_id, secret = add_access_key(session, clock, secrets, user)
    session.flush()
    key = session.get(AccessKey, access_key_id)
    assert key is not None  # flushed just above
    return key, secret


def get_access_key(session: Session, user: User, access_key_id: str) -> AccessKey:
    key = session.get(AccessKey, access_key_id)
    if key is None or key.user_id != user.user_id:
        raise NoSuchEntityException(f"The Access Key with id {access_key_id} cannot be found.")
    return key


def put_user_policy(session: Session, user: User, name: str, document: str) -> None:
    limit = USER_INLINE_POLICY_CHARACTERS
    existing = _checked_inline_policy(user.policies, name, document, limit, f"user {user.name}")
    if existing is not None:
        existing.document = document
    else:
        user.policies.append(UserPolicy(name=name, document=document))


def _checked_inline_policy(
    policies: Sequence[InlinePolicy], name: str, document: str, limit: int, owner: str
) -> InlinePolicy | None:
    """Check a new inline policy against its owner's quota; return the one it replaces, if any."""
    checked_policy(document, "PolicyDocument")
    others = sum(policy_size(p.document) for p in policies if p.name != name)
    if others + policy_size(document) > limit:
        raise LimitExceededException(f"Maximum policy size of {limit} bytes exceeded for {owner}")
    return next((policy for policy in policies if policy.name == name), None)


def find_user_policy(user: User, name: str) -> UserPolicy:
    for policy in user.policies:
        if policy.name == name:
            return policy
    raise NoSuchEntityException(f"The user policy with name {name} cannot be found.")


def create_role(
    session: Session,
    clock: Clock,
    account_id: str,
    *,
    name: str,
    path: str,
    trust_policy: str,
    description: str | None,
    max_session_duration: int,
    tags: list[Any],
) -> Role:
    checked_trust_policy(session, trust_policy)
    existing = session.scalar(
        select(Role.role_id).where(
            Role.account_id == account_id, func.lower(Role.name) == name.lower()
        )
    )
    if existing is not None:
        raise EntityAlreadyExistsException(f"Role with name {name} already exists.")
    role = Role(
        role_id=ids.new_role_id(),
        account_id=account_id,
        name=name,
        path=path,
        description=description,
        assume_role_policy=trust_policy,
        max_session_duration=max_session_duration,
        tags=tags,
        created_at=clock.now(),
    )
    session.add(role)
    session.flush()
    logger.info("created IAM role %s", role.arn)
    return role


def checked_trust_policy(session: Session, document: str) -> str:
    """Return ``document`` if it is a valid trust policy whose principals exist; raise otherwise.

    A trust policy names who may assume the role, so, as in IAM, it may not
    name resources, and each account, user or role it names must exist.
    """
    checked_policy(document, "AssumeRolePolicyDocument", resource_policy=True)
    if policy_size(document) > TRUST_POLICY_CHARACTERS:
        raise LimitExceededException(
            f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_CHARACTERS}"
        )
    statements = parse_policy(document)["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        for field in ("Resource", "NotResource"):
            if field in statement:
                raise MalformedPolicyDocumentException(
                    f"AssumeRolePolicyDocument: Has prohibited field {field}"
                )
        for name in ("Principal", "NotPrincipal"):
            principal = statement.get(name)
            if isinstance(principal, dict):
                for entry in _as_list(principal.get("AWS")):
                    _check_principal_exists(session, entry)
    return document


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _check_principal_exists(session: Session, principal: str) -> None:
    if principal == "*":
        return
    if ACCOUNT_ID.match(principal):
        account_id, kind, name = principal, None, None
    else:
        match = IAM_PRINCIPAL_ARN.match(principal)
        if match is None:
            raise MalformedPolicyDocumentException(f"Invalid principal in policy: {principal!r}")
        account_id = match["account"]
        kind, name = match["kind"], match["name"]
        if match["session_role"]:
            kind, name = "role", match["session_role"]
    if session.get(Account, account_id) is None:
        raise MalformedPolicyDocumentException(
            f"Invalid principal in policy: {principal!r}: account {account_id} does not exist"
        )
    if kind is None or name is None:
        return
    entity: type[User] | type[Role] = User if kind == "user" else Role
    found = session.scalar(
        select(entity.account_id).where(
            entity.account_id == account_id, func.lower(entity.name) == name.lower()
        )
    )
    if found is None:
        raise MalformedPolicyDocumentException(
            f"Invalid principal in policy: {principal!r}: no {kind} {name} in account {account_id}"
        )


def delete_role(session: Session, role: Role) -> None:
    if role.policies:
        raise DeleteConflictException("Cannot delete entity, must delete policies first.")
    session.delete(role)
    logger.info("deleted IAM role %s", role.arn)


def put_role_policy(session: Session, role: Role, name: str, document: str) -> None:
    limit = ROLE_INLINE_POLICY_CHARACTERS
    existing = _checked_inline_policy(role.policies, name, document, limit, f"role {role.name}")
    if existing is not None:
        existing.document = document
    else:
        role.policies.append(RolePolicy(name=name, document=document))


def find_role_policy(role: Role, name: str) -> RolePolicy:
    for policy in role.policies:
        if policy.name == name:
            return policy
    raise NoSuchEntityException(f"The role policy with name {name} cannot be found.")
