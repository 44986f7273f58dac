"""EventBridge event patterns: parse and validate a pattern, then match events against it.

``compile_pattern`` turns the JSON text of a pattern into an immutable :class:`Pattern`
that PutRule stores and PutEvents matches against every event; ``matches`` serves
TestEventPattern. Validation messages follow the wording of EventBridge's
InvalidEventPatternException and name the JSON path of the offending part.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from tocsin.events.patterns_match import (
    NUMERIC_LIMIT,
    AnyOf,
    AnythingBut,
    Cidr,
    ExactValues,
    FieldRule,
    IgnoreCase,
    LeafRule,
    Matcher,
    Numeric,
    ObjectRule,
    Prefix,
    Suffix,
    Wildcard,
    is_number,
    quantize,
)

# The EventPattern member of PutRule and TestEventPattern is at most 4096 characters.
MAX_PATTERN_LENGTH: Final = 4096
# NOTE: AWS documents no nesting limit. Tocsin rejects patterns nested deeper than this so
# that compiling never reaches Python's recursion limit; 4096 characters allow about 680.
MAX_PATTERN_DEPTH: Final = 100
# TestEventPattern requires these fields in the event.
REQUIRED_EVENT_FIELDS: Final = (
    "id",
    "account",
    "source",
    "time",
    "region",
    "resources",
    "detail-type",
)

OPERATORS: Final = frozenset(
    {
        "prefix",
        "suffix",
        "anything-but",
        "numeric",
        "cidr",
        "exists",
        "equals-ignore-case",
        "wildcard",
    }
)
_IDENTIFIER = re.compile(r"[A-Za-z0-9_$-]+\Z")


class InvalidEventPattern(ValueError):
    """An event pattern that EventBridge would reject with InvalidEventPatternException.

    ``reason`` states what is wrong and ``path`` is the JSON path of the offending part,
    such as ``$.detail.state[0].prefix``.
    """

    def __init__(self, reason: str, path: str = "$") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"Event pattern is not valid. Reason: {reason} at {path}")


class InvalidEvent(ValueError):
    """An event given to TestEventPattern that is not a valid EventBridge event."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Parameter Event is not valid. Reason: {reason}")


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled event pattern; ``text`` is the JSON it was compiled from."""

    text: str
    root: ObjectRule

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Tell whether ``event``, the full EventBridge event as a mapping, matches."""
        return self.root.match_object(event)


def compile_pattern(text: str) -> Pattern:
    """Parse and validate the JSON text of an event pattern.

    Raises InvalidEventPattern when the text is not JSON or breaks a rule of the
    pattern language.
    """
    if len(text) > MAX_PATTERN_LENGTH:
        raise InvalidEventPattern(
            f"Event pattern is {len(text)} characters long; the maximum is {MAX_PATTERN_LENGTH}"
        )
    document = _load_json(text, InvalidEventPattern)
    if not isinstance(document, dict):
        raise InvalidEventPattern("Filter is not an object")
    return Pattern(text, _compile_object(document, "$", 1, in_or=False))


def matches(pattern_text: str, event_text: str) -> bool:
    """Tell whether the event in ``event_text`` matches the pattern in ``pattern_text``.

    Raises InvalidEventPattern for a bad pattern and InvalidEvent for a bad event.
    """
    pattern = compile_pattern(pattern_text)
    return pattern.matches(parse_event(event_text))


def parse_event(text: str) -> dict[str, Any]:
    """Parse the JSON text of an event and check the fields TestEventPattern requires."""
    event = _load_json(text, InvalidEvent)
    if not isinstance(event, dict):
        raise InvalidEvent("the event must be a JSON object")
    missing = [name for name in REQUIRED_EVENT_FIELDS if name not in event]
    if missing:
        raise InvalidEvent("missing required field(s): " + ", ".join(f'"{n}"' for n in missing))
    if not isinstance(event["resources"], list):
        raise InvalidEvent('the field "resources" must be an array')
    return event


def _load_json(text: str, error: type[InvalidEventPattern] | type[InvalidEvent]) -> Any:
    def reject_constant(name: str) -> NoReturn:
        raise ValueError(f"{name} is not a JSON value")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise error("the JSON is nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise error(f"invalid JSON: {exc}") from None


def _child(path: str, name: str) -> str:
    if _IDENTIFIER.match(name):
        return f"{path}.{name}"
    return f"{path}[{json.dumps(name)}]"


def _compile_object(document: dict[str, Any], path: str, depth: int, *, in_or: bool) -> ObjectRule:
    if depth > MAX_PATTERN_DEPTH:
        raise InvalidEventPattern(
            f"Event pattern is nested deeper than {MAX_PATTERN_DEPTH} levels", path
        )
    if not document:
        raise InvalidEventPattern("Empty objects are not allowed", path)

    fields: list[FieldRule] = []
    alternatives: list[tuple[ObjectRule, ...]] = []
    absent_paths: list[tuple[str, ...]] = []
    for name, value in document.items():
        field_path = _child(path, name)
        if name == "$or":
            alternatives.append(_compile_or(value, field_path, depth))
            continue
        if in_or and name in OPERATORS:
            raise InvalidEventPattern(
                f"{name} is a reserved field name which cannot be used inside $or", field_path
            )
        if isinstance(value, dict):
            nested = _compile_object(value, field_path, depth + 1, in_or=in_or)
            fields.append(FieldRule(name, nested))
            absent_paths.extend((name, *inner) for inner in nested.absent_paths)
        elif isinstance(value, list):
            leaf = _compile_leaf(value, field_path)
            fields.append(FieldRule(name, leaf))
            if leaf.absent and not leaf.exists and not leaf.matchers:
                absent_paths.append((name,))
        else:
            raise InvalidEventPattern(f'"{name}" must be an object or an array', field_path)
    return ObjectRule(tuple(fields), tuple(alternatives), tuple(absent_paths))


def _compile_or(value: Any, path: str, depth: int) -> tuple[ObjectRule, ...]:
    if not isinstance(value, list):
        raise InvalidEventPattern("Value of $or must be an array of objects", path)
    branches = []
    for index, branch in enumerate(value):
        if not isinstance(branch, dict):
            raise InvalidEventPattern(
                "Only JSON object is allowed in array of $or relationship", f"{path}[{index}]"
            )
        branches.append(_compile_object(branch, f"{path}[{index}]", depth + 1, in_or=True))
    if len(branches) < 2:
        raise InvalidEventPattern("There must be at least 2 objects in $or relationship", path)
    return tuple(branches)


def _compile_leaf(values: list[Any], path: str) -> LeafRule:
    if not values:
        raise InvalidEventPattern("Empty arrays are not allowed", path)

    strings: set[str] = set()
    numbers: set[int | float] = set()
    literals: list[Any] = []
    matchers: list[Matcher] = []
    exists = absent = False
    for index, value in enumerate(values):
        value_path = f"{path}[{index}]"
        if isinstance(value, str):
            strings.add(value)
        elif value is None or isinstance(value, bool):
            if not any(value is literal for literal in literals):
                literals.append(value)
        elif is_number(value):
            numbers.add(value)
        elif isinstance(value, dict):
            expression = _compile_expression(value, value_path)
            if expression is True:
                exists = True
            elif expression is False:
                absent = True
            else:
                matchers.append(expression)
        else:
            raise InvalidEventPattern(
                "Match value must be String, number, true, false, or null", value_path
            )

    if strings or numbers or literals:
        matchers.insert(0, ExactValues(frozenset(strings), frozenset(numbers), tuple(literals)))
    return LeafRule(tuple(matchers), exists, absent)


def _compile_expression(expression: dict[str, Any], path: str) -> Matcher | bool:
    """Compile one match expression such as ``{"prefix": "a"}``; ``exists`` gives a bool."""
    if not expression:
        raise InvalidEventPattern("Match expression name not found", path)
    if len(expression) > 1:
        raise InvalidEventPattern("Only one key allowed in match expression", path)
    ((operator, operand),) = expression.items()
    operand_path = _child(path, operator)

    if operator == "exists":
        if not isinstance(operand, bool):
            raise InvalidEventPattern(
                "exists match pattern must be either true or false", operand_path
            )
        return operand
    if operator in ("prefix", "suffix"):
        return _compile_affix(operator, operand, operand_path)
    if operator == "equals-ignore-case":
        return IgnoreCase.build(_require_string(operator, operand, operand_path), "equals")
    if operator == "wildcard":
        return _compile_wildcard(_require_string(operator, operand, operand_path), operand_path)
    if operator == "numeric":
        return _compile_numeric(operand, operand_path)
    if operator == "cidr":
        return _compile_cidr(_require_string(operator, operand, operand_path), operand_path)
    if operator == "anything-but":
        return AnythingBut(_compile_anything_but(operand, operand_path))
    raise InvalidEventPattern(f"Unrecognized match type {operator}", operand_path)


def _require_string(operator: str, operand: Any, path: str) -> str:
    if not isinstance(operand, str):
        raise InvalidEventPattern(f"{operator} match pattern must be a string", path)
    return operand


def _compile_affix(operator: str, operand: Any, path: str) -> Matcher:
    """Compile ``prefix`` or ``suffix``, either a string or ``{"equals-ignore-case": str}``."""
    if isinstance(operand, dict) and list(operand) == ["equals-ignore-case"]:
        text = _require_string("equals-ignore-case", operand["equals-ignore-case"], path)
        return IgnoreCase.build(text, operator)
    if not isinstance(operand, str):
        raise InvalidEventPattern(
            f'{operator} match pattern must be a string or {{"equals-ignore-case": string}}', path
        )
    return Prefix(operand) if operator == "prefix" else Suffix(operand)


def _compile_wildcard(text: str, path: str) -> Wildcard:
    """Split a wildcard into literal segments; ``\\*`` and ``\\\\`` are the only escapes."""
    segments: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "*":
            if index + 1 < len(text) and text[index + 1] == "*":
                raise InvalidEventPattern(f"Consecutive wildcard characters at pos {index}", path)
            segments.append("".join(current))
            current = []
        elif char == "\\":
            if index + 1 >= len(text) or text[index + 1] not in "*\\":
                raise InvalidEventPattern(f"Invalid escape character at pos {index}", path)
            index += 1
            current.append(text[index])
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))
    return Wildcard(tuple(segments))


def _compile_cidr(text: str, path: str) -> Cidr:
    if "/" not in text:
        raise InvalidEventPattern(f"Malformed CIDR, one '/' required: {text}", path)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidEventPattern(f"Nonstandard IP address or CIDR: {text}", path) from None
    return Cidr(network)


_LOWER_BOUNDS: Final = {">": False, ">=": True}
_UPPER_BOUNDS: Final = {"<": False, "<=": True}


def _compile_numeric(operand: Any, path: str) -> Numeric:
    """Compile ``["=", n]``, one bound, or a lower bound followed by an upper bound."""
    if not isinstance(operand, list):
        raise InvalidEventPattern("Value of numeric must be an array.", path)
    if not operand:
        raise InvalidEventPattern("Value of numeric must not be an empty array.", path)
    operator = operand[0]
    if not isinstance(operator, str):
        raise InvalidEventPattern(
            f"Invalid member in numeric match: {json.dumps(operator)}", f"{path}[0]"
        )
    if operator != "=" and operator not in _LOWER_BOUNDS and operator not in _UPPER_BOUNDS:
        raise InvalidEventPattern(f"Unrecognized numeric range operator: {operator}", f"{path}[0]")
    value = _numeric_operand(operand, 1, operator, path)

    if operator == "=":
        _require_end(operand, 2, path)
        return Numeric(value, True, value, True)
    if operator in _UPPER_BOUNDS:
        _require_end(operand, 2, path)
        return Numeric(None, False, value, _UPPER_BOUNDS[operator])
    if len(operand) == 2:
        return Numeric(value, _LOWER_BOUNDS[operator], None, False)

    upper_operator = operand[2]
    if upper_operator not in _UPPER_BOUNDS:
        raise InvalidEventPattern(
            f"Bad numeric range operator: {json.dumps(upper_operator)}", f"{path}[2]"
        )
    upper = _numeric_operand(operand, 3, upper_operator, path)
    if len(operand) > 4:
        raise InvalidEventPattern("Too many terms in numeric range expression", f"{path}[4]")
    if value >= upper:
        raise InvalidEventPattern("Bottom must be less than top", path)
    return Numeric(value, _LOWER_BOUNDS[operator], upper, _UPPER_BOUNDS[upper_operator])


def _numeric_operand(operand: list[Any], index: int, operator: str, path: str) -> int:
    value_path = f"{path}[{index}]"
    if index >= len(operand) or not is_number(operand[index]):
        raise InvalidEventPattern(f"Value of {operator} must be numeric", value_path)
    quantized = quantize(operand[index])
    if quantized is None:
        raise InvalidEventPattern(_range_reason(operator), value_path)
    return quantized


def _range_reason(operator: str) -> str:
    low, high = f"{-NUMERIC_LIMIT:.1E}", f"{NUMERIC_LIMIT:.1E}"
    return f"Value of {operator} must be between {low} and {high} inclusive"


def _require_end(operand: list[Any], length: int, path: str) -> None:
    if len(operand) > length:
        raise InvalidEventPattern("Too many elements in numeric expression", f"{path}[{length}]")


def _compile_anything_but(operand: Any, path: str) -> Matcher:
    """Compile what ``anything-but`` excludes: values, a list, or a string match expression."""
    if isinstance(operand, dict):
        return _compile_anything_but_expression(operand, path)
    if isinstance(operand, str):
        return ExactValues(frozenset({operand}), frozenset(), ())
    if is_number(operand):
        return ExactValues(frozenset(), frozenset({_anything_but_number(operand, path)}), ())
    if not isinstance(operand, list):
        raise InvalidEventPattern(
            "Value of anything-but must be an array or single string/number value", path
        )
    if not operand:
        raise InvalidEventPattern("Empty arrays are not allowed", path)
    if all(isinstance(value, str) for value in operand):
        return ExactValues(frozenset(operand), frozenset(), ())
    if all(is_number(value) for value in operand):
        numbers = frozenset(
            _anything_but_number(value, f"{path}[{index}]") for index, value in enumerate(operand)
        )
        return ExactValues(frozenset(), numbers, ())
    for index, value in enumerate(operand):
        if not isinstance(value, str) and not is_number(value):
            raise InvalidEventPattern(
                "Inside anything-but list, null, boolean, object and array values "
                "are not supported",
                f"{path}[{index}]",
            )
    raise InvalidEventPattern(
        "Inside anything but list, either all values are number or string, "
        "mixed type is not supported",
        path,
    )


def _anything_but_number(value: int | float, path: str) -> int | float:
    if quantize(value) is None:
        raise InvalidEventPattern(_range_reason("anything-but"), path)
    return value


def _compile_anything_but_expression(expression: dict[str, Any], path: str) -> Matcher:
    if not expression:
        raise InvalidEventPattern("Anything-But expression name not found", path)
    if len(expression) > 1:
        raise InvalidEventPattern("Only one key allowed in match expression", path)
    ((operator, operand),) = expression.items()
    operand_path = _child(path, operator)

    if operator in ("prefix", "suffix"):
        if not isinstance(operand, str):
            raise InvalidEventPattern("prefix/suffix match pattern must be a string", operand_path)
        if not operand:
            raise InvalidEventPattern("Null prefix/suffix not allowed", operand_path)
        return Prefix(operand) if operator == "prefix" else Suffix(operand)
    if operator not in ("equals-ignore-case", "wildcard"):
        raise InvalidEventPattern(f"Unsupported anything-but pattern: {operator}", operand_path)

    texts = operand if isinstance(operand, list) else [operand]
    if not texts:
        raise InvalidEventPattern("Empty arrays are not allowed", operand_path)
    matchers: list[Matcher] = []
    for index, text in enumerate(texts):
        text_path = f"{operand_path}[{index}]" if isinstance(operand, list) else operand_path
        if not isinstance(text, str):
            raise InvalidEventPattern(
                f"Inside anything-but/{operator} list, only strings are supported",
                text_path,
            )
        if operator == "wildcard":
            matchers.append(_compile_wildcard(text, text_path))
        else:
            matchers.append(IgnoreCase.build(text, "equals"))
    return matchers[0] if len(matchers) == 1 else AnyOf(tuple(matchers))
