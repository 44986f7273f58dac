"""Pure parts of the actions that run inside the engine: aws:branch, aws:sleep and aws:approve."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.runbooks import references
from tocsin.runbooks.document_steps import ISO_DURATION, Condition, Step

_APPROVER = re.compile(r"^arn:aws:iam::(?P<account>\d{12}):(?P<kind>user|role)/.+$")


class StepInputError(ValueError):
    """An input that is invalid once its references are resolved; the step fails with it."""


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def check(variable: Any, expected: Any) -> bool:
        left, right = _number(variable), _number(expected)
        return left is not None and right is not None and compare(left, right)

    return check


def _boolean(variable: Any, expected: Any) -> bool:
    def as_bool(value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None

    left = as_bool(variable)
    return left is not None and left == as_bool(expected)


def _contains(variable: Any, expected: Any) -> bool:
    if isinstance(variable, list):
        return expected in variable
    return isinstance(variable, str) and _text(expected) in variable


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": lambda v, e: isinstance(v, str) and v == _text(e),
    "EqualsIgnoreCase": lambda v, e: isinstance(v, str) and v.lower() == _text(e).lower(),
    "StartsWith": lambda v, e: isinstance(v, str) and v.startswith(_text(e)),
    "EndsWith": lambda v, e: isinstance(v, str) and v.endswith(_text(e)),
    "Contains": _contains,
    "NumericEquals": _numeric(lambda a, b: a == b),
    "NumericGreater": _numeric(lambda a, b: a > b),
    "NumericLesser": _numeric(lambda a, b: a < b),
    "NumericGreaterOrEquals": _numeric(lambda a, b: a >= b),
    "NumericLesserOrEquals": _numeric(lambda a, b: a <= b),
    "BooleanEquals": _boolean,
}


def holds(condition: Condition, scope: references.Scope) -> bool:
    """Return whether ``condition`` holds for the run's current values."""
    if condition.operator == "And":
        return all(holds(operand, scope) for operand in condition.operands)
    if condition.operator == "Or":
        return any(holds(operand, scope) for operand in condition.operands)
    if condition.operator == "Not":
        return not holds(condition.operands[0], scope)
    variable = references.resolve(condition.variable, scope)
    if isinstance(variable, str) and "{{" in variable:
        return False  # a reference to an output that was never produced matches nothing
    expected = references.resolve(condition.value, scope)
    return COMPARISONS[condition.operator](variable, expected)


def choose_branch(step: Step, scope: references.Scope) -> str | None:
    """Return the step that an aws:branch step goes to: the first matching choice, or Default."""
    for choice in step.choices:
        if holds(choice.condition, scope):
            return choice.next_step
    return step.default_step


def _duration(text: str) -> timedelta:
    match = ISO_DURATION.match(text)
    if match is None:
        raise StepInputError(f"Duration {text!r} is not an ISO 8601 duration such as PT10M")
    days, hours, minutes, seconds = (
        re.search(rf"(\d+(?:\.\d+)?){unit}", part) if part else None
        for unit, part in (
            ("D", match.group(1)),
            ("H", match.group(3)),
            ("M", match.group(4)),
            ("S", match.group(5)),
        )
    )
    return timedelta(
        days=float(days.group(1)) if days else 0,
        hours=float(hours.group(1)) if hours else 0,
        minutes=float(minutes.group(1)) if minutes else 0,
        seconds=float(seconds.group(1)) if seconds else 0,
    )


def wake_time(inputs: dict[str, Any], now: datetime) -> datetime:
    """Return when an aws:sleep step with resolved ``inputs`` ends."""
    if "Duration" in inputs:
        return now + _duration(_text(inputs["Duration"]))
    text = _text(inputs.get("Timestamp"))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StepInputError(
            f"Timestamp {text!r} is not an ISO 8601 time such as 2026-01-01T09:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment, now)


def approvers(inputs: dict[str, Any], account_id: str) -> tuple[list[str], int]:
    """Return the approvers of an aws:approve step and how many approvals it needs."""
    listed = inputs.get("Approvers")
    if isinstance(listed, str):
        listed = [listed]
    if not isinstance(listed, list) or not listed:
        raise StepInputError("Approvers must be a non-empty list of IAM user or role ARNs")
    for approver in listed:
        match = _APPROVER.match(_text(approver))
        if match is None or match["account"] != account_id:
            raise StepInputError(
                f"Approver {approver!r} is not an IAM user or role ARN of account {account_id}; "
                "Tocsin accepts arn:aws:iam::ACCOUNT:user/NAME and arn:aws:iam::ACCOUNT:role/NAME."
            )
    minimum = _number(inputs.get("MinRequiredApprovals", 1))
    if minimum is None or minimum < 1 or minimum != int(minimum) or minimum > len(listed):
        raise StepInputError(
            f"MinRequiredApprovals {inputs.get('MinRequiredApprovals')!r} must be an integer "
            f"from 1 to the number of approvers, {len(listed)}"
        )
    return [_text(a) for a in listed], int(minimum)
