"""IAM policy documents: validation and the AWS evaluation logic.

Everything here is a pure function of the request and the policy documents.
The rules follow the IAM User Guide, which each rule below cites by page:

* "Policy evaluation logic" and "Policy evaluation for requests within a
  single account": an explicit Deny in any applicable policy wins. Within one
  account, an Allow from the identity policies or from a resource policy that
  names the principal is enough.
* "Cross-account policy evaluation logic": across accounts, the identity
  policies and a resource policy of the resource's account must both allow.
* "AWS JSON policy elements: Principal" and "NotPrincipal".
* "IAM JSON policy elements: Condition operators" and "Creating a condition
  with multiple keys or values" for conditions.

Permissions boundaries, SCPs and RCPs are not supported. Session policies
are applied by ``tocsin.iam.authorize``, which evaluates them on their own.
NOTE: policy variables such as ``${aws:username}`` are not substituted, so a
Resource or condition value containing one matches only that literal text.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any, Literal

ContextValue = str | bool | Sequence[str]

SUPPORTED_VERSIONS = ("2012-10-17", "2008-10-17")
STATEMENT_FIELDS = frozenset(
    {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
    }
)
DOCUMENT_FIELDS = frozenset({"Version", "Id", "Statement"})
PRINCIPAL_TYPES = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})

_ACTION_PATTERN = re.compile(r"^[A-Za-z0-9*?-]+:[A-Za-z0-9*?_-]*$")
_ACCOUNT_ID_PATTERN = re.compile(r"^\d{12}$")
_ACCOUNT_ROOT_PATTERN = re.compile(r"^arn:[a-z-]+:iam::(\d{12}):root$")


class PolicyError(ValueError):
    """An invalid policy document; the message names the element at fault."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Decision(Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


@dataclass(frozen=True)
class AuthzRequest:
    """One authorization question: may this principal perform this action on this resource."""

    action: str  # "ssm-incidents:StartIncident"
    resource: str  # an ARN, or "*" for actions without a resource type
    principal_account: str
    # Every ARN that names the caller: for a role session both
    # arn:aws:sts::A:assumed-role/R/S and arn:aws:iam::A:role/R.
    principal_arns: tuple[str, ...]
    resource_account: str
    principal_service: str | None = None  # "events.amazonaws.com" for a service principal
    # Condition keys of the request. Names are case-insensitive, as in IAM.
    context: Mapping[str, ContextValue] = field(default_factory=dict)


# Kind of match between a resource policy statement's Principal and the caller. "direct"
# names the caller itself (its ARN, its role's ARN, its service, or "*").
# "account" names only the caller's account, which delegates to the account's
# own identity policies, so it grants nothing by itself within that account.
PrincipalMatch = Literal["direct", "account"]


# Evaluation.


def evaluate(
    request: AuthzRequest,
    identity_policies: Sequence[Mapping[str, Any]],
    resource_policies: Sequence[Mapping[str, Any]],
    *,
    trust_policy: bool = False,
) -> Decision:
    """Decide ``request`` against the caller's identity policies and the resource's policies.

    With ``trust_policy`` the resource policy is a role's trust policy, which
    must allow the caller even within the role's own account: an identity
    policy alone never lets a principal assume a role (IAM User Guide, "Cross
    account resource access in IAM" and "Role trust policies").

    Raises ``PolicyError`` for a condition operator that ``parse_policy``
    would reject, because guessing its meaning could drop a Deny.
    """
    context = _request_context(request)
    identity_allowed = _is_own_account_root(request)
    for policy in identity_policies:
        for statement in _statements(policy):
            if not _statement_matches(statement, request, context):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            if statement.get("Effect") == "Allow":
                identity_allowed = True

    resource_allow: PrincipalMatch | None = None
    for policy in resource_policies:
        for statement in _statements(policy):
            principal_match = _resource_statement_principal(statement, request)
            if principal_match is None:
                continue
            if not _statement_matches(statement, request, context):
                continue
            # A Deny naming only the caller's account still covers the caller.
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            if statement.get("Effect") == "Allow" and resource_allow != "direct":
                resource_allow = principal_match

    if request.principal_service is not None and not request.principal_arns:
        # A service principal has no identity policies, so only a resource policy can allow it.
        allowed = resource_allow is not None
    elif trust_policy and request.principal_account == request.resource_account:
        allowed = resource_allow == "direct" or (resource_allow == "account" and identity_allowed)
    elif request.principal_account == request.resource_account:
        allowed = identity_allowed or resource_allow == "direct"
    else:
        allowed = identity_allowed and resource_allow is not None
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _is_own_account_root(request: AuthzRequest) -> bool:
    """Return whether the caller is the root user of its account.

    The root user needs no identity policy ("How AWS enforcement code logic
    evaluates requests": all requests are implicitly denied "with the exception
    of the AWS account root user, which has full access"). Explicit denies and,
    across accounts, the resource policy still apply.
    """
    for arn in request.principal_arns:
        match = _ACCOUNT_ROOT_PATTERN.match(arn)
        if match and match.group(1) == request.principal_account:
            return True
    return False


def _request_context(request: AuthzRequest) -> dict[str, ContextValue]:
    """Return the condition keys of ``request``, lower-cased, with the principal keys filled in."""
    context: dict[str, ContextValue] = {}
    if request.principal_arns:
        if request.principal_account:
            context["aws:principalaccount"] = request.principal_account
        # aws:PrincipalArn of a role session is the role's ARN, not the session's.
        iam_arns = [arn for arn in request.principal_arns if ":iam::" in arn]
        context["aws:principalarn"] = (iam_arns or list(request.principal_arns))[0]
    if request.principal_service is not None:
        context["aws:principalservicename"] = request.principal_service
    context["aws:principalisawsservice"] = request.principal_service is not None
    for name, value in request.context.items():
        context[name.lower()] = value
    return context


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        return [statements]
    return [statement for statement in statements if isinstance(statement, Mapping)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _statement_matches(
    statement: Mapping[str, Any], request: AuthzRequest, context: Mapping[str, ContextValue]
) -> bool:
    """Return whether the Action, Resource and Condition elements of ``statement`` match."""
    if "Action" in statement:
        if not _any_action_matches(statement["Action"], request.action):
            return False
    elif "NotAction" in statement:
        if _any_action_matches(statement["NotAction"], request.action):
            return False
    else:
        return False

    # A statement without Resource or NotResource, as in a role trust policy,
    # covers the resource that the policy is attached to.
    if "Resource" in statement:
        if not _any_resource_matches(statement["Resource"], request.resource):
            return False
    elif "NotResource" in statement and _any_resource_matches(
        statement["NotResource"], request.resource
    ):
        return False

    return _conditions_hold(statement.get("Condition") or {}, context)


def _any_action_matches(patterns: Any, action: str) -> bool:
    return any(
        wildcard_match(str(pattern), action, ignore_case=True) for pattern in _as_list(patterns)
    )


def _any_resource_matches(patterns: Any, resource: str) -> bool:
    # In the Resource element "*" and "?" match any characters, ":" and "/" included.
    return any(wildcard_match(str(pattern), resource) for pattern in _as_list(patterns))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Match ``value`` against an IAM pattern where "*" is any run of characters and "?" one."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=1024)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)


# Principals.


def _resource_statement_principal(
    statement: Mapping[str, Any], request: AuthzRequest
) -> PrincipalMatch | None:
    """Return how the Principal or NotPrincipal of a resource policy statement names the caller.

    A resource policy statement without either element applies to no caller.
    """
    if "Principal" in statement:
        return _principal_match(statement["Principal"], request)
    if "NotPrincipal" in statement:
        return None if _not_principal_excludes(statement["NotPrincipal"], request) else "direct"
    return None


def _principal_match(principal: Any, request: AuthzRequest) -> PrincipalMatch | None:
    # "Principal": "*" and {"AWS": "*"} both mean every principal, anonymous
    # callers included ("AWS JSON policy elements: Principal", All principals).
    if principal == "*":
        return "direct"
    if not isinstance(principal, Mapping):
        return None
    result: PrincipalMatch | None = None
    for entry in _as_list(principal.get("AWS")):
        if entry == "*" or entry in request.principal_arns:
            return "direct"
        if request.principal_arns and _names_account(str(entry), request.principal_account):
            result = "account"
    if request.principal_service is not None and request.principal_service in _as_list(
        principal.get("Service")
    ):
        return "direct"
    # Federated and CanonicalUser principals never match: Tocsin has neither.
    return result


def _names_account(entry: str, account_id: str) -> bool:
    """Return whether a principal entry names an account, as "123456789012" or its root ARN.

    Both forms delegate to the whole account, not only to its root user.
    """
    if entry == account_id:
        return True
    match = _ACCOUNT_ROOT_PATTERN.match(entry)
    return match is not None and match.group(1) == account_id


def _not_principal_excludes(not_principal: Any, request: AuthzRequest) -> bool:
    """Return whether a NotPrincipal element lists every identity of the caller.

    AWS checks the caller's account, its role and its session each against
    NotPrincipal, which is why the NotPrincipal page advises Deny statements
    to list the account and role ARNs along with the session ARN. So the
    statement skips the caller only when all of them are listed.
    """
    if not_principal == "*":
        return True
    if not isinstance(not_principal, Mapping):
        return False
    aws_entries = [str(entry) for entry in _as_list(not_principal.get("AWS"))]
    if "*" in aws_entries:
        return True
    identities_listed: list[bool] = [arn in aws_entries for arn in request.principal_arns]
    if request.principal_arns and request.principal_account:
        identities_listed.append(
            any(_names_account(entry, request.principal_account) for entry in aws_entries)
        )
    if request.principal_service is not None:
        identities_listed.append(
            request.principal_service in _as_list(not_principal.get("Service"))
        )
    return bool(identities_listed) and all(identities_listed)


# Conditions.


@dataclass(frozen=True)
class ConditionOperator:
    """A parsed condition operator name such as ``ForAnyValue:StringLikeIfExists``."""

    name: str
    base: str  # "StringLike"
    set_qualifier: Literal["ForAnyValue", "ForAllValues"] | None
    if_exists: bool

    @property
    def negated(self) -> bool:
        return self.base in _NEGATED_OPERATORS


def _equals(value: str, expected: str) -> bool:
    return value == expected


def _equals_ignore_case(value: str, expected: str) -> bool:
    return value.casefold() == expected.casefold()


def _like(value: str, pattern: str) -> bool:
    return wildcard_match(pattern, value)


def _arn_like(value: str, pattern: str) -> bool:
    """Match an ARN component by component, as ArnLike and ArnEquals do.

    Each of the first five colon-separated components is matched on its own,
    so a "*" there does not run past a ":". The sixth component is the rest
    of the ARN. A pattern that is not a six-component ARN, such as "*", is
    matched against the whole value.
    """
    pattern_parts = pattern.split(":", 5)
    if len(pattern_parts) < 6:
        return wildcard_match(pattern, value)
    value_parts = value.split(":", 5)
    if len(value_parts) < 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _bool_equals(value: str, expected: str) -> bool:
    return value.lower() == expected.lower()


def _parse_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _parse_date(text: str) -> datetime | None:
    """Parse an ISO 8601 date and time, or epoch seconds, as IAM date operators accept."""
    number = _parse_number(text)
    if number is not None:
        return datetime.fromtimestamp(number, UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _ip_in_network(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _compare(
    parse: Callable[[str], Any], test: Callable[[Any, Any], bool]
) -> Callable[[str, str], bool]:
    def matches(value: str, expected: str) -> bool:
        left, right = parse(value), parse(expected)
        return left is not None and right is not None and bool(test(left, right))

    return matches


def _ordered_family(
    prefix: str, parse: Callable[[str], Any]
) -> dict[str, Callable[[str, str], bool]]:
    return {
        f"{prefix}Equals": _compare(parse, lambda a, b: a == b),
        f"{prefix}NotEquals": _compare(parse, lambda a, b: a == b),
        f"{prefix}LessThan": _compare(parse, lambda a, b: a < b),
        f"{prefix}LessThanEquals": _compare(parse, lambda a, b: a <= b),
        f"{prefix}GreaterThan": _compare(parse, lambda a, b: a > b),
        f"{prefix}GreaterThanEquals": _compare(parse, lambda a, b: a >= b),
    }


# The positive test of each base operator, applied to one request value and
# one policy value. A negated operator stores the test of its positive twin.
_VALUE_TESTS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": _equals,
    "StringNotEquals": _equals,
    "StringEqualsIgnoreCase": _equals_ignore_case,
    "StringNotEqualsIgnoreCase": _equals_ignore_case,
    "StringLike": _like,
    "StringNotLike": _like,
    **_ordered_family("Numeric", _parse_number),
    **_ordered_family("Date", _parse_date),
    "Bool": _bool_equals,
    "BinaryEquals": _equals,
    "IpAddress": _ip_in_network,
    "NotIpAddress": _ip_in_network,
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
    "ArnNotEquals": _arn_like,
    "ArnNotLike": _arn_like,
}
_NEGATED_OPERATORS = frozenset(
    {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
        "ArnNotEquals",
        "ArnNotLike",
    }
)


def _invalid_operator(name: str) -> PolicyError:
    return PolicyError(
        f"Invalid Condition type: {name!r} is not an IAM condition operator. Use an operator "
        "such as StringEquals, optionally with a ForAnyValue: or ForAllValues: prefix or an "
        "IfExists suffix (Null takes neither)."
    )


def parse_condition_operator(name: str) -> ConditionOperator:
    """Split an operator name into set qualifier, base operator and IfExists suffix.

    Raises ``PolicyError`` for an operator IAM does not define.
    """
    qualifier, separator, rest = name.partition(":")
    set_qualifier: Literal["ForAnyValue", "ForAllValues"] | None = None
    if separator:
        if qualifier == "ForAnyValue":
            set_qualifier = "ForAnyValue"
        elif qualifier == "ForAllValues":
            set_qualifier = "ForAllValues"
        else:
            raise _invalid_operator(name)
    else:
        rest = name
    if_exists = rest.endswith("IfExists")
    base = rest.removesuffix("IfExists") if if_exists else rest
    if base == "Null":
        if if_exists or set_qualifier is not None:
            raise _invalid_operator(name)
    elif base not in _VALUE_TESTS:
        raise _invalid_operator(name)
    return ConditionOperator(name=name, base=base, set_qualifier=set_qualifier, if_exists=if_exists)


def _conditions_hold(condition: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    """Return whether every operator, and every key under it, is satisfied (a logical AND)."""
    for operator_name, block in condition.items():
        operator = parse_condition_operator(operator_name)
        if not isinstance(block, Mapping):
            raise PolicyError(f"Condition {operator_name} must map condition keys to values.")
        for key, expected in block.items():
            values = _context_values(context, key)
            if not _condition_holds(operator, values, _policy_values(expected)):
                return False
    return True


def _context_values(context: Mapping[str, ContextValue], key: str) -> list[str] | None:
    """Return the request's values for a condition key, or None when the key is absent.

    A key whose value is an empty list counts as absent.
    """
    value = context.get(key.lower())
    if value is None:
        return None
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] or None


def _policy_values(expected: Any) -> list[str]:
    values = []
    for item in _as_list(expected):
        if isinstance(item, bool):
            values.append("true" if item else "false")
        else:
            values.append(str(item))
    return values


def _condition_holds(
    operator: ConditionOperator, values: list[str] | None, expected: list[str]
) -> bool:
    """Evaluate one key of one operator.

    The rules for an absent key come from "IAM JSON policy elements: Condition
    operators": a positive operator is false and a negated one ("Not") is true,
    an ...IfExists operator is true, and Null tests absence itself. For set
    qualifiers, "Creating a condition with multiple keys or values" states that
    with no values in the request ForAllValues is true and ForAnyValue false.
    """
    if operator.base == "Null":
        # "true" requires the key to be absent, "false" requires it present.
        return any((value.lower() == "true") == (values is None) for value in expected)
    if values is None:
        if operator.if_exists or operator.set_qualifier == "ForAllValues":
            return True
        if operator.set_qualifier == "ForAnyValue":
            return False
        return operator.negated

    test = _VALUE_TESTS[operator.base]

    def value_matches(value: str) -> bool:
        # Several policy values are OR-ed, and NOR-ed for a negated operator.
        matched = any(test(value, item) for item in expected)
        return not matched if operator.negated else matched

    if operator.set_qualifier == "ForAllValues":
        return all(value_matches(value) for value in values)
    if operator.set_qualifier == "ForAnyValue":
        return any(value_matches(value) for value in values)
    # Without a qualifier, a multivalued key satisfies a positive operator
    # when any request value matches, and for a negated one when none does.
    any_matched = any(test(value, item) for value in values for item in expected)
    return not any_matched if operator.negated else any_matched


# Validation.


def parse_policy(text: str, *, resource_policy: bool | None = None) -> dict[str, Any]:
    """Parse and validate a policy document, returning it as a dict.

    With ``resource_policy=True`` each statement must have a Principal or
    NotPrincipal, with ``False`` none may have one, and with None either is
    accepted. Raises ``PolicyError`` naming the element at fault.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyError(
            f"Syntax errors in policy: {error.msg} at line {error.lineno} column {error.colno}."
        ) from None
    except RecursionError:
        # The JSON parser recurses once per nesting level and runs out of stack
        # near a thousand levels; no valid policy nests more than a few.
        raise PolicyError("Syntax errors in policy: the JSON is nested too deeply.") from None
    if not isinstance(document, dict):
        raise PolicyError("The policy document must be a JSON object.")
    for name in document:
        if name not in DOCUMENT_FIELDS:
            raise PolicyError(f"Unknown field {name} in the policy document.")
    version = document.get("Version")
    if version is not None and version not in SUPPORTED_VERSIONS:
        raise PolicyError(
            f"Invalid Version {version!r}: use {SUPPORTED_VERSIONS[0]} or {SUPPORTED_VERSIONS[1]}."
        )
    if "Id" in document and not isinstance(document["Id"], str):
        raise PolicyError("Id must be a string.")
    if "Statement" not in document:
        raise PolicyError("Missing required field Statement.")
    statements = document["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyError("Statement must be an object or a non-empty list of objects.")

    sids: set[str] = set()
    for index, statement in enumerate(statements, start=1):
        label = f"Statement {index}"
        if not isinstance(statement, dict):
            raise PolicyError(f"{label} must be an object.")
        sid = statement.get("Sid")
        if sid is not None:
            if not isinstance(sid, str):
                raise PolicyError(f"{label}: Sid must be a string.")
            if sid and sid in sids:
                raise PolicyError(
                    f"{label}: Sid {sid!r} is already used by another statement. "
                    "Each Sid in a policy must be unique."
                )
            sids.add(sid)
            if sid:
                label = f"{label} (Sid {sid!r})"
        _validate_statement(statement, label, resource_policy)
    return document


def _validate_statement(
    statement: Mapping[str, Any], label: str, resource_policy: bool | None
) -> None:
    for name in statement:
        if name not in STATEMENT_FIELDS:
            raise PolicyError(f"{label}: Unknown field {name}.")
    effect = statement.get("Effect")
    if effect is None:
        raise PolicyError(f"{label}: Missing required field Effect.")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{label}: Effect must be Allow or Deny, not {effect!r}.")

    action_field = _exactly_one(statement, "Action", "NotAction", label)
    if action_field is None:
        raise PolicyError(f"{label} must contain Action or NotAction.")
    for action in _string_list(statement[action_field], f"{label}: {action_field}"):
        if action != "*" and not _ACTION_PATTERN.match(action):
            raise PolicyError(
                f"{label}: {action_field} {action!r} must be prefixed by a service, "
                "as in ssm-incidents:StartIncident, or be '*'."
            )

    resource_field = _exactly_one(statement, "Resource", "NotResource", label)
    if resource_field is not None:
        for resource in _string_list(statement[resource_field], f"{label}: {resource_field}"):
            if resource != "*" and not resource.startswith("arn:"):
                raise PolicyError(
                    f"{label}: {resource_field} {resource!r} must be in ARN format or be '*'."
                )

    principal_field = _exactly_one(statement, "Principal", "NotPrincipal", label)
    if principal_field is None and resource_policy:
        raise PolicyError(
            f"{label}: a resource policy statement requires Principal or NotPrincipal."
        )
    if principal_field is not None:
        if resource_policy is False:
            raise PolicyError(f"{label}: an identity policy should not specify a principal.")
        _validate_principal(statement[principal_field], f"{label}: {principal_field}")

    if "Condition" in statement:
        _validate_condition(statement["Condition"], f"{label}: Condition")


def _exactly_one(
    statement: Mapping[str, Any], name: str, negated_name: str, label: str
) -> str | None:
    """Return which of ``name`` and ``negated_name`` the statement has, None for neither."""
    if name in statement and negated_name in statement:
        raise PolicyError(f"{label} cannot contain both {name} and {negated_name}.")
    if name in statement:
        return name
    if negated_name in statement:
        return negated_name
    return None


def _string_list(value: Any, label: str) -> list[str]:
    values = _as_list(value)
    if not values or not all(isinstance(item, str) and item for item in values):
        raise PolicyError(f"{label} must be a non-empty string or a non-empty list of them.")
    return values


def _validate_principal(principal: Any, label: str) -> None:
    if principal == "*":
        return
    if not isinstance(principal, dict) or not principal:
        raise PolicyError(f'{label} must be "*" or an object such as {{"AWS": "123456789012"}}.')
    for principal_type, value in principal.items():
        if principal_type not in PRINCIPAL_TYPES:
            raise PolicyError(
                f"{label}: invalid principal type {principal_type!r}, "
                f"expected one of {', '.join(sorted(PRINCIPAL_TYPES))}."
            )
        for entry in _string_list(value, f"{label} {principal_type}"):
            if principal_type != "AWS" or entry == "*":
                continue
            if "*" in entry or "?" in entry:
                raise PolicyError(
                    f'Invalid principal in policy: "AWS":"{entry}". A principal cannot use '
                    "a wildcard in part of a name or ARN."
                )
            if not (_ACCOUNT_ID_PATTERN.match(entry) or entry.startswith("arn:")):
                raise PolicyError(
                    f'Invalid principal in policy: "AWS":"{entry}". Use a 12-digit account ID '
                    "or an ARN."
                )


def _parse_bool_text(text: str) -> str | None:
    return text.lower() if text.lower() in ("true", "false") else None


def _parse_network(text: str) -> Any:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _validate_condition(condition: Any, label: str) -> None:
    if not isinstance(condition, dict):
        raise PolicyError(f"{label} must be an object of condition operators.")
    for operator_name, block in condition.items():
        operator = parse_condition_operator(operator_name)
        if not isinstance(block, dict) or not block:
            raise PolicyError(f"{label} {operator_name} must map condition keys to values.")
        for key, expected in block.items():
            if not key:
                raise PolicyError(f"{label} {operator_name} has an empty condition key.")
            values = _as_list(expected)
            if not values or not all(isinstance(item, str | bool | int | float) for item in values):
                raise PolicyError(
                    f"{label} {operator_name} {key}: the value must be a string, number, "
                    "boolean or a non-empty list of them."
                )
            _validate_condition_values(operator, key, _policy_values(expected), label)


def _validate_condition_values(
    operator: ConditionOperator, key: str, values: list[str], label: str
) -> None:
    family = operator.base
    parser: Callable[[str], Any]
    if family.startswith("Numeric"):
        parser, expected_form = _parse_number, "a number"
    elif family.startswith("Date"):
        parser, expected_form = _parse_date, "an ISO 8601 date or epoch seconds"
    elif family in ("Bool", "Null"):
        parser, expected_form = _parse_bool_text, "true or false"
    elif family in ("IpAddress", "NotIpAddress"):
        parser, expected_form = _parse_network, "an IP address or CIDR range"
    else:
        return
    for value in values:
        if parser(value) is None:
            raise PolicyError(f"{label} {operator.name} {key}: {value!r} is not {expected_form}.")
