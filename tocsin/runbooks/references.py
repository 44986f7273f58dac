"""``{{ }}`` references in step inputs, and the JSONPath selectors of step outputs.

A string that is exactly one reference takes the referenced value with its
type (a list stays a list). A reference inside longer text is replaced by
the value's text: strings as they are, other values as JSON. A reference to
a step output that the step did not produce (a skipped step, or a selector
that matched nothing) is left as written, so that an aws:branch choice on it
matches nothing and the branch takes its Default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tocsin.runbooks.document_steps import REFERENCE

MISSING = object()
# One segment of a selector: .name, ['name'] or [index].
_SEGMENT = re.compile(
    r"\.([A-Za-z0-9_\-:@$]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[(\d+)\]"
)


@dataclass(frozen=True)
class Scope:
    """The values that references of one run can name."""

    parameters: Mapping[str, Any]
    # Step name mapped to its typed outputs.
    step_outputs: Mapping[str, Mapping[str, Any]]
    # automation:* and global:* variables.
    variables: Mapping[str, Any]

    def lookup(self, name: str) -> Any:
        """Return the value that ``name`` references, or the module's missing marker."""
        if name in self.variables:
            return self.variables[name]
        if name in self.parameters:
            return self.parameters[name]
        step, dot, output = name.partition(".")
        if dot and step in self.step_outputs:
            return self.step_outputs[step].get(output, MISSING)
        return MISSING


def system_variables(
    *, execution_id: str, account_id: str, region: str, now: datetime
) -> dict[str, Any]:
    """Return the automation:* and global:* variables of a run at ``now``."""
    return {
        "automation:EXECUTION_ID": execution_id,
        "automation:DOCUMENT_EXECUTION_ID": execution_id,
        "global:ACCOUNT_ID": account_id,
        "global:REGION": region,
        "global:AWS_PARTITION": "aws",
        "global:DATE": now.strftime("%Y-%m-%d"),
        "global:DATE_TIME": now.strftime("%Y-%m-%d_%H.%M.%S"),
        "global:EXECUTION_ID": execution_id,
    }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def resolve(value: Any, scope: Scope) -> Any:
    """Return ``value`` (a string, list or mapping) with its references replaced."""
    if isinstance(value, str):
        return _resolve_string(value, scope)
    if isinstance(value, list):
        return [resolve(item, scope) for item in value]
    if isinstance(value, dict):
        return {resolve(key, scope): resolve(item, scope) for key, item in value.items()}
    return value


def _resolve_string(text: str, scope: Scope) -> Any:
    whole = REFERENCE.fullmatch(text.strip())
    if whole is not None:
        found = scope.lookup(whole.group(1).strip())
        return text if found is MISSING else found

    def replace(match: re.Match[str]) -> str:
        found = scope.lookup(match.group(1).strip())
        return match.group(0) if found is MISSING else _text(found)

    return REFERENCE.sub(replace, text)


def select(data: Any, selector: str) -> Any:
    """Return what the JSONPath ``selector`` (such as ``$.Items[0].Id``) selects, or None.

    Tocsin supports the subset that runbooks use: member names after dots or
    in brackets, and list indexes.
    """
    path = selector.strip()
    if not path.startswith("$"):
        raise ValueError(f"Selector {selector!r} must start with $")
    position, current = 1, data
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            raise ValueError(f"Selector {selector!r} is not supported after {path[:position]!r}")
        position = match.end()
        name = match.group(1) or match.group(2) or match.group(3)
        if match.group(4) is not None:
            index = int(match.group(4))
            if not isinstance(current, list) or index >= len(current):
                return None
            current = current[index]
        elif isinstance(current, dict) and name in current:
            current = current[name]
        else:
            return None
    return current


def typed_output(value: Any, output_type: str) -> Any:
    """Convert a selected value to the declared output type; raise ValueError when it cannot."""
    if output_type == "String":
        return value if isinstance(value, str) else json.dumps(value, default=str)
    if output_type == "Integer":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    if output_type == "Boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not a boolean")
        return value
    if output_type == "StringList":
        if not isinstance(value, list):
            raise ValueError(f"{value!r} is not a list")
        return [_text(item) for item in value]
    if output_type == "StringMap" and not isinstance(value, dict):
        raise ValueError(f"{value!r} is not a map")
    if output_type == "MapList" and not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list of maps")
    return value


def shown_value(value: Any) -> list[str]:
    """Return a value as the API shows parameters and outputs: a list of strings."""
    if isinstance(value, list):
        return [_text(item) for item in value]
    return [_text(value)]
