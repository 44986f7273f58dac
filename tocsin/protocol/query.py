"""The awsQuery protocol: form-encoded requests and XML responses.

Used by SNS, STS and IAM, and by CloudWatch as its third protocol. Request
members arrive flattened into form keys the way botocore's query serializer
writes them: ``Name.member.N`` for lists (``Name.N`` when flattened),
``Name.entry.N.key``/``.value`` for maps and ``A.B`` for nested structures.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, Shape, StructureShape

from tocsin.protocol.codec import Codec, HttpRequest, HttpResponse
from tocsin.protocol.errors import InvalidAction, ServiceError, ValidationException
from tocsin.protocol.services import ServiceSpec
from tocsin.protocol.shapes import (
    ISO_8601,
    ValueConversionError,
    check_members,
    check_no_output,
    describe_error,
    format_scalar_text,
    member_key,
    parse_scalar_text,
)

logger = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_MISSING: Any = object()
# Characters that XML 1.0 cannot carry, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class QueryCodec(Codec):
    protocol = "query"

    def __init__(self, spec: ServiceSpec) -> None:
        super().__init__(spec)
        self.api_version = str(spec.model.metadata["apiVersion"])
        self.namespace = str(spec.model.metadata.get("xmlNamespace", ""))
        self._operation_names = frozenset(spec.model.operation_names)

    def resolve_operation(self, request: HttpRequest) -> OperationModel:
        params = self.read_form(request)
        action = params.get("Action")
        if not action:
            raise InvalidAction("The request has no Action parameter.", code="MissingAction")
        if action not in self._operation_names:
            raise InvalidAction(f"The action {action} is not valid for this web service.")
        # A missing Version is accepted as the model's apiVersion, because AWS's
        # own behaviour there is undocumented and lenient clients omit it.
        # NOTE: a different Version is rejected with InvalidAction 400, in the
        # form "Could not find operation X for version Y" that AWS query services use.
        version = params.get("Version")
        if version is not None and version != self.api_version:
            raise InvalidAction(f"Could not find operation {action} for version {version}.")
        return self.spec.model.operation_model(action)

    def read_form(self, request: HttpRequest) -> dict[str, str]:
        """Return the form parameters of the query string and, for a form body, the body."""
        params = self._parse_pairs(request.query_string)
        if request.body:
            content_type = request.header("content-type").split(";", 1)[0].strip().lower()
            if content_type and content_type != FORM_CONTENT_TYPE:
                raise self._invalid(
                    f"Unsupported Content-Type {content_type!r}; expected {FORM_CONTENT_TYPE}."
                )
            try:
                body = request.body.decode("ascii")
            except UnicodeDecodeError:
                raise self._invalid(
                    "The form body must be ASCII with percent-encoded UTF-8."
                ) from None
            params.update(self._parse_pairs(body))
        return params

    def _parse_pairs(self, text: str) -> dict[str, str]:
        try:
            return dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
        except UnicodeDecodeError:
            raise self._invalid("A form parameter is not valid percent-encoded UTF-8.") from None

    def _invalid(self, message: str) -> ServiceError:
        return ValidationException(message, code=self.spec.info.validation_error)

    def parse_request(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        params = self.read_form(request)
        try:
            return _decode_structure(shape, params, "")
        except ValueConversionError as exc:
            raise self._invalid(
                f"Invalid value {exc.value!r} for parameter {exc.path}: {exc.expected}."
            ) from None

    def serialize_response(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        name = operation.name
        out = [f'<{name}Response xmlns="{_escape(self.namespace)}">']
        shape = operation.output_shape
        if shape is None:
            check_no_output(operation, output)
        else:
            check_members(shape, output, shape.name)
            wrapper = shape.serialization.get("resultWrapper")
            if wrapper:
                out.append(f"<{wrapper}>")
            _write_members(shape, output, out)
            if wrapper:
                out.append(f"</{wrapper}>")
        out.append(f"<ResponseMetadata><RequestId>{_escape(request_id)}</RequestId>")
        out.append(f"</ResponseMetadata></{name}Response>")
        return HttpResponse(200, "".join(out).encode(), self._headers(request_id))

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: OperationModel | None = None
    ) -> HttpResponse:
        resolved = describe_error(self.spec, error, self.protocol)
        fault = "Sender" if resolved.sender_fault else "Receiver"
        out = [
            f'<ErrorResponse xmlns="{_escape(self.namespace)}"><Error>',
            f"<Type>{fault}</Type><Code>{_escape(resolved.code)}</Code>",
            f"<Message>{_escape(error.message)}</Message>",
        ]
        for field, value in error.fields.items():
            if value is None or field in ("Type", "Code", "Message"):
                continue
            if resolved.shape is not None and field in resolved.shape.members:
                member = resolved.shape.members[field]
                _write_value(member_key(member, field), member, value, field, out)
            else:
                out.append(f"<{field}>{_escape(str(value))}</{field}>")
        out.append(f"</Error><RequestId>{_escape(request_id)}</RequestId></ErrorResponse>")
        return HttpResponse(resolved.status, "".join(out).encode(), self._headers(request_id))

    def _headers(self, request_id: str) -> dict[str, str]:
        return {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}


# --- form parameters to values ----------------------------------------------


def _decode_structure(
    shape: StructureShape, params: Mapping[str, str], prefix: str
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = member_key(member, name)
        value = _decode_value(member, params, f"{prefix}.{key}" if prefix else key)
        if value is not _MISSING:
            result[name] = value
    return result


def _decode_value(shape: Shape, params: Mapping[str, str], key: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not _has_prefix(params, key):
            return _MISSING
        return _decode_structure(shape, params, key)
    if kind == "list":
        return _decode_list(shape, params, key)
    if kind == "map":
        return _decode_map(shape, params, key)
    if key not in params:
        return _MISSING
    return parse_scalar_text(shape, params[key], key)


def _decode_list(shape: Shape, params: Mapping[str, str], key: str) -> Any:
    if params.get(key) == "":
        return []  # botocore sends an empty list as the bare key with no value
    member = shape.member
    if shape.serialization.get("flattened"):
        item_prefix = key
        if "name" in member.serialization:
            item_prefix = ".".join([*key.split(".")[:-1], member.serialization["name"]])
    else:
        item_prefix = f"{key}.{member.serialization.get('name', 'member')}"
    indices = _indices(params, item_prefix)
    if not indices:
        return _MISSING
    items = (_decode_value(member, params, f"{item_prefix}.{index}") for index in indices)
    return [item for item in items if item is not _MISSING]


def _decode_map(shape: Shape, params: Mapping[str, str], key: str) -> Any:
    entry_prefix = key if shape.serialization.get("flattened") else f"{key}.entry"
    indices = _indices(params, entry_prefix)
    if not indices:
        return {} if params.get(key) == "" else _MISSING
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    result: dict[str, Any] = {}
    for index in indices:
        entry_key = _decode_value(shape.key, params, f"{entry_prefix}.{index}.{key_name}")
        entry_value = _decode_value(shape.value, params, f"{entry_prefix}.{index}.{value_name}")
        if entry_key is not _MISSING and entry_value is not _MISSING:
            result[entry_key] = entry_value
    return result


def _has_prefix(params: Mapping[str, str], key: str) -> bool:
    start = f"{key}."
    return any(name.startswith(start) for name in params)


def _indices(params: Mapping[str, str], prefix: str) -> list[int]:
    """Return the sorted item numbers N of keys ``prefix.N`` and ``prefix.N.…``."""
    start = f"{prefix}."
    found: set[int] = set()
    for name in params:
        if name.startswith(start):
            head = name[len(start) :].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


# --- values to XML ------------------------------------------------------------


def _escape(text: str) -> str:
    # NOTE: characters that XML 1.0 cannot carry are replaced with U+FFFD.
    text = _XML_INVALID.sub("\ufffd", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;").replace("\r", "&#13;")


def _write_members(shape: StructureShape, value: Mapping[str, Any], out: list[str]) -> None:
    for name, item in value.items():
        if item is None:
            continue
        member = shape.members[name]
        element = member_key(member, name)
        if member.type_name == "list" and member.serialization.get("flattened"):
            element = str(member.member.serialization.get("name", element))
        _write_value(element, member, item, name, out)


def _write_value(element: str, shape: Shape, value: Any, path: str, out: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        check_members(shape, value, path)
        out.append(f"<{element}>")
        _write_members(shape, value, out)
        out.append(f"</{element}>")
    elif kind == "list":
        member = shape.member
        if shape.serialization.get("flattened"):
            for item in value:
                _write_value(element, member, item, f"{path}[]", out)
            return
        item_element = str(member.serialization.get("name", "member"))
        out.append(f"<{element}>")
        for item in value:
            _write_value(item_element, member, item, f"{path}[]", out)
        out.append(f"</{element}>")
    elif kind == "map":
        key_element = str(shape.key.serialization.get("name", "key"))
        value_element = str(shape.value.serialization.get("name", "value"))
        flattened = shape.serialization.get("flattened")
        if not flattened:
            out.append(f"<{element}>")
        for key, item in value.items():
            if item is None:
                continue
            out.append(f"<{element}>" if flattened else "<entry>")
            _write_value(key_element, shape.key, key, f"{path}.key", out)
            _write_value(value_element, shape.value, item, f"{path}[{key!r}]", out)
            out.append(f"</{element}>" if flattened else "</entry>")
        if not flattened:
            out.append(f"</{element}>")
    else:
        text = format_scalar_text(shape, value, path, ISO_8601)
        out.append(f"<{element}>{_escape(text)}</{element}>")
