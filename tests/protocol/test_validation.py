"""Server-side input validation against botocore models.

The tables use a small model written here, so that every constraint kind is
tested in isolation. The property tests walk every operation of every served
service: they generate valid input from the model, check that it passes,
then break one constraint and check the error.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.model import OperationModel, ServiceModel, Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.protocol.errors import ServiceError
from tocsin.protocol.services import SERVICE_INFO, load_spec
from tocsin.protocol.validation import (
    MAX_DESCRIBED,
    QUOTE_LIMIT,
    compile_java_pattern,
    find_violations,
    translate_java_pattern,
    validate,
)

MODEL: dict[str, Any] = {
    "metadata": {
        "apiVersion": "2024-01-01",
        "endpointPrefix": "test",
        "jsonVersion": "1.1",
        "protocol": "json",
        "serviceId": "Test",
        "signatureVersion": "v4",
        "targetPrefix": "Test",
    },
    "operations": {
        "Op": {
            "name": "Op",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "In"},
        }
    },
    "shapes": {
        "In": {
            "type": "structure",
            "required": ["title"],
            "members": {
                "title": {"shape": "Title"},
                "code": {"shape": "Code"},
                "color": {"shape": "Color"},
                "count": {"shape": "Count"},
                "plainInt": {"shape": "PlainInt"},
                "plainLong": {"shape": "PlainLong"},
                "ratio": {"shape": "Ratio"},
                "single": {"shape": "Single"},
                "flag": {"shape": "Flag"},
                "when": {"shape": "When"},
                "data": {"shape": "Data"},
                "titles": {"shape": "Titles"},
                "tags": {"shape": "Tags"},
                "nested": {"shape": "Nested"},
                "choice": {"shape": "Choice"},
                "secret": {"shape": "Secret"},
                "label": {"shape": "Label"},
                "roleArn": {"shape": "RoleArn"},
                "word": {"shape": "Word"},
                "line": {"shape": "Line"},
                "tree": {"shape": "Tree"},
                "RoleSessionName": {"shape": "Title"},
            },
        },
        "Title": {"type": "string", "min": 1, "max": 10},
        "Code": {"type": "string", "pattern": "^[a-z]+$"},
        "Color": {"type": "string", "enum": ["RED", "GREEN"]},
        "Count": {"type": "integer", "min": 1, "max": 5},
        "PlainInt": {"type": "integer"},
        "PlainLong": {"type": "long"},
        "Ratio": {"type": "double", "min": 0, "max": 1},
        "Single": {"type": "float"},
        "Flag": {"type": "boolean"},
        "When": {"type": "timestamp"},
        "Data": {"type": "blob", "min": 1, "max": 4},
        "Titles": {"type": "list", "member": {"shape": "Title"}, "min": 1, "max": 2},
        "Tags": {
            "type": "map",
            "key": {"shape": "TagKey"},
            "value": {"shape": "Title"},
            "max": 2,
        },
        "TagKey": {"type": "string", "min": 1, "max": 3, "pattern": "^[a-z]+$"},
        "Nested": {
            "type": "structure",
            "required": ["title"],
            "members": {"title": {"shape": "Title"}, "secret": {"shape": "Secret"}},
        },
        "Choice": {
            "type": "structure",
            "union": True,
            "members": {
                "left": {"shape": "Title"},
                "right": {"shape": "Count"},
                "hidden": {"shape": "Secret"},
            },
        },
        "Secret": {"type": "string", "max": 3, "sensitive": True},
        "Label": {"type": "string", "pattern": "^[\\p{L}\\p{Z}\\p{N}_.-]*$"},
        "RoleArn": {"type": "string", "pattern": "^role\\/[\\w-\\/.@+=,]{1,20}$"},
        "Word": {"type": "string", "pattern": "\\w+"},
        "Line": {"type": "string", "pattern": "a.b"},
        "Tree": {
            "type": "structure",
            "members": {"name": {"shape": "Title"}, "children": {"shape": "Trees"}},
        },
        "Trees": {"type": "list", "member": {"shape": "Tree"}},
    },
}

TEST_MODEL = ServiceModel(MODEL, service_name="test")
INPUT = TEST_MODEL.operation_model("Op").input_shape
VALID = {"title": "ok"}


def errors_for(**members: Any) -> list[str]:
    """Return the violation descriptions for VALID updated with ``members``."""
    params = {**VALID, **members}
    return [v.describe() for v in find_violations(INPUT, params)]


def single_error(**members: Any) -> str:
    errors = errors_for(**members)
    assert len(errors) == 1, errors
    return errors[0]


# --- tables ---------------------------------------------------------------

LENGTH_CASES = [
    ({"title": ""}, "Value '' at 'title' failed to satisfy constraint: "
     "Member must have length greater than or equal to 1"),
    ({"title": "x" * 11}, "Value 'xxxxxxxxxxx' at 'title' failed to satisfy constraint: "
     "Member must have length less than or equal to 10"),
    ({"title": "é" * 10}, None),
    ({"data": b""}, "at 'data' failed to satisfy constraint: "
     "Member must have length greater than or equal to 1"),
    ({"data": "éé".encode()}, None),
    ({"data": "ééé".encode()}, "at 'data' failed to satisfy constraint: "
     "Member must have length less than or equal to 4"),
    ({"titles": []}, "Value '[]' at 'titles' failed to satisfy constraint: "
     "Member must have length greater than or equal to 1"),
    ({"titles": ["a", "b", "c"]}, "Value '[a, b, c]' at 'titles' failed to satisfy constraint: "
     "Member must have length less than or equal to 2"),
    ({"tags": {"a": "1", "b": "2", "c": "3"}}, "Value '{a=1, b=2, c=3}' at 'tags' failed to "
     "satisfy constraint: Member must have length less than or equal to 2"),
]  # fmt: skip


@pytest.mark.parametrize(("members", "expected"), LENGTH_CASES)
def test_length_limits(members: dict[str, Any], expected: str | None) -> None:
    errors = errors_for(**members)
    if expected is None:
        assert errors == []
    else:
        assert len(errors) == 1, errors
        assert expected in errors[0]


RANGE_CASES = [
    ({"count": 0}, "Value '0' at 'count' failed to satisfy constraint: "
     "Member must have value greater than or equal to 1"),
    ({"count": 6}, "Value '6' at 'count' failed to satisfy constraint: "
     "Member must have value less than or equal to 5"),
    ({"count": 5}, None),
    ({"plainInt": 2**31 - 1}, None),
    ({"plainInt": 2**31}, "Member must have value less than or equal to 2147483647"),
    ({"plainInt": -(2**31) - 1}, "Member must have value greater than or equal to -2147483648"),
    ({"plainLong": 2**63 - 1}, None),
    ({"plainLong": 2**63}, "Member must have value less than or equal to 9223372036854775807"),
    ({"ratio": 1.5}, "Value '1.5' at 'ratio' failed to satisfy constraint: "
     "Member must have value less than or equal to 1"),
    ({"ratio": -0.1}, "Member must have value greater than or equal to 0"),
    ({"ratio": 1}, None),
    ({"single": 1e39}, "at 'single' failed to satisfy constraint: Member must have value less"),
]  # fmt: skip


@pytest.mark.parametrize(("members", "expected"), RANGE_CASES)
def test_value_ranges(members: dict[str, Any], expected: str | None) -> None:
    errors = errors_for(**members)
    if expected is None:
        assert errors == []
    else:
        assert len(errors) == 1, errors
        assert expected in errors[0]


TYPE_CASES = [
    ("title", 5, "Value '5' at 'title' failed to satisfy constraint: Member must be a string"),
    ("count", True, "Value 'true' at 'count' failed to satisfy constraint: "
     "Member must be an integer"),
    ("count", 2.0, "Member must be an integer"),
    ("count", "3", "Member must be an integer"),
    ("ratio", "0.5", "Member must be a number"),
    ("ratio", False, "Member must be a number"),
    ("flag", 1, "Value '1' at 'flag' failed to satisfy constraint: Member must be a boolean"),
    ("when", "2024-01-01", "Member must be a timestamp"),
    ("data", "abc", "Member must be a blob"),
    ("titles", "a", "Member must be a list"),
    ("tags", ["a"], "Member must be a map"),
    ("nested", "x", "Member must be a structure"),
]  # fmt: skip


@pytest.mark.parametrize(("member", "value", "expected"), TYPE_CASES)
def test_wrong_python_types(member: str, value: Any, expected: str) -> None:
    assert expected in single_error(**{member: value})


def test_valid_values_of_every_type_pass() -> None:
    params = {
        "title": "t",
        "code": "abc",
        "color": "RED",
        "count": 3,
        "plainInt": -5,
        "plainLong": 2**40,
        "ratio": 0.5,
        "single": 1.5,
        "flag": False,
        "when": datetime(2024, 1, 1, tzinfo=UTC),
        "data": b"\x00\x01",
        "titles": ["a"],
        "tags": {"ab": "v"},
        "nested": {"title": "n", "secret": "s"},
        "choice": {"right": 2},
        "secret": "abc",
        "label": "Ünïcode 名前 1_.-",
        "roleArn": "role/a-b/c",
        "word": "abc_1",
        "line": "a-b",
        "tree": {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]},
    }
    assert find_violations(INPUT, params) == []


def test_enum_lists_allowed_values() -> None:
    expected = (
        "Value 'BLUE' at 'color' failed to satisfy constraint: "
        "Member must satisfy enum value set: [RED, GREEN]"
    )
    assert single_error(color="BLUE") == expected


PATTERN_CASES = [
    ("code", "abc", True),
    ("code", "ABC", False),
    ("code", "abc\n", False),
    ("label", "naïve café 漢字 ٣", True),
    ("label", "a!b", False),
    ("roleArn", "role/a-b/c.d@e", True),
    ("roleArn", "role/a b", False),
    ("word", "abc", True),  # unanchored model patterns still match the whole value
    ("word", "abc!", False),
    ("word", "é", False),  # Java's \w is ASCII only
    ("line", "a-b", True),
    ("line", "a\rb", False),  # Java's "." excludes every line terminator
    ("line", "a\u2028b", False),
]


@pytest.mark.parametrize(("member", "value", "matches"), PATTERN_CASES)
def test_patterns_follow_java(member: str, value: str, matches: bool) -> None:
    errors = errors_for(**{member: value})
    if matches:
        assert errors == []
    else:
        assert len(errors) == 1, errors
        assert "Member must satisfy regular expression pattern: " in errors[0]
        assert f"at '{member}'" in errors[0]


def test_required_members_at_every_depth() -> None:
    errors = [v.describe() for v in find_violations(INPUT, {"nested": {}})]
    assert errors == [
        "Value null at 'title' failed to satisfy constraint: Member must not be null",
        "Value null at 'nested.title' failed to satisfy constraint: Member must not be null",
    ]


def test_null_member_counts_as_missing() -> None:
    assert single_error(title=None).startswith("Value null at 'title'")


def test_union_needs_exactly_one_member() -> None:
    two = single_error(choice={"left": "a", "right": 1})
    none = single_error(choice={})
    assert two == (
        "Value '{left=a, right=1}' at 'choice' failed to satisfy constraint: "
        "Member must have exactly one member set, but 2 are set"
    )
    assert "but 0 are set" in none
    assert errors_for(choice={"left": "a"}) == []


def test_list_item_paths() -> None:
    errors = errors_for(titles=["ok", "x" * 11], tree={"children": [{"children": [{"name": ""}]}]})
    assert len(errors) == 2, errors
    assert "at 'titles.2.member' failed" in errors[0]
    assert "at 'tree.children.1.member.children.1.member.name' failed" in errors[1]


def test_paths_lower_first_letter() -> None:
    error = single_error(RoleSessionName="x" * 11)
    assert "at 'roleSessionName' failed" in error


def test_null_list_item_is_reported() -> None:
    assert single_error(titles=[None]).startswith("Value null at 'titles.1.member'")


def test_map_key_and_value_paths() -> None:
    errors = errors_for(tags={"abcd": "v", "ok": "x" * 11})
    assert len(errors) == 2, errors
    assert errors[0] == (
        "Value 'abcd' at 'tags.abcd.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 3"
    )
    assert "at 'tags.ok.value' failed" in errors[1]


def test_map_key_pattern() -> None:
    assert "at 'tags.AB.key'" in single_error(tags={"AB": "v"})


def test_sensitive_values_are_hidden() -> None:
    top = single_error(secret="hunter2")
    nested = single_error(nested={"title": "a", "secret": "hunter2"})
    assert top.startswith("Value '***' at 'secret'")
    assert nested.startswith("Value '***' at 'nested.secret'")


def test_structure_quote_hides_sensitive_members() -> None:
    error = single_error(choice={"left": "a", "hidden": "pw"})
    assert error.startswith("Value '{left=a, hidden=***}' at 'choice' failed")


def test_long_values_are_truncated() -> None:
    error = single_error(title="y" * 500)
    quoted = re.search(r"Value '([^']*)'", error)
    assert quoted is not None
    assert quoted.group(1) == "y" * QUOTE_LIMIT + "..."


def test_unknown_members_are_ignored() -> None:
    assert errors_for(notInModel="anything", another={"x": 1}) == []


def test_message_counts_errors() -> None:
    with pytest.raises(ServiceError) as caught:
        validate(INPUT, {"title": "", "count": 9}, error_code="ValidationException")
    error = caught.value
    assert error.instance_code == "ValidationException"
    assert error.message.startswith("2 validation errors detected: Value '' at 'title' ")
    assert "; Value '9' at 'count' " in error.message
    assert error.fields == {}


def test_single_error_message() -> None:
    with pytest.raises(ServiceError) as caught:
        validate(INPUT, {"title": "x" * 11}, error_code="InvalidParameterException")
    assert caught.value.instance_code == "InvalidParameterException"
    assert caught.value.message == (
        "1 validation error detected: Value 'xxxxxxxxxxx' at 'title' failed to satisfy "
        "constraint: Member must have length less than or equal to 10"
    )


def test_many_errors_describe_the_first_few() -> None:
    spec = load_spec("ssm-contacts")
    operation = spec.model.operation_model("CreateRotation")
    error_shape = spec.model.shape_for(spec.info.validation_error)
    params = {
        "Name": "rotation",
        "ContactIds": ["not an ARN"] * 3000,
        "TimeZoneId": "UTC",
        "Recurrence": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1},
    }
    with pytest.raises(ServiceError) as caught:
        validate(
            operation.input_shape,
            params,
            error_code=spec.info.validation_error,
            error_shape=error_shape,
        )
    message = caught.value.message
    assert message.startswith("3001 validation errors detected: ")
    assert message.endswith(f"; and {3001 - MAX_DESCRIBED} more")
    assert message.count("failed to satisfy constraint") == MAX_DESCRIBED
    assert len(caught.value.fields["Fields"]) == MAX_DESCRIBED


def test_valid_input_raises_nothing() -> None:
    validate(INPUT, VALID, error_code="ValidationException")
    validate(None, {"anything": 1}, error_code="ValidationException")


def test_fields_for_ssm_contacts() -> None:
    spec = load_spec("ssm-contacts")
    operation = spec.model.operation_model("CreateContact")
    error_shape = spec.model.shape_for(spec.info.validation_error)
    with pytest.raises(ServiceError) as caught:
        validate(
            operation.input_shape,
            {"Alias": "x", "Type": "PERSONAL", "Plan": {}, "DisplayName": "d" * 300},
            error_code=spec.info.validation_error,
            error_shape=error_shape,
        )
    fields = caught.value.fields
    assert fields["Reason"] == "FIELD_VALIDATION_FAILED"
    assert [field["Name"] for field in fields["Fields"]] == ["displayName"]
    assert "less than or equal to 255" in fields["Fields"][0]["Message"]


def test_every_served_pattern_compiles() -> None:
    for name in SERVICE_INFO:
        model = load_spec(name).model
        for shape_name in model.shape_names:
            pattern = model.shape_for(shape_name).metadata.get("pattern")
            if pattern is not None:
                compile_java_pattern(pattern)


# --- every served operation -----------------------------------------------

# Stand-ins for Unicode property classes, used only to generate matching text.
GENERATION_CLASSES = {
    "L": "a-zA-Z\u00e9",
    "N": "0-9",
    "Z": " ",
    "Zs": " ",
    "P": "!,.",
    "M": "\u0301",
    "S": "+$",
}
MAX_DEPTH = 4
MAX_GENERATED_TEXT = 30


def _generation_regex(pattern: str) -> str:
    translated = translate_java_pattern(pattern)

    def inside(match: re.Match[str]) -> str:
        return GENERATION_CLASSES[match.group(1)]

    # Every \p{..} in the served models sits inside a character class.
    translated = re.sub(r"\\p\{(\w+)\}", inside, translated)
    # Hypothesis builds huge character classes slowly, so the complements of
    # \s, \d and \w (which run to U+10FFFF) are cut to ASCII. Any match of the
    # narrowed pattern still matches the real one.
    return translated.replace("-\\U0010FFFF", "-\\x7E")


class Generator:
    """Hypothesis strategies for valid values of one model's shapes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], st.SearchStrategy[Any]] = {}

    def strategy(self, shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
        key = (shape.name, depth)
        if key not in self._cache:
            self._cache[key] = st.deferred(lambda: self._build(shape, depth))
        return self._cache[key]

    def _build(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        meta = shape.metadata
        kind = shape.type_name
        if kind == "string":
            return self._string(shape)
        if kind in ("integer", "long"):
            bits = 31 if kind == "integer" else 63
            return st.integers(meta.get("min", -(2**bits)), meta.get("max", 2**bits - 1))
        if kind in ("float", "double"):
            return st.floats(meta.get("min", -1e6), meta.get("max", 1e6), allow_nan=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "timestamp":
            return st.datetimes(timezones=st.just(UTC))
        if kind == "blob":
            low = meta.get("min", 0)
            return st.binary(min_size=low, max_size=min(meta.get("max", low + 8), low + 8))
        if kind == "list":
            low = meta.get("min", 0)
            high = low if depth >= MAX_DEPTH else min(meta.get("max", low + 2), low + 2)
            return st.lists(self.strategy(shape.member, depth + 1), min_size=low, max_size=high)
        if kind == "map":
            low = meta.get("min", 0)
            high = low if depth >= MAX_DEPTH else min(meta.get("max", low + 2), low + 2)
            return st.dictionaries(
                self.strategy(shape.key, depth + 1),
                self.strategy(shape.value, depth + 1),
                min_size=low,
                max_size=high,
            )
        return self._structure(shape, depth)

    def _string(self, shape: Shape) -> st.SearchStrategy[str]:
        meta = shape.metadata
        if shape.enum:
            return st.sampled_from(shape.enum)
        low = meta.get("min", 0)
        high = min(meta.get("max", low + MAX_GENERATED_TEXT), low + MAX_GENERATED_TEXT)
        pattern = meta.get("pattern")
        if pattern is None:
            return st.text(min_size=low, max_size=high)
        compiled = compile_java_pattern(pattern)
        longest = meta.get("max", 10**9)

        def fits(text: str) -> bool:
            return low <= len(text) <= longest and compiled.fullmatch(text) is not None

        return st.from_regex(_generation_regex(pattern), fullmatch=True).filter(fits)

    def _structure(self, shape: Shape, depth: int) -> st.SearchStrategy[dict[str, Any]]:
        members = shape.members
        if shape.metadata.get("union"):
            options = [
                st.builds(lambda v, n=name: {n: v}, self.strategy(member, depth + 1))
                for name, member in members.items()
            ]
            return st.one_of(options)
        required = set(shape.metadata.get("required", ()))
        fixed = {n: self.strategy(members[n], depth + 1) for n in members if n in required}
        optional = {}
        if depth < MAX_DEPTH:
            optional = {
                n: self.strategy(m, depth + 1) for n, m in members.items() if n not in required
            }
        return st.fixed_dictionaries(fixed, optional=optional)


GENERATORS: dict[str, Generator] = {}


def operations() -> list[tuple[str, str]]:
    found = []
    for name in SERVICE_INFO:
        model = load_spec(name).model
        for operation in model.operation_names:
            if model.operation_model(operation).input_shape is not None:
                found.append((name, operation))
    return found


# A place in a valid input where one constraint can be broken.
Site = tuple[list[Any], str, Shape, bool]  # value path, AWS path, shape, inside sensitive


def collect_sites(shape: Shape, value: Any, at: list[Any], path: str, hidden: bool) -> list[Site]:
    hidden = hidden or bool(shape.metadata.get("sensitive"))
    sites: list[Site] = [(at, path, shape, hidden)]
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if name in value:
                shown = name[:1].lower() + name[1:]
                child_path = f"{path}.{shown}" if path else shown
                sites += collect_sites(member, value[name], [*at, name], child_path, hidden)
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            item_path = f"{path}.{index + 1}.member"
            sites += collect_sites(shape.member, item, [*at, index], item_path, hidden)
    elif shape.type_name == "map":
        key_hidden = hidden or bool(shape.key.metadata.get("sensitive"))
        for key, item in value.items():
            shown = "***" if key_hidden else key
            sites += collect_sites(shape.value, item, [*at, key], f"{path}.{shown}.value", hidden)
    return sites


def breakers(shape: Shape, value: Any, generator: Generator) -> list[tuple[str, Any]]:
    """Return (constraint, replacement) pairs that break one constraint of ``shape``."""
    meta = shape.metadata
    kind = shape.type_name
    found: list[tuple[str, Any]] = []
    if kind == "string":
        if "max" in meta and meta["max"] < 5000:
            found.append(("length less than or equal to", "a" * (meta["max"] + 1)))
        if shape.enum:
            found.append(("enum value set", "NOT_AN_ENUM_VALUE"))
        if "pattern" in meta:
            compiled = compile_java_pattern(meta["pattern"])
            size = max(meta.get("min", 1), 1)
            for filler in ("\x00", "~", " ", "é", "!"):
                candidate = filler * size
                if len(candidate) <= meta.get("max", size) and not compiled.fullmatch(candidate):
                    found.append(("regular expression pattern", candidate))
                    break
    elif kind in ("integer", "long"):
        bits = 31 if kind == "integer" else 63
        found.append(("less than or equal to", meta.get("max", 2**bits - 1) + 1))
        found.append(("greater than or equal to", meta.get("min", -(2**bits)) - 1))
    elif kind == "structure" and isinstance(value, dict):
        for name in meta.get("required", ()):
            found.append((f"missing:{name}", {k: v for k, v in value.items() if k != name}))
        if meta.get("union") and len(shape.members) > 1:
            found.append(("union", "two members"))
    return found


def replace_at(params: dict[str, Any], at: list[Any], replacement: Any) -> dict[str, Any]:
    broken = copy.deepcopy(params)
    if not at:
        assert isinstance(replacement, dict)
        return replacement
    target = broken
    for step in at[:-1]:
        target = target[step]
    target[at[-1]] = replacement
    return broken


def expected_quote(value: Any, hidden: bool) -> str:
    if hidden:
        return "'***'"
    text = str(value)
    if len(text) > QUOTE_LIMIT:
        text = text[:QUOTE_LIMIT] + "..."
    return f"'{text}'"


@pytest.mark.parametrize(("service", "operation"), operations())
@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_served_operation(service: str, operation: str, data: st.DataObject) -> None:
    spec = load_spec(service)
    model_operation: OperationModel = spec.model.operation_model(operation)
    shape = model_operation.input_shape
    generator = GENERATORS.setdefault(service, Generator())
    params = data.draw(generator.strategy(shape), label="valid input")
    validate(shape, params, error_code=spec.info.validation_error)

    sites = collect_sites(shape, params, [], "", False)
    choices = [
        (site, constraint, replacement)
        for site in sites
        for constraint, replacement in breakers(site[2], _value_at(params, site[0]), generator)
    ]
    if not choices:
        return
    (at, path, site_shape, hidden), constraint, replacement = data.draw(
        st.sampled_from(choices), label="broken constraint"
    )
    if constraint == "union":
        names = list(site_shape.members)[:2]
        replacement = {
            name: data.draw(generator.strategy(site_shape.members[name], MAX_DEPTH))
            for name in names
        }
    broken = replace_at(params, at, replacement)
    with pytest.raises(ServiceError) as caught:
        validate(shape, broken, error_code=spec.info.validation_error)
    error = caught.value
    assert error.instance_code == spec.info.validation_error
    message = error.message
    if constraint.startswith("missing:"):
        member = constraint.split(":", 1)[1]
        member = member[:1].lower() + member[1:]
        member_path = f"{path}.{member}" if path else member
        assert f"Value null at '{member_path}' failed to satisfy constraint: " in message
        assert "Member must not be null" in message
    elif constraint == "union":
        assert f"at '{path or 'input'}' failed to satisfy constraint: " in message
        assert "Member must have exactly one member set, but 2 are set" in message
    else:
        assert f"Value {expected_quote(replacement, hidden)} at '{path}' failed" in message
        assert constraint in message


def _value_at(params: dict[str, Any], at: list[Any]) -> Any:
    value: Any = params
    for step in at:
        value = value[step]
    return value
