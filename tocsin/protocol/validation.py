"""Server-side validation of decoded input against the operation's botocore model.

botocore (1.43 and later) checks only required members, types, minimum
lengths and values, and unions before it sends a request. Raw clients check
nothing. So this module enforces every constraint of the model: required
members, Python types, string, blob, list and map sizes, map keys, patterns,
enums, numeric ranges, the 32-bit and 64-bit limits of integer and long
shapes, and unions.

Violations are reported the way AWS json services report them::

    1 validation error detected: Value 'x' at 'incidentTemplate.title' failed to
    satisfy constraint: Member must have length less than or equal to 200

Paths join member names with dots, with the first letter of each member name
in lower case as AWS writes them (``RoleSessionName`` is ``roleSessionName``).
A list item is ``<list>.<N>.member`` with
N counted from 1, as AWS writes it (``rules.1.member.name``). A map value is
``<map>.<key>.value`` and a map key that breaks the key shape's constraints is
reported at ``<map>.<key>.key``. Values longer than ``QUOTE_LIMIT`` characters
are cut with an ellipsis, and values of shapes marked ``sensitive`` (and
everything inside them) are shown as ``***``.

Members that the model does not define are ignored, because AWS json services
ignore unknown members too.
"""

from __future__ import annotations

import base64
import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import regex
from botocore.model import Shape

from tocsin.protocol.errors import ServiceError

# Characters of a value (and of a map key inside a path) quoted before the ellipsis.
QUOTE_LIMIT = 100
HIDDEN = "***"

INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)
FLOAT32_MAX = 3.4028234663852886e38

TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "a boolean",
    "timestamp": "a timestamp",
    "blob": "a blob",
    "list": "a list",
    "map": "a map",
    "structure": "a structure",
}


@dataclass(frozen=True)
class Violation:
    """A failed constraint with its member path and the quoted value."""

    path: str
    quoted_value: str | None  # None for a missing or null value
    constraint: str

    def describe(self) -> str:
        shown = "null" if self.quoted_value is None else f"'{self.quoted_value}'"
        return f"Value {shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def validate(
    shape: Shape | None,
    params: Mapping[str, Any],
    *,
    error_code: str,
    error_shape: Shape | None = None,
) -> None:
    """Raise ``ServiceError(code=error_code)`` listing every constraint that ``params`` breaks.

    ``shape`` is the operation's input shape (None for operations without
    input, whose parameters are then ignored). Pass the service's validation
    error shape as ``error_shape`` so that services whose error carries
    per-field details (ssm-contacts: ``Reason`` and ``Fields``) get them.
    Use a long-lived shape such as ``OperationModel.input_shape``, because
    the compiled rules are cached per shape object.
    """
    if shape is None:
        return
    violations = find_violations(shape, params)
    if violations:
        raise ServiceError(
            format_violations(violations),
            code=error_code,
            fields=_error_fields(violations, error_shape),
        )


# Violations described in one error. A request with a list of thousands of bad
# items would otherwise get an error response many times its own size.
MAX_DESCRIBED = 25


def find_violations(shape: Shape, params: Any) -> list[Violation]:
    """Return the constraints that ``params`` breaks, in model member order."""
    rules = _rules_for(shape)
    found: list[Violation] = []
    if not isinstance(params, Mapping):
        found.append(Violation("input", _quote(params, rules), "Member must be a structure"))
        return found
    _check_structure(rules, params, "", False, found)
    return found


def format_violations(violations: list[Violation]) -> str:
    """Return AWS's message for ``violations``, describing at most ``MAX_DESCRIBED`` of them."""
    count = len(violations)
    noun = "error" if count == 1 else "errors"
    details = "; ".join(v.describe() for v in violations[:MAX_DESCRIBED])
    if count > MAX_DESCRIBED:
        details += f"; and {count - MAX_DESCRIBED} more"
    return f"{count} validation {noun} detected: {details}"


def _error_fields(violations: list[Violation], error_shape: Shape | None) -> dict[str, Any]:
    members = getattr(error_shape, "members", None) or {}
    fields: dict[str, Any] = {}
    if "Reason" in members and "FIELD_VALIDATION_FAILED" in (members["Reason"].enum or []):
        fields["Reason"] = "FIELD_VALIDATION_FAILED"
    if "Fields" in members:
        fields["Fields"] = [
            {"Name": v.path, "Message": v.describe()} for v in violations[:MAX_DESCRIBED]
        ]
    return fields


# --- compiled rules -------------------------------------------------------


@dataclass(eq=False)
class _Rules:
    """The constraints of one shape, read once from the model."""

    kind: str
    sensitive: bool = False
    min_size: int | None = None
    max_size: int | None = None
    low: float | None = None
    high: float | None = None
    pattern: Any = None  # a compiled ``regex`` pattern
    pattern_text: str = ""
    enum: tuple[str, ...] = ()
    enum_set: frozenset[str] = frozenset()
    members: dict[str, _Rules] = field(default_factory=dict)
    path_names: dict[str, str] = field(default_factory=dict)  # member name as shown in paths
    required: tuple[str, ...] = ()
    union: bool = False
    document: bool = False
    item: _Rules | None = None  # list member, or map value
    key: _Rules | None = None


_cache: weakref.WeakKeyDictionary[Shape, _Rules] = weakref.WeakKeyDictionary()


def _rules_for(shape: Shape) -> _Rules:
    rules = _cache.get(shape)
    if rules is None:
        rules = _compile(shape, {})
        _cache[shape] = rules
    return rules


def _compile(shape: Shape, seen: dict[str, _Rules]) -> _Rules:
    # Shape names are unique within a model, so ``seen`` closes recursive shapes.
    known = seen.get(shape.name)
    if known is not None:
        return known
    meta = shape.metadata
    rules = _Rules(kind=shape.type_name, sensitive=bool(meta.get("sensitive")))
    seen[shape.name] = rules
    kind = shape.type_name
    if kind in ("string", "blob", "list", "map"):
        rules.min_size = meta.get("min")
        rules.max_size = meta.get("max")
    if kind in ("integer", "long", "float", "double"):
        rules.low, rules.high = _numeric_bounds(kind, meta.get("min"), meta.get("max"))
    if kind == "string":
        if meta.get("pattern") is not None:
            rules.pattern_text = meta["pattern"]
            rules.pattern = compile_java_pattern(rules.pattern_text)
        enum = shape.enum or ()
        rules.enum = tuple(enum)
        rules.enum_set = frozenset(enum)
    elif kind == "structure":
        rules.document = bool(meta.get("document"))
        rules.union = bool(meta.get("union"))
        rules.required = tuple(meta.get("required", ()))
        rules.members = {name: _compile(member, seen) for name, member in shape.members.items()}
        rules.path_names = {name: name[:1].lower() + name[1:] for name in shape.members}
    elif kind == "list":
        rules.item = _compile(shape.member, seen)
    elif kind == "map":
        rules.key = _compile(shape.key, seen)
        rules.item = _compile(shape.value, seen)
    return rules


def _numeric_bounds(kind: str, low: Any, high: Any) -> tuple[float | None, float | None]:
    if kind in ("integer", "long"):
        type_low, type_high = INT32_RANGE if kind == "integer" else INT64_RANGE
        low = type_low if low is None else max(low, type_low)
        high = type_high if high is None else min(high, type_high)
    elif kind == "float":
        low = -FLOAT32_MAX if low is None else low
        high = FLOAT32_MAX if high is None else high
    return low, high


# --- Java patterns --------------------------------------------------------

# Java's \d, \s and \w match ASCII only, unlike Python's, so they are spelled
# out. Java's \s is [ \t\n\x0B\f\r].
_CLASS_BODIES = {
    "d": "0-9",
    "s": " \\t\\n\\x0B\\f\\r",
    "w": "a-zA-Z0-9_",
}
# Complements over all code points, for use inside a character class.
_NEGATED_BODIES = {
    "D": "\\x00-\\x2F\\x3A-\\U0010FFFF",
    "S": "\\x00-\\x08\\x0E-\\x1F\\x21-\\U0010FFFF",
    "W": "\\x00-\\x2F\\x3A-\\x40\\x5B-\\x5E\\x60\\x7B-\\U0010FFFF",
}
# Java's "." stops at every line terminator, not only at "\n".
_JAVA_DOT = "[^\\n\\r\\x85\\u2028\\u2029]"


@cache
def compile_java_pattern(pattern: str) -> Any:
    """Compile a model pattern (Java syntax) for ``fullmatch`` with the ``regex`` package.

    Java matches a model pattern against the whole value. The ``regex``
    package is used because Python's ``re`` has no ``\\p{L}``-style Unicode
    property classes, which ssm, ssm-contacts, events, organizations, sts,
    iam and cloudwatch use. ASCII shorthands, "." and a "-" right after a
    shorthand inside a class (``[\\w-\\/]``) are rewritten to mean what they
    mean in Java.
    """
    return regex.compile(translate_java_pattern(pattern), regex.VERSION0)


def translate_java_pattern(pattern: str) -> str:
    """Rewrite the parts of a Java pattern that Python regex engines read differently."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            letter = pattern[i + 1]
            i += 2
            if letter in _CLASS_BODIES or letter.lower() in _CLASS_BODIES:
                out.append(_shorthand(letter, in_class))
                # In Java a "-" after a shorthand in a class is a literal hyphen.
                if in_class and pattern[i : i + 1] == "-" and pattern[i + 1 : i + 2] != "]":
                    out.append("\\-")
                    i += 1
            else:
                out.append(char + letter)
            continue
        if in_class:
            if char == "]":
                in_class = False
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
            # A "]" or "^]" right after the opening bracket is a literal.
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("\\]")
                i += 1
        elif char == ".":
            out.append(_JAVA_DOT)
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _shorthand(letter: str, in_class: bool) -> str:
    if letter in _CLASS_BODIES:
        body = _CLASS_BODIES[letter]
        return body if in_class else f"[{body}]"
    if in_class:
        return _NEGATED_BODIES[letter]
    return f"[^{_CLASS_BODIES[letter.lower()]}]"


# --- the walk -------------------------------------------------------------


def _check(rules: _Rules, value: Any, path: str, hidden: bool, found: list[Violation]) -> None:
    """Append the violations of a present (non-null) ``value`` to ``found``."""
    hidden = hidden or rules.sensitive
    kind = rules.kind
    if kind == "string":
        if type(value) is not str:
            _type_error(rules, value, path, hidden, found)
            return
        _check_size(rules, value, len(value), path, hidden, found)
        if rules.enum and value not in rules.enum_set:
            choices = ", ".join(rules.enum)
            constraint = f"Member must satisfy enum value set: [{choices}]"
            found.append(Violation(path, _quote(value, rules, hidden), constraint))
        if rules.pattern is not None and rules.pattern.fullmatch(value) is None:
            constraint = f"Member must satisfy regular expression pattern: {rules.pattern_text}"
            found.append(Violation(path, _quote(value, rules, hidden), constraint))
    elif kind in ("integer", "long"):
        if type(value) is not int:
            _type_error(rules, value, path, hidden, found)
            return
        _check_range(rules, value, path, hidden, found)
    elif kind in ("float", "double"):
        if type(value) not in (int, float):
            _type_error(rules, value, path, hidden, found)
            return
        if not math.isnan(value):
            _check_range(rules, value, path, hidden, found)
    elif kind == "boolean":
        if type(value) is not bool:
            _type_error(rules, value, path, hidden, found)
    elif kind == "timestamp":
        if not isinstance(value, datetime):
            _type_error(rules, value, path, hidden, found)
    elif kind == "blob":
        if not isinstance(value, bytes | bytearray):
            _type_error(rules, value, path, hidden, found)
            return
        _check_size(rules, value, len(value), path, hidden, found)
    elif kind == "list":
        _check_list(rules, value, path, hidden, found)
    elif kind == "map":
        _check_map(rules, value, path, hidden, found)
    elif kind == "structure":
        if rules.document:
            return
        if not isinstance(value, Mapping):
            _type_error(rules, value, path, hidden, found)
            return
        _check_structure(rules, value, path, hidden, found)


def _check_structure(
    rules: _Rules, value: Mapping[str, Any], path: str, hidden: bool, found: list[Violation]
) -> None:
    prefix = f"{path}." if path else ""
    for name in rules.required:
        if value.get(name) is None:
            shown = rules.path_names.get(name, name)
            found.append(Violation(prefix + shown, None, "Member must not be null"))
    set_count = 0
    for name, member in rules.members.items():
        item = value.get(name)
        if item is None:
            continue
        set_count += 1
        _check(member, item, prefix + rules.path_names[name], hidden, found)
    if rules.union and set_count != 1:
        constraint = f"Member must have exactly one member set, but {set_count} are set"
        found.append(Violation(path or "input", _quote(value, rules, hidden), constraint))


def _check_list(rules: _Rules, value: Any, path: str, hidden: bool, found: list[Violation]) -> None:
    if not isinstance(value, list | tuple):
        _type_error(rules, value, path, hidden, found)
        return
    _check_size(rules, value, len(value), path, hidden, found)
    assert rules.item is not None
    for index, item in enumerate(value, start=1):
        item_path = f"{path}.{index}.member"
        if item is None:
            found.append(Violation(item_path, None, "Member must not be null"))
        else:
            _check(rules.item, item, item_path, hidden, found)


def _check_map(rules: _Rules, value: Any, path: str, hidden: bool, found: list[Violation]) -> None:
    if not isinstance(value, Mapping):
        _type_error(rules, value, path, hidden, found)
        return
    _check_size(rules, value, len(value), path, hidden, found)
    assert rules.key is not None and rules.item is not None
    for key, item in value.items():
        key_hidden = hidden or rules.key.sensitive
        shown_key = HIDDEN if key_hidden else _truncate(str(key))
        _check(rules.key, key, f"{path}.{shown_key}.key", hidden, found)
        value_path = f"{path}.{shown_key}.value"
        if item is None:
            found.append(Violation(value_path, None, "Member must not be null"))
        else:
            _check(rules.item, item, value_path, hidden, found)


def _check_size(
    rules: _Rules, value: Any, size: int, path: str, hidden: bool, found: list[Violation]
) -> None:
    # String length counts code points, as Smithy's length trait does.
    if rules.min_size is not None and size < rules.min_size:
        constraint = f"Member must have length greater than or equal to {rules.min_size}"
        found.append(Violation(path, _quote(value, rules, hidden), constraint))
    if rules.max_size is not None and size > rules.max_size:
        constraint = f"Member must have length less than or equal to {rules.max_size}"
        found.append(Violation(path, _quote(value, rules, hidden), constraint))


def _check_range(
    rules: _Rules, value: float, path: str, hidden: bool, found: list[Violation]
) -> None:
    if rules.low is not None and value < rules.low:
        constraint = f"Member must have value greater than or equal to {_number(rules.low)}"
        found.append(Violation(path, _quote(value, rules, hidden), constraint))
    if rules.high is not None and value > rules.high:
        constraint = f"Member must have value less than or equal to {_number(rules.high)}"
        found.append(Violation(path, _quote(value, rules, hidden), constraint))


def _type_error(rules: _Rules, value: Any, path: str, hidden: bool, found: list[Violation]) -> None:
    constraint = f"Member must be {TYPE_NAMES.get(rules.kind, rules.kind)}"
    found.append(Violation(path, _quote(value, rules, hidden), constraint))


# --- quoting --------------------------------------------------------------


def _number(bound: float) -> str:
    if isinstance(bound, float) and bound.is_integer() and abs(bound) < 2**53:
        return str(int(bound))
    return str(bound)


def _truncate(text: str) -> str:
    if len(text) <= QUOTE_LIMIT:
        return text
    return text[:QUOTE_LIMIT] + "..."


def _quote(value: Any, rules: _Rules | None, hidden: bool = False) -> str:
    if hidden:
        return HIDDEN
    return _truncate(_render(value, rules, QUOTE_LIMIT + 1))


def _render(value: Any, rules: _Rules | None, budget: int) -> str:
    """Render ``value`` as a Java service prints it, stopping after about ``budget`` characters."""
    if rules is not None and rules.sensitive:
        return HIDDEN
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value[:budget]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value[: budget + 2])).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        item_rules = rules.item if rules is not None and rules.kind == "list" else None
        parts = _render_parts(((None, v, item_rules) for v in value), budget)
        return "[" + ", ".join(parts) + "]"
    if isinstance(value, Mapping):
        parts = _render_parts(_entries(value, rules), budget)
        return "{" + ", ".join(parts) + "}"
    return str(value)[:budget]


def _entries(value: Mapping[Any, Any], rules: _Rules | None) -> Any:
    for key, item in value.items():
        if rules is not None and rules.kind == "structure":
            yield key, item, rules.members.get(key)
        elif rules is not None and rules.kind == "map":
            shown_key = HIDDEN if rules.key is not None and rules.key.sensitive else key
            yield shown_key, item, rules.item
        else:
            yield key, item, None


def _render_parts(entries: Any, budget: int) -> list[str]:
    parts: list[str] = []
    used = 0
    for key, item, item_rules in entries:
        if used > budget:
            break
        text = _render(item, item_rules, budget - used)
        if key is not None:
            text = f"{key}={text}"
        parts.append(text)
        used += len(text) + 2
    return parts
