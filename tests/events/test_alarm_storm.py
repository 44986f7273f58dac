"""An alarm storm: 10,000 identical alarm events routed by one rule to one response plan.

It runs on SQLite only: it checks the batching of matching and target work
and the trigger count, which use the same statements on both backends, and
the other event tests already cover PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import fresh_database_url
from tests.events.events_support import (
    ALARM_EVENT_FILE,
    ALARM_PATTERN,
    REGION,
    Account,
    create_plan,
    drain,
    incident_records,
    load_case,
    new_account,
)
from tests.incidents.incident_support import trigger_count
from tocsin.engine.jobs import Job
from tocsin.events.ingest import put_event
from tocsin.testing import RunningServer

EVENTS = 10_000
# Events put per transaction, as an alarm service writes them in bursts.
PER_TRANSACTION = 1_000


@pytest.fixture
def sqlite_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url) as running:
        yield running


def test_alarm_storm_gives_one_incident(sqlite_server: RunningServer) -> None:
    server = sqlite_server
    account: Account = new_account(server, "222233334444")
    plan = create_plan(account)
    account.events.put_rule(Name="alarms", EventPattern=json.dumps(ALARM_PATTERN))
    account.events.put_targets(Rule="alarms", Targets=[{"Id": "plan", "Arn": plan}])
    event: dict[str, Any] = load_case(ALARM_EVENT_FILE)
    event["account"] = account.account_id

    started = time.monotonic()
    for _ in range(EVENTS // PER_TRANSACTION):
        with server.runtime.database.session() as session:
            for _ in range(PER_TRANSACTION):
                put_event(
                    session,
                    server.clock,
                    account_id=account.account_id,
                    region=REGION,
                    event={key: value for key, value in event.items() if key != "id"},
                )
    drain(server, timeout=120)
    elapsed = time.monotonic() - started

    (summary,) = incident_records(account)
    assert trigger_count(server, summary["arn"]) == EVENTS
    with server.runtime.database.session() as session:
        jobs = session.execute(
            select(Job.kind, Job.status, func.count())
            .where(Job.kind.like("events.%"))
            .group_by(Job.kind, Job.status)
        ).all()
    counts = {(kind, status): count for kind, status, count in jobs}
    # Batching: 100 events per match job and one target job per match job.
    assert counts == {("events.match", "done"): 100, ("events.target", "done"): 100}
    assert elapsed < 60, f"the storm took {elapsed:.1f} s"
