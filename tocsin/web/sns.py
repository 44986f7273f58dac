"""SNS links: the signing certificate, SubscribeURL confirmation and UnsubscribeURL.

``/sns/SimpleNotificationService-{key_id}.pem`` serves the certificate that
verifies message signatures. ``/sns/confirm?Action=ConfirmSubscription&TopicArn=..&Token=..``
confirms a subscription, as a GET of AWS's SubscribeURL does: the token is the
credential, so the request carries no AWS signature. ``/sns/unsubscribe`` takes
the SubscriptionArn and a token that Tocsin derived from it. Both respond in
the SNS query protocol's XML, with the SNS error codes.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tocsin.notify import signing, subscriptions
from tocsin.notify.sns_errors import InternalErrorException, invalid_parameter
from tocsin.protocol.errors import ServiceError
from tocsin.protocol.query import QueryCodec
from tocsin.protocol.services import load_spec

if TYPE_CHECKING:
    from tocsin.app import Runtime

logger = logging.getLogger(__name__)

PEM_MEDIA_TYPE = "application/x-pem-file"


def _required(query: dict[str, str], name: str) -> str:
    value = query.get(name)
    if not value:
        raise invalid_parameter(name, f"the {name} query parameter is required")
    return value


def _check_action(query: dict[str, str], action: str) -> None:
    given = query.get("Action", action)
    if given != action:
        raise invalid_parameter("Action", f"this link only performs {action}, not {given!r}")


def _head_response() -> Response:
    # Starlette routes HEAD to GET routes. Link checkers send HEAD requests, so
    # HEAD changes nothing and only confirms that the route exists.
    return Response(status_code=200, media_type="text/xml")


def routes(runtime: Runtime) -> list[BaseRoute]:
    """Return the routes of SNS certificates and subscription links."""
    codec = QueryCodec(load_spec("sns"))

    def respond(operation: str, work: Any, query: dict[str, str]) -> Response:
        request_id = str(uuid.uuid4())
        model = codec.spec.model.operation_model(operation)
        try:
            with runtime.database.session() as session:
                output = work(session, query)
                result = codec.serialize_response(model, output, request_id)
        except ServiceError as error:
            logger.info("SNS %s link failed: %s", operation, error.message)
            result = codec.serialize_error(error, request_id, model)
        except Exception as exc:
            logger.exception("SNS %s link request %s failed unexpectedly", operation, request_id)
            failure = InternalErrorException(
                "The request processing has failed because of an unknown error "
                f"({type(exc).__name__})."
            )
            result = codec.serialize_error(failure, request_id, model)
        return Response(result.body, status_code=result.status, headers=dict(result.headers))

    def confirm(session: Any, query: dict[str, str]) -> dict[str, Any]:
        _check_action(query, "ConfirmSubscription")
        subscription = subscriptions.confirm_subscription(
            session,
            runtime.clock,
            _required(query, "TopicArn"),
            _required(query, "Token"),
            authenticated=False,
        )
        return {"SubscriptionArn": subscription.arn}

    def unsubscribe(session: Any, query: dict[str, str]) -> dict[str, Any]:
        _check_action(query, "Unsubscribe")
        subscriptions.unsubscribe_by_link(
            session,
            runtime.clock,
            runtime.secrets,
            _required(query, "SubscriptionArn"),
            _required(query, "Token"),
        )
        return {}

    def certificate(key_id: str) -> str | None:
        with runtime.database.session() as session:
            return signing.certificate_pem(session, key_id)

    async def confirm_link(request: Request) -> Response:
        if request.method == "HEAD":
            return _head_response()
        query = dict(request.query_params)
        return await run_in_threadpool(respond, "ConfirmSubscription", confirm, query)

    async def unsubscribe_link(request: Request) -> Response:
        if request.method == "HEAD":
            return _head_response()
        query = dict(request.query_params)
        return await run_in_threadpool(respond, "Unsubscribe", unsubscribe, query)

    async def certificate_file(request: Request) -> Response:
        key_id: str = request.path_params["key_id"]
        pem = await run_in_threadpool(certificate, key_id)
        if pem is None:
            return PlainTextResponse("Certificate not found.\n", status_code=404)
        return Response(pem, media_type=PEM_MEDIA_TYPE)

    return [
        Route("/sns/confirm", confirm_link, methods=["GET"]),
        Route("/sns/unsubscribe", unsubscribe_link, methods=["GET"]),
        Route("/sns/SimpleNotificationService-{key_id}.pem", certificate_file, methods=["GET"]),
    ]
