"""Matching semantics of each event-pattern operator, with their edge cases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tocsin.events.patterns import InvalidEvent, compile_pattern, matches


def check(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return compile_pattern(json.dumps(pattern)).matches(event)


# Exact values, null and missing fields


def test_exact_string_is_case_sensitive() -> None:
    assert check({"a": ["x"]}, {"a": "x"})
    assert not check({"a": ["x"]}, {"a": "X"})


def test_exact_number_compares_numerically() -> None:
    assert check({"a": [300]}, {"a": 3.0e2})
    assert check({"a": [1.5]}, {"a": 1.5})
    assert not check({"a": [300]}, {"a": 300.5})


def test_number_never_matches_string_form() -> None:
    assert not check({"a": [5]}, {"a": "5"})
    assert not check({"a": ["5"]}, {"a": 5})


def test_booleans_are_not_numbers() -> None:
    assert check({"a": [True]}, {"a": True})
    assert not check({"a": [1]}, {"a": True})
    assert not check({"a": [True]}, {"a": 1})
    assert not check({"a": [False]}, {"a": 0})
    assert not check({"a": [{"numeric": ["=", 1]}]}, {"a": True})


def test_large_integer_matches_exactly() -> None:
    # Account ids are numbers past the numeric range; exact matching still works.
    assert check({"account": [123456789012]}, {"account": 123456789012})
    assert not check({"account": [123456789012]}, {"account": 123456789013})


def test_null_differs_from_missing() -> None:
    assert check({"a": [None]}, {"a": None})
    assert not check({"a": [None]}, {})
    assert not check({"a": [None]}, {"a": ""})
    assert check({"a": [{"exists": True}]}, {"a": None})
    assert not check({"a": [{"exists": False}]}, {"a": None})


def test_empty_string_matches_only_empty_string() -> None:
    assert check({"a": [""]}, {"a": ""})
    assert not check({"a": [""]}, {"a": None})
    assert not check({"a": [""]}, {})


def test_missing_field_never_matches_value() -> None:
    assert not check({"a": ["x"]}, {"b": "x"})
    assert not check({"a": [{"anything-but": "x"}]}, {})
    assert not check({"a": {"b": ["x"]}}, {})


def test_fields_are_combined_with_and() -> None:
    pattern = {"source": ["s"], "detail": {"k": ["v"]}}
    assert check(pattern, {"source": "s", "detail": {"k": "v"}})
    assert not check(pattern, {"source": "s", "detail": {"k": "w"}})
    assert not check(pattern, {"source": "t", "detail": {"k": "v"}})


def test_nested_pattern_against_scalar_fails() -> None:
    assert not check({"detail": {"k": ["v"]}}, {"detail": "v"})
    assert not check({"detail": ["v"]}, {"detail": {"k": "v"}})


# Arrays in the event


def test_array_value_matches_when_any_element_matches() -> None:
    assert check({"a": ["x"]}, {"a": ["y", "x"]})
    assert not check({"a": ["x"]}, {"a": ["y", "z"]})
    assert check({"a": ["x"]}, {"a": [["y"], ["x"]]})


def test_empty_array_holds_no_value() -> None:
    assert not check({"a": [{"exists": True}]}, {"a": []})
    assert check({"a": [{"exists": False}]}, {"a": []})
    assert not check({"a": [{"anything-but": "x"}]}, {"a": []})


def test_array_of_objects_matches_fields_in_one_element() -> None:
    # The README of aws/event-ruler, AWS's open-source event-pattern matcher ("JSON
    # Array Matching"), matches objects inside arrays as values of the parent field and
    # never combines fields of different elements. The AWS guide covers only arrays of
    # values.
    event = {"employees": [{"first": "John", "last": "Doe"}, {"first": "Anna", "last": "Smith"}]}
    assert check({"employees": {"first": ["Anna"]}}, event)
    assert check({"employees": {"first": ["Anna"], "last": ["Smith"]}}, event)
    assert not check({"employees": {"first": ["Anna"], "last": ["Doe"]}}, event)


def test_or_inside_array_element_stays_in_element() -> None:
    event = {"items": [{"kind": "a", "size": 1}, {"kind": "b", "size": 9}]}
    pattern = {"items": {"kind": ["a"], "$or": [{"size": [9]}, {"size": [10]}]}}
    assert not check(pattern, event)
    pattern = {"items": {"kind": ["b"], "$or": [{"size": [9]}, {"size": [10]}]}}
    assert check(pattern, event)


def test_exists_false_looks_across_array_elements() -> None:
    event = {"items": [{"kind": "a", "tag": "x"}, {"kind": "b"}]}
    assert not check({"items": {"tag": [{"exists": False}]}}, event)
    assert check({"items": {"size": [{"exists": False}], "kind": ["b"]}}, event)


# Exists


def test_exists_only_on_leaves() -> None:
    # AWS "Content filtering": exists matching only works on leaf nodes, so an object
    # field counts as absent.
    assert not check({"detail": {"c": [{"exists": True}]}}, {"detail": {"c": {"c1": 100}}})
    assert check({"detail": {"c": [{"exists": False}]}}, {"detail": {"c": {"c1": 100}}})
    assert not check({"detail": {"c": [{"exists": True}]}}, {"detail": {"c": {}}})


def test_exists_on_arrays() -> None:
    assert check({"a": [{"exists": True}]}, {"a": [1]})
    assert not check({"a": [{"exists": False}]}, {"a": [1]})
    assert not check({"a": [{"exists": True}]}, {"a": [{"b": 1}]})


def test_exists_false_under_missing_parent() -> None:
    assert check({"detail": {"c": [{"exists": False}]}}, {})
    assert check({"detail": {"c": [{"exists": False}]}}, {"detail": "text"})


def test_exists_combined_with_value_is_or() -> None:
    pattern = {"a": [{"exists": False}, "x"]}
    assert check(pattern, {})
    assert check(pattern, {"a": "x"})
    assert not check(pattern, {"a": "y"})


def test_exists_true_and_false_together() -> None:
    pattern = {"a": [{"exists": True}, {"exists": False}]}
    assert check(pattern, {})
    assert check(pattern, {"a": 1})


def test_value_conditions_fail_on_objects() -> None:
    event = {"a": {"b": "x"}}
    assert not check({"a": [{"anything-but": "y"}]}, event)
    assert not check({"a": [{"prefix": ""}]}, event)
    assert not check({"a": [{"wildcard": "*"}]}, event)


# Prefix, suffix, equals-ignore-case


def test_prefix_only_on_strings() -> None:
    assert check({"a": [{"prefix": "ab"}]}, {"a": "abc"})
    assert not check({"a": [{"prefix": "ab"}]}, {"a": "xabc"})
    assert not check({"a": [{"prefix": "1"}]}, {"a": 12})
    assert check({"a": [{"prefix": ""}]}, {"a": "anything"})


def test_prefix_ignore_case() -> None:
    pattern = {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}
    assert check(pattern, {"service": "eventbridge"})
    assert check(pattern, {"service": "EVENTBRIDGE"})
    assert not check(pattern, {"service": "xeventb"})


def test_suffix_and_suffix_ignore_case() -> None:
    assert check({"f": [{"suffix": ".png"}]}, {"f": "a.png"})
    assert not check({"f": [{"suffix": ".png"}]}, {"f": "a.PNG"})
    assert check({"f": [{"suffix": {"equals-ignore-case": ".png"}}]}, {"f": "a.PNG"})
    assert not check({"f": [{"suffix": {"equals-ignore-case": ".png"}}]}, {"f": "a.PNG.x"})


def test_equals_ignore_case() -> None:
    assert check({"n": [{"equals-ignore-case": "alice"}]}, {"n": "ALICE"})
    assert not check({"n": [{"equals-ignore-case": "alice"}]}, {"n": "alicia"})
    assert not check({"n": [{"equals-ignore-case": "1"}]}, {"n": 1})


def test_equals_ignore_case_non_ascii() -> None:
    assert check({"n": [{"equals-ignore-case": "ÉTÉ"}]}, {"n": "été"})
    assert check({"n": [{"equals-ignore-case": "σοφία"}]}, {"n": "ΣΟΦΊΑ"})
    # Case is compared one pattern character at a time: "ß" upper-cases to "SS".
    assert check({"n": [{"equals-ignore-case": "straße"}]}, {"n": "STRASSE"})
    assert not check({"n": [{"equals-ignore-case": "strasse"}]}, {"n": "straße"})
    # The Kelvin sign is not a case variant of the letter k.
    assert not check({"n": [{"equals-ignore-case": "k"}]}, {"n": "\u212a"})


def test_ignore_case_pattern_characters_are_literal() -> None:
    assert check({"n": [{"equals-ignore-case": "a.b*"}]}, {"n": "A.B*"})
    assert not check({"n": [{"equals-ignore-case": "a.b*"}]}, {"n": "AxB"})


# Anything-but


def test_anything_but_values() -> None:
    assert check({"s": [{"anything-but": ["stopped", "overloaded"]}]}, {"s": "running"})
    assert not check({"s": [{"anything-but": ["stopped", "overloaded"]}]}, {"s": "stopped"})
    assert not check({"x": [{"anything-but": [100, 200]}]}, {"x": 100.0})


def test_anything_but_other_types_match() -> None:
    assert check({"s": [{"anything-but": "x"}]}, {"s": 5})
    assert check({"s": [{"anything-but": 5}]}, {"s": "5"})
    assert check({"s": [{"anything-but": "x"}]}, {"s": None})


def test_anything_but_on_array_any_element() -> None:
    assert check({"s": [{"anything-but": "x"}]}, {"s": ["x", "y"]})
    assert not check({"s": [{"anything-but": "x"}]}, {"s": ["x"]})


def test_anything_but_prefix_and_suffix() -> None:
    assert check({"r": [{"anything-but": {"prefix": "us-"}}]}, {"r": "eu-west-1"})
    assert not check({"r": [{"anything-but": {"prefix": "us-"}}]}, {"r": "us-east-1"})
    assert check({"f": [{"anything-but": {"suffix": ".png"}}]}, {"f": "a.jpg"})
    assert not check({"f": [{"anything-but": {"suffix": ".png"}}]}, {"f": "a.png"})


def test_anything_but_ignore_case() -> None:
    pattern = {"s": [{"anything-but": {"equals-ignore-case": ["initializing", "stopped"]}}]}
    assert not check(pattern, {"s": "INITIALIZING"})
    assert not check(pattern, {"s": "Stopped"})
    assert check(pattern, {"s": "running"})
    assert check({"s": [{"anything-but": {"equals-ignore-case": "x"}}]}, {"s": "y"})


def test_anything_but_wildcard() -> None:
    pattern = {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}
    assert check(pattern, {"FilePath": "/usr/bin/tool"})
    assert not check(pattern, {"FilePath": "/usr/lib/tool"})
    listed = {"p": [{"anything-but": {"wildcard": ["*.png", "*.jpg"]}}]}
    assert not check(listed, {"p": "a.jpg"})
    assert check(listed, {"p": "a.gif"})


# Numeric


@pytest.mark.parametrize(
    ("expression", "value", "expected"),
    [
        (["=", 5], 5, True),
        (["=", 5], 5.0, True),
        (["=", 3.018e2], 301.8, True),
        (["<", 10], 9.999999, True),
        (["<", 10], 10, False),
        (["<=", 10], 10, True),
        ([">", 0], 0, False),
        ([">=", 0], 0, True),
        ([">", 0, "<=", 5], 5, True),
        ([">", 0, "<=", 5], 0.000001, True),
        ([">", 0, "<", 5], 5, False),
        ([">=", -5, "<", 5], -5, True),
        ([">=", -5, "<", 5], -5.000001, False),
    ],
)
def test_numeric_ranges(expression: list[Any], value: float, expected: bool) -> None:
    assert check({"n": [{"numeric": expression}]}, {"n": value}) is expected


def test_numeric_ignores_strings() -> None:
    assert not check({"n": [{"numeric": [">", 0]}]}, {"n": "5"})
    assert not check({"n": [{"numeric": [">", 0]}]}, {"n": None})


def test_numeric_precision_is_six_decimals() -> None:
    # AWS "Content filtering": numeric matching has 15 digits of precision, six digits
    # to the right of the decimal point, so differences below 1e-6 are not seen.
    assert check({"n": [{"numeric": ["=", 1.0]}]}, {"n": 1.0000001})
    assert not check({"n": [{"numeric": [">", 1.0]}]}, {"n": 1.0000001})
    assert check({"n": [{"numeric": [">", 1.0]}]}, {"n": 1.000001})


def test_numeric_outside_range_never_matches() -> None:
    assert check({"n": [{"numeric": ["<=", 5e9]}]}, {"n": 5e9})
    assert not check({"n": [{"numeric": [">", 0]}]}, {"n": 5.0e9 + 1})
    assert not check({"n": [{"numeric": ["<", 0]}]}, {"n": -6e9})


def test_numeric_on_array() -> None:
    assert check({"n": [{"numeric": [">", 10]}]}, {"n": [1, 20]})
    assert not check({"n": [{"numeric": [">", 10]}]}, {"n": [1, 2]})


# CIDR


def test_cidr_ipv4() -> None:
    pattern = {"ip": [{"cidr": "10.0.0.0/24"}]}
    assert check(pattern, {"ip": "10.0.0.0"})
    assert check(pattern, {"ip": "10.0.0.255"})
    assert not check(pattern, {"ip": "10.0.1.0"})
    assert not check(pattern, {"ip": "not an address"})
    assert not check(pattern, {"ip": 167772160})


def test_cidr_ipv6() -> None:
    pattern = {"ip": [{"cidr": "2001:db8::/32"}]}
    assert check(pattern, {"ip": "2001:db8::1"})
    assert check(pattern, {"ip": "2001:0DB8:ffff::"})
    assert not check(pattern, {"ip": "2001:db9::1"})
    assert not check(pattern, {"ip": "10.0.0.1"})


def test_cidr_host_bits_are_masked() -> None:
    assert check({"ip": [{"cidr": "10.0.0.7/24"}]}, {"ip": "10.0.0.200"})


# Wildcard


def test_wildcard_matches_any_run() -> None:
    pattern = {"s": [{"wildcard": "Simple*Service"}]}
    assert check(pattern, {"s": "SimpleService"})
    assert check(pattern, {"s": "Simple Notification Service"})
    assert not check(pattern, {"s": "Simple Notification Service!"})
    assert not check(pattern, {"s": 5})


def test_wildcard_several_stars() -> None:
    pattern = {"p": [{"wildcard": "dir/*/*.png"}]}
    assert check(pattern, {"p": "dir/a/b.png"})
    assert check(pattern, {"p": "dir//.png"})
    assert not check(pattern, {"p": "dir/a.png"})
    assert check({"p": [{"wildcard": "*a*a*"}]}, {"p": "aa"})
    assert not check({"p": [{"wildcard": "*a*a*"}]}, {"p": "a"})
    assert check({"p": [{"wildcard": "*"}]}, {"p": ""})


def test_wildcard_escapes() -> None:
    assert check({"p": [{"wildcard": r"a\*b"}]}, {"p": "a*b"})
    assert not check({"p": [{"wildcard": r"a\*b"}]}, {"p": "axb"})
    assert check({"p": [{"wildcard": "a\\\\*"}]}, {"p": "a\\tail"})
    assert not check({"p": [{"wildcard": "a\\\\*"}]}, {"p": "atail"})


def test_wildcard_is_not_a_regular_expression() -> None:
    assert not check({"p": [{"wildcard": "a.c"}]}, {"p": "abc"})
    assert check({"p": [{"wildcard": "a.c*"}]}, {"p": "a.c\nline"})


# $or


def test_or_at_top_level() -> None:
    pattern = {
        "source": ["aws.cloudwatch"],
        "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
    }
    assert check(pattern, {"source": "aws.cloudwatch", "namespace": "AWS/EC2"})
    assert not check(pattern, {"source": "aws.ec2", "namespace": "AWS/EC2"})
    assert not check(pattern, {"source": "aws.cloudwatch", "namespace": "AWS/ES"})


def test_nested_or() -> None:
    pattern = {
        "$or": [
            {"metricName": ["CPU"]},
            {"metricType": ["T"], "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
        ]
    }
    assert check(pattern, {"metricName": "CPU"})
    assert check(pattern, {"metricType": "T", "spaceId": 1000})
    assert not check(pattern, {"metricType": "T", "spaceId": 1})
    assert not check(pattern, {"spaceId": 1000})


def test_parallel_or_groups() -> None:
    pattern = {
        "$or": [{"a": [1]}, {"b": [1]}],
        "detail": {"$or": [{"c": [1]}, {"d": [1]}]},
    }
    assert check(pattern, {"b": 1, "detail": {"c": 1}})
    assert not check(pattern, {"b": 1, "detail": {"e": 1}})


# TestEventPattern


EVENT = {
    "version": "0",
    "id": "1",
    "detail-type": "T",
    "source": "s",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"k": "v"},
}


def test_matches_reads_json_texts() -> None:
    assert matches('{"detail": {"k": ["v"]}}', json.dumps(EVENT))
    assert not matches('{"detail": {"k": ["w"]}}', json.dumps(EVENT))


@pytest.mark.parametrize("field", ["id", "account", "source", "time", "region", "resources"])
def test_matches_requires_event_fields(field: str) -> None:
    event = dict(EVENT)
    del event[field]
    with pytest.raises(InvalidEvent, match=f'"{field}"'):
        matches('{"source": ["s"]}', json.dumps(event))


@pytest.mark.parametrize("text", ["", "{", "[]", '"x"', '{"id": NaN}'])
def test_matches_rejects_bad_event_json(text: str) -> None:
    with pytest.raises(InvalidEvent, match="Parameter Event is not valid"):
        matches('{"source": ["s"]}', text)


def test_matches_rejects_resources_not_array() -> None:
    with pytest.raises(InvalidEvent, match="resources"):
        matches('{"source": ["s"]}', json.dumps({**EVENT, "resources": "arn"}))
