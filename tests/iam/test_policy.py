"""IAM policy evaluation and validation, case by case from the IAM User Guide."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.iam.policy import (
    AuthzRequest,
    Decision,
    PolicyError,
    evaluate,
    parse_condition_operator,
    parse_policy,
    wildcard_match,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
OTHER_USER = f"arn:aws:iam::{OTHER}:user/bob"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Responder"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Responder/pager"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"
PLAN = f"arn:aws:ssm-incidents::{ACCOUNT}:response-plan/critical"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/page-on-alarm"
START = "ssm-incidents:StartIncident"

ALLOW = Decision.ALLOW
DENY = Decision.EXPLICIT_DENY
IMPLICIT = Decision.IMPLICIT_DENY


def user_request(**changes: Any) -> AuthzRequest:
    request = AuthzRequest(
        action=START,
        resource=PLAN,
        principal_account=ACCOUNT,
        principal_arns=(USER,),
        resource_account=ACCOUNT,
    )
    return replace(request, **changes)


def other_account_request(**changes: Any) -> AuthzRequest:
    changes = {"principal_account": OTHER, "principal_arns": (OTHER_USER,), **changes}
    return user_request(**changes)


def session_request(**changes: Any) -> AuthzRequest:
    return user_request(principal_arns=(SESSION, ROLE), **changes)


def root_request(**changes: Any) -> AuthzRequest:
    return user_request(principal_arns=(ROOT,), **changes)


def service_request(**changes: Any) -> AuthzRequest:
    return user_request(
        principal_account="", principal_arns=(), principal_service="events.amazonaws.com", **changes
    )


def statement(effect: str = "Allow", **elements: Any) -> dict[str, Any]:
    elements.setdefault("Action", START)
    if "NotResource" not in elements:
        elements.setdefault("Resource", PLAN)
    return {"Effect": effect, **elements}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def granted_to(principal: Any, effect: str = "Allow", **elements: Any) -> dict[str, Any]:
    return policy(statement(effect, Principal=principal, **elements))


IDENTITY_ALLOW = policy(statement())
IDENTITY_DENY = policy(statement("Deny"))

EVALUATION_CASES = [
    # Same account: either policy type may allow.
    pytest.param(user_request(), [IDENTITY_ALLOW], [], ALLOW, id="identity-allow"),
    pytest.param(user_request(), [], [], IMPLICIT, id="no-policies"),
    pytest.param(user_request(), [policy()], [policy()], IMPLICIT, id="no-statements"),
    pytest.param(
        user_request(action="ssm-incidents:DeleteResponsePlan"),
        [IDENTITY_ALLOW],
        [],
        IMPLICIT,
        id="identity-allow-other-action",
    ),
    pytest.param(user_request(), [], [granted_to({"AWS": USER})], ALLOW, id="resource-names-user"),
    pytest.param(
        user_request(),
        [],
        [granted_to({"AWS": [OTHER_USER, USER]})],
        ALLOW,
        id="resource-names-user-in-list",
    ),
    pytest.param(
        user_request(), [], [granted_to({"AWS": OTHER_USER})], IMPLICIT, id="resource-names-other"
    ),
    pytest.param(user_request(), [], [granted_to("*")], ALLOW, id="resource-principal-star"),
    pytest.param(
        user_request(), [], [granted_to({"AWS": "*"})], ALLOW, id="resource-principal-aws-star"
    ),
    pytest.param(
        user_request(),
        [],
        [granted_to({"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"})],
        IMPLICIT,
        id="principal-partial-wildcard-literal",
    ),
    # Explicit deny wins in either policy type.
    pytest.param(
        user_request(), [IDENTITY_ALLOW, IDENTITY_DENY], [], DENY, id="identity-deny-beats-allow"
    ),
    pytest.param(
        user_request(),
        [IDENTITY_ALLOW],
        [granted_to("*", "Deny")],
        DENY,
        id="resource-deny-beats-identity-allow",
    ),
    pytest.param(
        user_request(),
        [IDENTITY_DENY],
        [granted_to({"AWS": USER})],
        DENY,
        id="identity-deny-beats-resource-allow",
    ),
    pytest.param(
        user_request(),
        [IDENTITY_ALLOW],
        [granted_to({"AWS": ACCOUNT}, "Deny")],
        DENY,
        id="deny-naming-account-covers-user",
    ),
    pytest.param(
        user_request(),
        [IDENTITY_ALLOW],
        [granted_to({"AWS": OTHER_USER}, "Deny")],
        ALLOW,
        id="deny-naming-other-principal",
    ),
    # Account principals delegate to the account's identity policies.
    pytest.param(
        user_request(), [], [granted_to({"AWS": ACCOUNT})], IMPLICIT, id="account-id-alone"
    ),
    pytest.param(
        user_request(), [], [granted_to({"AWS": ROOT})], IMPLICIT, id="account-root-alone"
    ),
    pytest.param(
        user_request(),
        [IDENTITY_ALLOW],
        [granted_to({"AWS": ROOT})],
        ALLOW,
        id="account-root-with-identity",
    ),
    pytest.param(root_request(), [], [], ALLOW, id="root-user-needs-no-policy"),
    pytest.param(root_request(), [], [granted_to("*", "Deny")], DENY, id="root-user-resource-deny"),
    # Cross-account: both sides must allow.
    pytest.param(
        other_account_request(), [IDENTITY_ALLOW], [], IMPLICIT, id="cross-account-identity-only"
    ),
    pytest.param(
        other_account_request(),
        [],
        [granted_to({"AWS": OTHER_USER})],
        IMPLICIT,
        id="cross-account-resource-only",
    ),
    pytest.param(
        other_account_request(),
        [IDENTITY_ALLOW],
        [granted_to({"AWS": OTHER_USER})],
        ALLOW,
        id="cross-account-both-name-user",
    ),
    pytest.param(
        other_account_request(),
        [IDENTITY_ALLOW],
        [granted_to({"AWS": OTHER})],
        ALLOW,
        id="cross-account-account-id",
    ),
    pytest.param(
        other_account_request(),
        [IDENTITY_ALLOW],
        [granted_to({"AWS": OTHER_ROOT})],
        ALLOW,
        id="cross-account-account-root",
    ),
    pytest.param(
        other_account_request(),
        [IDENTITY_ALLOW],
        [granted_to({"AWS": ACCOUNT})],
        IMPLICIT,
        id="cross-account-wrong-account",
    ),
    pytest.param(
        other_account_request(),
        [IDENTITY_ALLOW],
        [granted_to("*")],
        ALLOW,
        id="cross-account-principal-star",
    ),
    pytest.param(
        other_account_request(),
        [IDENTITY_ALLOW, IDENTITY_DENY],
        [granted_to({"AWS": OTHER})],
        DENY,
        id="cross-account-identity-deny",
    ),
    pytest.param(
        other_account_request(principal_arns=(OTHER_ROOT,)),
        [],
        [granted_to({"AWS": OTHER})],
        ALLOW,
        id="cross-account-root-user",
    ),
    pytest.param(
        other_account_request(principal_arns=(OTHER_ROOT,)),
        [],
        [],
        IMPLICIT,
        id="cross-account-root-no-resource-policy",
    ),
    # Role sessions match by the role ARN and by the session ARN.
    pytest.param(session_request(), [], [granted_to({"AWS": ROLE})], ALLOW, id="session-by-role"),
    pytest.param(
        session_request(), [], [granted_to({"AWS": SESSION})], ALLOW, id="session-by-session-arn"
    ),
    pytest.param(
        session_request(),
        [],
        [granted_to({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/Responder/other"})],
        IMPLICIT,
        id="session-other-session",
    ),
    pytest.param(
        session_request(),
        [],
        [granted_to({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Other"})],
        IMPLICIT,
        id="session-other-role",
    ),
    pytest.param(
        session_request(),
        [IDENTITY_ALLOW],
        [granted_to({"AWS": ROLE}, "Deny")],
        DENY,
        id="session-deny-by-role",
    ),
    # NotAction and NotResource.
    pytest.param(
        user_request(),
        [policy(statement(Action=None, NotAction="ssm-incidents:Delete*"))],
        [],
        ALLOW,
        id="not-action-outside",
    ),
    pytest.param(
        user_request(action="ssm-incidents:DeleteResponsePlan"),
        [policy(statement(Action=None, NotAction="ssm-incidents:Delete*"))],
        [],
        IMPLICIT,
        id="not-action-inside",
    ),
    pytest.param(
        user_request(action="ssm-incidents:DeleteResponsePlan"),
        [IDENTITY_ALLOW, policy(statement("Deny", Action=None, NotAction="ssm-incidents:Start*"))],
        [],
        DENY,
        id="deny-not-action",
    ),
    pytest.param(
        user_request(),
        [policy(statement(NotResource=f"arn:aws:ssm-incidents::{ACCOUNT}:incident-record/*"))],
        [],
        ALLOW,
        id="not-resource-outside",
    ),
    pytest.param(
        user_request(),
        [policy(statement(NotResource=f"arn:aws:ssm-incidents::{ACCOUNT}:response-plan/*"))],
        [],
        IMPLICIT,
        id="not-resource-inside",
    ),
    # Service principals.
    pytest.param(
        service_request(),
        [],
        [granted_to({"Service": "events.amazonaws.com"})],
        ALLOW,
        id="service-principal",
    ),
    pytest.param(
        service_request(),
        [],
        [granted_to({"Service": "sns.amazonaws.com"})],
        IMPLICIT,
        id="service-principal-other-service",
    ),
    pytest.param(
        service_request(),
        [],
        [granted_to({"AWS": ACCOUNT})],
        IMPLICIT,
        id="service-not-an-account-principal",
    ),
    pytest.param(service_request(), [IDENTITY_ALLOW], [], IMPLICIT, id="service-identity-ignored"),
    # NotPrincipal with Deny skips the caller only when each of its identities is listed.
    pytest.param(
        user_request(),
        [IDENTITY_ALLOW],
        [policy(statement("Deny", NotPrincipal={"AWS": [USER, ROOT]}))],
        ALLOW,
        id="not-principal-user-and-account",
    ),
    pytest.param(
        user_request(),
        [IDENTITY_ALLOW],
        [policy(statement("Deny", NotPrincipal={"AWS": [USER]}))],
        DENY,
        id="not-principal-user-only",
    ),
    pytest.param(
        user_request(),
        [IDENTITY_ALLOW],
        [policy(statement("Deny", NotPrincipal={"AWS": [OTHER_USER, OTHER_ROOT]}))],
        DENY,
        id="not-principal-others",
    ),
    pytest.param(
        session_request(),
        [IDENTITY_ALLOW],
        [policy(statement("Deny", NotPrincipal={"AWS": [SESSION, ROLE, ACCOUNT]}))],
        ALLOW,
        id="not-principal-session-role-account",
    ),
    pytest.param(
        session_request(),
        [IDENTITY_ALLOW],
        [policy(statement("Deny", NotPrincipal={"AWS": [SESSION, ACCOUNT]}))],
        DENY,
        id="not-principal-session-without-role",
    ),
    pytest.param(
        user_request(),
        [IDENTITY_ALLOW],
        [policy({"Effect": "Deny", "Action": START, "Resource": PLAN})],
        ALLOW,
        id="resource-statement-without-principal",
    ),
]


@pytest.mark.parametrize(("request_", "identity", "resource", "expected"), EVALUATION_CASES)
def test_evaluate(
    request_: AuthzRequest,
    identity: list[dict[str, Any]],
    resource: list[dict[str, Any]],
    expected: Decision,
) -> None:
    identity = [_without_none(document) for document in identity]
    resource = [_without_none(document) for document in resource]
    assert evaluate(request_, identity, resource) is expected


def _without_none(document: dict[str, Any]) -> dict[str, Any]:
    """Drop elements set to None, so a case can swap Action for NotAction."""
    statements = [
        {name: value for name, value in item.items() if value is not None}
        for item in document["Statement"]
    ]
    return {**document, "Statement": statements}


# Action and resource wildcards.

MATCHING_CASES = [
    pytest.param({"Action": "ssm-incidents:*"}, START, PLAN, True, id="action-service-star"),
    pytest.param({"Action": "*"}, START, PLAN, True, id="action-star"),
    pytest.param({"Action": "ssm-incidents:Start*"}, START, PLAN, True, id="action-prefix"),
    pytest.param(
        {"Action": "ssm-incidents:Start?ncident"}, START, PLAN, True, id="action-question"
    ),
    pytest.param(
        {"Action": "ssm-incidents:Start?Incident"},
        START,
        PLAN,
        False,
        id="action-question-one-char",
    ),
    pytest.param(
        {"Action": "SSM-Incidents:startincident"}, START, PLAN, True, id="action-ignores-case"
    ),
    pytest.param({"Action": "ssm-contacts:*"}, START, PLAN, False, id="action-other-service"),
    pytest.param(
        {"Action": ["ssm-contacts:*", "ssm-incidents:StartIncident"]},
        START,
        PLAN,
        True,
        id="action-list",
    ),
    pytest.param(
        {"Resource": f"arn:aws:ssm-incidents::{ACCOUNT}:response-plan/*"},
        START,
        PLAN,
        True,
        id="resource-suffix-star",
    ),
    pytest.param(
        {"Resource": "arn:aws:ssm-incidents:*"}, START, PLAN, True, id="resource-star-crosses-colon"
    ),
    pytest.param(
        {"Resource": f"arn:aws:ssm-incidents::{ACCOUNT}:*/critical"},
        START,
        PLAN,
        True,
        id="resource-star-crosses-slash",
    ),
    pytest.param(
        {"Resource": f"arn:aws:ssm-incidents::{ACCOUNT}:response-plan/crit?cal"},
        START,
        PLAN,
        True,
        id="resource-question",
    ),
    pytest.param(
        {"Resource": f"arn:aws:ssm-incidents::{ACCOUNT}:Response-Plan/*"},
        START,
        PLAN,
        False,
        id="resource-case-sensitive",
    ),
    pytest.param({"Resource": "*"}, START, "*", True, id="resource-star-any"),
    pytest.param({"Resource": PLAN}, START, "*", False, id="resource-arn-vs-unscoped-action"),
]


@pytest.mark.parametrize(("elements", "action", "resource", "matches"), MATCHING_CASES)
def test_action_resource_matching(
    elements: dict[str, Any], action: str, resource: str, matches: bool
) -> None:
    request_ = user_request(action=action, resource=resource)
    decision = evaluate(request_, [policy(statement(**elements))], [])
    assert decision is (ALLOW if matches else IMPLICIT)


# Conditions: each case is one Allow statement with a Condition element,
# evaluated for a user request with the given context.

ORG = "o-abc123def4"

CONDITION_CASES = [
    # String operators.
    pytest.param({"StringEquals": {"aws:PrincipalOrgID": ORG}}, {"aws:PrincipalOrgID": ORG}, True),
    pytest.param(
        {"StringEquals": {"aws:PrincipalOrgID": ORG}}, {"aws:PrincipalOrgID": "o-other"}, False
    ),
    pytest.param(
        {"StringEquals": {"aws:PrincipalOrgID": ORG}}, {"aws:PrincipalOrgID": ORG.upper()}, False
    ),
    pytest.param({"StringEquals": {"aws:PrincipalOrgID": ORG}}, {}, False),
    pytest.param(
        {"StringNotEquals": {"aws:PrincipalOrgID": ORG}}, {"aws:PrincipalOrgID": ORG}, False
    ),
    pytest.param(
        {"StringNotEquals": {"aws:PrincipalOrgID": ORG}}, {"aws:PrincipalOrgID": "o-other"}, True
    ),
    pytest.param({"StringNotEquals": {"aws:PrincipalOrgID": ORG}}, {}, True),
    pytest.param(
        {"StringEqualsIgnoreCase": {"aws:PrincipalOrgID": ORG.upper()}},
        {"aws:PrincipalOrgID": ORG},
        True,
    ),
    pytest.param(
        {"StringEqualsIgnoreCase": {"aws:PrincipalOrgID": ORG}},
        {"aws:PrincipalOrgID": "o-x"},
        False,
    ),
    pytest.param(
        {"StringNotEqualsIgnoreCase": {"aws:PrincipalOrgID": ORG.upper()}},
        {"aws:PrincipalOrgID": ORG},
        False,
    ),
    pytest.param(
        {"StringNotEqualsIgnoreCase": {"aws:PrincipalOrgID": ORG}},
        {"aws:PrincipalOrgID": "o-x"},
        True,
    ),
    pytest.param(
        {"StringLike": {"aws:PrincipalOrgID": "o-abc*"}}, {"aws:PrincipalOrgID": ORG}, True
    ),
    pytest.param(
        {"StringLike": {"aws:PrincipalOrgID": "o-?bc123def4"}}, {"aws:PrincipalOrgID": ORG}, True
    ),
    pytest.param(
        {"StringLike": {"aws:PrincipalOrgID": "o-xyz*"}}, {"aws:PrincipalOrgID": ORG}, False
    ),
    pytest.param(
        {"StringNotLike": {"aws:PrincipalOrgID": "o-abc*"}}, {"aws:PrincipalOrgID": ORG}, False
    ),
    pytest.param(
        {"StringNotLike": {"aws:PrincipalOrgID": "o-xyz*"}}, {"aws:PrincipalOrgID": ORG}, True
    ),
    pytest.param({"StringNotLike": {"aws:PrincipalOrgID": "o-xyz*"}}, {}, True),
    # ARN operators: each colon-separated component is matched on its own.
    pytest.param({"ArnEquals": {"aws:SourceArn": RULE}}, {"aws:SourceArn": RULE}, True),
    pytest.param({"ArnEquals": {"aws:SourceArn": RULE}}, {"aws:SourceArn": RULE + "-other"}, False),
    pytest.param(
        {"ArnLike": {"aws:SourceArn": f"arn:aws:events:*:{ACCOUNT}:rule/*"}},
        {"aws:SourceArn": RULE},
        True,
    ),
    pytest.param(
        {"ArnLike": {"aws:SourceArn": f"arn:aws:events:*:{ACCOUNT}:rule/*"}},
        {"aws:SourceArn": f"arn:aws:events:us-east-1:{OTHER}:rule/x:{ACCOUNT}:rule/y"},
        False,
    ),
    pytest.param(
        {"StringLike": {"aws:SourceArn": f"arn:aws:events:*:{ACCOUNT}:rule/*"}},
        {"aws:SourceArn": f"arn:aws:events:us-east-1:{OTHER}:rule/x:{ACCOUNT}:rule/y"},
        True,
    ),
    pytest.param({"ArnLike": {"aws:SourceArn": "*"}}, {"aws:SourceArn": RULE}, True),
    pytest.param({"ArnLike": {"aws:SourceArn": RULE}}, {"aws:SourceArn": "not-an-arn"}, False),
    pytest.param({"ArnNotEquals": {"aws:SourceArn": RULE}}, {"aws:SourceArn": RULE}, False),
    pytest.param(
        {"ArnNotEquals": {"aws:SourceArn": RULE}}, {"aws:SourceArn": RULE + "-other"}, True
    ),
    pytest.param(
        {"ArnNotLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/*"}},
        {"aws:SourceArn": RULE},
        False,
    ),
    pytest.param({"ArnNotLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/*"}}, {}, True),
    # Bool and Null.
    pytest.param({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": True}, True),
    pytest.param({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": False}, False),
    pytest.param({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "true"}, True),
    pytest.param({"Bool": {"aws:SecureTransport": "false"}}, {}, False),
    pytest.param({"Null": {"aws:TokenIssueTime": "true"}}, {}, True),
    pytest.param({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": "x"}, False),
    pytest.param({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": "x"}, True),
    pytest.param({"Null": {"aws:TokenIssueTime": "false"}}, {}, False),
    # ...IfExists: an absent key satisfies the operator, a present one is tested.
    pytest.param({"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}}, {}, True),
    pytest.param(
        {"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}}, {"aws:PrincipalOrgID": "o-x"}, False
    ),
    pytest.param(
        {"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}}, {"aws:PrincipalOrgID": ORG}, True
    ),
    pytest.param({"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:events:*"}}, {}, True),
    pytest.param({"BoolIfExists": {"aws:SecureTransport": "true"}}, {}, True),
    # Set qualifiers over multivalued keys.
    pytest.param(
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "tier"]}},
        {"aws:TagKeys": ["owner", "tier"]},
        True,
    ),
    pytest.param(
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "tier"]}},
        {"aws:TagKeys": ["owner"]},
        False,
    ),
    pytest.param({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, {}, False),
    pytest.param(
        {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, {"aws:TagKeys": []}, False
    ),
    pytest.param(
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "tier"]}},
        {"aws:TagKeys": ["tier", "team"]},
        True,
    ),
    pytest.param(
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "tier"]}},
        {"aws:TagKeys": ["team", "owner"]},
        False,
    ),
    pytest.param({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, {}, True),
    pytest.param(
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, {"aws:TagKeys": []}, True
    ),
    pytest.param(
        {"ForAllValues:StringLike": {"aws:TagKeys": "Created*"}},
        {"aws:TagKeys": ["CreatedBy", "CreatedAt"]},
        True,
    ),
    pytest.param(
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team"]}},
        {"aws:TagKeys": ["team", "owner"]},
        True,
    ),
    pytest.param(
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team"]}},
        {"aws:TagKeys": ["team"]},
        False,
    ),
    pytest.param(
        {"ForAllValues:StringNotLike": {"aws:TagKeys": ["secret*"]}},
        {"aws:TagKeys": ["team", "owner"]},
        True,
    ),
    pytest.param(
        {"ForAllValues:StringNotLike": {"aws:TagKeys": ["secret*"]}},
        {"aws:TagKeys": ["team", "secret-key"]},
        False,
    ),
    pytest.param(
        {"StringEquals": {"aws:TagKeys": "team"}},
        {"aws:TagKeys": ["owner", "team"]},
        True,
    ),
    # Several keys are AND-ed, several values OR-ed (NOR-ed when negated).
    pytest.param(
        {"StringEquals": {"aws:PrincipalOrgID": ORG, "aws:SourceAccount": ACCOUNT}},
        {"aws:PrincipalOrgID": ORG, "aws:SourceAccount": ACCOUNT},
        True,
    ),
    pytest.param(
        {"StringEquals": {"aws:PrincipalOrgID": ORG, "aws:SourceAccount": ACCOUNT}},
        {"aws:PrincipalOrgID": ORG, "aws:SourceAccount": OTHER},
        False,
    ),
    pytest.param(
        {
            "StringEquals": {"aws:PrincipalOrgID": ORG},
            "ArnLike": {"aws:SourceArn": "arn:aws:events:*"},
        },
        {"aws:PrincipalOrgID": ORG},
        False,
    ),
    pytest.param(
        {"StringEquals": {"aws:SourceAccount": [OTHER, ACCOUNT]}},
        {"aws:SourceAccount": ACCOUNT},
        True,
    ),
    pytest.param(
        {"StringNotEquals": {"aws:SourceAccount": [OTHER, ACCOUNT]}},
        {"aws:SourceAccount": ACCOUNT},
        False,
    ),
    pytest.param(
        {"StringNotEquals": {"aws:SourceAccount": [OTHER, "999999999999"]}},
        {"aws:SourceAccount": ACCOUNT},
        True,
    ),
    # Key names are case-insensitive. Principal keys come from the request itself.
    pytest.param({"StringEquals": {"AWS:PRINCIPALORGID": ORG}}, {"aws:principalorgid": ORG}, True),
    pytest.param({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}, {}, True),
    pytest.param({"StringEquals": {"aws:PrincipalAccount": OTHER}}, {}, False),
    pytest.param({"ArnEquals": {"aws:PrincipalArn": USER}}, {}, True),
    pytest.param({"Bool": {"aws:PrincipalIsAWSService": "false"}}, {}, True),
    # Numeric, date and IP address operators.
    pytest.param({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
    pytest.param({"NumericLessThan": {"s3:max-keys": 10}}, {"s3:max-keys": "10"}, False),
    pytest.param({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10.0"}, False),
    pytest.param(
        {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "2026-06-01T12:00:00Z"},
        True,
    ),
    pytest.param(
        {"DateLessThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "1767225600"},
        False,
    ),
    pytest.param(
        {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"}, True
    ),
    pytest.param(
        {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"}, False
    ),
    pytest.param({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {}, True),
]


def _condition_id(case: Any) -> str:
    condition, context, holds = case.values
    operators = "+".join(condition)
    keys = "+".join(key for block in condition.values() for key in block)
    state = "absent" if not context else "present"
    return f"{operators}-{keys}-{state}-{'holds' if holds else 'fails'}"


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    CONDITION_CASES,
    ids=[_condition_id(case) for case in CONDITION_CASES],
)
def test_condition(condition: dict[str, Any], context: dict[str, Any], holds: bool) -> None:
    request_ = user_request(context=context)
    decision = evaluate(request_, [policy(statement(Condition=condition))], [])
    assert decision is (ALLOW if holds else IMPLICIT)


def test_deny_with_negated_if_exists_on_absent_key() -> None:
    # The Condition operators page: with Deny, StringNotEqualsIfExists still
    # denies when the key is missing.
    deny = statement("Deny", Condition={"StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG}})
    assert evaluate(user_request(), [IDENTITY_ALLOW, policy(deny)], []) is DENY
    with_org = user_request(context={"aws:PrincipalOrgID": ORG})
    assert evaluate(with_org, [IDENTITY_ALLOW, policy(deny)], []) is ALLOW


def test_principal_arn_of_session_is_role() -> None:
    condition = {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/Resp*"}}
    resource_policy = granted_to("*", Condition=condition)
    assert evaluate(session_request(), [], [resource_policy]) is ALLOW
    assert evaluate(user_request(), [], [resource_policy]) is IMPLICIT


def test_principal_org_id_across_accounts() -> None:
    resource_policy = granted_to("*", Condition={"StringEquals": {"aws:PrincipalOrgID": ORG}})
    in_org = other_account_request(context={"aws:PrincipalOrgID": ORG})
    outside = other_account_request(context={"aws:PrincipalOrgID": "o-other"})
    assert evaluate(in_org, [IDENTITY_ALLOW], [resource_policy]) is ALLOW
    assert evaluate(outside, [IDENTITY_ALLOW], [resource_policy]) is IMPLICIT


SERVICE_GRANT = granted_to(
    {"Service": "events.amazonaws.com"},
    Condition={
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:events:*:{ACCOUNT}:rule/*"},
    },
)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        pytest.param({"aws:SourceAccount": ACCOUNT, "aws:SourceArn": RULE}, ALLOW, id="both-match"),
        pytest.param(
            {"aws:SourceAccount": OTHER, "aws:SourceArn": RULE}, IMPLICIT, id="other-account"
        ),
        pytest.param(
            {
                "aws:SourceAccount": ACCOUNT,
                "aws:SourceArn": f"arn:aws:events:us-east-1:{OTHER}:rule/x",
            },
            IMPLICIT,
            id="other-source-arn",
        ),
        pytest.param({"aws:SourceAccount": ACCOUNT}, IMPLICIT, id="source-arn-absent"),
        pytest.param({}, IMPLICIT, id="both-absent"),
    ],
)
def test_service_principal_source_keys(context: dict[str, Any], expected: Decision) -> None:
    assert evaluate(service_request(context=context), [], [SERVICE_GRANT]) is expected


def test_statement_object_not_list() -> None:
    document = {"Statement": statement()}
    assert evaluate(user_request(), [document], []) is ALLOW


def test_unknown_operator_raises() -> None:
    document = policy(statement(Condition={"StringEqualz": {"aws:PrincipalOrgID": ORG}}))
    with pytest.raises(PolicyError):
        evaluate(user_request(), [document], [])


# Wildcard matching against a simple recursive reference.


@cache
def _reference_match(pattern: str, value: str) -> bool:
    if not pattern:
        return not value
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return _reference_match(rest, value) or (
            bool(value) and _reference_match(pattern, value[1:])
        )
    if not value:
        return False
    return (head == "?" or head == value[0]) and _reference_match(rest, value[1:])


@given(
    pattern=st.text(alphabet="ab:/*?.[", max_size=8),
    value=st.text(alphabet="ab:/.[", max_size=8),
)
def test_wildcard_matches_reference(pattern: str, value: str) -> None:
    assert wildcard_match(pattern, value) == _reference_match(pattern, value)


# Validation.


def test_parse_policy_accepts_minimal() -> None:
    document = parse_policy(json.dumps({"Statement": {"Effect": "Allow", "Action": "*"}}))
    assert document["Statement"]["Action"] == "*"


def test_parse_policy_accepts_resource_policy() -> None:
    text = json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "plan-sharing",
            "Statement": [
                {
                    "Sid": "ShareWithAudit",
                    "Effect": "Allow",
                    "Principal": {
                        "AWS": [OTHER, OTHER_ROOT, ROLE],
                        "Service": "events.amazonaws.com",
                    },
                    "Action": ["ssm-incidents:Get*", "ssm-incidents:List*"],
                    "Resource": PLAN,
                    "Condition": {
                        "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [f"{ORG}/*"]},
                        "BoolIfExists": {"aws:SecureTransport": True},
                        "NumericLessThan": {"s3:max-keys": 10},
                    },
                }
            ],
        }
    )
    assert parse_policy(text, resource_policy=True)["Id"] == "plan-sharing"


def _rejected(document: Any, *, resource_policy: bool | None = None) -> str:
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(PolicyError) as error:
        parse_policy(text, resource_policy=resource_policy)
    return error.value.message


GOOD = {"Effect": "Allow", "Action": START, "Resource": PLAN}

REJECTIONS = [
    pytest.param("{", "Syntax errors", id="invalid-json"),
    pytest.param([GOOD], "JSON object", id="top-level-list"),
    pytest.param({"Version": "2012-10-18", "Statement": GOOD}, "Version", id="bad-version"),
    pytest.param({"Version": "2012-10-17"}, "Statement", id="missing-statement"),
    pytest.param({"Statement": []}, "Statement", id="empty-statement-list"),
    pytest.param({"Statement": ["text"]}, "Statement 1", id="statement-not-object"),
    pytest.param({"Statement": GOOD, "Extra": 1}, "Extra", id="unknown-document-field"),
    pytest.param({"Statement": {**GOOD, "Actions": "*"}}, "Actions", id="unknown-statement-field"),
    pytest.param({"Statement": {"Action": "*"}}, "Effect", id="missing-effect"),
    pytest.param({"Statement": {**GOOD, "Effect": "allow"}}, "Effect", id="lower-case-effect"),
    pytest.param(
        {"Statement": {**GOOD, "NotAction": "*"}}, "NotAction", id="action-and-not-action"
    ),
    pytest.param({"Statement": {"Effect": "Allow"}}, "Action", id="no-action"),
    pytest.param(
        {"Statement": {**GOOD, "Action": "StartIncident"}}, "Action", id="action-no-service"
    ),
    pytest.param({"Statement": {**GOOD, "Action": []}}, "Action", id="action-empty-list"),
    pytest.param({"Statement": {**GOOD, "Action": [1]}}, "Action", id="action-not-string"),
    pytest.param(
        {"Statement": {**GOOD, "NotResource": "*"}}, "NotResource", id="resource-and-not-resource"
    ),
    pytest.param({"Statement": {**GOOD, "Resource": "plan"}}, "Resource", id="resource-not-arn"),
    pytest.param(
        {"Statement": [{**GOOD, "Sid": "A"}, {**GOOD, "Sid": "A"}]}, "Sid", id="duplicate-sid"
    ),
    pytest.param(
        {"Statement": {**GOOD, "Condition": {"StringEqualz": {"k": "v"}}}},
        "StringEqualz",
        id="unknown-operator",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Condition": {"ForSomeValues:StringEquals": {"k": "v"}}}},
        "ForSomeValues",
        id="unknown-set-qualifier",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Condition": {"NullIfExists": {"k": "true"}}}},
        "NullIfExists",
        id="null-if-exists",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Condition": {"StringEquals": "v"}}},
        "StringEquals",
        id="condition-block-not-object",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Condition": {"StringEquals": {"k": {"nested": 1}}}}},
        "StringEquals",
        id="condition-value-object",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}},
        "Bool",
        id="bool-not-true-false",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Condition": {"NumericEquals": {"s3:max-keys": "ten"}}}},
        "NumericEquals",
        id="numeric-not-number",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}}},
        "DateLessThan",
        id="date-not-date",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Condition": {"IpAddress": {"aws:SourceIp": "300.1.1.1"}}}},
        "IpAddress",
        id="ip-not-address",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"}}},
        "Invalid principal",
        id="principal-partial-wildcard",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Principal": {"AWS": "alice"}}},
        "Invalid principal",
        id="principal-not-account-or-arn",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Principal": {"Group": "admins"}}},
        "Group",
        id="principal-unknown-type",
    ),
    pytest.param(
        {"Statement": {**GOOD, "Principal": "*", "NotPrincipal": "*"}},
        "NotPrincipal",
        id="principal-and-not-principal",
    ),
]


@pytest.mark.parametrize(("document", "named"), REJECTIONS)
def test_parse_policy_rejects(document: Any, named: str) -> None:
    assert named in _rejected(document)


def test_identity_policy_rejects_principal() -> None:
    document = {"Statement": {**GOOD, "Principal": "*"}}
    assert "principal" in _rejected(document, resource_policy=False)


def test_resource_policy_requires_principal() -> None:
    assert "Principal" in _rejected({"Statement": GOOD}, resource_policy=True)


def test_rejection_names_statement_and_sid() -> None:
    message = _rejected({"Statement": [GOOD, {**GOOD, "Sid": "Second", "Effect": "Permit"}]})
    assert "Statement 2" in message
    assert "Second" in message
    assert "Permit" in message


def test_condition_operator_parts() -> None:
    operator = parse_condition_operator("ForAllValues:StringNotLikeIfExists")
    assert operator.set_qualifier == "ForAllValues"
    assert operator.base == "StringNotLike"
    assert operator.if_exists is True
    assert operator.negated is True
