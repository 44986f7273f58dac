"""Match and target jobs run in batches: fewer jobs and transactions, the same incidents.

The server runs no job worker, so the jobs of several requests are due
together and the test's drain claims them in batches, as a busy worker does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from tests.conftest import BACKENDS, fresh_database_url
from tests.events.events_support import (
    ALARM_EVENT_FILE,
    ALARM_PATTERN,
    Account,
    create_plan,
    drain,
    incident_records,
    load_case,
    new_account,
)
from tests.events.test_webhook_incidents import FIRING_ALERTS, route_to_plan, trigger_events
from tests.events.webhook_support import post, register
from tests.incidents.incident_support import trigger_count
from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.worker import Engine
from tocsin.events.delivery import TARGET_JOB
from tocsin.events.ingest import MATCH_JOB, put_event
from tocsin.testing import RunningServer

ACCOUNT_ID = "222233334444"


@pytest.fixture(params=BACKENDS)
def idle_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    """A running server whose jobs run only when the test drains them."""
    url = fresh_database_url(request.param, tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url, workers=0) as running:
        runtime = running.runtime
        runtime.engine = Engine(
            runtime.database, running.clock, runtime.jobs, running.settings, workers=0
        )
        yield running


def job_counts(server: RunningServer) -> dict[tuple[str, str], int]:
    """Return the number of event jobs by (kind, status)."""
    with server.runtime.database.session() as session:
        rows = session.execute(
            select(Job.kind, Job.status, func.count())
            .where(Job.kind.in_([MATCH_JOB, TARGET_JOB]))
            .group_by(Job.kind, Job.status)
        ).all()
    return {(kind, status): count for kind, status, count in rows}


def alarm_event(account: Account, alarm: str = "cpu") -> dict[str, Any]:
    event: dict[str, Any] = load_case(ALARM_EVENT_FILE)
    event["account"] = account.account_id
    event["detail"]["alarmName"] = alarm
    event.pop("id")
    return event


def put_alone(server: RunningServer, account: Account, event: dict[str, Any]) -> None:
    """Put one event in a transaction of its own, so that it gets its own match job."""
    with server.runtime.database.session() as session:
        put_event(
            session, server.clock, account_id=account.account_id, region="us-east-1", event=event
        )


def route_alarms(account: Account, plan: str, name: str = "alarms") -> None:
    account.events.put_rule(Name=name, EventPattern=json.dumps(ALARM_PATTERN))
    result = account.events.put_targets(Rule=name, Targets=[{"Id": "plan", "Arn": plan}])
    assert result["FailedEntryCount"] == 0


def alertmanager_post(group_key: str, status: str = "firing") -> dict[str, Any]:
    """Return an Alertmanager post (version 4) of one alert of the group ``group_key``."""
    return {
        "version": "4",
        "groupKey": group_key,
        "status": status,
        "receiver": "tocsin",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "DiskFull", "group": group_key},
                "annotations": {"summary": "Disk is full"},
                "startsAt": "2026-12-04T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-04T10:05:00Z",
                "generatorURL": "http://prometheus.test/graph",
                "fingerprint": group_key,
            }
        ],
    }


def send(url: str, payload: dict[str, Any]) -> None:
    response = post(url, payload)
    assert response.status_code == 200, response.text


def test_match_batch_merges_target_jobs(idle_server: RunningServer) -> None:
    account = new_account(idle_server, ACCOUNT_ID)
    route_alarms(account, create_plan(account))
    for _ in range(5):
        put_alone(idle_server, account, alarm_event(account))
    drain(idle_server)

    counts = job_counts(idle_server)
    assert counts[MATCH_JOB, JobStatus.DONE.value] == 5
    assert counts[TARGET_JOB, JobStatus.DONE.value] == 1
    (summary,) = incident_records(account)
    assert trigger_count(idle_server, summary["arn"]) == 5
    counted = [data["triggerCount"] for data in trigger_events(account, summary["arn"])]
    assert sorted(counted) == [1, 2, 3, 4, 5]


def test_batch_keeps_each_rule_apart(idle_server: RunningServer) -> None:
    """Two rules of one bus, each with its own plan, get their own target jobs and incidents."""
    account = new_account(idle_server, ACCOUNT_ID)
    route_alarms(account, create_plan(account, "first"), "first")
    route_alarms(account, create_plan(account, "second"), "second")
    for alarm in ("cpu", "disk", "cpu"):
        put_alone(idle_server, account, alarm_event(account, alarm))
    drain(idle_server)

    assert job_counts(idle_server)[TARGET_JOB, JobStatus.DONE.value] == 2
    records = incident_records(account)
    assert len(records) == 2
    for summary in records:
        assert trigger_count(idle_server, summary["arn"]) == 3


def test_batch_drops_events_of_missing_bus(idle_server: RunningServer) -> None:
    """A match job whose bus was deleted drops its events, and the others of its batch deliver."""
    account = new_account(idle_server, ACCOUNT_ID)
    route_alarms(account, create_plan(account))
    account.events.create_event_bus(Name="gone")
    with idle_server.runtime.database.session() as session:
        put_event(
            session,
            idle_server.clock,
            account_id=account.account_id,
            region="us-east-1",
            event=alarm_event(account),
            bus_name="gone",
        )
    account.events.delete_event_bus(Name="gone")
    put_alone(idle_server, account, alarm_event(account))
    drain(idle_server)

    assert job_counts(idle_server)[MATCH_JOB, JobStatus.DONE.value] == 2
    (summary,) = incident_records(account)
    assert trigger_count(idle_server, summary["arn"]) == 1


def test_batch_gives_up_unavailable_plan_alone(idle_server: RunningServer) -> None:
    """A deleted plan gives its target job up; another rule's job of the batch still delivers."""
    account = new_account(idle_server, ACCOUNT_ID)
    deleted = create_plan(account, "deleted")
    route_alarms(account, deleted, "deleted")
    route_alarms(account, create_plan(account, "kept"), "kept")
    put_alone(idle_server, account, alarm_event(account))
    put_alone(idle_server, account, alarm_event(account))
    drain(idle_server)
    account.incidents.delete_response_plan(arn=deleted)
    for summary in incident_records(account):
        account.incidents.update_incident_record(arn=summary["arn"], status="RESOLVED")

    put_alone(idle_server, account, alarm_event(account))
    drain(idle_server)
    opened = [summary for summary in incident_records(account) if summary["status"] == "OPEN"]
    assert len(opened) == 1
    assert trigger_count(idle_server, opened[0]["arn"]) == 1
    assert job_counts(idle_server).get((TARGET_JOB, JobStatus.DEAD.value)) is None


def test_webhook_groups_start_own_incidents(idle_server: RunningServer) -> None:
    """Posts of three alert groups, delivered in one batch, start one incident per group."""
    account = new_account(idle_server, ACCOUNT_ID)
    route_to_plan(account, FIRING_ALERTS)
    _, url = register(idle_server, "alertmanager", account_id=account.account_id)
    posts = ["a", "b", "a", "c", "a"]
    for key in posts:
        send(url, alertmanager_post(key))
    drain(idle_server)

    assert job_counts(idle_server)[TARGET_JOB, JobStatus.DONE.value] == 1
    records = incident_records(account)
    counts = sorted(trigger_count(idle_server, summary["arn"]) for summary in records)
    assert counts == [1, 1, 3]


def test_resolved_group_delivers_posts_alone(idle_server: RunningServer) -> None:
    """Firing posts of a group that resolved before delivery start an incident each.

    Each firing post's incident is resolved at once because the group has
    resolved, so the next post's firing cannot join it, as when each post's
    jobs run alone.
    """
    account = new_account(idle_server, ACCOUNT_ID)
    route_to_plan(account, FIRING_ALERTS)
    _, url = register(
        idle_server, "alertmanager", account_id=account.account_id, resolve_incidents=True
    )
    send(url, alertmanager_post("a"))
    send(url, alertmanager_post("a"))
    send(url, alertmanager_post("a", "resolved"))
    drain(idle_server)

    records = incident_records(account)
    assert len(records) == 2
    assert {summary["status"] for summary in records} == {"RESOLVED"}
    for summary in records:
        assert trigger_count(idle_server, summary["arn"]) == 1


def test_burst_costs_few_job_transactions(idle_server: RunningServer) -> None:
    """Ten webhook posts start ten incidents in a few transactions, not several per post."""
    account = new_account(idle_server, ACCOUNT_ID)
    route_to_plan(account, FIRING_ALERTS)
    _, url = register(idle_server, "alertmanager", account_id=account.account_id)
    for index in range(10):
        send(url, alertmanager_post(f"group-{index}"))

    commits = 0

    def count_commit(_connection: Any) -> None:
        nonlocal commits
        commits += 1

    engine = idle_server.runtime.database.engine
    event.listen(engine, "commit", count_commit)
    try:
        drain(idle_server)
    finally:
        event.remove(engine, "commit", count_commit)

    assert len(incident_records(account)) == 10
    # A claim and a run per batch, plus the claims that find nothing more.
    # Run one by one, the 20 jobs would take 20 transactions besides their claims.
    assert commits <= 20, f"{commits} commits for 10 posts"
