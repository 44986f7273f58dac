"""Login profiles: the console passwords of IAM users, and the password check at sign-in."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam.errors import EntityAlreadyExistsException, NoSuchEntityException
from tocsin.iam.models import LoginProfile, User
from tocsin.iam.passwords import (
    check_password_policy,
    hash_password,
    spend_verification_time,
    verify_password,
)

logger = logging.getLogger(__name__)


def find_login_profile(session: Session, user: User) -> LoginProfile | None:
    return session.get(LoginProfile, user.user_id)


def get_login_profile(session: Session, user: User) -> LoginProfile:
    profile = find_login_profile(session, user)
    if profile is None:
        raise NoSuchEntityException(f"Login Profile for User {user.name} cannot be found.")
    return profile


def create_login_profile(
    session: Session,
    clock: Clock,
    user: User,
    password: str,
    *,
    password_reset_required: bool = False,
    max_signin_session_duration: int | None = None,
) -> LoginProfile:
    """Give ``user`` a console password after checking it against the password policy."""
    if find_login_profile(session, user) is not None:
        raise EntityAlreadyExistsException(f"Login Profile for user {user.name} already exists.")
    check_password_policy(password, user.name)
    now = clock.now()
    profile = LoginProfile(
        user_id=user.user_id,
        password_hash=hash_password(password),
        password_reset_required=password_reset_required,
        max_signin_session_duration=max_signin_session_duration,
        created_at=now,
        password_changed_at=now,
    )
    session.add(profile)
    session.flush()
    logger.info("created login profile of IAM user %s", user.arn)
    return profile


def update_login_profile(
    session: Session,
    clock: Clock,
    user: User,
    *,
    password: str | None = None,
    password_reset_required: bool | None = None,
    max_signin_session_duration: int | None = None,
    reset_max_signin_session_duration: bool = False,
) -> LoginProfile:
    """Change the members of ``user``'s login profile that are given.

    A new password ends the user's console sessions, because they keep the
    ``password_stamp`` of the password they signed in with.
    """
    profile = get_login_profile(session, user)
    if password is not None:
        check_password_policy(password, user.name)
        profile.password_hash = hash_password(password)
        profile.password_changed_at = clock.now()
    if password_reset_required is not None:
        profile.password_reset_required = password_reset_required
    if reset_max_signin_session_duration:
        profile.max_signin_session_duration = None
    elif max_signin_session_duration is not None:
        profile.max_signin_session_duration = max_signin_session_duration
    logger.info("updated login profile of IAM user %s", user.arn)
    return profile


def delete_login_profile(session: Session, user: User) -> None:
    session.delete(get_login_profile(session, user))
    logger.info("deleted login profile of IAM user %s", user.arn)


@dataclass(frozen=True)
class VerifiedUser:
    """A user whose password matched at sign-in."""

    user_id: str
    account_id: str
    user_name: str
    arn: str
    password_reset_required: bool
    max_signin_session_duration: int | None
    password_stamp: str


def password_stamp(profile: LoginProfile) -> str:
    """Return a digest that changes whenever the password is set, even to the same value.

    Every hash has a new salt, so the digest of the stored hash serves. Console
    sessions keep the stamp of their sign-in and end when it no longer matches.
    """
    return hashlib.sha256(profile.password_hash.encode()).hexdigest()


def verify_sign_in(
    session: Session, account_id: str, user_name: str, password: str
) -> VerifiedUser | None:
    """Return the user if ``password`` is the console password of ``user_name``, else None.

    An unknown account, an unknown user, a user without a login profile and a
    wrong password all return None after the same hashing work, so neither the
    result nor the time taken reveals which of them it was.
    """
    row = session.execute(
        select(User, LoginProfile)
        .join(LoginProfile, LoginProfile.user_id == User.user_id)
        .where(User.account_id == account_id, func.lower(User.name) == user_name.lower())
    ).first()
    if row is None:
        spend_verification_time(password)
        return None
    user, profile = row
    if not verify_password(password, profile.password_hash):
        return None
    return VerifiedUser(
        user_id=user.user_id,
        account_id=user.account_id,
        user_name=user.name,
        arn=user.arn,
        password_reset_required=profile.password_reset_required,
        max_signin_session_duration=profile.max_signin_session_duration,
        password_stamp=password_stamp(profile),
    )
