"""Value conversions that the wire-protocol codecs share, driven by botocore shapes.

Input values become plain Python (str, int, float, bool, bytes, aware UTC
``datetime``, dict, list). A value whose JSON or CBOR type does not fit its
shape is passed through unchanged, so that the input validator can report it
with the member's name. Values that have the right type but cannot be decoded
(bad base64, an unparsable timestamp or number in text) raise
``ValueConversionError``, which each codec turns into its own error code.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from typing import Any

from botocore.model import OperationModel, Shape, StructureShape

from tocsin.protocol.errors import SerializationException, ServiceError
from tocsin.protocol.services import ServiceSpec

# Default timestamp formats by where the value travels (Smithy timestampFormat trait).
EPOCH_SECONDS = "unixtimestamp"
ISO_8601 = "iso8601"
HTTP_DATE = "rfc822"

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_EPOCH_TEXT = re.compile(r"-?\d+(\.\d+)?")


class ValueConversionError(Exception):
    """A value at ``path`` that has the right wire type but cannot be decoded as its shape."""

    def __init__(self, path: str, value: object, expected: str) -> None:
        self.path = path
        self.value = value
        self.expected = expected
        super().__init__(f"Invalid value {value!r} for {path or 'the request body'}: {expected}")


def json_type_name(value: object) -> str:
    """Name the JSON type of a decoded value, as a client would call it."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    return names.get(type(value), type(value).__name__)


def join_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --- timestamps ------------------------------------------------------------


def timestamp_format(shape: Shape, default: str) -> str:
    return str(shape.serialization.get("timestampFormat", default)).lower()


def epoch_to_datetime(seconds: float, path: str = "") -> datetime:
    """Convert epoch seconds to an aware UTC datetime; raise for values outside years 1-9999."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueConversionError(
            path, seconds, "expected a timestamp between the years 1 and 9999"
        ) from exc


def datetime_to_epoch(value: datetime) -> float:
    """Return epoch seconds with millisecond precision, as AWS sends them."""
    return round(as_utc(value).timestamp(), 3)


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_timestamp_text(text: str, path: str) -> datetime:
    """Parse an ISO-8601, HTTP-date or epoch-seconds timestamp from text."""
    stripped = text.strip()
    if _EPOCH_TEXT.fullmatch(stripped):
        return epoch_to_datetime(float(stripped), path)
    # as_utc overflows for a time near the end of year 9999 with a negative offset.
    try:
        return as_utc(datetime.fromisoformat(stripped.replace("Z", "+00:00")))
    except (OverflowError, ValueError):
        pass
    try:
        return as_utc(parsedate_to_datetime(stripped))
    except (OverflowError, TypeError, ValueError):
        pass
    raise ValueConversionError(path, text, "expected an ISO-8601 or epoch-seconds timestamp")


def format_timestamp(value: datetime, fmt: str) -> str | float:
    """Format ``value`` as epoch seconds, ISO-8601 with milliseconds, or an HTTP date."""
    utc = as_utc(value)
    if fmt == EPOCH_SECONDS:
        return datetime_to_epoch(utc)
    if fmt == HTTP_DATE:
        return format_datetime(utc.replace(microsecond=0), usegmt=True)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def output_datetime(value: object, path: str) -> datetime:
    """Coerce a handler's timestamp value (``datetime`` or epoch seconds) to UTC."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_to_datetime(value)
    raise ValueError(f"output member {path} must be a datetime, got {value!r}")


# --- scalars in text (query parameters, URI labels, headers) ---------------


def parse_scalar_text(shape: Shape, text: str, path: str) -> Any:
    """Convert ``text`` to the Python type of scalar ``shape``."""
    kind = shape.type_name
    if kind in ("integer", "long", "short", "byte"):
        try:
            return int(text)
        except ValueError:
            raise ValueConversionError(path, text, "expected an integer") from None
    if kind in ("float", "double"):
        if text in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[text]
        try:
            return float(text)
        except ValueError:
            raise ValueConversionError(path, text, "expected a number") from None
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ValueConversionError(path, text, "expected true or false")
    if kind == "timestamp":
        return parse_timestamp_text(text, path)
    if kind == "blob":
        return decode_base64(text, path)
    return check_text(text, path)


def format_scalar_text(shape: Shape, value: Any, path: str, ts_default: str) -> str:
    """Format scalar ``value`` as text for a header, query parameter or XML element."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        stamp = output_datetime(value, path)
        return str(format_timestamp(stamp, timestamp_format(shape, ts_default)))
    if kind == "blob":
        return encode_base64(value)
    if kind in ("float", "double"):
        return float_to_text(float(value))
    return str(value)


def float_to_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def decode_base64(text: str, path: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueConversionError(path, text, "expected base64-encoded data") from None


def encode_base64(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


# --- JSON and CBOR documents ------------------------------------------------


def load_json_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON request body that must be an object; an empty body is ``{}``.

    Raises ``SerializationException`` for a body that is not UTF-8, not JSON
    or not an object.
    """
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SerializationException(
            f"The request body is not valid UTF-8 (byte {exc.start})."
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise SerializationException("The request body's JSON is nested too deeply.") from None
    except ValueError:
        # Python refuses integers of more than 4,300 digits when it parses them.
        raise SerializationException(
            "The request body contains a number with too many digits; send at most 4300."
        ) from None
    if not isinstance(document, dict):
        raise SerializationException(
            f"The request body must be a JSON object, not {json_type_name(document)}."
        )
    return document


def check_content_type(content_type: str, accepted: tuple[str, ...]) -> None:
    """Raise ``SerializationException`` unless ``content_type`` (if sent) is in ``accepted``."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type not in accepted:
        raise SerializationException(
            f"Unsupported Content-Type {content_type!r}; expected one of {', '.join(accepted)}."
        )


@dataclass(frozen=True)
class DocumentStyle:
    """Encoding rules of one document format for the types that JSON lacks.

    JSON carries timestamps as epoch-second numbers, blobs as base64 text and
    NaN or infinities as strings. CBOR has native byte strings, floats and
    tag-1 timestamps (which cbor2 decodes to ``datetime``).
    """

    native_bytes: bool
    encode_timestamp: Callable[[datetime, Shape], Any]


def _json_timestamp(value: datetime, shape: Shape) -> Any:
    return format_timestamp(value, timestamp_format(shape, EPOCH_SECONDS))


JSON_STYLE = DocumentStyle(native_bytes=False, encode_timestamp=_json_timestamp)


def member_key(shape: Shape, name: str) -> str:
    return str(shape.serialization.get("name", name))


def decode_document(shape: Shape, value: Any, style: DocumentStyle, path: str = "") -> Any:
    """Convert a decoded JSON or CBOR value to the Python value of ``shape``."""
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False) or not isinstance(value, dict):
            return value
        return _decode_structure(shape, value, style, path)
    if kind == "list":
        if not isinstance(value, list):
            return value
        member = shape.member
        return [
            decode_document(member, item, style, f"{path}[{index}]")
            for index, item in enumerate(value)
            if item is not None
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return value
        return {
            check_text(key, f"{path} key"): decode_document(
                shape.value, item, style, f"{path}[{key!r}]"
            )
            for key, item in value.items()
            if item is not None
        }
    return _decode_document_scalar(shape, value, style, path)


def _decode_structure(
    shape: StructureShape, value: dict[str, Any], style: DocumentStyle, path: str
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        raw = value.get(member_key(member, name))
        if raw is not None:
            result[name] = decode_document(member, raw, style, join_path(path, name))
    return result


def check_text(value: str, path: str) -> str:
    """Return ``value`` unless it contains what a database cannot store.

    No database stores an unpaired surrogate, and PostgreSQL stores no NUL
    character, so both are rejected on every database.
    """
    if "\x00" in value:
        raise ValueConversionError(
            path, value, "the text contains a NUL character (U+0000); remove it"
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueConversionError(
                path, value, "the text contains an unpaired UTF-16 surrogate; send valid Unicode"
            ) from exc
    return value


def _decode_document_scalar(shape: Shape, value: Any, style: DocumentStyle, path: str) -> Any:
    kind = shape.type_name
    if isinstance(value, str):
        check_text(value, path)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "timestamp":
        if isinstance(value, datetime):
            try:
                return as_utc(value)
            except OverflowError as exc:
                raise ValueConversionError(
                    path, value, "expected a timestamp between the years 1 and 9999"
                ) from exc
        if is_number:
            return epoch_to_datetime(value, path)
        if isinstance(value, str):
            return parse_timestamp_text(value, path)
        return value
    if kind == "blob":
        if isinstance(value, str) and not style.native_bytes:
            return decode_base64(value, path)
        return value
    if kind in ("float", "double"):
        if is_number:
            try:
                return float(value)
            except OverflowError as exc:
                raise ValueConversionError(
                    path, value, f"the number is too large for a {kind}"
                ) from exc
        if isinstance(value, str) and value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
    return value


def encode_document(shape: Shape, value: Any, style: DocumentStyle, path: str) -> Any:
    """Convert a handler's Python value of ``shape`` to a JSON- or CBOR-ready value.

    Raises ValueError for a structure member that the shape does not define.
    """
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return value
        return encode_structure(shape, value, style, path)
    if kind == "list":
        item_path = f"{path}[]"
        return [encode_document(shape.member, item, style, item_path) for item in value]
    if kind == "map":
        return {
            str(key): encode_document(shape.value, item, style, f"{path}[{key!r}]")
            for key, item in value.items()
            if item is not None
        }
    if kind == "timestamp":
        return style.encode_timestamp(output_datetime(value, path), shape)
    if kind == "blob":
        if style.native_bytes:
            return value.encode() if isinstance(value, str) else bytes(value)
        return encode_base64(value)
    if kind in ("float", "double"):
        number = float(value)
        if style.native_bytes or math.isfinite(number):
            return number
        return float_to_text(number)
    return value


# Scalar types whose Python value is already the JSON and CBOR value.
_PLAIN_TYPES = frozenset({"string", "integer", "long", "boolean"})


@lru_cache(maxsize=4096)
def _member_table(shape: StructureShape) -> dict[str, tuple[Shape, str, bool]]:
    """Return each member's shape, wire key and whether its value passes through unchanged.

    Output encoding runs for every response, so this is worked out once per
    shape object (shapes compare by identity).
    """
    return {
        name: (member, member_key(member, name), member.type_name in _PLAIN_TYPES)
        for name, member in shape.members.items()
    }


def encode_structure(
    shape: StructureShape, value: Mapping[str, Any], style: DocumentStyle, path: str
) -> dict[str, Any]:
    table = _member_table(shape)
    result: dict[str, Any] = {}
    for name, item in value.items():
        entry = table.get(name)
        if entry is None:
            # Raises ValueError naming every member that the shape lacks.
            check_members(shape, value, path)
            raise AssertionError(f"check_members accepted the unknown member {name}")
        if item is None:
            continue
        member, key, plain = entry
        if plain:
            result[key] = item
        else:
            result[key] = encode_document(member, item, style, join_path(path, name))
    return result


def decode_input(
    operation: OperationModel, document: dict[str, Any], style: DocumentStyle
) -> dict[str, Any]:
    """Decode the input members of ``operation`` from a whole JSON or CBOR body.

    Raises ``SerializationException`` for a value that cannot be decoded.
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    try:
        params: dict[str, Any] = decode_document(shape, document, style)
    except ValueConversionError as exc:
        raise SerializationException(str(exc)) from None
    return params


def encode_output(
    operation: OperationModel, output: Mapping[str, Any], style: DocumentStyle
) -> dict[str, Any]:
    """Encode a handler's output of ``operation`` as a JSON or CBOR body document."""
    shape = operation.output_shape
    if shape is None:
        check_no_output(operation, output)
        return {}
    return encode_structure(shape, output, style, "")


def check_no_output(operation: OperationModel, output: Mapping[str, Any]) -> None:
    """Raise ValueError when a handler returns members for an operation without output."""
    if any(value is not None for value in output.values()):
        raise ValueError(f"{operation.name} has no output, got members {sorted(output)}")


def check_members(shape: StructureShape, value: Mapping[str, Any], path: str) -> None:
    """Raise ValueError when ``value`` has a key that is not a member of ``shape``."""
    unknown = sorted(set(value) - set(shape.members))
    if unknown:
        where = path or shape.name
        raise ValueError(f"{where} has no member(s) {', '.join(unknown)} in shape {shape.name}")


# --- errors -----------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedError:
    """An error's code, HTTP status and fault, as one service and protocol send it."""

    code: str
    status: int
    sender_fault: bool
    shape: StructureShape | None


def find_error_shape(spec: ServiceSpec, code: str) -> StructureShape | None:
    """Return the service's error shape named ``code``, or the one whose query code it is."""
    model = spec.model
    if code in model.shape_names:
        shape = model.shape_for(code)
        if shape.metadata.get("exception"):
            return shape
    for error_shape in model.error_shapes:
        if (error_shape.metadata.get("error") or {}).get("code") == code:
            return error_shape
    return None


def describe_error(spec: ServiceSpec, error: ServiceError, protocol: str) -> ResolvedError:
    """Resolve ``error`` for ``spec`` in ``protocol``, keeping the modeled error shape."""
    instance_code = error.code_for(protocol)
    shape = find_error_shape(spec, instance_code)
    if shape is None:
        status = error.status if error.status is not None else type(error).default_status
        return ResolvedError(instance_code, status, type(error).sender_fault, None)
    modeled = shape.metadata.get("error") or {}
    # A modeled error without httpStatusCode (awsJson services such as
    # ssm-contacts) is a 400 client error unless its class is a server fault.
    default = type(error).default_status
    status = int(
        modeled.get("httpStatusCode") or error.status or (default if default >= 500 else 400)
    )
    sender_fault = bool(modeled.get("senderFault", status < 500))
    code = shape.name
    if protocol == "query":
        code = str(modeled.get("code") or shape.name)
    return ResolvedError(code, status, sender_fault, shape)


def resolve_error(
    spec: ServiceSpec, error: ServiceError, protocol: str | None = None
) -> tuple[str, int, bool]:
    """Return ``(wire_code, http_status, sender_fault)`` of ``error`` for ``spec``.

    The called service's model decides when it defines the error: its
    ``httpStatusCode`` wins, and query protocols send its ``error.code``
    (SNS ``NotFoundException`` travels as ``NotFound``). Without a modeled
    error, ``error.status`` or the class's ``default_status`` applies.
    ``protocol`` defaults to the service's preferred protocol.
    """
    resolved = describe_error(spec, error, protocol or spec.protocols[0])
    return resolved.code, resolved.status, resolved.sender_fault


def error_message_key(shape: StructureShape | None) -> str:
    """Return the key that carries an error's message: the modeled spelling, else ``message``."""
    if shape is not None:
        for name in ("message", "Message"):
            if name in shape.members:
                return member_key(shape.members[name], name)
    return "message"


def typed_error_document(
    spec: ServiceSpec, error: ServiceError, protocol: str, style: DocumentStyle
) -> tuple[ResolvedError, dict[str, Any], dict[str, str]]:
    """Build the ``__type`` error body of the json and CBOR protocols, with its extra headers."""
    resolved = describe_error(spec, error, protocol)
    document = {"__type": resolved.code, error_message_key(resolved.shape): error.message}
    document.update(encode_error_fields(resolved.shape, error.fields, style))
    return resolved, document, query_error_header(spec, error)


def encode_error_fields(
    shape: StructureShape | None, fields: Mapping[str, Any], style: DocumentStyle
) -> dict[str, Any]:
    """Encode an error's extra fields, typed by the error shape where it models them."""
    result: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if shape is not None and name in shape.members:
            member = shape.members[name]
            result[member_key(member, name)] = encode_document(member, value, style, name)
        else:
            result[name] = value
    return result


def query_error_header(spec: ServiceSpec, error: ServiceError) -> dict[str, str]:
    """Return the ``x-amzn-query-error`` header for services that keep their query error codes.

    Services with the ``awsQueryCompatible`` trait (CloudWatch) send it in
    json and CBOR errors, and botocore then looks the error up by the query code.
    """
    # The trait's value is an empty object, so test for the key.
    if "awsQueryCompatible" not in spec.model.metadata:
        return {}
    resolved = describe_error(spec, error, "query")
    fault = "Sender" if resolved.sender_fault else "Receiver"
    return {"x-amzn-query-error": f"{resolved.code};{fault}"}
