"""Property tests: inputs generated from the model shapes survive botocore → codec,
and outputs survive codec → botocore, for every served service and protocol."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from botocore.model import OperationModel, Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol.test_codecs import decode, parse_response, serialize_request, service_model_as
from tocsin.protocol.codecs import CODEC_CLASSES
from tocsin.protocol.services import load_spec

SERVICE_PROTOCOLS = [
    ("ssm-incidents", "rest-json"),
    ("ram", "rest-json"),
    ("ssm-contacts", "json"),
    ("events", "json"),
    ("ssm", "json"),
    ("organizations", "json"),
    ("sns", "query"),
    ("sts", "query"),
    ("iam", "query"),
    ("cloudwatch", "smithy-rpc-v2-cbor"),
    ("cloudwatch", "json"),
    ("cloudwatch", "query"),
]
MAX_DEPTH = 4
MISSING: Any = object()

TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=8)
TIMESTAMPS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda value: value.replace(microsecond=value.microsecond // 1000 * 1000))


def values_for(shape: Shape, protocol: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """Return a strategy of well-typed Python values of ``shape``."""
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return st.just({})
        if depth >= MAX_DEPTH and not shape.is_tagged_union:
            return st.just({})
        members = {
            name: values_for(member, protocol, depth + 1)
            for name, member in shape.members.items()
            if depth < MAX_DEPTH or member.type_name not in ("structure", "list", "map")
        }
        required = {
            name: st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)
            for name, member in shape.members.items()
            if member.serialization.get("location") == "uri"
        }
        optional = {name: value for name, value in members.items() if name not in required}
        if shape.is_tagged_union and members:
            return st.one_of([st.fixed_dictionaries({name: s}) for name, s in members.items()])
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        if depth >= MAX_DEPTH:
            return st.just([])
        return st.lists(values_for(shape.member, protocol, depth + 1), max_size=3)
    if kind == "map":
        if depth >= MAX_DEPTH:
            return st.just({})
        keys = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=6)
        return st.dictionaries(keys, values_for(shape.value, protocol, depth + 1), max_size=3)
    return scalar_values(shape, protocol)


def scalar_values(shape: Shape, protocol: str) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "integer":
        return st.integers(-(2**31), 2**31 - 1)
    if kind == "long":
        return st.integers(-(2**63), 2**63 - 1)
    if kind == "boolean":
        return st.booleans()
    if kind in ("float", "double"):
        if kind == "float" and protocol == "smithy-rpc-v2-cbor":
            # botocore sends float shapes in CBOR as single precision.
            return st.floats(allow_nan=False, allow_infinity=False, width=32)
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "timestamp":
        return TIMESTAMPS
    if kind == "blob":
        return st.binary(max_size=8)
    return TEXT


def expected_query_input(shape: Shape, value: Any) -> Any:
    """Return the part of ``value`` that the query format carries (no empty maps or structures)."""
    kind = shape.type_name
    if kind == "structure":
        members = {
            name: expected_query_input(shape.members[name], item) for name, item in value.items()
        }
        present = {name: item for name, item in members.items() if item is not MISSING}
        return present or MISSING
    if kind == "list":
        if not value:
            return []
        items = [expected_query_input(shape.member, item) for item in value]
        present_items = [item for item in items if item is not MISSING]
        return present_items or MISSING
    if kind == "map":
        if not value:
            return MISSING
        entries = {key: expected_query_input(shape.value, item) for key, item in value.items()}
        return {key: item for key, item in entries.items() if item is not MISSING}
    return value


def expected_input(operation: OperationModel, protocol: str, params: dict[str, Any]) -> Any:
    shape = operation.input_shape
    if protocol == "query":
        expected = expected_query_input(shape, params)
        return {} if expected is MISSING else expected
    if protocol == "rest-json":
        return {
            name: value
            for name, value in params.items()
            if not (
                shape.members[name].serialization.get("location") in ("querystring", "header")
                and value == []
            )
        }
    return params


@cache
def operations(service: str, protocol: str, side: str) -> list[str]:
    spec = load_spec(service)
    model = spec.model if protocol == spec.protocols[0] else service_model_as(spec, protocol)
    names = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        shape = operation.input_shape if side == "input" else operation.output_shape
        if shape is not None and shape.members:
            names.append(name)
    return names


PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize(("service", "protocol"), SERVICE_PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_input_roundtrip(service: str, protocol: str, data: st.DataObject) -> None:
    spec = load_spec(service)
    model = spec.model if protocol == spec.protocols[0] else service_model_as(spec, protocol)
    name = data.draw(st.sampled_from(operations(service, protocol, "input")), label="operation")
    operation = model.operation_model(name)
    params = data.draw(values_for(operation.input_shape, protocol), label="params")
    request = serialize_request(spec, protocol, name, params)
    codec = CODEC_CLASSES[protocol](spec)
    assert decode(codec, request) == (name, expected_input(operation, protocol, params))


@pytest.mark.parametrize(("service", "protocol"), SERVICE_PROTOCOLS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_output_roundtrip(service: str, protocol: str, data: st.DataObject) -> None:
    spec = load_spec(service)
    model = spec.model if protocol == spec.protocols[0] else service_model_as(spec, protocol)
    name = data.draw(st.sampled_from(operations(service, protocol, "output")), label="operation")
    operation = model.operation_model(name)
    output = data.draw(values_for(operation.output_shape, protocol), label="output")
    codec = CODEC_CLASSES[protocol](spec)
    response = codec.serialize_response(spec.model.operation_model(name), output, "req-1")
    assert response.status == operation.http.get("responseCode", 200)
    parsed = parse_response(protocol, response, operation)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    assert parsed == output
