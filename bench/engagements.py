"""Benchmark escalation stages that fall due together: how late they start, and page rate.

For each backend (SQLite, PostgreSQL) and each job worker count, a fresh
``tocsin serve`` gets, through the API, personal contacts with an activated
SMS channel each, and escalation plans of two stages. Stage 1 pages one
personal contact at once and lasts 30 minutes, and stage 2 pages another.
Then StartEngagement runs ``--engagements`` times from concurrent clients,
and the benchmark waits until every stage-1 page has been sent.

Every stage-2 start is then a pending job row due 30 minutes after its
engagement's start. The benchmark rewrites the due time of all these rows to
one instant a few seconds ahead with a single UPDATE of the ``jobs`` table.
This moves the timers only: the engagements, pages and job payloads stay
as StartEngagement wrote them. From that instant the server's workers start
the stages and send their pages on the real clock, and the benchmark
waits until every stage-2 page is sent.

Lateness is read from the database afterwards. A stage's start is the
``start_time`` of the page that it created, which the stage handler takes
from the server's clock as it starts the stage. Workers start stages that
are due together in batches of up to 1,000 in one transaction, and a stage's
pages are visible only when its batch commits. The table therefore also
gives the job's ``finished_at``, taken just before the batch's transaction
commits, and the SENT receipt time of each stage-2 page. The server's CPU time and its
VmRSS and VmHWM (sampled every 0.25 s from /proc) cover the burst. The raw
insert ceilings of the same machine are measured first, in the same run.

Run with ``.venv/bin/python -m bench.engagements``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from sqlalchemy import func, select, update

import tocsin.store.models  # noqa: F401  (registers every table for the ORM)
from bench.caller_identity import (
    matching_ceiling,
    measure_ceilings,
    parse_backends,
    process_cpu_seconds,
    write_record,
)
from bench.ceiling import Ceiling
from bench.harness import (
    DEFAULT_POSTGRESQL_URL,
    AccountKeys,
    TocsinServer,
    read_memory_kib,
    tocsin_server,
)
from bench.load import LoadSpec, run_load, sign_request
from tocsin.contacts.engagement_models import Page, PageReceipt
from tocsin.contacts.engagements import STAGE_JOB
from tocsin.contacts.models import OutboxMessage
from tocsin.contacts.pages import PAGE_SEND_JOB, SENT
from tocsin.engine.jobs import OPEN_STATUSES, Job, JobStatus
from tocsin.store.database import Database

REGION = "us-east-1"
DEFAULT_ENGAGEMENTS = 10_000
# Default worker counts: one worker, and the server's default of two.
DEFAULT_WORKERS = (1, 2)
# Each escalation plan pages two personal contacts, so there are twice as many of those.
ESCALATION_PLANS = 2
# Stage 1 lasts the longest duration that the API accepts, so no stage 2
# falls due by itself while StartEngagement runs.
FIRST_STAGE_MINUTES = 30
# Seconds between the rewrite of the due times and the common due instant.
# Idle workers look for work at least once a second, so they are waiting for
# that instant when it comes.
DEFAULT_LEAD_SECONDS = 5.0
START_CLIENTS = 16
SAMPLE_SECONDS = 0.25
POLL_SECONDS = 0.5
OPEN = [status.value for status in OPEN_STATUSES]


@dataclass
class MemorySampler:
    """A thread that reads VmRSS and VmHWM of a process every SAMPLE_SECONDS."""

    pid: int
    max_rss_kib: int = 0
    hwm_kib: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> None:
        values = read_memory_kib(self.pid)
        self.max_rss_kib = max(self.max_rss_kib, values.get("VmRSS", 0))
        self.hwm_kib = max(self.hwm_kib, values.get("VmHWM", 0))
        self.samples += 1

    @contextmanager
    def running(self) -> Iterator[MemorySampler]:
        self.sample()
        thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.sample()

    def as_dict(self) -> dict[str, int]:
        return {"max_vmrss_kib": self.max_rss_kib, "vmhwm_kib": self.hwm_kib}


def _client(server: TocsinServer, keys: AccountKeys) -> Any:
    return boto3.client(
        "ssm-contacts",
        endpoint_url=f"http://{server.host}:{server.port}",
        region_name=REGION,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
    )


def _database_url(server: TocsinServer) -> str:
    return server.database_url or f"sqlite:///{server.home / 'tocsin.db'}"


def _activation_code(database: Database, channel_arn: str, timeout: float = 30.0) -> str:
    """Wait for the activation code of ``channel_arn`` in the development outbox; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.read() as connection:
            body = connection.scalar(
                select(OutboxMessage.body).where(OutboxMessage.channel_arn == channel_arn)
            )
        if body is not None:
            for word in body.split():
                if len(word) == 6 and word.isdigit():
                    return word
            raise RuntimeError(f"no 6-digit code in the activation message: {body!r}")
        time.sleep(0.05)
    raise RuntimeError(f"no activation code for {channel_arn} reached the outbox in {timeout} s")


def _personal_contact(client: Any, database: Database, index: int) -> str:
    """Create a personal contact with one activated SMS channel that its plan pages at once."""
    contact: str = client.create_contact(
        Alias=f"person-{index}", Type="PERSONAL", Plan={"Stages": []}
    )["ContactArn"]
    channel: str = client.create_contact_channel(
        ContactId=contact,
        Name=f"phone {index}",
        Type="SMS",
        DeliveryAddress={"SimpleAddress": f"+1555010{index:04d}"},
    )["ContactChannelArn"]
    code = _activation_code(database, channel)
    client.activate_contact_channel(ContactChannelId=channel, ActivationCode=code)
    stage = {
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}],
    }
    client.update_contact(ContactId=contact, Plan={"Stages": [stage]})
    return contact


def _escalation_plan(client: Any, index: int, first: str, second: str) -> str:
    def stage(contact: str, minutes: int) -> dict[str, Any]:
        target = {"ContactTargetInfo": {"ContactId": contact, "IsEssential": True}}
        return {"DurationInMinutes": minutes, "Targets": [target]}

    plan = {"Stages": [stage(first, FIRST_STAGE_MINUTES), stage(second, 0)]}
    arn: str = client.create_contact(Alias=f"escalation-{index}", Type="ESCALATION", Plan=plan)[
        "ContactArn"
    ]
    return arn


def _start_engagements(
    server: TocsinServer, keys: AccountKeys, plans: list[str], engagements: int
) -> dict[str, Any]:
    """Run StartEngagement ``engagements`` times, split over the plans, from concurrent clients."""
    records = []
    for index, plan in enumerate(plans):
        count = engagements // len(plans) + int(index < engagements % len(plans))
        body = {
            "ContactId": plan,
            "Sender": "bench",
            "Subject": "Checkout latency",
            "Content": "p99 latency of checkout is above 2 s",
        }
        request = sign_request(
            host=server.host,
            port=server.port,
            service="ssm-contacts",
            region=REGION,
            access_key_id=keys.access_key_id,
            secret_access_key=keys.secret_access_key,
            method="POST",
            path="/",
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "SSMContacts.StartEngagement",
            },
            body=json.dumps(body).encode(),
        )
        spec = LoadSpec(
            host=server.host,
            port=server.port,
            request=request,
            clients=min(START_CLIENTS, max(1, count)),
            duration_seconds=540.0,
            warmup_seconds=0.0,
            max_requests=count,
            processes=2,
        )
        result = run_load(spec, server_cpu=lambda: 0.0)
        if result.errors:
            raise RuntimeError(
                f"{result.errors} StartEngagement calls failed; first errors: {result.error_bodies}"
            )
        records.append(result.as_dict())
    return {
        "requests": sum(record["requests"] for record in records),
        "seconds": sum(record["elapsed_seconds"] for record in records),
        "per_plan": records,
    }


def _open_jobs(database: Database, kind: str) -> int:
    with database.read() as connection:
        count = connection.scalar(
            select(func.count()).select_from(Job).where(Job.kind == kind, Job.status.in_(OPEN))
        )
    return count or 0


def _wait_until_no_open(database: Database, kind: str, timeout: float) -> float:
    """Wait until no job of ``kind`` is pending or running; return the seconds waited."""
    started = time.monotonic()
    while _open_jobs(database, kind):
        if time.monotonic() - started > timeout:
            raise RuntimeError(
                f"{_open_jobs(database, kind)} {kind} jobs were still open after {timeout:.0f} s"
            )
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def _rewrite_due_times(database: Database, due: datetime, expected: int) -> int:
    """Move every pending stage job to ``due`` in one UPDATE; return how many rows moved."""
    with database.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.kind == STAGE_JOB, Job.status == JobStatus.PENDING.value)
            .values(due_at=due)
            .execution_options(synchronize_session=False)
        )
        moved: int = getattr(result, "rowcount", 0)
        if moved != expected:
            raise RuntimeError(
                f"expected {expected} pending stage jobs to rewrite, found {moved}; a stage "
                "started before the rewrite, so set-up took too long or StartEngagement failed"
            )
    return moved


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {"count": len(ordered), "p50": rank(0.5), "p99": rank(0.99), "max": ordered[-1]}


def _measure_lateness(database: Database, due: datetime) -> dict[str, Any]:
    """Read stage starts, stage commits and page sends of stage 2 and compare them with ``due``."""
    with database.read() as connection:
        starts = list(connection.scalars(select(Page.start_time).where(Page.stage_index == 1)))
        finishes = list(
            connection.scalars(
                select(Job.finished_at).where(
                    Job.kind == STAGE_JOB, Job.status == JobStatus.DONE.value
                )
            )
        )
        sends = list(
            connection.scalars(
                select(PageReceipt.receipt_time)
                .join(Page, Page.arn == PageReceipt.page_arn)
                .where(Page.stage_index == 1, PageReceipt.receipt_type == SENT)
            )
        )

    def seconds_after_due(moments: list[datetime | None]) -> list[float]:
        return [(moment - due).total_seconds() for moment in moments if moment is not None]

    start_lateness = seconds_after_due(list(starts))
    send_lateness = seconds_after_due(list(sends))
    last_start = max(start_lateness, default=0.0)
    last_send = max(send_lateness, default=0.0)
    return {
        "stage_start_lateness_seconds": _percentiles(start_lateness),
        "stage_commit_lateness_seconds": _percentiles(seconds_after_due(list(finishes))),
        "page_sent_lateness_seconds": _percentiles(send_lateness),
        "stage_starts_per_second": len(start_lateness) / last_start if last_start > 0 else 0.0,
        "pages_sent_per_second": len(send_lateness) / last_send if last_send > 0 else 0.0,
    }


def run_configuration(backend: str, workers: int, arguments: argparse.Namespace) -> dict[str, Any]:
    """Set up one fresh server with ``workers`` job workers, run the burst and measure it."""
    settings = {"TOCSIN_WORKERS": str(workers)}
    with tocsin_server(backend, arguments.database_url, settings) as server:
        database = Database(_database_url(server))
        try:
            return _run_on_server(server, database, backend, workers, arguments)
        finally:
            database.dispose()


def _run_on_server(
    server: TocsinServer,
    database: Database,
    backend: str,
    workers: int,
    arguments: argparse.Namespace,
) -> dict[str, Any]:
    label = f"{backend}, {workers} workers"
    keys = server.create_account(name="bench")
    client = _client(server, keys)
    people = [_personal_contact(client, database, index) for index in range(2 * ESCALATION_PLANS)]
    plans = [
        _escalation_plan(client, index, people[2 * index], people[2 * index + 1])
        for index in range(ESCALATION_PLANS)
    ]

    setup_started = time.monotonic()
    setup_memory = MemorySampler(server.pid)
    with setup_memory.running():
        starts = _start_engagements(server, keys, plans, arguments.engagements)
        print(
            f"{label}: {starts['requests']:,} StartEngagement calls in {starts['seconds']:.1f} s",
            file=sys.stderr,
        )
        drained = _wait_until_no_open(database, PAGE_SEND_JOB, arguments.timeout)
    setup_seconds = time.monotonic() - setup_started
    print(
        f"{label}: stage-1 pages sent {drained:.1f} s after the last StartEngagement",
        file=sys.stderr,
    )

    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=arguments.lead + 1)
    moved = _rewrite_due_times(database, due, arguments.engagements)
    print(
        f"{label}: rewrote the due time of {moved:,} pending stage-2 jobs to "
        f"{due.isoformat()} with one UPDATE of the jobs table (timers only); "
        f"server pid {server.pid}",
        file=sys.stderr,
    )
    memory = MemorySampler(server.pid)
    cpu_before = process_cpu_seconds(server.pid)
    with memory.running():
        time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        stage_seconds = _wait_until_no_open(database, STAGE_JOB, arguments.timeout)
        send_seconds = _wait_until_no_open(database, PAGE_SEND_JOB, arguments.timeout)
    cpu_seconds = process_cpu_seconds(server.pid) - cpu_before
    burst_seconds = stage_seconds + send_seconds

    record: dict[str, Any] = {
        "backend": backend,
        "workers": workers,
        "engagements": arguments.engagements,
        "rewritten_stage_jobs": moved,
        "due_at": due.isoformat(),
        "lead_seconds": arguments.lead,
        "setup_seconds": setup_seconds,
        "start_engagement": starts,
        "setup_memory_kib": setup_memory.as_dict(),
        "burst_memory_kib": memory.as_dict(),
        "burst_seconds": burst_seconds,
        "server_cpu_seconds": cpu_seconds,
        "server_cpu_percent": 100 * cpu_seconds / burst_seconds if burst_seconds > 0 else 0.0,
        **_measure_lateness(database, due),
    }
    print(f"{label}: {_summary(record)}", file=sys.stderr)
    return record


def _summary(record: dict[str, Any]) -> str:
    start = record["stage_start_lateness_seconds"]
    sent = record["page_sent_lateness_seconds"]
    return (
        f"{start['count']:,} stage starts, lateness p50 {start['p50']:.2f} s, "
        f"p99 {start['p99']:.2f} s, max {start['max']:.2f} s; "
        f"{sent['count']:,} pages sent, last {sent['max']:.2f} s after the due time, "
        f"{record['pages_sent_per_second']:,.0f} pages/s; server CPU "
        f"{record['server_cpu_seconds']:.1f} s"
    )


def markdown(runs: list[dict[str, Any]], ceilings: list[Ceiling]) -> str:
    header = (
        "| Backend | Workers | Engagements | Stage start late p50 s | p99 s | Max s "
        "| Stage commit late p99 s | Stage starts/s | Pages sent/s | Last page sent s "
        "| Server CPU s | Server CPU | Ratio of pages/s to insert ceiling |"
    )
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    for run in runs:
        start = run["stage_start_lateness_seconds"]
        commit = run["stage_commit_lateness_seconds"]
        ceiling = matching_ceiling(run["backend"], run["workers"], ceilings)
        ratio = "n/a"
        if ceiling is not None and ceiling.rows_per_second > 0:
            ratio = f"{run['pages_sent_per_second'] / ceiling.rows_per_second:.3f} ({ceiling.name})"
        rows.append(
            f"| {run['backend']} | {run['workers']} | {run['engagements']:,} "
            f"| {start['p50']:.2f} | {start['p99']:.2f} | {start['max']:.2f} "
            f"| {commit['p99']:.2f} | {run['stage_starts_per_second']:,.0f} "
            f"| {run['pages_sent_per_second']:,.0f} "
            f"| {run['page_sent_lateness_seconds']['max']:.2f} "
            f"| {run['server_cpu_seconds']:.1f} | {run['server_cpu_percent']:.0f}% | {ratio} |"
        )

    memory = [
        "| Backend | Workers | StartEngagement/s during set-up | Max VmRSS in set-up (MiB) "
        "| Max VmRSS in burst (MiB) | VmHWM after burst (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        starts = run["start_engagement"]
        rate = starts["requests"] / starts["seconds"] if starts["seconds"] > 0 else 0.0
        memory.append(
            f"| {run['backend']} | {run['workers']} | {rate:,.0f} "
            f"| {run['setup_memory_kib']['max_vmrss_kib'] / 1024:.0f} "
            f"| {run['burst_memory_kib']['max_vmrss_kib'] / 1024:.0f} "
            f"| {run['burst_memory_kib']['vmhwm_kib'] / 1024:.0f} |"
        )

    ceiling_rows = ["| Insert ceiling | Connections | Rows/s |", "|---|---|---|"]
    for ceiling in ceilings:
        ceiling_rows.append(
            f"| {ceiling.name} | {ceiling.connections} | {ceiling.rows_per_second:,.0f} |"
        )
    notes = (
        "Lateness is measured from the common due time that one UPDATE of the jobs table "
        "gave every pending stage-2 job (timers only). A stage's start is the start time "
        "of the page it created; its commit is the job's finished_at. Pages sent/s counts "
        "stage-2 SENT receipts over the time from the due time to the last of them."
    )
    return "\n\n".join(["\n".join(rows), "\n".join(memory), "\n".join(ceiling_rows), notes])


def _workers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


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
        "--engagements",
        type=int,
        default=DEFAULT_ENGAGEMENTS,
        help=f"Engagements whose stage 2 falls due together (default {DEFAULT_ENGAGEMENTS}).",
    )

    parser.add_argument(
        "--workers",
        type=_workers,
        default=list(DEFAULT_WORKERS),
        help="Comma-separated job worker counts (TOCSIN_WORKERS) of the server; each gets a "
        "fresh server and set-up (default 1,2; 2 is the server's default).",
    )

    parser.add_argument(
        "--lead",
        type=float,
        default=DEFAULT_LEAD_SECONDS,
        help="Seconds from the rewrite of the due times to the common due instant, at least "
        f"(default {DEFAULT_LEAD_SECONDS:.0f}).",
    )

    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="Maximum wait for the pages of one phase to be sent, in seconds (default 900).",
    )

    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=3.0,
        help="Duration of each insert-ceiling measurement, in seconds (default 3).",
    )
    arguments = parser.parse_args(argv)
    arguments.backends = parse_backends(parser, arguments.backends)
    if arguments.engagements < 1:
        parser.error("--engagements must be at least 1")
    if not arguments.workers or min(arguments.workers) < 1:
        parser.error("--workers must list counts of at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = datetime.now(UTC)
    ceilings, postgresql_settings = measure_ceilings(
        arguments.backends, arguments.database_url, arguments.ceiling_seconds
    )
    runs = [
        run_configuration(backend, workers, arguments)
        for backend in arguments.backends
        for workers in arguments.workers
    ]
    print(markdown(runs, ceilings))
    write_record("engagements", started, argv, postgresql_settings, ceilings, {"runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
