"""The authorization check that every operation makes through ``RequestContext.authorize``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tocsin.iam.policy import AuthzRequest, Decision, evaluate
from tocsin.iam.principal import Caller
from tocsin.protocol.errors import AccessDeniedException

if TYPE_CHECKING:
    from tocsin.protocol.handlers import RequestContext

logger = logging.getLogger(__name__)


def caller_context(caller: Caller) -> dict[str, Any]:
    """Return the global condition keys that describe ``caller``."""
    context: dict[str, Any] = {
        "aws:PrincipalAccount": caller.account_id,
        "aws:PrincipalArn": caller.principal_arn,
        "aws:userid": caller.user_id,
        "aws:PrincipalType": "AssumedRole" if caller.kind == "assumed-role" else "User",
    }
    if caller.organization_id:
        context["aws:PrincipalOrgID"] = caller.organization_id
    if caller.kind == "user":
        context["aws:username"] = caller.arn.rsplit("/", 1)[-1]
    return context


def decide(
    caller: Caller,
    action: str,
    resource: str,
    *,
    resource_account: str,
    resource_policies: tuple[Mapping[str, Any], ...] = (),
    conditions: Mapping[str, Any] | None = None,
    trust_policy: bool = False,
) -> tuple[Decision, str]:
    """Evaluate the caller's identity policies, its session policies and the resource policies.

    Returns the decision and the kind of policy that decided it: "policy" for
    the identity and resource policies, "session" for the session policies.
    """
    request = AuthzRequest(
        action=action,
        resource=resource,
        principal_account=caller.account_id,
        principal_arns=caller.principal_arns,
        resource_account=resource_account,
        context={**caller_context(caller), **(conditions or {})},
    )
    decision = evaluate(request, caller.policies, resource_policies, trust_policy=trust_policy)
    if decision is not Decision.ALLOW or not caller.session_policies:
        return decision, "policy"
    # A session policy only narrows what the role's own policies grant, so it
    # is evaluated alone, as if the resource were in the caller's account.
    session_request = replace(request, resource_account=caller.account_id)
    return evaluate(session_request, caller.session_policies, ()), "session"


def authorize(
    ctx: RequestContext,
    action: str,
    resource: str,
    *,
    resource_account: str,
    resource_policies: tuple[Mapping[str, Any], ...],
    conditions: Mapping[str, Any],
    trust_policy: bool = False,
) -> None:
    """Raise AccessDeniedException unless the request's caller may do ``action`` on ``resource``."""
    caller = ctx.caller
    decision, decided_by = decide(
        caller,
        action,
        resource,
        resource_account=resource_account,
        resource_policies=resource_policies,
        conditions=conditions,
        trust_policy=trust_policy,
    )
    if decision is Decision.ALLOW:
        return
    if decision is Decision.EXPLICIT_DENY:
        reason = "with an explicit deny in a policy"
    elif decided_by == "session":
        reason = f"because no session policy allows the {action} action"
    elif trust_policy or resource_account != caller.account_id:
        reason = f"because no resource-based policy allows the {action} action"
    else:
        reason = f"because no identity-based policy allows the {action} action"
    logger.info(
        "denied %s on %s to %s (account %s, request %s)",
        action,
        resource,
        caller.arn,
        caller.account_id,
        ctx.request_id,
    )
    # AWS starts this message with "User:" for every kind of principal.
    raise AccessDeniedException(
        f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} "
        f"{reason}"
    )
