"""Target input: the event itself, or the text that Input, InputPath or InputTransformer make.

Paths use EventBridge's JSON dot notation (``$``, ``$.detail.state.value``,
with ``[n]`` for an array element). A path that leads nowhere gives null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

PATH = re.compile(r"^\$(\.[^.\[\]]+|\[\d+\])*$")
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
MAX_PATHS = 100
# Keys that EventBridge reserves in InputPathsMap.
RESERVED_PREFIX = "aws.events."


class InvalidTargetInput(ValueError):
    """A target's Input, InputPath or InputTransformer that EventBridge would reject."""


def check_path(path: str, member: str) -> None:
    if not PATH.match(path):
        raise InvalidTargetInput(
            f"{member} {path!r} is not a valid JSON path; use dot notation such as "
            "$.detail.state.value"
        )


def check(target: Mapping[str, Any]) -> None:
    """Check the input members of one PutTargets entry; raise InvalidTargetInput."""
    present = [name for name in ("Input", "InputPath", "InputTransformer") if name in target]
    if len(present) > 1:
        raise InvalidTargetInput(
            f"Only one of Input, InputPath or InputTransformer may be given, got {present}"
        )
    if "Input" in target:
        try:
            json.loads(target["Input"])
        except ValueError:
            raise InvalidTargetInput(
                f"Input {target['Input'][:80]!r} is not valid JSON text"
            ) from None
    if "InputPath" in target:
        check_path(target["InputPath"], "InputPath")
    transformer = target.get("InputTransformer")
    if transformer is not None:
        paths = transformer.get("InputPathsMap") or {}
        if len(paths) > MAX_PATHS:
            raise InvalidTargetInput(
                f"InputPathsMap has {len(paths)} entries; the maximum is {MAX_PATHS}"
            )
        for key, path in paths.items():
            if key.startswith(RESERVED_PREFIX):
                raise InvalidTargetInput(f"InputPathsMap key {key!r} uses the reserved prefix")
            check_path(path, f"InputPathsMap value of {key}")


def extract(event: Any, path: str) -> Any:
    """Return the value at ``path`` in ``event``, or None when the path leads nowhere."""
    node = event
    for name, index in _STEP.findall(path[1:]):
        if name:
            node = node.get(name) if isinstance(node, Mapping) else None
        else:
            position = int(index)
            node = node[position] if isinstance(node, list) and position < len(node) else None
        if node is None:
            return None
    return node


def render(target: Mapping[str, Any], event: Mapping[str, Any], rule_arn: str) -> str:
    """Return the text that a target receives for ``event``."""
    if target.get("input") is not None:
        return str(target["input"])
    if target.get("input_path") is not None:
        return json.dumps(extract(event, target["input_path"]))
    transformer = target.get("input_transformer")
    if transformer is not None:
        return _transform(transformer, event, rule_arn)
    return json.dumps(event)


def _transform(transformer: Mapping[str, Any], event: Mapping[str, Any], rule_arn: str) -> str:
    """Fill InputTemplate's placeholders.

    Inside a quoted JSON string a string value goes in without its quotes;
    elsewhere every value goes in as JSON. This is how EventBridge fills a
    template that is JSON, and for a plain text template it inserts strings
    as they are.
    """
    values: dict[str, Any] = {
        key: extract(event, path) for key, path in (transformer.get("InputPathsMap") or {}).items()
    }
    values["aws.events.event"] = event
    values["aws.events.event.json"] = event
    values["aws.events.rule-arn"] = rule_arn
    values["aws.events.rule-name"] = rule_arn.rsplit("/", 1)[-1]
    values["aws.events.event.ingestion-time"] = event.get("time")
    template: str = transformer["InputTemplate"]
    is_json = template.lstrip().startswith(("{", "["))

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            return match.group(0)
        value = values[key]
        quoted = _inside_string(template, match.start())
        if isinstance(value, str) and (quoted or not is_json):
            return json.dumps(value)[1:-1] if quoted else value
        return json.dumps(value)

    return PLACEHOLDER.sub(fill, template)


def _inside_string(template: str, position: int) -> bool:
    """Return whether ``position`` lies inside a double-quoted string of ``template``."""
    inside = False
    escaped = False
    for char in template[:position]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            inside = not inside
    return inside
