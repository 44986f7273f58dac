"""SNS subscription filter policies: validation and matching.

A policy is a JSON object whose leaves are arrays of conditions. A message
matches when every key of the policy matches, and a key matches when any of
its conditions matches. ``$or`` takes a list of policies of which one must
match. With the MessageAttributes scope the keys name message attributes;
with the MessageBody scope they name fields of the JSON message body, and
objects nest. Conditions are literal strings and numbers (exact match),
``null`` (body fields only), and the operators ``prefix``, ``suffix``,
``equals-ignore-case``, ``anything-but``, ``numeric`` and ``exists``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from tocsin.notify.sns_errors import FilterPolicyLimitExceededException, invalid_parameter

SCOPES = ("MessageAttributes", "MessageBody")
# The SNS developer guide's limits: at most 5 keys and 150 combinations of values.
MAX_KEYS = 5
MAX_COMBINATIONS = 150
NUMERIC_OPERATORS = ("=", "<", "<=", ">", ">=")
# SNS compares numbers between -10^9 and 10^9 with 5 decimal places.
MAX_NUMBER = 1e9
NAME = "FilterPolicy"

_ABSENT: Any = object()


def validate(text: str, scope: str) -> dict[str, Any]:
    """Parse and check a filter policy, raising InvalidParameter naming the fault."""
    try:
        policy = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise invalid_parameter(NAME, "failed to parse JSON") from None
    if not isinstance(policy, dict):
        raise invalid_parameter(NAME, "the filter policy must be a JSON object")
    keys, combinations = _check_object(policy, scope == "MessageAttributes", depth=0)
    if keys > MAX_KEYS:
        raise FilterPolicyLimitExceededException(
            f"Filter policy is too complex: it has {keys} keys, more than {MAX_KEYS}"
        )
    if combinations > MAX_COMBINATIONS:
        raise invalid_parameter(
            NAME,
            f"Filter policy is too complex: {combinations} combinations of values, "
            f"more than {MAX_COMBINATIONS}",
        )
    return policy


def _check_object(policy: Mapping[str, Any], flat: bool, depth: int) -> tuple[int, int]:
    """Return the number of leaf keys and of value combinations of ``policy``."""
    if not policy:
        raise invalid_parameter(NAME, "a filter policy object must not be empty")
    keys = 0
    combinations = 1
    for key, value in policy.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise invalid_parameter(NAME, "$or must be an array of at least two objects")
            branch_keys = 0
            branch_combinations = 0
            for branch in value:
                if not isinstance(branch, dict):
                    raise invalid_parameter(NAME, "each $or branch must be an object")
                found_keys, found = _check_object(branch, flat, depth)
                branch_keys = max(branch_keys, found_keys)
                branch_combinations += found
            keys += branch_keys
            combinations *= branch_combinations
        elif isinstance(value, list):
            if not value:
                raise invalid_parameter(NAME, f"the array of {key!r} must not be empty")
            for condition in value:
                _check_condition(key, condition)
            keys += 1
            combinations *= len(value)
        elif isinstance(value, dict) and not flat:
            found_keys, found = _check_object(value, flat, depth + 1)
            keys += found_keys
            combinations *= found
        else:
            raise invalid_parameter(NAME, f"the value of {key!r} must be an array of conditions")
    return keys, combinations


def _check_condition(key: str, condition: Any) -> None:
    if condition is None or isinstance(condition, str):
        return
    if isinstance(condition, bool):
        raise invalid_parameter(NAME, f"{key!r}: booleans are not valid conditions")
    if isinstance(condition, int | float):
        _check_number(key, condition)
        return
    if not isinstance(condition, dict) or len(condition) != 1:
        raise invalid_parameter(NAME, f"{key!r}: a condition object must have exactly one operator")
    operator, operand = next(iter(condition.items()))
    if operator in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(operand, str):
            raise invalid_parameter(NAME, f"{key!r}: {operator} takes a string")
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise invalid_parameter(NAME, f"{key!r}: exists takes true or false")
    elif operator == "numeric":
        _check_numeric(key, operand)
    elif operator == "anything-but":
        _check_anything_but(key, operand)
    else:
        raise invalid_parameter(NAME, f"{key!r}: unrecognized match type {operator}")


def _check_number(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise invalid_parameter(NAME, f"{key!r}: {value!r} is not a number")
    if abs(value) > MAX_NUMBER:
        raise invalid_parameter(NAME, f"{key!r}: numbers must be between -1e9 and 1e9")


def _check_numeric(key: str, operand: Any) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise invalid_parameter(NAME, f"{key!r}: numeric takes [op, number] or a range")
    pairs = [operand[index : index + 2] for index in range(0, len(operand), 2)]
    for operator, value in pairs:
        if operator not in NUMERIC_OPERATORS:
            raise invalid_parameter(NAME, f"{key!r}: unrecognized numeric operator {operator!r}")
        _check_number(key, value)
    if len(pairs) == 2:
        (low_op, low), (high_op, high) = pairs
        if low_op not in (">", ">=") or high_op not in ("<", "<=") or low >= high:
            raise invalid_parameter(
                NAME, f'{key!r}: a numeric range is [">" or ">=", low, "<" or "<=", high]'
            )


def _check_anything_but(key: str, operand: Any) -> None:
    if isinstance(operand, dict):
        if len(operand) != 1 or next(iter(operand)) not in (
            "prefix",
            "suffix",
            "equals-ignore-case",
        ):
            raise invalid_parameter(
                NAME, f"{key!r}: anything-but takes prefix, suffix or equals-ignore-case"
            )
        value = next(iter(operand.values()))
        if not isinstance(value, str | list):
            raise invalid_parameter(NAME, f"{key!r}: anything-but operand must be a string")
        return
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise invalid_parameter(NAME, f"{key!r}: anything-but must not be empty")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise invalid_parameter(NAME, f"{key!r}: anything-but takes strings or numbers")


# Matching.


def matches(
    policy_text: str | None,
    scope: str | None,
    message: str,
    attributes: Mapping[str, Mapping[str, str]],
) -> bool:
    """Return whether a message passes a subscription's filter policy (True without one)."""
    if not policy_text:
        return True
    policy = json.loads(policy_text)
    if scope == "MessageBody":
        try:
            body = json.loads(message)
        except (json.JSONDecodeError, RecursionError):
            return False
        if not isinstance(body, dict):
            return False
        return _object_matches(policy, body, flat=False)
    values = {name: _attribute_values(attribute) for name, attribute in attributes.items()}
    return _object_matches(policy, values, flat=True)


def _attribute_values(attribute: Mapping[str, str]) -> Any:
    data_type = attribute.get("DataType", "")
    text = attribute.get("StringValue")
    if text is None:
        return []  # Binary attributes take no part in filtering.
    if data_type.startswith("String.Array"):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            return []
        return [item for item in items if not isinstance(item, list | dict)]
    if data_type.startswith("Number"):
        return [_as_number(text)]
    return [text]


def _as_number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _object_matches(policy: Mapping[str, Any], values: Mapping[str, Any], flat: bool) -> bool:
    for key, expected in policy.items():
        if key == "$or":
            if not any(_object_matches(branch, values, flat) for branch in expected):
                return False
            continue
        found = values.get(key, _ABSENT)
        if isinstance(expected, dict):
            if not isinstance(found, dict) or not _object_matches(expected, found, flat):
                return False
            continue
        if not _key_matches(expected, found):
            return False
    return True


def _key_matches(conditions: list[Any], found: Any) -> bool:
    present = found is not _ABSENT
    if not present:
        candidates: list[Any] = []
    elif isinstance(found, list):
        candidates = [item for item in found if not isinstance(item, list | dict)]
    elif isinstance(found, dict):
        candidates = []
    else:
        candidates = [found]
    for condition in conditions:
        if isinstance(condition, dict) and "exists" in condition:
            if condition["exists"] == present:
                return True
            continue
        if any(_condition_matches(condition, candidate) for candidate in candidates):
            return True
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _condition_matches(condition: Any, value: Any) -> bool:
    if condition is None:
        return value is None
    if isinstance(condition, str):
        return isinstance(value, str) and value == condition
    if _is_number(condition):
        return _is_number(value) and math.isclose(float(value), float(condition), abs_tol=1e-5)
    operator, operand = next(iter(condition.items()))
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(operand)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == operand.casefold()
    if operator == "numeric":
        return _is_number(value) and _numeric_matches(operand, float(value))
    if operator == "anything-but":
        return _anything_but_matches(operand, value)
    return False


def _numeric_matches(operand: list[Any], value: float) -> bool:
    pairs = [operand[index : index + 2] for index in range(0, len(operand), 2)]
    return all(_compare(operator, value, float(bound)) for operator, bound in pairs)


def _compare(operator: str, value: float, bound: float) -> bool:
    if operator == "=":
        return math.isclose(value, bound, abs_tol=1e-5)
    if operator == "<":
        return value < bound
    if operator == "<=":
        return value <= bound
    if operator == ">":
        return value > bound
    return value >= bound


def _anything_but_matches(operand: Any, value: Any) -> bool:
    if isinstance(operand, dict):
        operator, pattern = next(iter(operand.items()))
        if not isinstance(value, str):
            return False
        patterns = pattern if isinstance(pattern, list) else [pattern]
        nested = {
            "prefix": "prefix",
            "suffix": "suffix",
            "equals-ignore-case": "equals-ignore-case",
        }
        return not any(_condition_matches({nested[operator]: item}, value) for item in patterns)
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_condition_matches(item, value) for item in excluded)
