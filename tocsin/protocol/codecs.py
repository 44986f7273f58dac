"""Selection of the codec that reads a request, among the protocols of its service."""

from __future__ import annotations

import threading

from tocsin.protocol.cbor_codec import OPERATION_PATH, SMITHY_PROTOCOL, CborCodec
from tocsin.protocol.codec import Codec, HttpRequest
from tocsin.protocol.json_codec import JsonCodec
from tocsin.protocol.query import FORM_CONTENT_TYPE, QueryCodec
from tocsin.protocol.rest_json import RestJsonCodec
from tocsin.protocol.services import ServiceSpec

CODEC_CLASSES: dict[str, type[Codec]] = {
    "json": JsonCodec,
    "rest-json": RestJsonCodec,
    "query": QueryCodec,
    "smithy-rpc-v2-cbor": CborCodec,
}

_codecs: dict[tuple[str, str], Codec] = {}
_lock = threading.Lock()


def detect_protocol(spec: ServiceSpec, request: HttpRequest) -> str:
    """Return the protocol among ``spec.protocols`` that ``request`` is written in.

    A request that matches none of the signs below gets the service's preferred
    protocol, whose codec then reports the unknown operation.
    """
    protocols = spec.protocols
    if (
        "smithy-rpc-v2-cbor" in protocols
        and request.header("smithy-protocol") == SMITHY_PROTOCOL
        and OPERATION_PATH.fullmatch(request.raw_path)
    ):
        return "smithy-rpc-v2-cbor"
    if "json" in protocols and request.header("x-amz-target"):
        return "json"
    if "query" in protocols and _looks_like_query(request):
        return "query"
    if "rest-json" in protocols:
        return "rest-json"
    return protocols[0]


def _looks_like_query(request: HttpRequest) -> bool:
    content_type = request.header("content-type").split(";", 1)[0].strip().lower()
    if content_type == FORM_CONTENT_TYPE:
        return True
    return request.method.upper() == "GET" and "Action" in request.query


def codec_for(spec: ServiceSpec, request: HttpRequest) -> Codec:
    """Return the codec, one per service and protocol, that reads ``request``."""
    protocol = detect_protocol(spec, request)
    key = (spec.name, protocol)
    codec = _codecs.get(key)
    if codec is None:
        with _lock:
            codec = _codecs.get(key)
            if codec is None:
                codec = CODEC_CLASSES[protocol](spec)
                _codecs[key] = codec
    return codec
