"""The Smithy RPC v2 CBOR protocol (``smithy-rpc-v2-cbor`` in botocore).

A request is ``POST /service/{ServiceName}/operation/{Operation}`` with the
header ``smithy-protocol: rpc-v2-cbor`` and a CBOR map as the body. botocore
1.44 puts the model's ``targetPrefix`` in ``{ServiceName}``
(``GraniteServiceVersion20100801`` for CloudWatch), sends timestamps as tag 1
around epoch seconds and blobs as byte strings, and reads an error's code
from the body's ``__type``. For ``awsQueryCompatible`` services it takes the
code from the ``x-amzn-query-error`` header instead.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import cbor2
from botocore.model import OperationModel, Shape

from tocsin.protocol.codec import Codec, HttpRequest, HttpResponse
from tocsin.protocol.errors import SerializationException, ServiceError, UnknownOperationException
from tocsin.protocol.services import ServiceSpec
from tocsin.protocol.shapes import (
    DocumentStyle,
    check_content_type,
    datetime_to_epoch,
    decode_input,
    encode_output,
    json_type_name,
    typed_error_document,
)

logger = logging.getLogger(__name__)

CBOR_CONTENT_TYPE = "application/cbor"
SMITHY_PROTOCOL = "rpc-v2-cbor"
OPERATION_PATH = re.compile(r"/service/([^/]+)/operation/([^/]+)")


def _cbor_timestamp(value: datetime, shape: Shape) -> cbor2.CBORTag:
    seconds = datetime_to_epoch(value)
    return cbor2.CBORTag(1, int(seconds) if seconds.is_integer() else seconds)


CBOR_STYLE = DocumentStyle(native_bytes=True, encode_timestamp=_cbor_timestamp)


class CborCodec(Codec):
    protocol = "smithy-rpc-v2-cbor"

    def __init__(self, spec: ServiceSpec) -> None:
        super().__init__(spec)
        self.service_name = str(spec.model.metadata.get("targetPrefix", ""))
        self._operation_names = frozenset(spec.model.operation_names)

    def resolve_operation(self, request: HttpRequest) -> OperationModel:
        match = OPERATION_PATH.fullmatch(request.raw_path)
        if match is None:
            raise UnknownOperationException(
                f"Path {request.raw_path} is not /service/<ServiceName>/operation/<Operation>.",
                status=404,
            )
        service = unquote(match.group(1))
        name = unquote(match.group(2))
        # A Smithy client may send the absolute shape id (namespace#Name).
        if service.rpartition("#")[2] != self.service_name or name not in self._operation_names:
            # NOTE: 404 follows the path-based routing; AWS's status here is not documented.
            raise UnknownOperationException(
                f"Unknown operation {name!r} of service {service!r}; "
                f"expected /service/{self.service_name}/operation/<Operation>.",
                status=404,
            )
        return self.spec.model.operation_model(name)

    def parse_request(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        protocol = request.header("smithy-protocol")
        if protocol != SMITHY_PROTOCOL:
            raise SerializationException(
                f"Header smithy-protocol must be {SMITHY_PROTOCOL!r}, got {protocol!r}."
            )
        if not request.body:
            return {}
        check_content_type(request.header("content-type"), (CBOR_CONTENT_TYPE,))
        return decode_input(operation, load_cbor_map(request.body), CBOR_STYLE)

    def serialize_response(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        document = encode_output(operation, output, CBOR_STYLE)
        # botocore parses an empty body as a structure and fails, so an empty
        # output is an empty map.
        return HttpResponse(200, cbor2.dumps(document), self._headers(request_id))

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: OperationModel | None = None
    ) -> HttpResponse:
        resolved, document, extra_headers = typed_error_document(
            self.spec, error, self.protocol, CBOR_STYLE
        )
        headers = self._headers(request_id)
        headers.update(extra_headers)
        try:
            body = cbor2.dumps(document)
        except cbor2.CBOREncodeError:
            logger.exception("Cannot encode the fields of error %s as CBOR", resolved.code)
            body = cbor2.dumps({"__type": resolved.code, "message": error.message})
        return HttpResponse(resolved.status, body, headers)

    def _headers(self, request_id: str) -> dict[str, str]:
        return {
            "Content-Type": CBOR_CONTENT_TYPE,
            "smithy-protocol": SMITHY_PROTOCOL,
            "x-amzn-RequestId": request_id,
        }


def load_cbor_map(body: bytes) -> dict[Any, Any]:
    """Decode a CBOR body that must be exactly one map; raise SerializationException otherwise."""
    stream = io.BytesIO(body)
    try:
        document = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, OverflowError, RecursionError) as exc:
        raise SerializationException(f"The request body is not valid CBOR: {exc}") from None
    if stream.tell() != len(body):
        raise SerializationException(
            f"The request body has {len(body) - stream.tell()} bytes after the CBOR map."
        )
    if not isinstance(document, dict):
        raise SerializationException(
            f"The request body must be a CBOR map, not {json_type_name(document)}."
        )
    return _drop_undefined(document)  # type: ignore[no-any-return]


def _drop_undefined(value: Any) -> Any:
    """Replace CBOR ``undefined`` with None, which the decoders treat as absent."""
    if value is cbor2.undefined:
        return None
    if isinstance(value, dict):
        return {key: _drop_undefined(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_drop_undefined(item) for item in value]
    return value
