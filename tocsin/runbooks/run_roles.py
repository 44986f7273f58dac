"""The role a run acts as: its trust check and the temporary credentials minted for it.

A run's role must trust a service principal that runs automations
(ssm.amazonaws.com, or ssm-incidents.amazonaws.com for runs that a response
plan starts) or the identity that started the run, as STS AssumeRole would
require of it. The credentials are a role session like the ones AssumeRole
issues; the run keeps the secret and the session token encrypted.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam import ids
from tocsin.iam.authorize import decide
from tocsin.iam.credentials import token_digest
from tocsin.iam.crypto import SecretBox
from tocsin.iam.models import Role, RoleSession
from tocsin.iam.policy import AuthzRequest, Decision, PolicyError, evaluate
from tocsin.iam.principal import Caller
from tocsin.runbooks.execution_models import AutomationExecution

logger = logging.getLogger(__name__)

ROLE_ARN = re.compile(
    r"^arn:aws:iam::(?P<account>\d{12}):role(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)$"
)
AUTOMATION_SERVICE = "ssm.amazonaws.com"
INCIDENTS_SERVICE = "ssm-incidents.amazonaws.com"
# Role sessions of runs last one hour and are renewed when less than this remains.
SESSION_SECONDS = 3600
RENEW_MARGIN = timedelta(minutes=10)


class RoleNotUsable(ValueError):
    """The role does not exist or does not trust the run; the message names the reason."""


def find_role(session: Session, role_arn: str) -> Role:
    """Return the role that ``role_arn`` names, or raise RoleNotUsable."""
    match = ROLE_ARN.match(role_arn)
    if match is None:
        raise RoleNotUsable(
            f"Role {role_arn!r} is not a role ARN of the form arn:aws:iam::ACCOUNT:role/NAME"
        )
    role = session.scalar(
        select(Role).where(Role.account_id == match["account"], Role.name == match["name"])
    )
    if role is None or role.path != match["path"]:
        raise RoleNotUsable(f"Role {role_arn} does not exist")
    return role


def check_trust(
    session: Session, role_arn: str, *, services: Sequence[str], caller: Caller | None
) -> Role:
    """Return the role after checking that its trust policy lets ``services`` or ``caller`` in."""
    role = find_role(session, role_arn)
    trust = json.loads(role.assume_role_policy)
    try:
        for service in services:
            request = AuthzRequest(
                action="sts:AssumeRole",
                resource=role.arn,
                principal_account="",
                principal_arns=(),
                resource_account=role.account_id,
                principal_service=service,
            )
            if evaluate(request, (), (trust,), trust_policy=True) is Decision.ALLOW:
                return role
        if caller is not None:
            decision, _ = decide(
                caller,
                "sts:AssumeRole",
                role.arn,
                resource_account=role.account_id,
                resource_policies=(trust,),
                trust_policy=True,
            )
            if decision is Decision.ALLOW:
                return role
    except PolicyError as exc:
        raise RoleNotUsable(f"The trust policy of role {role_arn} is invalid: {exc}") from exc
    trusted = " or ".join([*services, *([caller.arn] if caller else [])])
    raise RoleNotUsable(f"Role {role_arn} does not trust {trusted} to assume it")


def ensure_credentials(
    session: Session, clock: Clock, secrets: SecretBox, execution: AutomationExecution
) -> None:
    """Give ``execution`` a role session of its role unless its current one lasts a while yet."""
    if execution.role_arn is None:
        return
    now = clock.wall_now()
    expires = execution.credentials_expire_at
    if expires is not None and expires - RENEW_MARGIN > now:
        return
    role = find_role(session, execution.role_arn)
    key_id, secret, token, expires_at = _mint(session, secrets, role, execution, now)
    execution.access_key_id = key_id
    execution.encrypted_secret = secrets.encrypt(secret)
    execution.encrypted_token = secrets.encrypt(token)
    execution.credentials_expire_at = expires_at


def _mint(
    session: Session, secrets: SecretBox, role: Role, execution: AutomationExecution, now: datetime
) -> tuple[str, str, str, datetime]:
    access_key_id = ids.new_access_key_id(temporary=True)
    secret = ids.new_secret_access_key()
    token = ids.new_session_token()
    expires_at = now + timedelta(seconds=min(SESSION_SECONDS, role.max_session_duration))
    # AWS names an automation's role session after the execution.
    session_name = f"Automation-{execution.execution_id}"[:64]
    session.add(
        RoleSession(
            access_key_id=access_key_id,
            role_id=role.role_id,
            session_name=session_name,
            encrypted_secret=secrets.encrypt(secret),
            session_token_digest=token_digest(token),
            session_policy=None,
            source_arn=execution.executed_by,
            expires_at=expires_at,
            created_at=now,
        )
    )
    logger.info(
        "run %s assumed role %s until %s", execution.execution_id, role.arn, expires_at.isoformat()
    )
    return access_key_id, secret, token, expires_at
