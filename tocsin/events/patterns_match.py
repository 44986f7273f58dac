"""Compiled event-pattern nodes and the matching of events against them.

The compiler in :mod:`tocsin.events.patterns` builds these immutable nodes once per
pattern. Matching follows EventBridge's array semantics: a leaf condition matches when
any scalar in the event value matches, and the fields of one pattern object must all be
found in one element when the event contains an array of objects.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

# Numeric comparisons work on values quantized to six decimal places inside this range.
# NOTE: the range is the one in the README of aws/event-ruler, AWS's event-pattern
# matcher; older versions of the EventBridge guide give -1.0e9 to 1.0e9.
NUMERIC_LIMIT: Final = 5.0e9
_SCALE: Final = 1_000_000
_EMPTY: Final[dict[str, Any]] = {}


def is_number(value: object) -> bool:
    """Tell whether ``value`` is a JSON number (``bool`` is an ``int`` in Python, but not here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def quantize(value: int | float) -> int | None:
    """Return ``value`` in millionths, or None when it lies outside the numeric range."""
    if not -NUMERIC_LIMIT <= value <= NUMERIC_LIMIT:
        return None
    return round(value * _SCALE)


def ignore_case_regex(text: str) -> str:
    """Build a regular expression that matches ``text`` with each character in any case.

    Each character matches itself, its lower-case form and its upper-case form, one
    character at a time, so ``ß`` also matches ``SS`` but ``SS`` does not match ``ß``.
    """
    parts = []
    for char in text:
        variants = sorted({char, char.lower(), char.upper()}, key=len, reverse=True)
        if len(variants) == 1:
            parts.append(re.escape(char))
        else:
            parts.append("(?:" + "|".join(re.escape(v) for v in variants) + ")")
    return "".join(parts)


class Matcher:
    """A condition on one scalar value of the event."""

    __slots__ = ()

    def match(self, value: Any) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ExactValues(Matcher):
    """Equality with one of the listed strings, numbers, booleans or null."""

    strings: frozenset[str]
    numbers: frozenset[int | float]
    literals: tuple[Any, ...]  # a subset of (None, True, False)

    def match(self, value: Any) -> bool:
        if isinstance(value, str):
            return value in self.strings
        if value is None or isinstance(value, bool):
            return any(value is literal for literal in self.literals)
        if isinstance(value, int | float):
            return value in self.numbers
        return False


@dataclass(frozen=True, slots=True)
class Prefix(Matcher):
    text: str

    def match(self, value: Any) -> bool:
        return isinstance(value, str) and value.startswith(self.text)


@dataclass(frozen=True, slots=True)
class Suffix(Matcher):
    text: str

    def match(self, value: Any) -> bool:
        return isinstance(value, str) and value.endswith(self.text)


@dataclass(frozen=True, slots=True)
class IgnoreCase(Matcher):
    """Equality, prefix or suffix matching of strings regardless of case."""

    regex: re.Pattern[str]
    mode: str  # "equals", "prefix" or "suffix"

    @classmethod
    def build(cls, text: str, mode: str) -> IgnoreCase:
        body = ignore_case_regex(text)
        if mode == "suffix":
            body = "(?:" + body + r")\Z"
        return cls(re.compile(body, re.DOTALL), mode)

    def match(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self.mode == "equals":
            return self.regex.fullmatch(value) is not None
        if self.mode == "prefix":
            return self.regex.match(value) is not None
        return self.regex.search(value) is not None


@dataclass(frozen=True, slots=True)
class Wildcard(Matcher):
    """Glob matching where ``*`` stands for any run of characters, including none.

    ``segments`` are the literal pieces between wildcards. Matching places each middle
    segment at its leftmost possible position, which is linear in the value's length
    and never backtracks.
    """

    segments: tuple[str, ...]

    def match(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        segments = self.segments
        if len(segments) == 1:
            return value == segments[0]
        first, last = segments[0], segments[-1]
        if len(value) < len(first) + len(last):
            return False
        if not value.startswith(first) or not value.endswith(last):
            return False
        position = len(first)
        end = len(value) - len(last)
        for segment in segments[1:-1]:
            found = value.find(segment, position, end)
            if found < 0:
                return False
            position = found + len(segment)
        return True


@dataclass(frozen=True, slots=True)
class Numeric(Matcher):
    """A numeric range in millionths; a missing bound is unbounded."""

    lower: int | None
    lower_inclusive: bool
    upper: int | None
    upper_inclusive: bool

    def match(self, value: Any) -> bool:
        if not is_number(value):
            return False
        number = quantize(value)
        if number is None:
            return False
        if self.lower is not None and (
            number < self.lower or (number == self.lower and not self.lower_inclusive)
        ):
            return False
        return self.upper is None or not (
            number > self.upper or (number == self.upper and not self.upper_inclusive)
        )


@dataclass(frozen=True, slots=True)
class Cidr(Matcher):
    """Membership of an IPv4 or IPv6 address string in a network."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    def match(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == self.network.version and address in self.network


@dataclass(frozen=True, slots=True)
class AnythingBut(Matcher):
    """Any value that the inner matcher rejects.

    The value must still be present: an absent field never reaches a matcher.
    """

    inner: Matcher

    def match(self, value: Any) -> bool:
        return not self.inner.match(value)


@dataclass(frozen=True, slots=True)
class AnyOf(Matcher):
    """A value that any of ``matchers`` accepts; used inside ``anything-but`` lists."""

    matchers: tuple[Matcher, ...]

    def match(self, value: Any) -> bool:
        return any(matcher.match(value) for matcher in self.matchers)


@dataclass(frozen=True, slots=True)
class LeafRule:
    """The conditions on one field whose pattern value is an array.

    The field matches when any scalar in the event value satisfies any matcher, or when
    the event has no scalar there and the pattern allows absence (``exists: false``).
    """

    matchers: tuple[Matcher, ...]
    exists: bool  # an {"exists": true} entry is present
    absent: bool  # an {"exists": false} entry is present

    def match(self, node: Any) -> bool:
        if isinstance(node, list):
            values = list(iter_scalars(node))
        elif node is _MISSING or isinstance(node, Mapping):
            values = []
        else:
            values = [node]

        if not values:
            return self.absent
        if self.exists:
            return True
        for value in values:
            for matcher in self.matchers:
                if matcher.match(value):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class FieldRule:
    """A condition on one field of an object: a leaf or a nested object."""

    name: str
    rule: LeafRule | ObjectRule


@dataclass(frozen=True, slots=True)
class ObjectRule:
    """The conditions on one object of the event.

    ``fields`` must all hold; of each group in ``alternatives`` (one group per ``$or``)
    at least one branch must hold. ``absent_paths`` lists the field paths, relative to
    this object and outside any ``$or``, that ``exists: false`` requires to hold no
    scalar anywhere, including in other elements of an array of objects.
    """

    fields: tuple[FieldRule, ...]
    alternatives: tuple[tuple[ObjectRule, ...], ...]
    absent_paths: tuple[tuple[str, ...], ...]

    def match(self, node: Any) -> bool:
        if isinstance(node, dict):
            return self.match_object(node)
        if isinstance(node, list):
            return self.match_array(node)
        if isinstance(node, Mapping):
            return self.match_object(node)
        return self.match_object(_EMPTY)

    def match_array(self, node: list[Any]) -> bool:
        for path in self.absent_paths:
            if has_scalar(node, path):
                return False
        objects = [element for element in iter_elements(node) if isinstance(element, dict)]
        if not objects:
            return self.match_object(_EMPTY)
        return any(self.match_object(element) for element in objects)

    def match_object(self, node: Mapping[str, Any]) -> bool:
        for field in self.fields:
            value = node.get(field.name, _MISSING)
            if not field.rule.match(value):
                return False
        for group in self.alternatives:
            if not any(branch.match_object(node) for branch in group):
                return False
        return True


class _Missing:
    """The value of a field that the event does not have."""

    __slots__ = ()


_MISSING: Final = _Missing()


def iter_elements(node: list[Any]) -> Iterator[Any]:
    """Yield the elements of ``node``, descending into nested arrays without recursion."""
    stack = [iter(node)]
    while stack:
        for element in stack[-1]:
            if isinstance(element, list):
                stack.append(iter(element))
                break
            yield element
        else:
            stack.pop()


def iter_scalars(node: Any) -> Iterator[Any]:
    """Yield the scalar values (strings, numbers, booleans, null) that ``node`` holds."""
    if isinstance(node, _Missing | dict):
        return
    if isinstance(node, list):
        for element in iter_elements(node):
            if not isinstance(element, dict):
                yield element
        return
    if isinstance(node, Mapping):
        return
    yield node


def has_scalar(node: Any, path: tuple[str, ...]) -> bool:
    """Tell whether any scalar sits at ``path`` below ``node``, through any array."""
    frontier = [node]
    for name in path:
        following = []
        for item in frontier:
            candidates = iter_elements(item) if isinstance(item, list) else (item,)
            for candidate in candidates:
                if isinstance(candidate, Mapping) and name in candidate:
                    following.append(candidate[name])
        if not following:
            return False
        frontier = following
    return any(True for item in frontier for _ in iter_scalars(item))
