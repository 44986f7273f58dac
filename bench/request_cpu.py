"""CPU time per request of the dispatcher, measured in-process, with an optional profile.

A Tocsin server runs in this process (``tocsin.testing.RunningServer`` with
the real clock), and the operation under test is called through the server's
own ``Dispatcher.handle`` with requests signed by botocore beforehand. HTTP
parsing, Starlette and uvicorn are left out, so the numbers are the cost of
SigV4 verification, dispatch, the codec, the handler and the database. The
job engine is stopped unless ``--engine`` is given. The result is this
process's CPU time per request, which the load of other processes changes
far less than the wall-clock time.

Run with ``.venv/bin/python -m bench.request_cpu --operation start-incident``;
``--profile`` adds a cProfile listing, and ``--profile-output FILE`` keeps
the raw statistics for ``python -m pstats`` or snakeviz.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.harness import DEFAULT_POSTGRESQL_URL, libpq_conninfo, scratch_postgresql_database
from tocsin.engine.clock import SystemClock
from tocsin.protocol.codec import HttpRequest
from tocsin.protocol.dispatch import Dispatcher
from tocsin.testing import Keys, RunningServer

REGION = "us-east-1"
JSON = "application/json"
OPERATIONS = ("caller-identity", "start-incident", "list-incident-records")


def signed_request(
    server: RunningServer,
    keys: Keys,
    service: str,
    path: str,
    body: bytes,
    content_type: str,
) -> HttpRequest:
    """Sign one request with botocore and return it as the dispatcher receives it."""
    url = f"{server.url}{path}"
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": content_type})
    credentials = Credentials(keys.access_key_id, keys.secret_access_key)
    SigV4Auth(credentials, service, REGION).add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = f"127.0.0.1:{server.port}"
    headers["content-length"] = str(len(body))
    return HttpRequest(method="POST", raw_path=path, query_string="", headers=headers, body=body)


def prepare_plan(server: RunningServer, keys: Keys) -> str:
    """Create a replication set, two contacts and a response plan; return the plan's ARN."""
    incidents = server.client("ssm-incidents", keys, region=REGION)
    replication = incidents.create_replication_set(regions={REGION: {}})["arn"]
    incidents.get_waiter("wait_for_replication_set_active").wait(
        arn=replication, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    contacts = server.client("ssm-contacts", keys, region=REGION)
    engagements = [
        contacts.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
        for alias in ("primary", "secondary")
    ]
    plan: str = incidents.create_response_plan(
        name="bench",
        incidentTemplate={"title": "Checkout latency", "impact": 3},
        engagements=engagements,
    )["arn"]
    return plan


def requests_for(
    operation: str, server: RunningServer, keys: Keys, count: int, client_token: bool
) -> list[HttpRequest]:
    """Return the signed requests to replay: one, or ``count`` with distinct client tokens."""
    if operation == "caller-identity":
        body = b"Action=GetCallerIdentity&Version=2011-06-15"
        form = "application/x-www-form-urlencoded; charset=utf-8"
        return [signed_request(server, keys, "sts", "/", body, form)]
    plan = prepare_plan(server, keys)
    if operation == "list-incident-records":
        incidents = server.client("ssm-incidents", keys, region=REGION)
        for _ in range(50):
            incidents.start_incident(responsePlanArn=plan)
        body = json.dumps({"maxResults": 20}).encode()
        return [signed_request(server, keys, "ssm-incidents", "/listIncidentRecords", body, JSON)]
    if not client_token:
        body = json.dumps({"responsePlanArn": plan}).encode()
        return [signed_request(server, keys, "ssm-incidents", "/startIncident", body, JSON)]
    # boto3 sends a fresh clientToken with every StartIncident, so each call is signed apart.
    return [
        signed_request(
            server,
            keys,
            "ssm-incidents",
            "/startIncident",
            json.dumps({"responsePlanArn": plan, "clientToken": str(uuid.uuid4())}).encode(),
            JSON,
        )
        for _ in range(count)
    ]


@contextmanager
def running_server(backend: str, maintenance_url: str) -> Iterator[RunningServer]:
    with tempfile.TemporaryDirectory(prefix="tocsin-cpu-") as home:
        if backend == "sqlite":
            with RunningServer(Path(home), clock=SystemClock(), workers=1) as server:
                yield server
            return
        with (
            scratch_postgresql_database(maintenance_url, "tocsin_cpu") as url,
            RunningServer(
                Path(home), database_url=libpq_conninfo(url), clock=SystemClock(), workers=1
            ) as server,
        ):
            yield server


def measure(handle: Callable[[], Any], requests: int) -> tuple[float, float]:
    """Call ``handle`` ``requests`` times; return CPU and wall-clock milliseconds per call."""
    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    for _ in range(requests):
        handle()
    cpu = time.process_time() - cpu_started
    wall = time.perf_counter() - wall_started
    return 1000 * cpu / requests, 1000 * wall / requests


def run(arguments: argparse.Namespace) -> None:
    with running_server(arguments.backend, arguments.database_url) as server:
        keys = server.create_account()
        total = arguments.warmup + arguments.requests
        requests = requests_for(arguments.operation, server, keys, total, arguments.client_token)
        # Without --engine the job engine stops, so that only the request path is measured.
        if not arguments.engine and server.runtime.engine is not None:
            server.runtime.engine.stop()
        dispatcher = Dispatcher(server.runtime, server.runtime.handlers)
        replayed = itertools.cycle(requests)

        def handle() -> None:
            response = dispatcher.handle(next(replayed))
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {response.body[:500]!r}")

        measure(handle, arguments.warmup)
        profiler = None
        if arguments.profile or arguments.profile_output:
            # The profile counts this thread's CPU time, so waits for the disk do not show.
            profiler = cProfile.Profile(time.thread_time)
            profiler.enable()
        cpu_ms, wall_ms = measure(handle, arguments.requests)
        if profiler is not None:
            profiler.disable()
        print(
            f"{arguments.backend} {arguments.operation}"
            + (" with clientToken" if arguments.client_token else "")
            + f": {cpu_ms:.3f} ms CPU, {wall_ms:.3f} ms wall per request over "
            f"{arguments.requests} requests" + (" (under cProfile)" if profiler is not None else "")
        )
        if profiler is not None:
            if arguments.profile_output:
                profiler.dump_stats(arguments.profile_output)
            if arguments.profile:
                stats = pstats.Stats(profiler, stream=sys.stdout)
                stats.sort_stats(arguments.sort).print_stats(arguments.lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operation", choices=OPERATIONS, default="start-incident")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_POSTGRESQL_URL,
        help=f"Maintenance database for the scratch PostgreSQL database "
        f"(default {DEFAULT_POSTGRESQL_URL}).",
    )
    parser.add_argument("--requests", type=int, default=2000, help="Measured requests.")
    parser.add_argument("--warmup", type=int, default=200, help="Unmeasured requests first.")
    parser.add_argument(
        "--client-token",
        action="store_true",
        help="Give every StartIncident its own clientToken, as boto3 does.",
    )
    parser.add_argument(
        "--engine",
        action="store_true",
        help="Keep the job engine running, so that its wake-ups after each commit count too.",
    )
    parser.add_argument("--profile", action="store_true", help="Print a cProfile listing.")
    parser.add_argument("--profile-output", help="Write the raw cProfile statistics here.")
    parser.add_argument(
        "--sort", default="tottime", help="pstats sort key of the listing (default tottime)."
    )
    parser.add_argument("--lines", type=int, default=40, help="Rows of the listing.")
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
