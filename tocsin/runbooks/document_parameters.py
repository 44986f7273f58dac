"""Parameters of Automation documents: their declarations, constraints and run-time values."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tocsin.runbooks.errors import InvalidDocumentContent

ParameterType = Literal["String", "StringList", "Integer", "Boolean", "MapList", "StringMap"]

PARAMETER_TYPES: tuple[ParameterType, ...] = (
    "String",
    "StringList",
    "Integer",
    "Boolean",
    "MapList",
    "StringMap",
)
PARAMETER_KEYS = (
    "type",
    "description",
    "default",
    "allowedValues",
    "allowedPattern",
    "displayType",
    "minItems",
    "maxItems",
    "minChars",
    "maxChars",
)
# StartAutomationExecution's AutomationParameterKey allows 1 to 50 characters.
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,50}$")


@dataclass(frozen=True)
class Parameter:
    """A declared input of the document, with the constraints its values must meet."""

    name: str
    type: ParameterType
    description: str | None = None
    has_default: bool = False
    default: Any = None
    allowed_values: tuple[Any, ...] | None = None
    allowed_pattern: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_chars: int | None = None
    max_chars: int | None = None

    @property
    def required(self) -> bool:
        """True when a run must pass a value because the document gives no default."""
        return not self.has_default

    def describe(self) -> dict[str, Any]:
        """Return the parameter as DescribeDocument lists it."""
        described: dict[str, Any] = {"Name": self.name, "Type": self.type}
        if self.description is not None:
            described["Description"] = self.description
        if self.has_default:
            described["DefaultValue"] = default_text(self.default)
        return described


def default_text(value: Any) -> str:
    """Return a default value as DescribeDocument shows it: strings as they are, others as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def parse_parameters(definitions: Mapping[str, Any]) -> tuple[Parameter, ...]:
    """Parse the parameters section: parameter names mapped to their definitions."""
    return tuple(_parameter(name, spec) for name, spec in definitions.items())


def _parameter(name: str, spec: Any) -> Parameter:
    where = f"Parameter {name!r}"
    if not PARAMETER_NAME.match(name):
        raise InvalidDocumentContent(
            f"{where} has an invalid name; a parameter name has 1 to 50 letters, digits, "
            "hyphens or underscores"
        )
    if not isinstance(spec, dict):
        raise InvalidDocumentContent(f"{where} must be a mapping with at least a type")
    unknown = [key for key in spec if key not in PARAMETER_KEYS]
    if unknown:
        raise InvalidDocumentContent(
            f"{where} has unknown key {unknown[0]!r}. The allowed keys are "
            + ", ".join(PARAMETER_KEYS)
        )

    kind = spec.get("type")
    if kind not in PARAMETER_TYPES:
        raise InvalidDocumentContent(
            f"{where} has type {kind!r}; the type must be one of " + ", ".join(PARAMETER_TYPES)
        )
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidDocumentContent(f"{where} has a description that is not a string")

    parameter = Parameter(
        name=name,
        type=kind,
        description=description,
        has_default="default" in spec,
        default=spec.get("default"),
        allowed_values=_allowed_values(where, kind, spec.get("allowedValues")),
        allowed_pattern=_allowed_pattern(where, spec.get("allowedPattern")),
        min_items=_count(where, spec, "minItems"),
        max_items=_count(where, spec, "maxItems"),
        min_chars=_count(where, spec, "minChars"),
        max_chars=_count(where, spec, "maxChars"),
    )
    for low, high in (("min_items", "max_items"), ("min_chars", "max_chars")):
        lower, upper = getattr(parameter, low), getattr(parameter, high)
        if lower is not None and upper is not None and lower > upper:
            raise InvalidDocumentContent(f"{where} has {low} {lower} greater than {high} {upper}")
    if parameter.has_default:
        problem = check_value(parameter, parameter.default)
        if problem:
            raise InvalidDocumentContent(f"{where} has an invalid default value: {problem}")
    return parameter


def _allowed_values(where: str, kind: str, value: Any) -> tuple[Any, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise InvalidDocumentContent(f"{where} has allowedValues that is not a non-empty list")
    item_type = "String" if kind == "StringList" else kind
    for item in value:
        if not _is_type(item, item_type):
            raise InvalidDocumentContent(
                f"{where} has allowed value {item!r}, which is not of type {item_type}"
            )
    return tuple(value)


def _allowed_pattern(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidDocumentContent(f"{where} has an allowedPattern that is not a string")
    try:
        re.compile(value)
    except re.error as exc:
        raise InvalidDocumentContent(
            f"{where} has allowedPattern {value!r}, which is not a valid regular expression: {exc}"
        ) from exc
    return value


def _count(where: str, spec: Mapping[str, Any], key: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidDocumentContent(f"{where} has {key} {value!r}; it must be an integer >= 0")
    return value


def _is_type(value: Any, kind: str) -> bool:
    checks: dict[str, bool] = {
        "String": isinstance(value, str),
        "Integer": isinstance(value, int) and not isinstance(value, bool),
        "Boolean": isinstance(value, bool),
        "StringList": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "MapList": isinstance(value, list) and all(isinstance(v, dict) for v in value),
        "StringMap": isinstance(value, dict),
    }
    return checks[kind]


def check_value(parameter: Parameter, value: Any) -> str | None:
    """Return what is wrong with ``value`` for ``parameter``, or None when it is valid.

    The execution engine uses this for the values a run passes, after
    converting them from strings to the parameter's type.
    """
    if not _is_type(value, parameter.type):
        return f"{value!r} is not of type {parameter.type}"
    items = value if parameter.type == "StringList" else [value]
    if parameter.allowed_values is not None:
        for item in items:
            if item not in parameter.allowed_values:
                allowed = ", ".join(repr(v) for v in parameter.allowed_values)
                return f"{item!r} is not one of the allowed values {allowed}"
    if parameter.allowed_pattern is not None and parameter.type in ("String", "StringList"):
        for item in items:
            if re.fullmatch(parameter.allowed_pattern, item) is None:
                return f"{item!r} does not match the allowed pattern {parameter.allowed_pattern!r}"
    if parameter.type in ("String", "StringList"):
        for item in items:
            if parameter.min_chars is not None and len(item) < parameter.min_chars:
                return f"{item!r} is shorter than minChars {parameter.min_chars}"
            if parameter.max_chars is not None and len(item) > parameter.max_chars:
                return f"{item!r} is longer than maxChars {parameter.max_chars}"
    if isinstance(value, list):
        if parameter.min_items is not None and len(value) < parameter.min_items:
            return f"the list has {len(value)} items, fewer than minItems {parameter.min_items}"
        if parameter.max_items is not None and len(value) > parameter.max_items:
            return f"the list has {len(value)} items, more than maxItems {parameter.max_items}"
    return None


def coerce_value(parameter: Parameter, values: list[str]) -> Any:
    """Convert the strings that StartAutomationExecution passes for ``parameter`` to its type.

    Raises ValueError with a message that names the parameter when the
    strings do not fit the type or the value breaks a constraint.
    """
    where = f"parameter {parameter.name!r}"
    if parameter.type == "StringList":
        value: Any = list(values)
    elif parameter.type == "MapList":
        value = [_json_value(where, text) for text in values]
    elif len(values) != 1:
        raise ValueError(f"Invalid {where}: {parameter.type} takes one value, not {len(values)}")
    else:
        value = _scalar(where, parameter.type, values[0])
    problem = check_value(parameter, value)
    if problem:
        raise ValueError(f"Invalid {where}: {problem}")
    return value


def _scalar(where: str, kind: str, text: str) -> Any:
    if kind == "Integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"Invalid {where}: {text!r} is not an integer") from None
    if kind == "Boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"Invalid {where}: {text!r} is not true or false")
        return text.lower() == "true"
    if kind == "StringMap":
        return _json_value(where, text)
    return text


def _json_value(where: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Invalid {where}: {text!r} is not a JSON object: {exc.msg}") from None
