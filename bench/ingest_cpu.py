"""Write transactions and CPU time per ingested alert, measured in-process.

A Tocsin server runs in this process with a fake clock and no background
workers. It gets an account with a replication set, two response plans and
two rules as ``bench.alertmanager`` sets them up, and an Alertmanager
webhook. The measured part then posts ``--alerts`` single-alert bodies to
the webhook, or makes ``--alerts`` PutEvents calls of one alarm event each,
in bursts of ``--burst``. After each burst the job engine runs every due job
as a worker loop does (``Engine.run_due``), so the match and target jobs of
one burst can share batches. A burst of 1 is the worst case, a lone post.

It reports, per alert, the committed write transactions (an SQLAlchemy
``commit`` listener on the engine, read-only transactions left out) and the
CPU time of the request and of the jobs. Request CPU is the process's CPU
time during the posts minus that of the posting thread, so the HTTP or
boto3 client is not counted. On PostgreSQL the database server's own CPU
time is not counted.

Run with ``.venv/bin/python -m bench.ingest_cpu --backend sqlite --burst 20``;
``--profile`` adds a cProfile listing of the job runs.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from bench.alertmanager import (
    ALARM_DETAIL_TYPE,
    ALARM_SOURCE,
    REGION,
    alarm_entry,
    tocsin_bodies,
)
from bench.harness import DEFAULT_POSTGRESQL_URL, libpq_conninfo, scratch_postgresql_database
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job
from tocsin.engine.worker import Engine
from tocsin.events import webhooks
from tocsin.incidents import replication
from tocsin.incidents.models import IncidentRecord
from tocsin.store.database import READ_ONLY_OPTION
from tocsin.testing import RunningServer


@contextmanager
def running_server(backend: str, maintenance_url: str) -> Iterator[RunningServer]:
    """Yield a server with a fake clock and no job workers on a fresh database."""
    with tempfile.TemporaryDirectory(prefix="tocsin-ingest-cpu-") as home:
        if backend == "sqlite":
            with RunningServer(Path(home), workers=0, log_level="WARNING") as server:
                yield server
            return
        with (
            scratch_postgresql_database(maintenance_url, "tocsin_ingest_cpu") as url,
            RunningServer(
                Path(home), database_url=libpq_conninfo(url), workers=0, log_level="WARNING"
            ) as server,
        ):
            yield server


@dataclass
class Tally:
    """Write commits and CPU seconds of one phase, request or job."""

    commits: int = 0
    cpu: float = 0.0


@dataclass
class Measurement:
    """The request and job tallies of one measured run."""

    alerts: int
    request: Tally = field(default_factory=Tally)
    jobs: Tally = field(default_factory=Tally)
    jobs_created: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        per_alert = 1 / self.alerts
        return {
            "jobs_per_alert": {
                kind: round(count * per_alert, 3)
                for kind, count in sorted(self.jobs_created.items())
                if count
            },
            "request_commits": self.request.commits * per_alert,
            "job_commits": self.jobs.commits * per_alert,
            "total_commits": (self.request.commits + self.jobs.commits) * per_alert,
            "request_cpu_ms": 1000 * self.request.cpu * per_alert,
            "job_cpu_ms": 1000 * self.jobs.cpu * per_alert,
            "total_cpu_ms": 1000 * (self.request.cpu + self.jobs.cpu) * per_alert,
        }


class CommitCounter:
    """Count the commits of write transactions on an SQLAlchemy engine."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "commit", self._on_commit)

    def _on_commit(self, connection: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY_OPTION):
            self.count += 1


def prepare_account(server: RunningServer, engine: Engine) -> tuple[Any, dict[str, str]]:
    """Create an account with a replication set, two plans and two rules that start them.

    The rules and plans are those of ``bench.alertmanager``. Returns an
    EventBridge client of the account and the account id and plan ARNs.
    """
    keys = server.create_account()
    incidents = server.client("ssm-incidents", keys, REGION)
    events = server.client("events", keys, REGION)
    incidents.create_replication_set(regions={REGION: {}})
    # The replication set becomes active in a job that is due a little later.
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(replication.SETTLE_DELAY)
    while engine.run_due(limit=10_000):
        pass
    patterns = {
        "alerts": {"source": ["tocsin.alertmanager"], "detail": {"status": ["firing"]}},
        "alarms": {"source": [ALARM_SOURCE], "detail-type": [ALARM_DETAIL_TYPE]},
    }
    names = {"account": keys.account_id}
    for name, pattern in patterns.items():
        plan = incidents.create_response_plan(
            name=f"bench-{name}", incidentTemplate={"title": f"Bench {name}", "impact": 3}
        )["arn"]
        events.put_rule(Name=f"bench-{name}", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"bench-{name}", Targets=[{"Id": "plan", "Arn": plan}])
        names[name] = plan
    return events, names


def webhook_path(server: RunningServer, account_id: str) -> str:
    with server.runtime.database.session() as session:
        created = webhooks.create_webhook(
            session,
            server.clock.now(),
            account_id,
            "alertmanager",
            max_per_minute=webhooks.MAX_PER_MINUTE_LIMIT,
        )
    return f"/webhooks/{created.token}"


def post_webhook(connection: http.client.HTTPConnection, path: str, body: bytes) -> None:
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        raise RuntimeError(f"webhook post failed with {response.status}: {answer[:200]!r}")


def incident_triggers(server: RunningServer, plan_arn: str) -> int:
    """Return the sum of the trigger counts of the incidents of ``plan_arn``."""
    plan_name = plan_arn.rsplit("/", 1)[1]
    with server.runtime.database.session() as session:
        total = session.scalar(
            select(func.coalesce(func.sum(IncidentRecord.trigger_count), 0)).where(
                IncidentRecord.plan_name == plan_name
            )
        )
    return int(total or 0)


def jobs_by_kind(server: RunningServer) -> dict[str, int]:
    with server.runtime.database.session() as session:
        rows = session.execute(select(Job.kind, func.count()).group_by(Job.kind)).all()
    return {kind: count for kind, count in rows}


def measure(
    server: RunningServer,
    engine: Engine,
    counter: CommitCounter,
    send: Any,
    count: int,
    burst: int,
    profiler: cProfile.Profile | None,
) -> Measurement:
    """Send ``count`` alerts in bursts, running due jobs after each, and tally both phases."""
    measurement = Measurement(count)
    jobs_before = jobs_by_kind(server)
    sent = 0
    while sent < count:
        size = min(burst, count - sent)
        commits, process, thread = counter.count, time.process_time(), time.thread_time()
        for index in range(sent, sent + size):
            send(index)
        measurement.request.commits += counter.count - commits
        client_cpu = time.thread_time() - thread
        measurement.request.cpu += time.process_time() - process - client_cpu
        sent += size

        commits, process = counter.count, time.process_time()
        if profiler is not None:
            profiler.enable()
        # run_due claims until a round finds nothing, as an awoken worker does.
        engine.run_due(limit=100_000)
        if profiler is not None:
            profiler.disable()
        measurement.jobs.commits += counter.count - commits
        measurement.jobs.cpu += time.process_time() - process
    for kind, total in jobs_by_kind(server).items():
        measurement.jobs_created[kind] = total - jobs_before.get(kind, 0)
    return measurement


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"backend": arguments.backend, "burst": arguments.burst}
    with running_server(arguments.backend, arguments.database_url) as server:
        runtime = server.runtime
        engine = Engine(runtime.database, runtime.clock, runtime.jobs, server.settings)
        events, names = prepare_account(server, engine)
        while engine.run_due(limit=10_000):
            pass
        counter = CommitCounter(runtime.database.engine)
        profiler = cProfile.Profile(time.process_time) if arguments.profile else None

        path = webhook_path(server, names["account"])
        bodies = tocsin_bodies(arguments.alerts)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        webhook = measure(
            server,
            engine,
            counter,
            lambda index: post_webhook(connection, path, bodies[index]),
            arguments.alerts,
            arguments.burst,
            profiler,
        )
        connection.close()
        started = incident_triggers(server, names["alerts"])
        if started != arguments.alerts:
            raise RuntimeError(f"expected {arguments.alerts} webhook triggers, got {started}")
        results["webhook"] = webhook.report()

        alarms = measure(
            server,
            engine,
            counter,
            lambda index: events.put_events(Entries=[alarm_entry(index)]),
            arguments.alerts,
            arguments.burst,
            profiler,
        )
        started = incident_triggers(server, names["alarms"])
        if started != arguments.alerts:
            raise RuntimeError(f"expected {arguments.alerts} PutEvents triggers, got {started}")
        results["put_events"] = alarms.report()

        if profiler is not None:
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats(arguments.sort).print_stats(arguments.lines)
    return results


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
        "--alerts", type=int, default=200, help="Alerts sent each way (default 200)."
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=1,
        help="Alerts sent before the due jobs run (default 1, every alert alone).",
    )
    parser.add_argument("--profile", action="store_true", help="Print a cProfile listing.")
    parser.add_argument(
        "--sort", default="tottime", help="pstats sort key of the listing (default tottime)."
    )
    parser.add_argument("--lines", type=int, default=40, help="Rows of the listing.")
    arguments = parser.parse_args(argv)
    if arguments.alerts < 1 or arguments.burst < 1:
        parser.error("--alerts and --burst must be at least 1")
    results = run(arguments)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
