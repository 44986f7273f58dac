"""Benchmark StartIncident and ListIncidentRecords through the whole stack.

For each backend (SQLite, PostgreSQL) a fresh ``tocsin serve`` gets a
replication set and a response plan with two engagements. StartIncident is
then driven by 1 and 16 concurrent keep-alive clients. The replayed request
carries no clientToken and the plan no dedupe string, so every call creates
an incident with its timeline events and engagement jobs. By default the
server runs no job workers (``--server-workers 0``), so the engagement jobs
stay pending and the levels measure StartIncident alone.

ListIncidentRecords is measured in a second account, whose plan engages
no contact. The account's incidents are seeded straight into the server's
database with StartIncident's own row-building code (bench/incident_listing.py)
up to each of ``--list-sizes``, and at each size the first page (newest
first, 20 records) is measured without a filter, with an impact filter and
with a status filter. Seeded incidents are checked against one created
through the API, the database's query plan of each listing is recorded, and
the server's memory is read at the largest size. The raw insert ceilings of
the same machine are measured first, in the same run.

Run with ``.venv/bin/python -m bench.incidents``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import boto3

from bench import incident_listing
from bench.caller_identity import (
    children_cpu_seconds,
    matching_ceiling,
    measure_ceilings,
    parse_backends,
    process_cpu_seconds,
    write_record,
)
from bench.ceiling import Ceiling
from bench.harness import DEFAULT_POSTGRESQL_URL, AccountKeys, TocsinServer, tocsin_server
from bench.load import LoadSpec, run_load, sign_request

REGION = "us-east-1"
START_LEVELS = (1, 16)
DEFAULT_LIST_SIZES = (1_000, 10_000, 100_000)
DEFAULT_LIST_CLIENTS = (1, 8)
LIST_PAGE = 20
# Listings measured at each size: a name and the request body.
LIST_QUERIES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("all", {"maxResults": LIST_PAGE}),
    (
        "impact 1",
        {
            "maxResults": LIST_PAGE,
            "filters": [{"key": "impact", "condition": {"equals": {"integerValues": [1]}}}],
        },
    ),
    (
        "status OPEN",
        {
            "maxResults": LIST_PAGE,
            "filters": [{"key": "status", "condition": {"equals": {"stringValues": ["OPEN"]}}}],
        },
    ),
)
# Seeded incidents compared with the API-created one.
VERIFIED_SEEDED = 5


def _client(server: TocsinServer, keys: AccountKeys, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=f"http://{server.host}:{server.port}",
        region_name=REGION,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
    )


def _database_url(server: TocsinServer) -> str:
    return server.database_url or f"sqlite:///{server.home / 'tocsin.db'}"


def _prepare(server: TocsinServer, keys: AccountKeys, plan_name: str, engaged: int) -> str:
    """Create the replication set, ``engaged`` contacts and a plan engaging them; return its ARN.

    The replication set's settle job runs in this process, so the server
    may run without job workers.
    """
    client = _client(server, keys, "ssm-incidents")
    replication = client.create_replication_set(regions={REGION: {}})["arn"]
    deadline = time.monotonic() + 60
    while client.get_replication_set(arn=replication)["replicationSet"]["status"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise RuntimeError(f"replication set {replication} did not become ACTIVE in 60 s")
        time.sleep(0.5)
        incident_listing.settle_replication_set(_database_url(server))
    contacts = _client(server, keys, "ssm-contacts")
    engagements = [
        contacts.create_contact(Alias=f"contact-{index}", Type="PERSONAL", Plan={"Stages": []})[
            "ContactArn"
        ]
        for index in range(engaged)
    ]
    plan: str = client.create_response_plan(
        name=plan_name,
        incidentTemplate={"title": "Checkout latency", "impact": 3},
        engagements=engagements,
    )["arn"]
    return plan


def _signed(server: TocsinServer, keys: AccountKeys, path: str, body: dict[str, Any]) -> bytes:
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


def _level(
    server: TocsinServer,
    request: bytes,
    clients: int,
    arguments: argparse.Namespace,
    *,
    seconds: float,
    warmup: float,
) -> dict[str, Any]:
    spec = LoadSpec(
        host=server.host,
        port=server.port,
        request=request,
        clients=clients,
        duration_seconds=seconds,
        warmup_seconds=warmup,
        max_requests=arguments.max_requests,
        processes=min(arguments.processes, clients),
    )
    before = children_cpu_seconds()
    result = run_load(spec, server_cpu=functools.partial(process_cpu_seconds, server.pid))
    record = result.as_dict()
    record["generator_cpu_seconds"] = children_cpu_seconds() - before
    rate = record["requests_per_second"]
    record["server_cpu_ms_per_request"] = (
        10 * record["server_cpu_percent"] / rate if rate > 0 else 0.0
    )
    return record


def _measure_starts(
    server: TocsinServer, arguments: argparse.Namespace, backend: str
) -> list[dict[str, Any]]:
    keys = server.create_account(name="bench")
    plan = _prepare(server, keys, "bench", engaged=2)
    start_request = _signed(server, keys, "/startIncident", {"responsePlanArn": plan})
    starts = []
    for clients in START_LEVELS:
        record = _level(
            server,
            start_request,
            clients,
            arguments,
            seconds=arguments.seconds,
            warmup=arguments.warmup,
        )
        starts.append(record)
        print(f"{backend}: StartIncident, {clients} clients: {_summary(record)}", file=sys.stderr)
    return starts


def _measure_listings(
    server: TocsinServer, arguments: argparse.Namespace, backend: str
) -> dict[str, Any]:
    keys = server.create_account(name="listing")
    plan = _prepare(server, keys, "listing", engaged=0)
    client = _client(server, keys, "ssm-incidents")
    caller = _client(server, keys, "sts").get_caller_identity()["Arn"]
    reference = client.start_incident(responsePlanArn=plan, impact=1)["incidentRecordArn"]
    database_url = _database_url(server)

    sizes = []
    memory: dict[str, int] = {}
    for size in arguments.list_sizes:
        started = time.monotonic()
        stored = incident_listing.seed(database_url, keys.account_id, "listing", caller, size)
        seed_seconds = time.monotonic() - started
        total = incident_listing.count_incidents(database_url)
        print(
            f"{backend}: {stored:,} incidents in the listing account, {total:,} in all "
            f"(seeded in {seed_seconds:.1f} s)",
            file=sys.stderr,
        )
        levels = []
        for name, body in LIST_QUERIES:
            request = _signed(server, keys, "/listIncidentRecords", body)
            for clients in arguments.list_clients:
                record = _level(
                    server,
                    request,
                    clients,
                    arguments,
                    seconds=arguments.list_seconds,
                    warmup=arguments.list_warmup,
                )
                record["query"] = name
                levels.append(record)
                print(
                    f"{backend}: ListIncidentRecords {name} at {stored:,}, {clients} clients: "
                    f"{_summary(record)}",
                    file=sys.stderr,
                )
        sizes.append(
            {
                "incidents_in_account": stored,
                "incidents_in_table": total,
                "seed_seconds": seed_seconds,
                "levels": levels,
            }
        )
        memory = server.memory_kib()

    newest = client.list_incident_records(maxResults=VERIFIED_SEEDED + 1)
    seeded = [
        summary["arn"]
        for summary in newest["incidentRecordSummaries"]
        if summary["arn"] != reference
    ][:VERIFIED_SEEDED]
    problems = incident_listing.verify_seeded(client, reference, seeded)
    for problem in problems:
        print(f"{backend}: seeded incident differs: {problem}", file=sys.stderr)
    print(
        f"{backend}: {len(seeded) - len(problems)} of {len(seeded)} seeded incidents match "
        "the one created through StartIncident",
        file=sys.stderr,
    )
    plans = {
        name: incident_listing.explain_listing(
            database_url, keys.account_id, body.get("filters", [])
        )
        for name, body in LIST_QUERIES
    }
    for name, text in plans.items():
        print(f"{backend}: query plan of ListIncidentRecords {name}:\n{text}", file=sys.stderr)
    return {
        "sizes": sizes,
        "server_memory_kib": memory,
        "seeded_verified": len(seeded),
        "seeded_differences": problems,
        "query_plans": plans,
    }


def run_backend(backend: str, arguments: argparse.Namespace) -> dict[str, Any]:
    settings = {"TOCSIN_WORKERS": str(arguments.server_workers)}
    with tocsin_server(backend, arguments.database_url, settings) as server:
        starts = _measure_starts(server, arguments, backend)
        listings = _measure_listings(server, arguments, backend)
    return {"backend": backend, "start_incident": starts, "list_incident_records": listings}


def _summary(record: dict[str, Any]) -> str:
    return (
        f"{record['requests_per_second']:,.0f} req/s, p50 {record['p50_ms']:.1f} ms, "
        f"p99 {record['p99_ms']:.1f} ms, {record['errors']} errors, "
        f"server CPU {record['server_cpu_percent']:.0f}% "
        f"({record['server_cpu_ms_per_request']:.2f} ms per request)"
    )


def markdown(backends: list[dict[str, Any]], ceilings: list[Ceiling]) -> str:
    header = (
        "| Backend | Clients | Requests/s | p50 ms | p99 ms | Errors | Server CPU "
        "| Server CPU ms per request | Ratio to insert ceiling |"
    )
    starts = ["StartIncident:", "", header, "|" + "---|" * (header.count("|") - 1)]
    for backend in backends:
        for level in backend["start_incident"]:
            ratio = "n/a"
            ceiling = matching_ceiling(backend["backend"], level["clients"], ceilings)
            if ceiling is not None and ceiling.rows_per_second:
                ratio = f"{level['requests_per_second'] / ceiling.rows_per_second:.2f}"
                ratio += f" ({ceiling.name})"
            starts.append(
                f"| {backend['backend']} | {level['clients']} "
                f"| {level['requests_per_second']:,.0f} | {level['p50_ms']:.1f} "
                f"| {level['p99_ms']:.1f} | {level['errors']} "
                f"| {level['server_cpu_percent']:.0f}% "
                f"| {level['server_cpu_ms_per_request']:.2f} | {ratio} |"
            )

    header = (
        "| Backend | Incidents in account | Incidents in table | Filter | Clients "
        "| Requests/s | p50 ms | p99 ms | Errors | Server CPU ms per request |"
    )
    lists = ["ListIncidentRecords, first page:", "", header]
    lists.append("|" + "---|" * (header.count("|") - 1))
    memory = [
        "| Backend | Incidents in table | Server RSS (MiB) | Peak RSS (MiB) |",
        "|---|---|---|---|",
    ]
    for backend in backends:
        listings = backend["list_incident_records"]
        for size in listings["sizes"]:
            for level in size["levels"]:
                lists.append(
                    f"| {backend['backend']} | {size['incidents_in_account']:,} "
                    f"| {size['incidents_in_table']:,} | {level['query']} | {level['clients']} "
                    f"| {level['requests_per_second']:,.0f} | {level['p50_ms']:.1f} "
                    f"| {level['p99_ms']:.1f} | {level['errors']} "
                    f"| {level['server_cpu_ms_per_request']:.2f} |"
                )
        kib = listings["server_memory_kib"]
        largest = listings["sizes"][-1]["incidents_in_table"] if listings["sizes"] else 0
        memory.append(
            f"| {backend['backend']} | {largest:,} "
            f"| {kib.get('VmRSS', 0) / 1024:.0f} | {kib.get('VmHWM', 0) / 1024:.0f} |"
        )
    return "\n".join(starts) + "\n\n" + "\n".join(lists) + "\n\n" + "\n".join(memory)


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(item.replace("_", "")) for item in text.split(",") if item.strip())


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
        "--list-sizes",
        type=_counts,
        default=DEFAULT_LIST_SIZES,
        help="Comma-separated incident counts of the listing account at which "
        "ListIncidentRecords is measured (default 1000,10000,100000).",
    )
    parser.add_argument(
        "--list-clients",
        type=_counts,
        default=DEFAULT_LIST_CLIENTS,
        help="Comma-separated concurrent clients of each listing level (default 1,8).",
    )
    parser.add_argument(
        "--list-seconds",
        type=float,
        default=5.0,
        help="Measured seconds per listing level (default 5).",
    )
    parser.add_argument(
        "--list-warmup",
        type=float,
        default=1.0,
        help="Warm-up seconds per listing level (default 1).",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=0,
        help="Job engine threads of the server (TOCSIN_WORKERS). The default 0 leaves the "
        "start jobs pending, so that only StartIncident is measured. With 2, the server also "
        "runs the engagements that the jobs start.",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="Measured seconds per StartIncident level (default 10).",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="Warm-up seconds per StartIncident level (default 2).",
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
    write_record("incidents", started, argv, postgresql_settings, ceilings, {"backends": backends})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
