"""Benchmark StartIncident and ListIncidentRecords through the whole stack.

For each backend (SQLite, PostgreSQL) a fresh ``tocsin serve`` gets a
replication set and a response plan with two engagements. StartIncident is
then driven by 1 and 16 concurrent keep-alive clients. The replayed request
carries no clientToken and the plan no dedupe string, so every call creates
an incident with its timeline events and engagement jobs. The store is
then filled to ``--incidents`` incidents through the domain code, and the
first page of ListIncidentRecords (newest first, 20 records) is measured.
The server's memory is read at the end. The raw insert ceilings of the same
machine are measured first, in the same run.

Run with ``.venv/bin/python -m bench.incidents``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from sqlalchemy import func, select

import tocsin.store.models  # noqa: F401  (registers every table for the ORM)
from bench.caller_identity import (
    RESULTS_DIRECTORY,
    children_cpu_seconds,
    machine_description,
    matching_ceiling,
    measure_ceilings,
    parse_backends,
    process_cpu_seconds,
)
from bench.ceiling import Ceiling
from bench.harness import DEFAULT_POSTGRESQL_URL, TocsinServer, tocsin_server
from bench.load import LoadSpec, run_load, sign_request
from tocsin.engine.clock import SystemClock
from tocsin.incidents import records
from tocsin.incidents.models import IncidentRecord, ResponsePlan
from tocsin.store.database import Database

REGION = "us-east-1"
START_LEVELS = (1, 16)
LIST_LEVELS = (1, 8)
SEED_BATCH = 1000


def _client(server: TocsinServer, keys: Any) -> Any:
    return boto3.client(
        "ssm-incidents",
        endpoint_url=f"http://{server.host}:{server.port}",
        region_name=REGION,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
    )


def _prepare(server: TocsinServer, keys: Any) -> str:
    """Create the replication set and the response plan; return the plan's ARN."""
    client = _client(server, keys)
    replication = client.create_replication_set(regions={REGION: {}})["arn"]
    client.get_waiter("wait_for_replication_set_active").wait(
        arn=replication, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    contacts = boto3.client(
        "ssm-contacts",
        endpoint_url=f"http://{server.host}:{server.port}",
        region_name=REGION,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
    )
    engagements = [
        contacts.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []})["ContactArn"]
        for alias in ("primary", "secondary")
    ]
    plan: str = client.create_response_plan(
        name="bench",
        incidentTemplate={"title": "Checkout latency", "impact": 3},
        engagements=engagements,
    )["arn"]
    return plan


def _signed(server: TocsinServer, keys: Any, path: str, body: dict[str, Any]) -> bytes:
    return sign_request(
        host=server.host,
        port=server.port,
        service="ssm-incidents",
        region=REGION,
        access_key_id=keys.access_key_id,
        secret_access_key=keys.secret_access_key,
        method="POST",
        path=path,
        headers={"Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )


def _database_url(server: TocsinServer) -> str:
    return server.database_url or f"sqlite:///{server.home / 'tocsin.db'}"


def _seed(server: TocsinServer, keys: Any, target: int) -> int:
    """Create incidents through the domain code until ``target`` exist; return the count."""
    database = Database(_database_url(server))
    clock = SystemClock()
    caller = f"arn:aws:iam::{keys.account_id}:user/Administrator"
    try:
        with database.session() as session:
            count = session.scalar(select(func.count()).select_from(IncidentRecord)) or 0
        while count < target:
            batch = min(SEED_BATCH, target - count)
            with database.session() as session:
                plan = session.scalars(select(ResponsePlan)).one()
                for _ in range(batch):
                    records.start(
                        session,
                        clock,
                        plan,
                        {"responsePlanArn": plan.arn},
                        caller_arn=caller,
                        caller_account=keys.account_id,
                    )
            count += batch
        return count
    finally:
        database.dispose()


def _level(
    server: TocsinServer, request: bytes, clients: int, arguments: argparse.Namespace
) -> dict[str, Any]:
    spec = LoadSpec(
        host=server.host,
        port=server.port,
        request=request,
        clients=clients,
        duration_seconds=arguments.seconds,
        warmup_seconds=arguments.warmup,
        max_requests=arguments.max_requests,
        processes=min(arguments.processes, clients),
    )
    before = children_cpu_seconds()
    result = run_load(spec, server_cpu=functools.partial(process_cpu_seconds, server.pid))
    record = result.as_dict()
    record["generator_cpu_seconds"] = children_cpu_seconds() - before
    return record


def run_backend(backend: str, arguments: argparse.Namespace) -> dict[str, Any]:
    with tocsin_server(backend, arguments.database_url) as server:
        keys = server.create_account()
        plan = _prepare(server, keys)
        start_request = _signed(server, keys, "/startIncident", {"responsePlanArn": plan})
        starts = []
        for clients in START_LEVELS:
            record = _level(server, start_request, clients, arguments)
            starts.append(record)
            print(
                f"{backend}: StartIncident, {clients} clients: {_summary(record)}", file=sys.stderr
            )

        seeded_started = time.monotonic()
        stored = _seed(server, keys, arguments.incidents)
        seed_seconds = time.monotonic() - seeded_started
        print(f"{backend}: {stored:,} incidents stored ({seed_seconds:.0f} s)", file=sys.stderr)

        list_request = _signed(server, keys, "/listIncidentRecords", {"maxResults": 20})
        lists = []
        for clients in LIST_LEVELS:
            record = _level(server, list_request, clients, arguments)
            lists.append(record)
            summary = _summary(record)
            print(f"{backend}: ListIncidentRecords, {clients} clients: {summary}", file=sys.stderr)
        memory = server.memory_kib()
    return {
        "backend": backend,
        "start_incident": starts,
        "list_incident_records": lists,
        "incidents_stored": stored,
        "server_memory_kib": memory,
    }


def _summary(record: dict[str, Any]) -> str:
    return (
        f"{record['requests_per_second']:,.0f} req/s, p50 {record['p50_ms']:.1f} ms, "
        f"p99 {record['p99_ms']:.1f} ms, {record['errors']} errors, "
        f"server CPU {record['server_cpu_percent']:.0f}%"
    )


def markdown(backends: list[dict[str, Any]], ceilings: list[Ceiling]) -> str:
    header = (
        "| Backend | Operation | Clients | Requests/s | p50 ms | p99 ms | Errors "
        "| Server CPU | Ratio to insert ceiling |"
    )
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    for backend in backends:
        operations = (
            ("StartIncident", backend["start_incident"]),
            (
                f"ListIncidentRecords at {backend['incidents_stored']:,} incidents",
                backend["list_incident_records"],
            ),
        )
        for name, levels in operations:
            for level in levels:
                ratio = "n/a"
                ceiling = matching_ceiling(backend["backend"], level["clients"], ceilings)
                if name == "StartIncident" and ceiling is not None and ceiling.rows_per_second:
                    ratio = f"{level['requests_per_second'] / ceiling.rows_per_second:.2f}"
                    ratio += f" ({ceiling.name})"
                rows.append(
                    f"| {backend['backend']} | {name} | {level['clients']} "
                    f"| {level['requests_per_second']:,.0f} | {level['p50_ms']:.1f} "
                    f"| {level['p99_ms']:.1f} | {level['errors']} "
                    f"| {level['server_cpu_percent']:.0f}% | {ratio} |"
                )
    memory = ["| Backend | Incidents stored | Server RSS (MiB) | Peak RSS (MiB) |"]
    memory.append("|---|---|---|---|")
    for backend in backends:
        kib = backend["server_memory_kib"]
        memory.append(
            f"| {backend['backend']} | {backend['incidents_stored']:,} "
            f"| {kib.get('VmRSS', 0) / 1024:.0f} | {kib.get('VmHWM', 0) / 1024:.0f} |"
        )
    return "\n".join(rows) + "\n\n" + "\n".join(memory)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_POSTGRESQL_URL,
        help="Maintenance database on the local PostgreSQL server, used to create and drop "
        f"scratch databases (default {DEFAULT_POSTGRESQL_URL}).",
    )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="Comma-separated backends to run."
    )
    parser.add_argument(
        "--incidents",
        type=int,
        default=100_000,
        help="Incidents stored before ListIncidentRecords is measured (default 100000).",
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="Measured seconds per level (default 10)."
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="Warm-up seconds per level (default 2)."
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=200_000,
        help="Cap on requests per measured window and per warm-up (default 200000).",
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="Load generator processes (default 2)."
    )
    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=3.0,
        help="Seconds per insert-ceiling measurement (default 3).",
    )
    arguments = parser.parse_args(argv)
    arguments.backends = parse_backends(parser, arguments.backends)
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = datetime.now(UTC)
    ceilings, postgresql_settings = measure_ceilings(
        arguments.backends, arguments.database_url, arguments.ceiling_seconds
    )

    backends = [run_backend(backend, arguments) for backend in arguments.backends]
    print(markdown(backends, ceilings))
    record = {
        "benchmark": "incidents",
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(
            [Path(sys.executable).name, "-m", "bench.incidents", *(argv or sys.argv[1:])]
        ),
        "machine": machine_description(postgresql_settings),
        "ceilings": [ceiling.as_dict() for ceiling in ceilings],
        "backends": backends,
    }
    RESULTS_DIRECTORY.mkdir(exist_ok=True)
    path = RESULTS_DIRECTORY / f"incidents-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"results written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
