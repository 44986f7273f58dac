"""Composition root: builds the runtime and the ASGI application from settings."""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import tocsin
from tocsin import contacts, events, incidents, notify, runbooks
from tocsin.config import Settings
from tocsin.engine import maintenance
from tocsin.engine.clock import Clock, make_clock
from tocsin.engine.worker import Engine, JobRegistry
from tocsin.iam.crypto import SecretBox, check_key, load_or_create_key
from tocsin.iam.models import AccessKey
from tocsin.protocol.codec import HttpRequest, HttpResponse
from tocsin.protocol.dispatch import Dispatcher
from tocsin.protocol.handlers import ServiceHandlers
from tocsin.protocol.pagination import PageTokens
from tocsin.store.database import Database
from tocsin.web import all_routes
from tocsin.web.bodies import read_body

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Long-lived objects of one Tocsin process, shared by requests and jobs."""

    settings: Settings
    clock: Clock
    database: Database
    secrets: SecretBox
    page_tokens: PageTokens
    jobs: JobRegistry
    handlers: dict[str, ServiceHandlers] = field(default_factory=dict)
    engine: Engine | None = None


def all_service_handlers() -> dict[str, ServiceHandlers]:
    """Return the handlers of every service that Tocsin implements, by service name.

    Every module of the package whose name ends in ``_handlers`` contributes
    its ``handlers`` table; several modules may serve one service.
    """
    merged: dict[str, ServiceHandlers] = {}
    for module_name in _handler_module_names():
        table = importlib.import_module(module_name).handlers
        service = merged.setdefault(table.service, ServiceHandlers(table.service))
        for operation, entry in table.operations.items():
            if operation in service.operations:
                raise ValueError(f"operation {table.service}.{operation} is registered twice")
            service.operations[operation] = entry
    return merged


def _handler_module_names() -> list[str]:
    names = []
    for module in pkgutil.walk_packages(tocsin.__path__, prefix="tocsin."):
        if module.name.rsplit(".", 1)[-1].endswith("_handlers"):
            names.append(module.name)
    return sorted(names)


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """Open the database, bring its schema up to date and load the secret key."""
    clock = clock or make_clock(settings.clock_speed)
    database = Database(settings.effective_database_url)
    database.migrate()
    with database.read() as connection:
        sample = connection.scalar(select(AccessKey.encrypted_secret).limit(1))
    key = load_or_create_key(settings.home, settings.secret_key, create=sample is None)
    secrets = SecretBox(key)
    if sample is not None:
        check_key(secrets, sample, settings.home)
    jobs = JobRegistry()
    maintenance.register(jobs, settings)
    incidents.register(jobs)
    contacts.register(jobs, settings, secrets)
    notify.register(jobs, settings, secrets)
    events.register(jobs, settings, secrets)
    runbooks.register(jobs, settings, secrets)
    return Runtime(
        settings=settings,
        clock=clock,
        database=database,
        secrets=secrets,
        page_tokens=PageTokens(secrets.derive("pagination"), clock),
        jobs=jobs,
        handlers=all_service_handlers(),
    )


def create_app(runtime: Runtime, *, run_engine: bool = True) -> Starlette:
    """Build the ASGI application: the AWS endpoint, health and metrics."""
    dispatcher = Dispatcher(runtime, runtime.handlers)
    settings = runtime.settings

    async def endpoint(request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        http_request = HttpRequest(
            method=request.method,
            raw_path=raw_path.decode("latin-1"),
            query_string=request.scope.get("query_string", b"").decode("latin-1"),
            headers={name.lower(): value for name, value in request.headers.items()},
        )
        try:
            async with asyncio.timeout(settings.body_timeout_seconds):
                body = await read_body(request, settings.max_body_bytes)
        except ClientDisconnect:
            # The client is gone, so no response can be delivered; log the event and move on.
            logger.info("client %s disconnected while sending its request body", request.client)
            return Response(status_code=400)
        except TimeoutError:
            result = await run_in_threadpool(
                dispatcher.body_timed_out, http_request, settings.body_timeout_seconds
            )
            return _to_response(result)
        http_request.body = body or b""
        if body is None:
            result = await run_in_threadpool(
                dispatcher.too_large, http_request, settings.max_body_bytes
            )
        else:
            result = await run_in_threadpool(dispatcher.handle, http_request)
        return _to_response(result)

    async def healthz(_request: Request) -> Response:
        healthy = await run_in_threadpool(runtime.database.ping)
        status = 200 if healthy else 503
        return JSONResponse({"status": "ok" if healthy else "database unavailable"}, status)

    async def metrics_endpoint(_request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if run_engine and settings.workers > 0:
            with runtime.database.session() as session:
                maintenance.schedule_maintenance(session, runtime.clock)
            runtime.engine = Engine(runtime.database, runtime.clock, runtime.jobs, settings)
            runtime.engine.start()
        try:
            yield
        finally:
            if runtime.engine is not None:
                await run_in_threadpool(runtime.engine.stop)
                runtime.engine = None

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *all_routes(runtime),
        Route("/{path:path}", endpoint, methods=methods),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    # The console's pages reach the runtime and run operations through these.
    app.state.runtime = runtime
    app.state.dispatcher = dispatcher
    return app


def _to_response(result: HttpResponse) -> Response:
    headers: Mapping[str, str] = result.headers
    return Response(content=result.body, status_code=result.status, headers=dict(headers))
