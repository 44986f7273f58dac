"""The awsJson1_0 and awsJson1_1 protocols: ``POST /`` with ``X-Amz-Target``.

Used by ssm-contacts, events, ssm and organizations (1.1) and by CloudWatch
(1.0, as its second protocol).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel

from tocsin.protocol.codec import Codec, HttpRequest, HttpResponse
from tocsin.protocol.errors import ServiceError, UnknownOperationException
from tocsin.protocol.services import ServiceSpec
from tocsin.protocol.shapes import (
    JSON_STYLE,
    check_content_type,
    decode_input,
    encode_output,
    load_json_object,
    typed_error_document,
)

logger = logging.getLogger(__name__)

ACCEPTED_CONTENT_TYPES = (
    "application/x-amz-json-1.0",
    "application/x-amz-json-1.1",
    "application/json",
)


class JsonCodec(Codec):
    protocol = "json"

    def __init__(self, spec: ServiceSpec) -> None:
        super().__init__(spec)
        metadata = spec.model.metadata
        self.target_prefix = str(metadata.get("targetPrefix", ""))
        self.content_type = f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"
        self._operation_names = frozenset(spec.model.operation_names)

    def resolve_operation(self, request: HttpRequest) -> OperationModel:
        target = request.header("x-amz-target")
        prefix, _, name = target.rpartition(".")
        if not target:
            raise UnknownOperationException("Missing X-Amz-Target header.", status=400)
        if prefix != self.target_prefix or name not in self._operation_names:
            raise UnknownOperationException(
                f"Unknown operation {target!r} for service {self.spec.name}; "
                f"expected X-Amz-Target {self.target_prefix}.<Operation>.",
                status=400,
            )
        return self.spec.model.operation_model(name)

    def parse_request(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        check_content_type(request.header("content-type"), ACCEPTED_CONTENT_TYPES)
        return decode_input(operation, load_json_object(request.body), JSON_STYLE)

    def serialize_response(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        document = encode_output(operation, output, JSON_STYLE)
        return HttpResponse(200, json.dumps(document).encode(), self._headers(request_id))

    def serialize_error(
        self, error: ServiceError, request_id: str, operation: OperationModel | None = None
    ) -> HttpResponse:
        resolved, document, extra_headers = typed_error_document(
            self.spec, error, self.protocol, JSON_STYLE
        )
        headers = self._headers(request_id)
        headers["x-amzn-ErrorType"] = resolved.code
        headers.update(extra_headers)
        body = json.dumps(document, default=str).encode()
        return HttpResponse(resolved.status, body, headers)

    def _headers(self, request_id: str) -> dict[str, str]:
        return {"Content-Type": self.content_type, "x-amzn-RequestId": request_id}
