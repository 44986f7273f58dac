"""CPU time per escalation stage start in batches, measured in-process, with an optional profile.

A Tocsin server runs in this process with a fake clock and no background
workers. Through the API it gets two personal contacts with an activated
email channel each, one escalation plan whose stage 1 pages the first
contact and lasts 30 minutes and whose stage 2 pages the second, and
``--engagements`` StartEngagement calls. Every job due then (stage 1 and its
page sends) runs before the measurement. The fake clock then moves 30
minutes ahead, so every stage-2 job is due at once, and the measured part
runs them in batches as a job worker does, with ``Engine.run_batch_due``,
until none is left. Page sends are not run.

The result is this process's CPU time per stage start, which the load of
other processes changes far less than the wall-clock time. On PostgreSQL
the server's own CPU time is not counted.

Run with ``.venv/bin/python -m bench.stage_start_cpu --backend sqlite``;
``--profile`` adds a cProfile listing, and ``--profile-output FILE`` keeps
the raw statistics for ``python -m pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from bench.harness import DEFAULT_POSTGRESQL_URL, libpq_conninfo, scratch_postgresql_database
from tocsin.contacts.engagement_models import Page
from tocsin.contacts.engagements import STAGE_JOB
from tocsin.contacts.models import ContactChannel
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.worker import BatchHandler, Engine
from tocsin.testing import RunningServer

FIRST_STAGE_MINUTES = 30


@contextmanager
def running_server(backend: str, maintenance_url: str) -> Iterator[RunningServer]:
    """Yield a server with a fake clock and no job workers on a fresh database."""
    with tempfile.TemporaryDirectory(prefix="tocsin-stage-cpu-") as home:
        if backend == "sqlite":
            with RunningServer(Path(home), workers=0) as server:
                yield server
            return
        with (
            scratch_postgresql_database(maintenance_url, "tocsin_stage_cpu") as url,
            RunningServer(Path(home), database_url=libpq_conninfo(url), workers=0) as server,
        ):
            yield server


def paged_contact(server: RunningServer, contacts: Any, alias: str) -> str:
    """Create a personal contact whose plan pages one activated email channel at once."""
    contact: str = contacts.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []})[
        "ContactArn"
    ]
    channel = contacts.create_contact_channel(
        ContactId=contact,
        Name="mail",
        Type="EMAIL",
        DeliveryAddress={"SimpleAddress": f"{alias}@example.com"},
        DeferActivation=True,
    )["ContactChannelArn"]
    # The activation code would go through SMTP, so the channel is activated in the database.
    with server.runtime.database.session() as session:
        session.execute(
            update(ContactChannel)
            .where(ContactChannel.arn == channel)
            .values(activation_status="ACTIVATED")
        )
    stage = {
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}],
    }
    contacts.update_contact(ContactId=contact, Plan={"Stages": [stage]})
    return contact


def prepare(server: RunningServer, engine: Engine, engagements: int) -> None:
    """Start ``engagements`` engagements of a two-stage plan and run their stage 1."""
    contacts = server.client("ssm-contacts", server.create_account())
    first = paged_contact(server, contacts, "first")
    second = paged_contact(server, contacts, "second")

    def stage(contact: str, minutes: int) -> dict[str, Any]:
        target = {"ContactTargetInfo": {"ContactId": contact, "IsEssential": True}}
        return {"DurationInMinutes": minutes, "Targets": [target]}

    plan = contacts.create_contact(
        Alias="escalation",
        Type="ESCALATION",
        Plan={"Stages": [stage(first, FIRST_STAGE_MINUTES), stage(second, 0)]},
    )["ContactArn"]
    for _ in range(engagements):
        contacts.start_engagement(
            ContactId=plan, Sender="bench", Subject="Checkout latency", Content="p99 above 2 s"
        )
    while engine.run_due(limit=10_000):
        pass


def pending_stage_jobs(server: RunningServer) -> int:
    with server.runtime.database.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.kind == STAGE_JOB, Job.status == JobStatus.PENDING.value)
        )
    return count or 0


def second_stage_pages(server: RunningServer) -> int:
    with server.runtime.database.session() as session:
        count = session.scalar(select(func.count()).select_from(Page).where(Page.stage_index == 1))
    return count or 0


def start_due_stages(engine: Engine, handler: BatchHandler) -> int:
    """Run due stage jobs in batches until none is left; return how many ran."""
    count = 0
    while True:
        ran = engine.run_batch_due(STAGE_JOB, handler, handler.batch_size, "bench")
        if not ran:
            return count
        count += ran


def run(arguments: argparse.Namespace) -> None:
    with running_server(arguments.backend, arguments.database_url) as server:
        runtime = server.runtime
        engine = Engine(runtime.database, runtime.clock, runtime.jobs, server.settings)
        handler = engine.batch_kinds()[STAGE_JOB]
        setup_started = time.perf_counter()
        prepare(server, engine, arguments.engagements)
        due = pending_stage_jobs(server)
        print(
            f"{arguments.backend}: {due} stage-2 jobs pending after a set-up of "
            f"{time.perf_counter() - setup_started:.1f} s",
            file=sys.stderr,
        )
        assert isinstance(server.clock, FakeClock)
        server.clock.advance(timedelta(minutes=FIRST_STAGE_MINUTES))

        profiler = None
        if arguments.profile or arguments.profile_output:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        cpu_started = time.process_time()
        wall_started = time.perf_counter()
        started = start_due_stages(engine, handler)
        cpu = time.process_time() - cpu_started
        wall = time.perf_counter() - wall_started
        if profiler is not None:
            profiler.disable()

        pages = second_stage_pages(server)
        if started != due or pages != due:
            raise RuntimeError(f"expected {due} stage starts and pages, got {started} and {pages}")
        print(
            f"{arguments.backend}: {started} stage starts in batches of {handler.batch_size}: "
            f"{1000 * cpu / started:.3f} ms CPU, {1000 * wall / started:.3f} ms wall per start"
            + (" (under cProfile)" if profiler is not None else "")
        )
        if profiler is not None:
            if arguments.profile_output:
                profiler.dump_stats(arguments.profile_output)
            if arguments.profile:
                stats = pstats.Stats(profiler, stream=sys.stdout)
                stats.sort_stats(arguments.sort).print_stats(arguments.lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_POSTGRESQL_URL,
        help=f"Maintenance database for the scratch PostgreSQL database "
        f"(default {DEFAULT_POSTGRESQL_URL}).",
    )
    parser.add_argument(
        "--engagements",
        type=int,
        default=1000,
        help="Engagements whose stage 2 falls due together (default 1000).",
    )
    parser.add_argument("--profile", action="store_true", help="Print a cProfile listing.")
    parser.add_argument("--profile-output", help="Write the raw cProfile statistics here.")
    parser.add_argument(
        "--sort", default="tottime", help="pstats sort key of the listing (default tottime)."
    )
    parser.add_argument("--lines", type=int, default=40, help="Rows of the listing.")
    arguments = parser.parse_args(argv)
    if arguments.engagements < 1:
        parser.error("--engagements must be at least 1")
    run(arguments)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
