"""Validation of event patterns: each rejected pattern names its reason and JSON path."""

from __future__ import annotations

import json

import pytest

from tocsin.events.patterns import MAX_PATTERN_DEPTH, InvalidEventPattern, compile_pattern

INVALID = [
    # (pattern text, reason fragment, JSON path)
    ("", "invalid JSON", "$"),
    ('{"a": ["x"]', "invalid JSON", "$"),
    ('{"a": [NaN]}', "invalid JSON", "$"),
    ("[]", "Filter is not an object", "$"),
    ('"source"', "Filter is not an object", "$"),
    ("{}", "Empty objects are not allowed", "$"),
    ('{"detail": {}}', "Empty objects are not allowed", "$.detail"),
    ('{"source": "aws.ec2"}', '"source" must be an object or an array', "$.source"),
    ('{"detail": {"n": 5}}', '"n" must be an object or an array', "$.detail.n"),
    ('{"detail": {"state": []}}', "Empty arrays are not allowed", "$.detail.state"),
    ('{"a": [["x"]]}', "Match value must be String, number", "$.a[0]"),
    ('{"a": ["x", {}]}', "Match expression name not found", "$.a[1]"),
    ('{"a": [{"prefix": "x", "suffix": "y"}]}', "Only one key allowed", "$.a[0]"),
    ('{"a": [{"prefixx": "x"}]}', "Unrecognized match type prefixx", "$.a[0].prefixx"),
    ('{"a": [{"prefix": 5}]}', "prefix match pattern must be a string", "$.a[0].prefix"),
    (
        '{"a": [{"prefix": {"equals-ignore-case": 5}}]}',
        "equals-ignore-case match pattern must be a string",
        "$.a[0].prefix",
    ),
    (
        '{"a": [{"suffix": {"ignore-case": "x"}}]}',
        "suffix match pattern must be a string",
        "$.a[0].suffix",
    ),
    ('{"a": [{"equals-ignore-case": ["x"]}]}', "must be a string", "$.a[0].equals-ignore-case"),
    ('{"a": [{"exists": "true"}]}', "either true or false", "$.a[0].exists"),
    ('{"a": [{"cidr": "10.0.0.0"}]}', "one '/' required", "$.a[0].cidr"),
    ('{"a": [{"cidr": "10.0.0.300/24"}]}', "Nonstandard IP address", "$.a[0].cidr"),
    ('{"a": [{"cidr": "2001:db8::/129"}]}', "Nonstandard IP address", "$.a[0].cidr"),
    ('{"a": [{"cidr": 10}]}', "cidr match pattern must be a string", "$.a[0].cidr"),
    (
        '{"a": [{"wildcard": "a**b"}]}',
        "Consecutive wildcard characters at pos 1",
        "$.a[0].wildcard",
    ),
    ('{"a": [{"wildcard": "a\\\\b"}]}', "Invalid escape character at pos 1", "$.a[0].wildcard"),
    ('{"a": [{"wildcard": "ab\\\\"}]}', "Invalid escape character at pos 2", "$.a[0].wildcard"),
    ('{"a": [{"wildcard": 1}]}', "wildcard match pattern must be a string", "$.a[0].wildcard"),
    ('{"a": [{"numeric": 5}]}', "Value of numeric must be an array", "$.a[0].numeric"),
    ('{"a": [{"numeric": []}]}', "must not be an empty array", "$.a[0].numeric"),
    ('{"a": [{"numeric": [5]}]}', "Invalid member in numeric match: 5", "$.a[0].numeric[0]"),
    ('{"a": [{"numeric": ["!=", 5]}]}', "Unrecognized numeric range operator", "$.a[0].numeric[0]"),
    ('{"a": [{"numeric": [">"]}]}', "Value of > must be numeric", "$.a[0].numeric[1]"),
    ('{"a": [{"numeric": [">", "5"]}]}', "Value of > must be numeric", "$.a[0].numeric[1]"),
    ('{"a": [{"numeric": ["=", true]}]}', "Value of = must be numeric", "$.a[0].numeric[1]"),
    ('{"a": [{"numeric": ["=", 1, "<", 2]}]}', "Too many elements", "$.a[0].numeric[2]"),
    ('{"a": [{"numeric": ["<", 1, ">", 0]}]}', "Too many elements", "$.a[0].numeric[2]"),
    ('{"a": [{"numeric": [">", 0, ">", 5]}]}', "Bad numeric range operator", "$.a[0].numeric[2]"),
    ('{"a": [{"numeric": [">", 0, "<"]}]}', "Value of < must be numeric", "$.a[0].numeric[3]"),
    ('{"a": [{"numeric": [">", 0, "<", 5, 6]}]}', "Too many terms", "$.a[0].numeric[4]"),
    ('{"a": [{"numeric": [">", 5, "<", 5]}]}', "Bottom must be less than top", "$.a[0].numeric"),
    ('{"a": [{"numeric": [">", 6, "<=", 5]}]}', "Bottom must be less than top", "$.a[0].numeric"),
    ('{"a": [{"numeric": ["<", 5.1e9]}]}', "between -5.0E+09 and 5.0E+09", "$.a[0].numeric[1]"),
    ('{"a": [{"anything-but": null}]}', "Value of anything-but must be", "$.a[0].anything-but"),
    ('{"a": [{"anything-but": []}]}', "Empty arrays are not allowed", "$.a[0].anything-but"),
    (
        '{"a": [{"anything-but": ["x", 1]}]}',
        "mixed type is not supported",
        "$.a[0].anything-but",
    ),
    (
        '{"a": [{"anything-but": ["x", null]}]}',
        "null, boolean, object and array values are not supported",
        "$.a[0].anything-but[1]",
    ),
    ('{"a": [{"anything-but": [6e9]}]}', "must be between", "$.a[0].anything-but[0]"),
    (
        '{"a": [{"anything-but": {}}]}',
        "Anything-But expression name not found",
        "$.a[0].anything-but",
    ),
    (
        '{"a": [{"anything-but": {"numeric": [">", 1]}}]}',
        "Unsupported anything-but pattern: numeric",
        "$.a[0].anything-but.numeric",
    ),
    (
        '{"a": [{"anything-but": {"prefix": ""}}]}',
        "Null prefix/suffix not allowed",
        "$.a[0].anything-but.prefix",
    ),
    (
        '{"a": [{"anything-but": {"suffix": ["x"]}}]}',
        "prefix/suffix match pattern must be a string",
        "$.a[0].anything-but.suffix",
    ),
    (
        '{"a": [{"anything-but": {"prefix": "x", "suffix": "y"}}]}',
        "Only one key allowed",
        "$.a[0].anything-but",
    ),
    (
        '{"a": [{"anything-but": {"equals-ignore-case": [1]}}]}',
        "only strings are supported",
        "$.a[0].anything-but.equals-ignore-case[0]",
    ),
    (
        '{"a": [{"anything-but": {"wildcard": "x**"}}]}',
        "Consecutive wildcard characters",
        "$.a[0].anything-but.wildcard",
    ),
    ('{"$or": {"a": ["x"]}}', "Value of $or must be an array of objects", "$.$or"),
    ('{"$or": [{"a": ["x"]}]}', "at least 2 objects", "$.$or"),
    ('{"$or": [{"a": ["x"]}, "b"]}', "Only JSON object is allowed", "$.$or[1]"),
    ('{"$or": [{"a": ["x"]}, {}]}', "Empty objects are not allowed", "$.$or[1]"),
    (
        '{"detail": {"$or": [{"a": ["x"]}, {"prefix": ["y"]}]}}',
        "prefix is a reserved field name",
        "$.detail.$or[1].prefix",
    ),
    (
        '{"$or": [{"a": ["x"]}, {"b": {"numeric": [1]}}]}',
        "numeric is a reserved field name",
        "$.$or[1].b.numeric",
    ),
    ('{"a.b": {"c d": 1}}', '"c d" must be an object or an array', '$["a.b"]["c d"]'),
]


@pytest.mark.parametrize(("text", "reason", "path"), INVALID)
def test_invalid_pattern_names_reason_and_path(text: str, reason: str, path: str) -> None:
    with pytest.raises(InvalidEventPattern) as caught:
        compile_pattern(text)
    assert reason in caught.value.reason
    assert caught.value.path == path
    assert str(caught.value).startswith("Event pattern is not valid. Reason: ")
    assert str(caught.value).endswith(f" at {path}")


def test_pattern_length_limit() -> None:
    padding = "x" * (4096 - len('{"a": [""]}'))
    text = '{"a": ["' + padding + '"]}'
    assert len(text) == 4096
    compile_pattern(text)
    with pytest.raises(InvalidEventPattern, match="4097 characters long; the maximum is 4096"):
        compile_pattern('{"a": ["' + padding + 'x"]}')


def test_pattern_depth_limit() -> None:
    def nested(depth: int) -> str:
        return '{"a": ' * (depth - 1) + '{"a": ["x"]}' + "}" * (depth - 1)

    compile_pattern(nested(MAX_PATTERN_DEPTH))
    with pytest.raises(InvalidEventPattern, match="nested deeper than") as caught:
        compile_pattern(nested(MAX_PATTERN_DEPTH + 1))
    assert caught.value.path == "$" + ".a" * MAX_PATTERN_DEPTH


def test_operator_names_are_fields_outside_or() -> None:
    pattern = compile_pattern('{"detail": {"prefix": ["x"], "numeric": {"exists": ["y"]}}}')
    assert pattern.matches({"detail": {"prefix": "x", "numeric": {"exists": "y"}}})


def test_valid_edge_forms_compile() -> None:
    accepted = [
        {"a": [{"prefix": ""}]},
        {"a": [{"wildcard": ""}]},
        {"a": [{"wildcard": "*"}]},
        {"a": [{"wildcard": "\\\\\\*"}]},
        {"a": [{"numeric": [">=", -5e9, "<=", 5e9]}]},
        {"a": [{"numeric": ["=", 0.000001]}]},
        {"a": [{"anything-but": {"equals-ignore-case": "x"}}]},
        {"a": [{"anything-but": {"wildcard": ["*.png", "a*"]}}]},
        {"a": [{"cidr": "::/0"}]},
        {"a": [123456789012345678901234567890, None, True, False]},
        {"$or": [{"a": ["x"]}, {"b": ["y"]}], "c": ["z"]},
    ]
    for pattern in accepted:
        compile_pattern(json.dumps(pattern))
    # A number too large for a float is still valid JSON.
    compile_pattern('{"a": [1e400]}')


def test_compiled_pattern_is_immutable() -> None:
    pattern = compile_pattern('{"a": ["x"]}')
    with pytest.raises(AttributeError):
        pattern.text = "{}"  # type: ignore[misc]
    leaf = pattern.root.fields[0]
    with pytest.raises(AttributeError):
        leaf.name = "b"  # type: ignore[misc]
