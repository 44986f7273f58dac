"""The contract between the HTTP layer, the wire-protocol codecs and the dispatcher.

A codec turns an ``HttpRequest`` into an operation and a dict of input
members, and turns a handler's output dict or a ``ServiceError`` into an
``HttpResponse``, in the format of one protocol. Input and output values are
plain Python: str, int, float, bool, bytes for blobs, aware UTC ``datetime``
for timestamps, dict for structures and maps, list for lists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from botocore.model import OperationModel

from tocsin.protocol.errors import ServiceError
from tocsin.protocol.services import ServiceSpec


@dataclass
class HttpRequest:
    method: str
    # Path exactly as received, still percent-encoded, so that an encoded "/"
    # (%2F) inside an ARN path segment is not mistaken for a separator.
    raw_path: str
    query_string: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""

    @cached_property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Codec(ABC):
    """Reads requests and writes responses for one service in one protocol."""

    protocol: str

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec

    @abstractmethod
    def resolve_operation(self, request: HttpRequest) -> OperationModel:
        """Return the operation that ``request`` calls.

        Raises the protocol's unknown-operation error when no operation of
        the model matches.
        """

    @abstractmethod
    def parse_request(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        """Decode the input members of ``operation`` from ``request``.

        Raises ``SerializationException`` (or the validation error of the
        service) for a body that is not well-formed in this protocol.
        """

    @abstractmethod
    def serialize_response(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        """Encode a handler's output members as a success response."""

    @abstractmethod
    def serialize_error(
        self, error: ServiceError, request_id: str, operation: OperationModel | None = None
    ) -> HttpResponse:
        """Encode ``error`` in this protocol's error shape."""
