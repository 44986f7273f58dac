"""STS operations: GetCallerIdentity and AssumeRole."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tocsin.iam import ids
from tocsin.iam.credentials import token_digest
from tocsin.iam.errors import MalformedPolicyDocumentException
from tocsin.iam.models import Role, RoleSession
from tocsin.iam.policy import PolicyError, parse_policy
from tocsin.protocol.errors import AccessDeniedException, ServiceError
from tocsin.protocol.handlers import RequestContext, ServiceHandlers

logger = logging.getLogger(__name__)

handlers = ServiceHandlers("sts")

ROLE_ARN = re.compile(
    r"^arn:aws:iam::(?P<account>\d{12}):role(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)$"
)
DEFAULT_DURATION_SECONDS = 3600
# A role session that assumes another role ("role chaining") may last one hour at most.
ROLE_CHAINING_LIMIT_SECONDS = 3600
SESSION_POLICY_CHARACTERS = 2048


class ValidationError(ServiceError):
    pass


class PackedPolicyTooLargeException(ServiceError):
    pass


@handlers.operation("GetCallerIdentity")
def get_caller_identity(ctx: RequestContext, _params: dict[str, Any]) -> dict[str, Any]:
    # AWS serves GetCallerIdentity to every valid credential, whatever its policies allow.
    caller = ctx.caller
    return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}


def _denied(ctx: RequestContext, role_arn: str) -> AccessDeniedException:
    return AccessDeniedException(
        f"User: {ctx.caller.arn} is not authorized to perform: sts:AssumeRole on resource: "
        f"{role_arn}"
    )


def _reject_unsupported(params: dict[str, Any]) -> None:
    if params.get("PolicyArns"):
        raise ValidationError(
            "PolicyArns is not supported: this server has no managed policies; "
            "pass an inline session policy in Policy instead"
        )
    if params.get("Tags") or params.get("TransitiveTagKeys"):
        raise ValidationError("Session tags (Tags, TransitiveTagKeys) are not supported")
    if params.get("ProvidedContexts"):
        raise ValidationError("ProvidedContexts is not supported")


def _session_policy(params: dict[str, Any]) -> str | None:
    document: str | None = params.get("Policy")
    if document is None:
        return None
    try:
        parse_policy(document, resource_policy=False)
    except PolicyError as exc:
        raise MalformedPolicyDocumentException(f"Policy: {exc}") from exc
    if len(document) > SESSION_POLICY_CHARACTERS:
        raise PackedPolicyTooLargeException(
            f"Policy is {len(document)} characters; the limit is {SESSION_POLICY_CHARACTERS}"
        )
    return document


@handlers.operation("AssumeRole")
def assume_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    role_arn = params["RoleArn"]
    match = ROLE_ARN.match(role_arn)
    if match is None:
        raise ValidationError(
            f"Value '{role_arn}' at 'roleArn' failed to satisfy constraint: "
            "Member must be a role ARN of the form arn:aws:iam::ACCOUNT:role/NAME"
        )
    _reject_unsupported(params)
    if params.get("SerialNumber") or params.get("TokenCode"):
        raise AccessDeniedException("MultiFactorAuthentication failed: no MFA device is registered")
    session_policy = _session_policy(params)

    role = ctx.session.scalar(
        select(Role).where(Role.account_id == match["account"], Role.name == match["name"])
    )
    # An unknown role is reported as a denial, so that callers cannot probe other accounts.
    if role is None or role.path != match["path"]:
        raise _denied(ctx, role_arn)
    conditions: dict[str, Any] = {}
    if params.get("ExternalId") is not None:
        conditions["sts:ExternalId"] = params["ExternalId"]
    if params.get("SourceIdentity") is not None:
        conditions["sts:SourceIdentity"] = params["SourceIdentity"]
    try:
        ctx.authorize(
            "sts:AssumeRole",
            role.arn,
            resource_account=role.account_id,
            resource_policies=(json.loads(role.assume_role_policy),),
            conditions=conditions,
            trust_policy=True,
        )
    except AccessDeniedException:
        # One message for every denial, whatever its reason, so that the
        # response does not tell other accounts which roles exist.
        raise _denied(ctx, role_arn) from None

    duration = params.get("DurationSeconds", DEFAULT_DURATION_SECONDS)
    if ctx.caller.kind == "assumed-role" and duration > ROLE_CHAINING_LIMIT_SECONDS:
        raise ValidationError(
            f"The requested DurationSeconds ({duration}) exceeds the 1 hour session limit "
            "for roles assumed by role chaining."
        )
    if duration > role.max_session_duration:
        raise ValidationError(
            f"The requested DurationSeconds ({duration}) exceeds the MaxSessionDuration "
            f"({role.max_session_duration}) set for this role."
        )

    # Clients compare Expiration with their own clocks, so it is wall-clock
    # time even when product time runs faster for a demonstration.
    now = ctx.clock.wall_now()
    access_key_id = ids.new_access_key_id(temporary=True)
    secret = ids.new_secret_access_key()
    token = ids.new_session_token()
    expires_at = now + timedelta(seconds=duration)
    session_name = params["RoleSessionName"]
    ctx.session.add(
        RoleSession(
            access_key_id=access_key_id,
            role_id=role.role_id,
            session_name=session_name,
            encrypted_secret=ctx.runtime.secrets.encrypt(secret),
            session_token_digest=token_digest(token),
            session_policy=session_policy,
            source_arn=ctx.caller.arn,
            expires_at=expires_at,
            created_at=now,
        )
    )
    logger.info(
        "%s assumed role %s as session %s until %s",
        ctx.caller.arn,
        role.arn,
        session_name,
        expires_at.isoformat(),
    )
    output: dict[str, Any] = {
        "Credentials": {
            "AccessKeyId": access_key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expires_at,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{session_name}",
            "Arn": f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{session_name}",
        },
    }
    if session_policy is not None:
        output["PackedPolicySize"] = round(100 * len(session_policy) / SESSION_POLICY_CHARACTERS)
    if params.get("SourceIdentity") is not None:
        output["SourceIdentity"] = params["SourceIdentity"]
    return output
