"""Accounts and their administrators."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam import ids
from tocsin.iam.crypto import SecretBox
from tocsin.iam.models import AccessKey, Account, User, UserPolicy

logger = logging.getLogger(__name__)

ACCOUNT_ID_PATTERN = re.compile(r"^\d{12}$")
# Account names are 1 to 128 characters, as in Organizations; control characters
# are rejected too, because names are shown in logs and in the console.
ACCOUNT_NAME_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
ADMINISTRATOR_NAME = "Administrator"
ADMINISTRATOR_POLICY_NAME = "AdministratorAccess"
# The administrator may do anything its own account allows; other accounts'
# resources still need their resource policies, as for any IAM user.
ADMINISTRATOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "FullAccess", "Effect": "Allow", "Action": "*", "Resource": "*"}],
}


class AccountError(Exception):
    """An account cannot be created as requested; the message gives the reason."""


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    name: str
    administrator_arn: str
    access_key_id: str
    secret_access_key: str


def create_account(
    session: Session,
    clock: Clock,
    secrets: SecretBox,
    *,
    account_id: str | None = None,
    name: str | None = None,
    email: str | None = None,
) -> NewAccount:
    """Create an account with an administrator user and one access key for it."""
    if account_id is None:
        account_id = ids.new_account_id()
        while session.get(Account, account_id) is not None:
            account_id = ids.new_account_id()
    elif not ACCOUNT_ID_PATTERN.match(account_id):
        raise AccountError(f"invalid account id {account_id!r}: it must be exactly 12 digits")
    elif session.get(Account, account_id) is not None:
        raise AccountError(f"account {account_id} already exists")
    if name is None:
        name = f"account-{account_id}"
    if not ACCOUNT_NAME_PATTERN.match(name):
        raise AccountError(
            f"invalid account name {name!r}: it must be 1 to 128 characters without control "
            "characters"
        )

    now = clock.now()
    session.add(Account(account_id=account_id, name=name, email=email, created_at=now))
    administrator = User(
        user_id=ids.new_user_id(),
        account_id=account_id,
        name=ADMINISTRATOR_NAME,
        path="/",
        created_at=now,
    )
    administrator.policies.append(
        UserPolicy(name=ADMINISTRATOR_POLICY_NAME, document=json.dumps(ADMINISTRATOR_POLICY))
    )
    session.add(administrator)
    # Flush before adding the key, because no relationship declares to the
    # unit of work that the key row depends on the user row.
    session.flush()
    access_key_id, secret = add_access_key(session, clock, secrets, administrator)
    session.flush()
    logger.info(
        "created account %s (%s) with administrator %s", account_id, name, administrator.arn
    )
    return NewAccount(account_id, name, administrator.arn, access_key_id, secret)


def add_access_key(
    session: Session, clock: Clock, secrets: SecretBox, user: User
) -> tuple[str, str]:
    """Create an active access key for ``user``; return its id and its secret."""
    access_key_id = ids.new_access_key_id()
    secret = ids.new_secret_access_key()
    session.add(
        AccessKey(
            access_key_id=access_key_id,
            user_id=user.user_id,
            encrypted_secret=secrets.encrypt(secret),
            status="Active",
            created_at=clock.now(),
        )
    )
    return access_key_id, secret
