"""The restJson1 protocol: operations routed by HTTP method and URI template.

Used by ssm-incidents and RAM. Members travel in URI labels, the query
string, headers or the JSON body, as each member's ``location`` trait sets.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, Shape, StructureShape

from tocsin.protocol.codec import Codec, HttpRequest, HttpResponse
from tocsin.protocol.errors import SerializationException, ServiceError, UnknownOperationException
from tocsin.protocol.services import ServiceSpec
from tocsin.protocol.shapes import (
    HTTP_DATE,
    JSON_STYLE,
    ValueConversionError,
    check_content_type,
    check_members,
    check_no_output,
    decode_document,
    describe_error,
    encode_document,
    encode_error_fields,
    error_message_key,
    format_scalar_text,
    join_path,
    load_json_object,
    member_key,
    parse_scalar_text,
    parse_timestamp_text,
)

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPES = (
    "application/json",
    "application/x-amz-json-1.0",
    "application/x-amz-json-1.1",
)
_LABEL = re.compile(r"\{([^}]+)\}")
# A comma outside double quotes separates the items of a list-valued header.
_HEADER_ITEM = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)')


@dataclass(frozen=True)
class Route:
    """One operation's method and compiled ``requestUri`` template."""

    operation: str
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]  # label names in group order, without a trailing "+"
    query_literals: tuple[tuple[str, str | None], ...]
    sort_key: tuple[int, int, int]


def compile_route(operation: OperationModel) -> Route:
    """Compile ``operation``'s URI template to a regex over the still-encoded path."""
    template = str(operation.http.get("requestUri", "/"))
    path_template, _, query_template = template.partition("?")
    parts: list[str] = []
    labels: list[str] = []
    position = 0
    greedy = 0
    for match in _LABEL.finditer(path_template):
        parts.append(re.escape(path_template[position : match.start()]))
        name = match.group(1)
        if name.endswith("+"):
            greedy += 1
            parts.append(f"(?P<label{len(labels)}>.+)")
            name = name[:-1]
        else:
            parts.append(f"(?P<label{len(labels)}>[^/]+)")
        labels.append(name)
        position = match.end()
    parts.append(re.escape(path_template[position:]))

    regex = "".join(parts)
    if not path_template.endswith("/"):
        regex += "/?"  # accept one trailing slash after the template's path
    pattern = re.compile(regex)
    literals: list[tuple[str, str | None]] = []
    for item in filter(None, query_template.split("&")):
        key, has_value, value = item.partition("=")
        literals.append((key, value if has_value else None))

    literal_length = len(_LABEL.sub("", path_template))
    # More literal text, then fewer greedy labels, then more literal query keys wins.
    sort_key = (-literal_length, greedy, -len(literals))
    method = str(operation.http.get("method", "POST")).upper()
    return Route(operation.name, method, pattern, tuple(labels), tuple(literals), sort_key)


class RestJsonCodec(Codec):
    protocol = "rest-json"

    def __init__(self, spec: ServiceSpec) -> None:
        super().__init__(spec)
        model = spec.model
        routes = [compile_route(model.operation_model(name)) for name in model.operation_names]
        self.routes = sorted(routes, key=lambda route: route.sort_key)
        self._by_operation = {route.operation: route for route in routes}

    def resolve_operation(self, request: HttpRequest) -> OperationModel:
        path = request.raw_path or "/"
        method = request.method.upper()
        allowed: list[str] = []
        for route in self.routes:
            if route.pattern.fullmatch(path) is None or not _has_literals(route, request):
                continue
            if route.method == method:
                return self.spec.model.operation_model(route.operation)
            allowed.append(route.method)
        if allowed:
            methods = " or ".join(sorted(set(allowed)))
            raise UnknownOperationException(
                f"Method {method} is not allowed on {path}; use {methods}.",
                status=405,
            )
        # NOTE: a path that no operation of the service matches gets 404, as an HTTP
        # router would; AWS's own status for this case is not documented.
        raise UnknownOperationException(
            f"No operation of {self.spec.name} matches {method} {path}.", status=404
        )

    def parse_request(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        try:
            params = self._parse_bindings(operation, shape, request)
            params.update(self._parse_body(shape, request))
        except ValueConversionError as exc:
            raise SerializationException(str(exc)) from None
        return params

    def _parse_bindings(
        self, operation: OperationModel, shape: StructureShape, request: HttpRequest
    ) -> dict[str, Any]:
        route = self._by_operation[operation.name]
        match = route.pattern.fullmatch(request.raw_path or "/")
        labels: dict[str, str] = {}
        if match is not None:
            labels = {
                name: unquote(match.group(f"label{i}")) for i, name in enumerate(route.labels)
            }
        claimed_query = {key for key, _ in route.query_literals}
        params: dict[str, Any] = {}
        query_maps: list[tuple[str, Shape]] = []
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            key = member_key(member, name)
            if location == "uri" and key in labels:
                params[name] = parse_scalar_text(member, labels[key], name)
            elif location == "querystring":
                if member.type_name == "map":
                    query_maps.append((name, member))
                    continue
                claimed_query.add(key)
                values = request.query.get(key)
                if values is not None:
                    params[name] = _query_value(member, values, name)
            elif location == "header":
                text = request.headers.get(key.lower())
                if text is not None:
                    params[name] = _parse_header(member, text, name)
            elif location == "headers":
                prefix = key.lower()
                params[name] = {
                    header[len(prefix) :]: value
                    for header, value in request.headers.items()
                    if header.startswith(prefix)
                }
        for name, member in query_maps:
            rest = {k: v for k, v in request.query.items() if k not in claimed_query}
            if rest:
                params[name] = {
                    k: _query_value(member.value, v, f"{name}.{k}") for k, v in rest.items()
                }
        return params

    def _parse_body(self, shape: StructureShape, request: HttpRequest) -> dict[str, Any]:
        payload = shape.serialization.get("payload")
        if payload is not None:
            member = shape.members[payload]
            if member.type_name == "blob":
                return {payload: request.body} if request.body else {}
            if member.type_name == "string":
                return {payload: _decode_text(request.body)} if request.body else {}
        if request.body.strip():
            check_content_type(request.header("content-type"), JSON_CONTENT_TYPES)
        document = load_json_object(request.body)
        if payload is not None:
            if not request.body.strip():
                return {}
            return {payload: decode_document(shape.members[payload], document, JSON_STYLE, payload)}
        body_shape_members = {
            name: member
            for name, member in shape.members.items()
            if "location" not in member.serialization
        }
        params: dict[str, Any] = {}
        for name, member in body_shape_members.items():
            raw = document.get(member_key(member, name))
            if raw is not None:
                params[name] = decode_document(member, raw, JSON_STYLE, name)
        return params

    def serialize_response(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        status = int(operation.http.get("responseCode", 200))
        headers = {"x-amzn-RequestId": request_id}
        shape = operation.output_shape
        body_document: Any = {}
        if shape is None:
            check_no_output(operation, output)
        else:
            check_members(shape, output, shape.name)
            bound_status, body_document, raw_body = _bind_output(shape, output, headers)
            status = bound_status or status
            if raw_body is not None:
                return HttpResponse(status, raw_body, headers)
        if status == 204:
            return HttpResponse(status, b"", headers)
        headers["Content-Type"] = "application/json"
        return HttpResponse(status, json.dumps(body_document).encode(), headers)

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: OperationModel | None = None
    ) -> HttpResponse:
        resolved = describe_error(self.spec, error, self.protocol)
        headers = {
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": resolved.code,
            "Content-Type": "application/json",
        }
        document: dict[str, Any] = {error_message_key(resolved.shape): error.message}
        fields = dict(error.fields)
        if resolved.shape is not None:
            known = {k: v for k, v in fields.items() if k in resolved.shape.members}
            _, bound, _ = _bind_output(resolved.shape, known, headers)
            document.update(bound)
            fields = {k: v for k, v in fields.items() if k not in known}
        document.update(encode_error_fields(None, fields, JSON_STYLE))
        body = json.dumps(document, default=str).encode()
        return HttpResponse(resolved.status, body, headers)


def _has_literals(route: Route, request: HttpRequest) -> bool:
    for key, value in route.query_literals:
        values = request.query.get(key)
        if values is None or (value is not None and value not in values):
            return False
    return True


def _query_value(shape: Shape, values: list[str], path: str) -> Any:
    if shape.type_name == "list":
        return [parse_scalar_text(shape.member, value, path) for value in values]
    return parse_scalar_text(shape, values[0], path)


def _decode_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SerializationException(
            f"The request body is not valid UTF-8 (byte {exc.start})."
        ) from None


def _parse_header(shape: Shape, text: str, path: str) -> Any:
    if shape.type_name == "list":
        items = [match.group(1) for match in _HEADER_ITEM.finditer(text) if match.group(1)]
        return [_parse_header(shape.member, _unquote_header(item), path) for item in items]
    if shape.type_name == "timestamp":
        return parse_timestamp_text(text, path)
    if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(text))
        except ValueError:
            raise ValueConversionError(path, text, "expected base64-encoded JSON") from None
    return parse_scalar_text(shape, text.strip() if shape.type_name != "string" else text, path)


def _unquote_header(item: str) -> str:
    if len(item) >= 2 and item[0] == item[-1] == '"':
        return item[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return item


def _format_header(shape: Shape, value: Any, path: str) -> str:
    if shape.type_name == "list":
        return ", ".join(_format_header(shape.member, item, path) for item in value)
    if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()
    return format_scalar_text(shape, value, path, HTTP_DATE)


def _bind_output(
    shape: StructureShape, output: Mapping[str, Any], headers: dict[str, str]
) -> tuple[int | None, dict[str, Any], bytes | None]:
    """Place output members in ``headers``; return (status, JSON body, raw payload body)."""
    status: int | None = None
    body: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    raw_body: bytes | None = None
    for name, value in output.items():
        if value is None:
            continue
        member = shape.members[name]
        location = member.serialization.get("location")
        key = member_key(member, name)
        if location == "header":
            headers[key] = _format_header(member, value, name)
        elif location == "headers":
            for suffix, item in value.items():
                headers[f"{key}{suffix}"] = str(item)
        elif location == "statusCode":
            status = int(value)
        elif name == payload:
            if member.type_name in ("blob", "string"):
                raw_body = value.encode() if isinstance(value, str) else bytes(value)
            else:
                body = encode_document(member, value, JSON_STYLE, name)
        else:
            body[key] = encode_document(member, value, JSON_STYLE, join_path("", name))
    return status, body, raw_body
