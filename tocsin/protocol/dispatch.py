"""The request pipeline shared by every service.

A request is handled in steps. The service comes from the SigV4 credential
scope, which picks the codec. The signature is verified against the caller's
key before anything else in the request is trusted. Then the codec resolves
the operation, and the input is decoded and validated.
The handler then runs inside one database transaction, with the
idempotency-token check, and its output is encoded. Every failure is returned
as an error in the protocol of the called service.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.model import OperationModel
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from tocsin import metrics
from tocsin.iam.credentials import SecretCache, resolve_access_key
from tocsin.iam.principal import Caller
from tocsin.protocol import idempotency, sigv4
from tocsin.protocol.codec import Codec, HttpRequest, HttpResponse
from tocsin.protocol.codecs import codec_for
from tocsin.protocol.errors import (
    AuthError,
    InternalFailure,
    InvalidAction,
    RequestEntityTooLarge,
    RequestTimeout,
    ServiceError,
    UnknownOperationException,
    ValidationException,
)
from tocsin.protocol.handlers import OperationEntry, RequestContext, ServiceHandlers
from tocsin.protocol.pagination import InvalidPageToken
from tocsin.protocol.services import ServiceSpec, specs_by_signing_name
from tocsin.protocol.shapes import resolve_error
from tocsin.protocol.validation import validate

if TYPE_CHECKING:
    from tocsin.app import Runtime

logger = logging.getLogger(__name__)

# SQLSTATEs with which PostgreSQL aborts one of two conflicting transactions:
# deadlock_detected and serialization_failure.
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})
MAX_CONFLICT_RETRIES = 3
CONFLICT_BACKOFF_SECONDS = 0.05


# Input members that carry pagination tokens, as the services' models name them.
PAGE_TOKEN_MEMBERS = ("nextToken", "NextToken", "Marker", "NextMarker", "PaginationToken")
SHOWN_TOKEN_CHARACTERS = 24


def _page_token_message(params: Mapping[str, Any], reason: str) -> str:
    """Return the error message of a rejected pagination token, naming its member and value."""
    member = next((name for name in PAGE_TOKEN_MEMBERS if params.get(name)), None)
    if member is None:
        return reason
    value = str(params[member])
    excerpt = (
        value if len(value) <= SHOWN_TOKEN_CHARACTERS else value[:SHOWN_TOKEN_CHARACTERS] + "..."
    )
    return f"Value '{excerpt}' at '{member}' was rejected. {reason}"


def is_transaction_conflict(exc: DBAPIError) -> bool:
    """Return whether the database aborted the transaction only because another conflicted."""
    return getattr(exc.orig, "sqlstate", None) in CONFLICT_SQLSTATES


access_log = logging.getLogger("tocsin.access")

# Services whose protocol shapes the error of a request that names no service:
# one per protocol, picked by what the request looks like.
FALLBACK_SERVICE = "sts"
CBOR_FALLBACK_SERVICE = "cloudwatch"
REST_JSON_FALLBACK_SERVICE = "ssm-incidents"


Result = TypeVar("Result")


class InvocationError(Exception):
    """An operation run by ``Dispatcher.invoke_as`` failed; the code and status are AWS's."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class _Call:
    """One operation to run, with the caller and the request id it runs under."""

    spec: ServiceSpec
    operation: OperationModel
    entry: OperationEntry
    caller: Caller
    region: str
    request_id: str


class Dispatcher:
    """Turns one HTTP request into one HTTP response for any served service."""

    def __init__(self, runtime: Runtime, handlers: Mapping[str, ServiceHandlers]) -> None:
        self.runtime = runtime
        self.handlers = handlers
        self.specs = specs_by_signing_name()
        self._secrets = SecretCache(runtime.secrets)
        # Modeled validation error shapes, so that errors carry their extra
        # members (ssm-contacts adds Reason and Fields).
        self._error_shapes = {
            (spec.name, spec.info.validation_error): spec.model.shape_for(
                spec.info.validation_error
            )
            for spec in self.specs.values()
            if spec.info.validation_error in spec.model.shape_names
        }

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        spec = self._spec_for_errors(request)
        operation_name = "-"
        account_id = "-"
        codec: Codec | None = None
        operation: OperationModel | None = None
        try:
            signed = sigv4.parse_signature(request)
            if signed is None:
                raise AuthError("missing", "Request is missing Authentication Token")
            named = self.specs.get(signed.service)
            if named is None:
                raise self._unserved_service(spec, request, signed.service)
            spec = named
            codec = codec_for(spec, request)
            caller = self._authenticate(request, signed)
            account_id = caller.account_id
            operation = codec.resolve_operation(request)
            operation_name = operation.name
            response = self._run(spec, codec, operation, request, signed, caller, request_id)
        except ServiceError as error:
            response = self._error_response(spec, codec, operation, request, error, request_id)
        except RecursionError:
            # A member nested deeper than a parser can follow is the caller's input, not a
            # server failure. Parsers that know the member name it; this is the safety net.
            logger.warning(
                "request %s to %s.%s was nested too deeply", request_id, spec.name, operation_name
            )
            nested = ValidationException(
                "The request contains a value nested too deeply to process; nest it less.",
                code=spec.info.validation_error,
            )
            response = self._error_response(spec, codec, operation, request, nested, request_id)
        except Exception as exc:
            logger.exception(
                "request %s to %s.%s failed unexpectedly", request_id, spec.name, operation_name
            )
            failure = InternalFailure(
                "The request processing has failed because of an unknown error "
                f"({type(exc).__name__})."
            )
            response = self._error_response(spec, codec, operation, request, failure, request_id)

        elapsed = time.perf_counter() - started
        metrics.observe_request(spec.name, operation_name, response.status, elapsed)
        access_log.info(
            "request_id=%s account=%s service=%s operation=%s status=%d duration_ms=%.1f",
            request_id,
            account_id,
            spec.name,
            operation_name,
            response.status,
            elapsed * 1000,
        )
        return response

    def _authenticate(self, request: HttpRequest, signed: sigv4.SignedRequest) -> Caller:
        """Return the caller whose key signed ``request``; raise AuthError otherwise."""
        with self.runtime.database.read() as connection:
            resolved = resolve_access_key(
                connection,
                self._secrets,
                signed.access_key_id,
                signed.session_token,
                self.runtime.clock.wall_now(),
            )
        # The client signs with its own wall clock, so the skew window is
        # checked against the wall clock, not against product time.
        sigv4.verify_signature(request, signed, resolved.secret_access_key, now=datetime.now(UTC))
        return resolved.caller

    def _run(
        self,
        spec: ServiceSpec,
        codec: Codec,
        operation: OperationModel,
        request: HttpRequest,
        signed: sigv4.SignedRequest,
        caller: Caller,
        request_id: str,
    ) -> HttpResponse:
        service_handlers = self.handlers.get(spec.name)
        entry = service_handlers.operations.get(operation.name) if service_handlers else None
        if entry is None:
            raise self._not_implemented(codec, operation)
        params = codec.parse_request(operation, request)
        call = _Call(spec, operation, entry, caller, signed.region, request_id)
        return self._execute(
            call, params, lambda output: codec.serialize_response(operation, output, request_id)
        )

    def _execute(
        self,
        call: _Call,
        params: dict[str, Any],
        finish: Callable[[Mapping[str, Any]], Result],
    ) -> Result:
        """Validate ``params`` and run the handler in a transaction; ``finish`` runs inside it."""
        spec = call.spec
        validate(
            call.operation.input_shape,
            params,
            error_code=spec.info.validation_error,
            error_shape=self._error_shapes.get((spec.name, spec.info.validation_error)),
        )

        # A concurrent request with the same idempotency token can win the
        # insert of the token record, and one retry then returns its result.
        # PostgreSQL may also abort the transaction as a deadlock or a
        # serialization failure, which a few retries resolve.
        unique_retried = False
        conflicts = 0
        while True:
            try:
                with self._transaction(call.entry.read_only) as session:
                    ctx = RequestContext(
                        request_id=call.request_id,
                        spec=spec,
                        operation=call.operation.name,
                        region=call.region,
                        caller=call.caller,
                        session=session,
                        runtime=self.runtime,
                    )
                    output = self._invoke(ctx, call.operation, call.entry.handler, params)
                    return finish(output)
            except IntegrityError:
                if unique_retried:
                    raise
                unique_retried = True
                logger.info("request %s raced another on a unique key; retrying", call.request_id)
            except DBAPIError as exc:
                if not is_transaction_conflict(exc) or conflicts >= MAX_CONFLICT_RETRIES:
                    raise
                conflicts += 1
                logger.warning(
                    "request %s lost a transaction conflict (SQLSTATE %s); retry %d of %d",
                    call.request_id,
                    getattr(exc.orig, "sqlstate", None),
                    conflicts,
                    MAX_CONFLICT_RETRIES,
                )
                time.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * conflicts))

    def invoke_as(
        self,
        caller: Caller,
        service: str,
        operation_name: str,
        params: dict[str, Any],
        *,
        region: str,
    ) -> dict[str, Any]:
        """Run one operation for a caller that was authenticated another way than SigV4.

        The web console signs users in with passwords and calls operations
        through here. Only the signature check is skipped: the input is
        validated against the service model, and the handler authorizes the
        caller and runs in its transaction exactly as for a signed request.
        ``params`` contains decoded members, as a codec would produce them.
        Returns the handler's output members. Raises ``InvocationError`` with
        the AWS error code and HTTP status of any failure.
        """
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        status = 200
        spec: ServiceSpec | None = None
        try:
            spec = next((spec for spec in self.specs.values() if spec.name == service), None)
            if spec is None:
                raise UnknownOperationException(
                    f"The service {service!r} is not served here; served services: "
                    f"{', '.join(sorted(spec.name for spec in self.specs.values()))}"
                )
            if operation_name not in spec.model.operation_names:
                raise UnknownOperationException(
                    f"The operation {operation_name} does not exist in service {service}."
                )
            operation = spec.model.operation_model(operation_name)
            service_handlers = self.handlers.get(spec.name)
            entry = service_handlers.operations.get(operation_name) if service_handlers else None
            if entry is None:
                raise UnknownOperationException(
                    f"The operation {operation_name} is not implemented by this Tocsin server."
                )
            call = _Call(spec, operation, entry, caller, region, request_id)
            return self._execute(call, dict(params), dict)
        except ServiceError as error:
            code, status, _sender_fault = resolve_error(spec or self.specs["sts"], error)
            raise InvocationError(code, error.message, status) from error
        except Exception as exc:
            status = 500
            logger.exception("console call %s to %s.%s failed", request_id, service, operation_name)
            raise InvocationError(
                "InternalFailure",
                "The request processing has failed because of an unknown error "
                f"({type(exc).__name__}).",
                500,
            ) from exc
        finally:
            elapsed = time.perf_counter() - started
            metrics.observe_request(service, operation_name, status, elapsed)
            access_log.info(
                "request_id=%s account=%s service=%s operation=%s status=%d duration_ms=%.1f "
                "principal=%s via=console",
                request_id,
                caller.account_id,
                service,
                operation_name,
                status,
                elapsed * 1000,
                caller.arn,
            )

    @contextlib.contextmanager
    def _transaction(self, read_only: bool) -> Iterator[Session]:
        """Yield a session in a new transaction, read-only for handlers that never write."""
        if not read_only:
            with self.runtime.database.session() as session:
                yield session
            return
        with self.runtime.database.read() as connection, Session(bind=connection) as session:
            yield session

    def _invoke(
        self,
        ctx: RequestContext,
        operation: OperationModel,
        handler: Any,
        params: dict[str, Any],
    ) -> Mapping[str, Any]:
        token_request = idempotency.IdempotentRequest.from_params(
            ctx.spec, operation, ctx.account_id, params
        )
        expired = False
        if token_request is not None:
            stored, expired = idempotency.lookup(ctx.session, token_request, now=ctx.clock.now())
            if stored is not None:
                return stored
        try:
            output = handler(ctx, params) or {}
        except InvalidPageToken as exc:
            raise ServiceError(
                _page_token_message(params, str(exc)), code=ctx.spec.info.invalid_token_error
            ) from exc
        if token_request is not None:
            idempotency.store(
                ctx.session, token_request, output, now=ctx.clock.now(), replace_expired=expired
            )
        return output

    def too_large(self, request: HttpRequest, limit: int) -> HttpResponse:
        """Build the error response to a request whose body is larger than ``limit`` bytes."""
        error = RequestEntityTooLarge(
            f"Request body exceeds the maximum size of {limit} bytes accepted by this server "
            "(setting TOCSIN_MAX_BODY_BYTES)."
        )
        return self._reject_unread(request, error, 413)

    def body_timed_out(self, request: HttpRequest, seconds: float) -> HttpResponse:
        """Build the error response to a request whose body did not arrive within ``seconds``."""
        error = RequestTimeout(
            f"The request body did not arrive within {seconds:g} seconds "
            "(setting TOCSIN_BODY_TIMEOUT_SECONDS)."
        )
        return self._reject_unread(request, error, 408)

    def _reject_unread(
        self, request: HttpRequest, error: ServiceError, status: int
    ) -> HttpResponse:
        request_id = str(uuid.uuid4())
        spec = self._spec_for_errors(request)
        signed = None
        with contextlib.suppress(ServiceError):
            signed = sigv4.parse_signature(request)
        if signed is not None and signed.service in self.specs:
            spec = self.specs[signed.service]
        logger.warning("request %s to %s rejected: %s", request_id, spec.name, error.message)
        metrics.observe_request(spec.name, "-", status, 0.0)
        return self._error_response(spec, None, None, request, error, request_id)

    @staticmethod
    def _not_implemented(codec: Codec, operation: OperationModel) -> ServiceError:
        message = f"The operation {operation.name} is not implemented by this Tocsin server."
        if codec.protocol == "query":
            return InvalidAction(message)
        return UnknownOperationException(message)

    def _spec_for_errors(self, request: HttpRequest) -> ServiceSpec:
        """Guess the called service from the request alone, to shape an early error.

        The X-Amz-Target prefix names a json service, and the smithy-protocol
        header marks CBOR. A form body or an Action parameter marks a query
        service. Anything else is taken for a rest-json request.
        """
        target = request.header("x-amz-target")
        if target:
            prefix = target.split(".", 1)[0]
            for spec in self.specs.values():
                if spec.model.metadata.get("targetPrefix") == prefix:
                    return spec
        wanted = FALLBACK_SERVICE
        content_type = request.header("content-type").split(";", 1)[0].strip().lower()
        if request.header("smithy-protocol"):
            wanted = CBOR_FALLBACK_SERVICE
        elif content_type != "application/x-www-form-urlencoded" and "Action" not in request.query:
            wanted = REST_JSON_FALLBACK_SERVICE
        for spec in self.specs.values():
            if spec.name == wanted:
                return spec
        return next(iter(self.specs.values()))

    def _unserved_service(
        self, spec: ServiceSpec, request: HttpRequest, service: str
    ) -> ServiceError:
        message = (
            f"The service {service!r} in the credential scope is not served here; "
            f"served services: {', '.join(sorted(self.specs))}"
        )
        if codec_for(spec, request).protocol == "query":
            return InvalidAction(message)
        return UnknownOperationException(message, status=400)

    def _error_response(
        self,
        spec: ServiceSpec,
        codec: Codec | None,
        operation: OperationModel | None,
        request: HttpRequest,
        error: ServiceError,
        request_id: str,
    ) -> HttpResponse:
        if codec is None:
            try:
                codec = codec_for(spec, request)
            except ServiceError:
                codec = codec_for(self.specs[FALLBACK_SERVICE], request)
        return codec.serialize_error(error, request_id, operation)
