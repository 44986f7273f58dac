"""Benchmark STS GetCallerIdentity through the whole stack, next to the insert ceilings.

GetCallerIdentity is the cheapest signed call: HTTP parsing, SigV4
verification, the access-key lookup and decryption in one database
transaction, and a query-protocol XML response. Every later operation pays
this cost first, so it is the platform baseline.

For each backend (SQLite, PostgreSQL) a fresh ``tocsin serve`` runs, and 1, 8
and 64 concurrent keep-alive clients each drive it for a fixed time after a
short warm-up. The raw durable-insert ceilings of the same machine are
measured first in the same run. The output is a Markdown table on standard
output and a JSON file in bench/results/.

Run with ``.venv/bin/python -m bench.caller_identity``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ceiling import Ceiling, measure_postgresql, measure_sqlite
from bench.harness import DEFAULT_POSTGRESQL_URL, tocsin_server
from bench.load import LoadResult, LoadSpec, query_request, run_load

RESULTS_DIRECTORY = Path(__file__).parent / "results"
DEFAULT_LEVELS = (1, 8, 64)
DEFAULT_SECONDS = 10.0
DEFAULT_WARMUP_SECONDS = 2.0
DEFAULT_CEILING_SECONDS = 3.0
DEFAULT_PROCESSES = 2
# Cap on measured requests per level. A 2-core machine sends a few thousand
# requests in 10 s, so normally the duration ends each level.
DEFAULT_MAX_REQUESTS = 200_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time that a process has used, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name in brackets may contain spaces, so split after it.
        fields = stat.read().rsplit(")", 1)[1].split()
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return (user_ticks + system_ticks) / CLOCK_TICKS


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def matching_ceiling(backend: str, clients: int, ceilings: list[Ceiling]) -> Ceiling | None:
    """Pick the insert ceiling that a level is compared with.

    SQLite levels use the synchronous=FULL ceiling because the server runs its
    SQLite database that way. PostgreSQL uses the 1-connection ceiling for one
    client and the 16-connection ceiling for more.
    """
    if backend == "sqlite":
        expected_name = "SQLite WAL synchronous=FULL"
    else:
        expected_name = "PostgreSQL, 1 connection" if clients == 1 else "PostgreSQL, 16 connections"
    return next((ceiling for ceiling in ceilings if ceiling.name == expected_name), None)


def run_backend(backend: str, arguments: argparse.Namespace) -> dict[str, Any]:
    """Start a server on ``backend``, drive every concurrency level and return the records."""
    levels: list[dict[str, Any]] = []
    with tocsin_server(backend, arguments.database_url) as server:
        keys = server.create_account()
        request = query_request(
            host=server.host,
            port=server.port,
            service="sts",
            region="us-east-1",
            access_key_id=keys.access_key_id,
            secret_access_key=keys.secret_access_key,
            action="GetCallerIdentity",
            version="2011-06-15",
        )
        server_cpu = functools.partial(process_cpu_seconds, server.pid)
        for clients in arguments.levels:
            spec = LoadSpec(
                host=server.host,
                port=server.port,
                request=request,
                clients=clients,
                duration_seconds=arguments.seconds,
                warmup_seconds=arguments.warmup,
                max_requests=arguments.max_requests,
                processes=arguments.processes,
            )
            generator_cpu_before = children_cpu_seconds()
            result = run_load(spec, server_cpu=server_cpu)
            record = result.as_dict()
            # Generator CPU covers the whole level: start-up, warm-up and measurement.
            record["generator_cpu_seconds"] = children_cpu_seconds() - generator_cpu_before
            levels.append(record)
            print_level(backend, result, record, file=sys.stderr)
        memory = server.memory_kib()
    return {"backend": backend, "levels": levels, "server_memory_kib": memory}


def print_level(backend: str, result: LoadResult, record: dict[str, Any], file: Any) -> None:
    print(
        f"{backend}: {result.clients} clients on {result.processes} generator processes: "
        f"{result.requests_per_second:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, {result.errors} errors, "
        f"server CPU {result.server_cpu_percent:.0f}%, "
        f"generator CPU {record['generator_cpu_seconds']:.1f} s for the whole level",
        file=file,
    )
    for body in result.error_bodies:
        print(f"  error: {body}", file=file)


def machine_description(postgresql_settings: dict[str, str]) -> dict[str, Any]:
    """Collect the facts about this machine that a reader needs to compare results."""
    cpu_model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        memory_kib = int(meminfo.readline().split()[1])
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgresql_settings,
        "kernel": platform.release(),
        "commit": commit,
    }


def write_record(
    benchmark: str,
    started: datetime,
    argv: list[str] | None,
    postgresql_settings: dict[str, str],
    ceilings: list[Ceiling],
    results: dict[str, Any],
) -> Path:
    """Write a benchmark's JSON record under bench/results/ and return its path.

    The record names the command, the machine and the ceilings; ``results``
    adds the benchmark's own members.
    """
    record = {
        "benchmark": benchmark,
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(
            [Path(sys.executable).name, "-m", f"bench.{benchmark}", *(argv or sys.argv[1:])]
        ),
        "machine": machine_description(postgresql_settings),
        "ceilings": [ceiling.as_dict() for ceiling in ceilings],
        **results,
    }
    RESULTS_DIRECTORY.mkdir(exist_ok=True)
    path = RESULTS_DIRECTORY / f"{benchmark}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"results written to {path}", file=sys.stderr)
    return path


def markdown_table(backends: list[dict[str, Any]], ceilings: list[Ceiling]) -> str:
    """Format the server levels, the ceilings and the server memory as Markdown tables."""
    sections = [
        levels_table(backends, ceilings),
        ceilings_table(ceilings),
        memory_table(backends),
    ]
    return "\n\n".join(sections)


def levels_table(backends: list[dict[str, Any]], ceilings: list[Ceiling]) -> str:
    header = (
        "| Backend | Clients | Generator processes | Requests/s | p50 ms | p90 ms | p99 ms "
        "| Max ms | Errors | Server CPU | Ratio to insert ceiling |"
    )
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    for backend in backends:
        for level in backend["levels"]:
            ceiling = matching_ceiling(backend["backend"], level["clients"], ceilings)
            if ceiling is not None and ceiling.rows_per_second > 0:
                ratio = level["requests_per_second"] / ceiling.rows_per_second
                ratio_text = f"{ratio:.2f} ({ceiling.name})"
            else:
                ratio_text = "n/a"
            rows.append(
                f"| {backend['backend']} | {level['clients']} | {level['processes']} "
                f"| {level['requests_per_second']:,.0f} | {level['p50_ms']:.1f} "
                f"| {level['p90_ms']:.1f} | {level['p99_ms']:.1f} | {level['max_ms']:.1f} "
                f"| {level['errors']} | {level['server_cpu_percent']:.0f}% | {ratio_text} |"
            )
    return "\n".join(rows)


def ceilings_table(ceilings: list[Ceiling]) -> str:
    rows = ["| Insert ceiling | Connections | Rows/s |", "|---|---|---|"]
    for ceiling in ceilings:
        rows.append(f"| {ceiling.name} | {ceiling.connections} | {ceiling.rows_per_second:,.0f} |")
    return "\n".join(rows)


def memory_table(backends: list[dict[str, Any]]) -> str:
    rows = ["| Backend | Server RSS after run (MiB) | Peak RSS (MiB) |", "|---|---|---|"]
    for backend in backends:
        memory = backend["server_memory_kib"]
        rows.append(
            f"| {backend['backend']} | {memory.get('VmRSS', 0) / 1024:.0f} "
            f"| {memory.get('VmHWM', 0) / 1024:.0f} |"
        )
    return "\n".join(rows)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_POSTGRESQL_URL,
        help="Maintenance database on the local PostgreSQL server, used to create and drop "
        f"scratch databases (default {DEFAULT_POSTGRESQL_URL}).",
    )

    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="Comma-separated backends to run: sqlite, postgresql (default both).",
    )

    parser.add_argument(
        "--levels",
        default=",".join(str(level) for level in DEFAULT_LEVELS),
        type=lambda text: [int(part) for part in text.split(",")],
        help="Comma-separated numbers of concurrent clients (default 1,8,64).",
    )

    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help=f"Measured duration of each level, in seconds (default {DEFAULT_SECONDS:.0f}).",
    )

    parser.add_argument(
        "--warmup",
        type=float,
        default=DEFAULT_WARMUP_SECONDS,
        help="Unmeasured warm-up before each level, in seconds "
        f"(default {DEFAULT_WARMUP_SECONDS:.0f}).",
    )

    parser.add_argument(
        "--max-requests",
        type=int,
        default=DEFAULT_MAX_REQUESTS,
        help="Cap on requests sent in the measured window of each level, and separately in "
        f"its warm-up (default {DEFAULT_MAX_REQUESTS}).",
    )

    parser.add_argument(
        "--processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help="Load generator processes per level, never more than the clients "
        f"(default {DEFAULT_PROCESSES}).",
    )

    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=DEFAULT_CEILING_SECONDS,
        help="Duration of each insert-ceiling measurement, in seconds "
        f"(default {DEFAULT_CEILING_SECONDS:.0f}).",
    )

    arguments = parser.parse_args(argv)
    arguments.backends = parse_backends(parser, arguments.backends)
    return arguments


def parse_backends(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """Split the --backends value, exiting through ``parser`` on an unknown backend."""
    backends = [name.strip() for name in text.split(",") if name.strip()]
    for name in backends:
        if name not in ("sqlite", "postgresql"):
            parser.error(f"--backends: unknown backend {name!r}; use sqlite or postgresql")
    return backends


def measure_ceilings(
    backends: list[str], maintenance_url: str, seconds: float
) -> tuple[list[Ceiling], dict[str, str]]:
    """Measure the insert ceilings that ``backends`` are compared with; print each one.

    Returns the ceilings and the PostgreSQL settings that affect them.
    """
    ceilings = measure_sqlite(seconds)
    postgresql_settings: dict[str, str] = {}
    if "postgresql" in backends:
        postgresql, postgresql_settings = measure_postgresql(maintenance_url, seconds)
        ceilings += postgresql
    for ceiling in ceilings:
        print(f"ceiling: {ceiling.name}: {ceiling.rows_per_second:,.0f} rows/s", file=sys.stderr)
    return ceilings, postgresql_settings


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = datetime.now(UTC)
    ceilings, postgresql_settings = measure_ceilings(
        arguments.backends, arguments.database_url, arguments.ceiling_seconds
    )

    backends = [run_backend(backend, arguments) for backend in arguments.backends]
    table = markdown_table(backends, ceilings)
    print(table)

    settings = {
        "seconds": arguments.seconds,
        "warmup_seconds": arguments.warmup,
        "max_requests": arguments.max_requests,
        "processes": arguments.processes,
        "ceiling_seconds": arguments.ceiling_seconds,
    }
    write_record(
        "caller_identity",
        started,
        argv,
        postgresql_settings,
        ceilings,
        {"settings": settings, "backends": backends},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
