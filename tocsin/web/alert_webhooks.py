"""POST /webhooks/{token}: alerts from Alertmanager, Grafana, SNS or any JSON sender.

The token in the path is the credential, so requests carry no AWS
signature. Responses:

- 200 with ``{"EventIds": [...]}`` once every event of the body is stored;
- 400 for a body that is not JSON of the registration's format, with a
  message that names the member and the value, and for a registration whose
  event bus does not exist;
- 403 for an SNS message whose signature is invalid or whose certificate is
  not trusted;
- 404 for an unknown or revoked token (one response for both, so a caller
  learns nothing about other URLs);
- 405 for another method, 413 for a body larger than TOCSIN_MAX_BODY_BYTES,
  415 for a content type other than JSON, except at sns registrations, whose
  bodies are parsed as JSON whatever their content type because SNS sends
  ``text/plain``;
- 429 with Retry-After for a post over the registration's posts per minute,
  with ``MaxPerMinute`` and ``RetryAfterSeconds`` in the body;
- 503 when the database cannot store the events, so that senders that retry
  on server errors (Alertmanager does) send the alerts again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tocsin.events.webhook_formats import WebhookPayloadError
from tocsin.events.webhook_quotas import WebhookQuotaExceeded
from tocsin.events.webhook_sns import SNS, SnsSignatureError, SnsTrust
from tocsin.events.webhooks import Delivery, WebhookBusMissing, receive, registration_format
from tocsin.web.bodies import read_body

if TYPE_CHECKING:
    from tocsin.app import Runtime

logger = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=NO_STORE)


def _is_json(content_type: str | None) -> bool:
    """Return whether the media type is application/json or a ``+json`` type."""
    if content_type is None:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def routes(runtime: Runtime) -> list[BaseRoute]:
    """Return the route of inbound alerting webhooks."""
    settings = runtime.settings
    sns_trust = SnsTrust.from_settings(settings)

    def deliver(token: str, body: bytes) -> Response:
        try:
            delivery: Delivery | None = receive(
                runtime.database,
                runtime.clock,
                token,
                body,
                sns_trust,
                max_per_minute=settings.webhook_max_per_minute,
            )
        except WebhookQuotaExceeded as exc:
            rejection = exc.rejection
            logger.debug("webhook %s post rejected: %s", rejection.webhook_id, exc)
            return JSONResponse(
                {
                    "message": rejection.message,
                    "MaxPerMinute": rejection.max_per_minute,
                    "RetryAfterSeconds": rejection.retry_after_seconds,
                },
                status_code=429,
                headers={**NO_STORE, "Retry-After": str(rejection.retry_after_seconds)},
            )
        except SnsSignatureError as exc:
            # The message may be forged, or the operator may need to trust its certificate host.
            logger.warning("webhook post rejected: %s", exc)
            return _error(403, str(exc))
        except WebhookPayloadError as exc:
            logger.info("webhook post rejected: %s", exc)
            return _error(400, str(exc))
        except WebhookBusMissing as exc:
            # The registration is misconfigured, so the operator needs to see it.
            logger.warning("webhook post rejected: %s", exc)
            return _error(400, str(exc))
        except Exception:
            logger.exception("webhook post could not be stored")
            return _error(503, "The alerts could not be stored; send them again later.")
        if delivery is None:
            # The token is a credential and stays out of the log.
            logger.info("webhook post with an unknown or revoked token")
            return _error(404, "Webhook not found.")
        return JSONResponse({"EventIds": delivery.event_ids}, headers=NO_STORE)

    async def check_content_type(token: str, content_type: str | None) -> Response | None:
        """Return the error response for a content type that the registration does not take."""
        if _is_json(content_type):
            return None
        try:
            format_name = await run_in_threadpool(registration_format, runtime.database, token)
        except Exception:
            logger.exception("webhook registration could not be read")
            return _error(503, "The alerts could not be stored; send them again later.")
        if format_name == SNS:
            return None
        received_type = content_type or "none"
        return _error(
            415, f"Content-Type {received_type!r} is not supported; send application/json."
        )

    async def webhook(request: Request) -> Response:
        token: str = request.path_params["token"]
        if request.method != "POST":
            return Response(
                "Webhooks accept POST only.\n", status_code=405, headers={"Allow": "POST"}
            )
        rejected = await check_content_type(token, request.headers.get("content-type"))
        if rejected is not None:
            return rejected
        try:
            async with asyncio.timeout(settings.body_timeout_seconds):
                body = await read_body(request, settings.max_body_bytes)
        except ClientDisconnect:
            logger.info("client %s disconnected while sending a webhook body", request.client)
            return Response(status_code=400)
        except TimeoutError:
            return _error(
                408, f"The body did not arrive within {settings.body_timeout_seconds:g} seconds."
            )
        if body is None:
            return _error(
                413,
                f"The body is larger than {settings.max_body_bytes} bytes, the server's limit "
                "(TOCSIN_MAX_BODY_BYTES).",
            )
        return await run_in_threadpool(deliver, token, body)

    # Other methods are routed here too, so that they get 405 instead of
    # reaching the AWS endpoint behind the web routes.
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [Route("/webhooks/{token}", webhook, methods=methods)]
