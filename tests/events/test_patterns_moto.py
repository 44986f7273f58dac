"""Differential test of the event-pattern matcher against moto's EventBridge matcher.

Hypothesis generates patterns covering every operator and events made of the values
those operators care about. Where the two matchers are known to differ and AWS's
documentation sides with Tocsin, the case has an explicit test below, with the page it
rests on, and a named filter keeps that class of case out of the comparison.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.events.patterns import compile_pattern

moto_events = pytest.importorskip("moto.events.models")

STRINGS = [
    "",
    "x",
    "X",
    "xy",
    "XY",
    "init",
    "Initializing",
    "a.png",
    "a.PNG",
    "dir/lib/x",
    "10.0.0.1",
    "10.0.1.5",
    "192.168.0.1",
    "2001:db8::1",
    "::1",
    "us-east-1",
    "eu-west-1",
    "a*b",
    "a\\b",
    "été",
    "ÉTÉ",
]
TOP_KEYS = ["source", "a", "b"]
NESTED_KEYS = ["a", "b", "c"]

numbers = st.integers(-3, 3) | st.integers(-6, 6).map(lambda n: n / 2)
strings = st.sampled_from(STRINGS)
# Strings and numbers are drawn more often than null and booleans.
scalars = st.one_of(strings, strings, strings, numbers, numbers, st.none(), st.booleans())
event_leaves = st.one_of(
    scalars, scalars, st.lists(scalars, min_size=1, max_size=3), st.sampled_from([[], {}])
)


def event_objects(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    values = event_leaves
    if depth > 0:
        inner = event_objects(depth - 1)
        values = st.one_of(
            event_leaves, event_leaves, inner, st.lists(inner, min_size=1, max_size=2)
        )
    return st.dictionaries(st.sampled_from(NESTED_KEYS), values, min_size=1, max_size=3)


events = st.fixed_dictionaries(
    {"source": event_leaves, "a": event_leaves, "detail": event_objects(2)},
    optional={"b": event_leaves | event_objects(1)},
)

wildcards = st.sampled_from(["*", "x*", "*y", "a*b", "*lib*", "a\\*b", "a\\\\b", "*.png", "1*"])
cidrs = st.sampled_from(["10.0.0.0/24", "10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "::/0"])
affixes = st.sampled_from(["", "x", "in", "us-", "10.", ".png", "y", "1", "X"])
nonempty_affixes = affixes.filter(bool)


@st.composite
def numeric_expressions(draw: st.DrawFn) -> list[Any]:
    low, high = sorted(draw(st.lists(numbers, min_size=2, max_size=2, unique=True)))
    shape = draw(st.sampled_from(["=", "<", "<=", ">", ">=", "range"]))
    if shape == "range":
        return [draw(st.sampled_from([">", ">="])), low, draw(st.sampled_from(["<", "<="])), high]
    return [shape, low]


anything_but_operands = st.one_of(
    st.sampled_from(STRINGS),
    numbers,
    st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3),
    st.lists(numbers, min_size=1, max_size=3),
    st.builds(lambda s: {"prefix": s}, nonempty_affixes),
    st.builds(lambda s: {"suffix": s}, nonempty_affixes),
    st.builds(lambda s: {"equals-ignore-case": s}, st.sampled_from(STRINGS)),
    st.builds(
        lambda s: {"equals-ignore-case": s},
        st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3),
    ),
    st.builds(lambda s: {"wildcard": s}, wildcards),
)

leaf_values = st.one_of(
    scalars,
    st.builds(lambda s: {"prefix": s}, affixes),
    st.builds(lambda s: {"prefix": {"equals-ignore-case": s}}, affixes),
    st.builds(lambda s: {"suffix": s}, affixes),
    st.builds(lambda s: {"suffix": {"equals-ignore-case": s}}, affixes),
    st.builds(lambda s: {"equals-ignore-case": s}, st.sampled_from(STRINGS)),
    st.builds(lambda s: {"anything-but": s}, anything_but_operands),
    st.builds(lambda s: {"numeric": s}, numeric_expressions()),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(lambda s: {"cidr": s}, cidrs),
    st.builds(lambda s: {"wildcard": s}, wildcards),
)
leaves = st.lists(leaf_values, min_size=1, max_size=4)


def pattern_objects(keys: list[str], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    values: st.SearchStrategy[Any] = leaves
    if depth > 0:
        values = leaves | pattern_objects(NESTED_KEYS, depth - 1)
    fields = st.dictionaries(st.sampled_from(keys), values, min_size=1, max_size=2)
    if depth == 0:
        return fields
    branches = st.lists(pattern_objects(keys, depth - 1), min_size=2, max_size=3)
    with_or = st.builds(lambda f, b: {**f, "$or": b}, fields, branches)
    return fields | with_or


# Small patterns match often enough to compare both outcomes; larger ones cover nesting.
patterns = st.one_of(
    pattern_objects(TOP_KEYS, 0),
    st.builds(lambda detail: {"detail": detail}, pattern_objects(NESTED_KEYS, 1)),
    st.builds(
        lambda top, detail: {**top, "detail": detail},
        pattern_objects(TOP_KEYS, 1),
        pattern_objects(NESTED_KEYS, 1),
    ),
)


@st.composite
def events_near(draw: st.DrawFn, pattern: dict[str, Any]) -> dict[str, Any]:
    """Draw an event whose fields often hold values that the pattern names."""
    event = draw(events)
    for path, values in values_by_path(pattern).items():
        if not path or draw(st.integers(0, 3)) == 0:
            continue
        candidates = [v for v in pattern_operands(values) if not isinstance(v, dict | list)]
        value = draw(st.sampled_from(candidates) if candidates else scalars)
        if draw(st.booleans()):
            value = [draw(scalars), value]
        target = event
        for name in path[:-1]:
            if not isinstance(target.get(name), dict):
                target[name] = {}
            target = target[name]
        target[path[-1]] = value
    return event


def moto_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return bool(moto_events.EventPattern.load(json.dumps(pattern)).matches_event(event))


def tocsin_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return compile_pattern(json.dumps(pattern)).matches(event)


# Classes of cases where moto differs from AWS's documented behaviour. Each has an
# explicit test below.


def walk(value: Any) -> list[Any]:
    """Return every JSON value inside ``value``, itself included."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        found.append(item)
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def values_by_path(document: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], list[Any]]:
    """Map each field path in ``document`` to the JSON values under it.

    Array indices and ``$or`` steps are left out of the path, so a pattern leaf and the
    event values it is matched against share one path.
    """
    found: dict[tuple[str, ...], list[Any]] = {}
    if isinstance(document, dict):
        for key, value in document.items():
            inner = path if key == "$or" else (*path, key)
            for sub_path, values in values_by_path(value, inner).items():
                found.setdefault(sub_path, []).extend(values)
    elif isinstance(document, list):
        for element in document:
            for sub_path, values in values_by_path(element, path).items():
                found.setdefault(sub_path, []).extend(values)
        found.setdefault(path, []).extend(v for v in document if not isinstance(v, list))
    else:
        found[path] = [document]
    return found


def is_plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def pattern_operands(values: list[Any]) -> list[Any]:
    """Return the values of a pattern leaf with the operands of its expressions."""
    return [operand for value in values for operand in walk(value)]


def bool_meets_number(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """moto compares with Python's ==, where True == 1; JSON booleans are not numbers."""
    in_pattern = values_by_path(pattern)
    for path, values in values_by_path(event).items():
        operands = pattern_operands(in_pattern.get(path, []))
        if any(isinstance(v, bool) for v in values) and any(is_plain_number(v) for v in operands):
            return True
        if any(is_plain_number(v) for v in values) and any(isinstance(v, bool) for v in operands):
            return True
    return False


def event_has_empty_container(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """moto treats an empty array or object as a value that exists; AWS finds no leaf in it."""
    return any(isinstance(v, dict | list) and not v for v in walk(event))


def cidr_meets_number(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """moto turns a number into an IPv4 address (5 is 0.0.0.5) before a CIDR test."""
    in_pattern = values_by_path(pattern)
    return any(
        any(is_plain_number(value) for value in values)
        and any(isinstance(v, dict) and "cidr" in v for v in in_pattern.get(path, []))
        for path, values in values_by_path(event).items()
    )


def array_holds_objects(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """moto does not look inside objects that sit in arrays; AWS matches each element."""
    return any(isinstance(v, list) and any(isinstance(e, dict) for e in v) for v in walk(event))


EXCLUSIONS = (bool_meets_number, event_has_empty_container, cidr_meets_number, array_holds_objects)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(pattern=patterns, data=st.data())
def test_matcher_agrees_with_moto(pattern: dict[str, Any], data: st.DataObject) -> None:
    event = data.draw(events_near(pattern))
    if any(excluded(pattern, event) for excluded in EXCLUSIONS):
        return
    expected = moto_matches(pattern, event)
    assert tocsin_matches(pattern, event) is expected, (pattern, event)


@settings(max_examples=100, deadline=None)
@given(pattern=patterns, event=events)
def test_generated_cases_match_without_error(
    pattern: dict[str, Any], event: dict[str, Any]
) -> None:
    # Excluded cases included: every generated pattern is valid and every event is JSON.
    assert isinstance(tocsin_matches(pattern, event), bool)


@pytest.mark.parametrize(
    ("excluded", "pattern", "event"),
    [
        (bool_meets_number, {"a": [1]}, {"a": True}),
        (bool_meets_number, {"a": [False]}, {"a": 0}),
        (event_has_empty_container, {"a": ["x"]}, {"b": []}),
        (cidr_meets_number, {"a": [{"cidr": "::/0"}]}, {"a": [5]}),
        (array_holds_objects, {"a": ["x"]}, {"b": [{"c": 1}]}),
    ],
)
def test_exclusion_filters_are_narrow(
    excluded: Any, pattern: dict[str, Any], event: dict[str, Any]
) -> None:
    assert excluded(pattern, event)
    assert not excluded(
        {"a": ["x"], "z": [{"cidr": "::/0"}]}, {"a": "x", "b": [1, "y"], "z": "::1"}
    )


# Explicit cases for each exclusion, decided by AWS's documentation.


def test_boolean_is_not_a_number() -> None:
    # AWS "Content filtering in Amazon EventBridge event patterns", Numeric matching:
    # "Numeric matching works with values that are JSON numbers"; true is a JSON literal.
    assert not tocsin_matches({"a": [{"numeric": ["=", 1]}]}, {"a": True})
    assert moto_matches({"a": [{"numeric": ["=", 1]}]}, {"a": True})
    assert not tocsin_matches({"a": [1]}, {"a": True})
    assert tocsin_matches({"a": [{"anything-but": 1}]}, {"a": True})


def test_empty_array_and_object_hold_no_leaf() -> None:
    # AWS "Content filtering", Exists matching: "Exists matching only works on leaf
    # nodes. It does not work on intermediate nodes." An empty array or object has no
    # leaf value, so the field does not exist for matching.
    assert not tocsin_matches({"a": [{"exists": True}]}, {"a": []})
    assert moto_matches({"a": [{"exists": True}]}, {"a": []})
    assert tocsin_matches({"detail": {"c": [{"exists": False}]}}, {"detail": {"c": {}}})
    assert not moto_matches({"detail": {"c": [{"exists": False}]}}, {"detail": {"c": {}}})


def test_array_of_objects_is_searched() -> None:
    # The AWS guide ("Arrays in Amazon EventBridge event patterns") covers arrays of
    # values only. The README of aws/event-ruler, AWS's open-source event-pattern
    # matcher ("JSON Array Matching"), treats objects inside an array as values of the
    # array's field, and docs/compatibility.md records that choice.
    event = {"detail": {"items": [{"name": "a"}, {"name": "b"}]}}
    assert tocsin_matches({"detail": {"items": {"name": ["b"]}}}, event)
    assert not moto_matches({"detail": {"items": {"name": ["b"]}}}, event)


def test_cidr_needs_an_address_string() -> None:
    # AWS "Content filtering", IP address matching compares IPv4 and IPv6 addresses,
    # which events carry as strings; a number is not an IP address.
    assert not tocsin_matches({"a": [{"cidr": "0.0.0.0/24"}]}, {"a": 5})
    assert moto_matches({"a": [{"cidr": "0.0.0.0/24"}]}, {"a": 5})
