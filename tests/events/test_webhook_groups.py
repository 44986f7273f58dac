"""Posts of one Alertmanager alert group make one incident, which the group's resolution resolves.

Rules route only firing alerts, as in a typical set-up, so resolutions
reach incidents through the alert group, not through a rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import BACKENDS, fresh_database_url
from tests.events.events_support import Account, application, drain, incident_records, new_account
from tests.events.test_webhook_incidents import (
    FIRING_ALERTS,
    route_to_plan,
    sqlite_server,
    trigger_events,
)
from tests.events.webhook_support import post, register
from tocsin.engine.jobs import Job
from tocsin.engine.worker import Engine
from tocsin.events.alert_groups import GROUP_EVENT
from tocsin.incidents.automation import STOP_ENGAGEMENTS_JOB
from tocsin.testing import RunningServer

__all__ = ["application", "sqlite_server"]

GROUP_KEY = '{}:{alertname="DiskFull"}'
FIRING_ENDS_AT = "0001-01-01T00:00:00Z"


def alert(
    fingerprint: str, status: str = "firing", ends_at: str = FIRING_ENDS_AT
) -> dict[str, Any]:
    """Return an Alertmanager alert of the DiskFull group on instance ``fingerprint``."""
    return {
        "status": status,
        "labels": {"alertname": "DiskFull", "instance": fingerprint},
        "annotations": {"summary": "Disk is full"},
        "startsAt": "2026-12-04T10:00:00Z",
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.test/graph",
        "fingerprint": fingerprint,
    }


def group(status: str, alerts: list[dict[str, Any]], group_key: str = GROUP_KEY) -> dict[str, Any]:
    """Return an Alertmanager webhook payload (version 4) of one group."""
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "tocsin",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test",
        "alerts": alerts,
    }


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


def send(url: str, payload: dict[str, Any]) -> None:
    response = post(url, payload)
    assert response.status_code == 200, response.text


def timeline_data(account: Account, incident_arn: str, event_type: str) -> list[dict[str, Any]]:
    """Return the decoded eventData of the incident's events of ``event_type``, oldest first."""
    condition = {"equals": {"stringValues": [event_type]}}
    listed = account.incidents.list_timeline_events(
        incidentRecordArn=incident_arn,
        filters=[{"key": "eventType", "condition": condition}],
        sortBy="EVENT_TIME",
        sortOrder="ASCENDING",
    )["eventSummaries"]
    found = []
    for summary in listed:
        event = account.incidents.get_timeline_event(
            incidentRecordArn=incident_arn, eventId=summary["eventId"]
        )["event"]
        found.append(json.loads(event["eventData"]))
    return found


def status_updates(account: Account, incident_arn: str) -> list[Any]:
    """Return the new values of the incident's status changes, oldest first."""
    updates = timeline_data(account, incident_arn, "SSM Incident Record Update")
    return [update["newValue"] for update in updates if update["attribute"] == "status"]


def only_incident(account: Account) -> dict[str, Any]:
    records = incident_records(account)
    assert len(records) == 1
    return records[0]


def test_group_posts_make_one_incident(server: RunningServer, application: Account) -> None:
    """Runs on both backends, because joining relies on the unique open trigger key."""
    rule = route_to_plan(application, FIRING_ALERTS)
    _, url = register(server, "alertmanager", account_id=application.account_id)

    send(url, group("firing", [alert("a1")]))
    drain(server)
    send(url, group("firing", [alert("a1"), alert("b2")]))
    drain(server)

    incident = only_incident(application)
    assert incident["status"] == "OPEN"
    assert incident["incidentRecordSource"]["resourceArn"] == rule
    triggers = trigger_events(application, incident["arn"])
    assert [trigger["triggerCount"] for trigger in triggers] == [1, 2, 3]

    send(url, group("firing", [alert("c3")], group_key='{}:{alertname="CpuHot"}'))
    drain(server)
    records = incident_records(application)
    assert len(records) == 2
    assert {record["status"] for record in records} == {"OPEN"}


def test_same_group_key_of_two_webhooks(sqlite_server: RunningServer) -> None:
    """The same group key posted to two webhooks makes two groups."""
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, FIRING_ALERTS)
    _, first_url = register(sqlite_server, "alertmanager", account_id=account.account_id)
    _, second_url = register(sqlite_server, "alertmanager", account_id=account.account_id)

    send(first_url, group("firing", [alert("a1")]))
    send(second_url, group("firing", [alert("a1")]))
    drain(sqlite_server)

    assert len(incident_records(account)) == 2


def test_resolution_recorded_without_option(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, FIRING_ALERTS)
    webhook_id, url = register(sqlite_server, "alertmanager", account_id=account.account_id)
    send(url, group("firing", [alert("a1")]))
    drain(sqlite_server)

    send(url, group("resolved", [alert("a1", "resolved", "2026-12-04T10:05:00Z")]))
    drain(sqlite_server)

    incident = only_incident(account)
    assert incident["status"] == "OPEN"
    assert status_updates(account, incident["arn"]) == []
    (recorded,) = timeline_data(account, incident["arn"], GROUP_EVENT)
    assert recorded["webhookId"] == webhook_id
    assert recorded["groupKey"] == GROUP_KEY
    assert recorded["groupStatus"] == "resolved"
    assert recorded["incidentResolved"] is False
    assert [item["fingerprint"] for item in recorded["resolvedAlerts"]] == ["a1"]
    assert recorded["summary"].startswith(f"Alert group {GROUP_KEY} resolved")

    # The incident is still open, so the group firing again joins it.
    send(url, group("firing", [alert("a1")]))
    drain(sqlite_server)
    incident = only_incident(account)
    assert len(trigger_events(account, incident["arn"])) == 2


def test_resolution_resolves_with_option(server: RunningServer, application: Account) -> None:
    """Runs on both backends, because resolving and starting lock the group's row."""
    route_to_plan(application, FIRING_ALERTS)
    webhook_id, url = register(
        server, "alertmanager", account_id=application.account_id, resolve_incidents=True
    )
    send(url, group("firing", [alert("a1")]))
    drain(server)
    started = only_incident(application)

    send(url, group("resolved", [alert("a1", "resolved", "2026-12-04T10:05:00Z")]))
    drain(server)

    incident = only_incident(application)
    assert incident["status"] == "RESOLVED"
    assert incident["resolvedTime"] == server.clock.now()
    assert status_updates(application, incident["arn"]) == ["RESOLVED"]
    (recorded,) = timeline_data(application, incident["arn"], GROUP_EVENT)
    assert recorded["groupStatus"] == "resolved"
    assert recorded["incidentResolved"] is True
    record = application.incidents.get_incident_record(arn=started["arn"])["incidentRecord"]
    assert record["lastModifiedBy"] == (
        f"arn:aws:events:us-east-1:{application.account_id}:webhook/{webhook_id}"
    )
    with server.runtime.database.session() as session:
        stop_jobs = session.scalars(select(Job).where(Job.kind == STOP_ENGAGEMENTS_JOB)).all()
        assert [job.payload["incidentRecordArn"] for job in stop_jobs] == [started["arn"]]

    # A group that fires after its incident resolved starts a new incident.
    send(url, group("firing", [alert("a1")]))
    drain(server)
    records = incident_records(application)
    assert len(records) == 2
    assert sorted(record["status"] for record in records) == ["OPEN", "RESOLVED"]
    reopened = next(record for record in records if record["status"] == "OPEN")
    assert reopened["arn"] != started["arn"]


def test_resolution_before_incident_starts(idle_server: RunningServer) -> None:
    """The group resolves before the target job starts the incident, which then resolves."""
    account = new_account(idle_server, "222233334444")
    route_to_plan(account, FIRING_ALERTS)
    _, url = register(
        idle_server, "alertmanager", account_id=account.account_id, resolve_incidents=True
    )

    send(url, group("firing", [alert("a1")]))
    send(url, group("resolved", [alert("a1", "resolved", "2026-12-04T10:05:00Z")]))
    assert incident_records(account) == []
    drain(idle_server)

    incident = only_incident(account)
    assert incident["status"] == "RESOLVED"
    assert len(trigger_events(account, incident["arn"])) == 1
    (recorded,) = timeline_data(account, incident["arn"], GROUP_EVENT)
    assert recorded["groupStatus"] == "resolved"
    assert recorded["incidentResolved"] is True
    # The resolving post found no incident, so its alert is not listed.
    assert recorded["resolvedAlerts"] == []


def test_alerts_of_group_resolve_one_by_one(server: RunningServer, application: Account) -> None:
    """Alertmanager sends A's resolution again with B's, and it is recorded once.

    Two alerts fire in one group. A resolves while B fires, then B resolves.
    The last post arrives twice, as a retried delivery would.
    """
    route_to_plan(application, FIRING_ALERTS)
    _, url = register(
        server, "alertmanager", account_id=application.account_id, resolve_incidents=True
    )
    a_resolved = alert("A", "resolved", "2026-12-04T10:05:00Z")
    b_resolved = alert("B", "resolved", "2026-12-04T10:09:00Z")

    send(url, group("firing", [alert("A"), alert("B")]))
    drain(server)
    send(url, group("firing", [a_resolved, alert("B")]))
    drain(server)

    incident = only_incident(application)
    assert incident["status"] == "OPEN"
    (first,) = timeline_data(application, incident["arn"], GROUP_EVENT)
    assert first["groupStatus"] == "firing"
    assert first["incidentResolved"] is False
    assert first["resolvedAlerts"] == [
        {"fingerprint": "A", "endsAt": a_resolved["endsAt"], "labels": a_resolved["labels"]}
    ]

    send(url, group("resolved", [a_resolved, b_resolved]))
    send(url, group("resolved", [a_resolved, b_resolved]))
    drain(server)

    incident = only_incident(application)
    assert incident["status"] == "RESOLVED"
    recorded = timeline_data(application, incident["arn"], GROUP_EVENT)
    assert len(recorded) == 2
    assert [item["fingerprint"] for item in recorded[1]["resolvedAlerts"]] == ["B"]
    assert recorded[1]["groupStatus"] == "resolved"
    assert recorded[1]["incidentResolved"] is True
    assert status_updates(application, incident["arn"]) == ["RESOLVED"]
    triggers = trigger_events(application, incident["arn"])
    assert [trigger["triggerCount"] for trigger in triggers] == [1, 2, 3]


def test_many_resolutions_fit_event_data(sqlite_server: RunningServer) -> None:
    """A post that resolves many alerts lists those that fit in eventData's 12,000 characters."""
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, FIRING_ALERTS)
    _, url = register(sqlite_server, "alertmanager", account_id=account.account_id)
    names = [f"{index:03d}-{'x' * 100}" for index in range(150)]
    send(url, group("firing", [alert(name) for name in names]))
    drain(sqlite_server)
    (incident,) = incident_records(account)

    resolved = [alert(name, "resolved", "2026-12-04T10:05:00Z") for name in names]
    send(url, group("resolved", resolved))

    summaries = account.incidents.list_timeline_events(
        incidentRecordArn=incident["arn"],
        filters=[{"key": "eventType", "condition": {"equals": {"stringValues": [GROUP_EVENT]}}}],
    )["eventSummaries"]
    assert len(summaries) == 1
    event = account.incidents.get_timeline_event(
        incidentRecordArn=incident["arn"], eventId=summaries[0]["eventId"]
    )["event"]
    assert 11_000 < len(event["eventData"]) <= 12_000
    data = json.loads(event["eventData"])
    listed = [item["fingerprint"] for item in data["resolvedAlerts"]]
    assert listed == names[: len(listed)]
    assert data["omittedAlerts"] == len(names) - len(listed)
    assert data["omittedAlerts"] > 0
    assert data["summary"] == f"Alert group {GROUP_KEY} resolved: every alert in it has resolved."


def test_alert_resolving_again_is_recorded(sqlite_server: RunningServer) -> None:
    """An alert that resolves, fires and resolves again has a new endsAt, so it is recorded."""
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, FIRING_ALERTS)
    _, url = register(sqlite_server, "alertmanager", account_id=account.account_id)

    send(url, group("firing", [alert("A"), alert("B")]))
    # Resolutions are recorded on incidents that exist when they arrive, and
    # the incident starts in a background job.
    drain(sqlite_server)
    send(url, group("firing", [alert("A", "resolved", "2026-12-04T10:05:00Z"), alert("B")]))
    send(url, group("firing", [alert("A"), alert("B")]))
    send(url, group("firing", [alert("A", "resolved", "2026-12-04T10:20:00Z"), alert("B")]))
    drain(sqlite_server)

    incident = only_incident(account)
    recorded = timeline_data(account, incident["arn"], GROUP_EVENT)
    ends = [item["endsAt"] for event in recorded for item in event["resolvedAlerts"]]
    assert ends == ["2026-12-04T10:05:00Z", "2026-12-04T10:20:00Z"]


def test_grafana_unified_group_resolves(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    pattern = {"source": ["tocsin.grafana"], "detail": {"status": ["firing"]}}
    route_to_plan(account, pattern)
    _, url = register(
        sqlite_server, "grafana", account_id=account.account_id, resolve_incidents=True
    )
    firing = {**group("firing", [alert("g1")]), "version": "1", "orgId": 1, "title": "[FIRING:1]"}

    send(url, firing)
    send(url, firing)
    drain(sqlite_server)
    incident = only_incident(account)
    assert len(trigger_events(account, incident["arn"])) == 2

    resolved = {
        **firing,
        "status": "resolved",
        "alerts": [alert("g1", "resolved", "2026-12-04T11:00:00Z")],
    }
    send(url, resolved)
    drain(sqlite_server)
    assert only_incident(account)["status"] == "RESOLVED"


def test_alerts_without_group_key_share_rule_incident(sqlite_server: RunningServer) -> None:
    """Senders that leave groupKey out get one incident per rule, and nothing resolves it."""
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, FIRING_ALERTS)
    _, url = register(
        sqlite_server, "alertmanager", account_id=account.account_id, resolve_incidents=True
    )
    without_key = group("firing", [alert("a1")])
    del without_key["groupKey"]
    other = {**without_key, "groupLabels": {"alertname": "CpuHot"}, "alerts": [alert("c3")]}

    send(url, without_key)
    send(url, other)
    send(url, {**without_key, "status": "resolved", "alerts": [alert("a1", "resolved")]})
    drain(sqlite_server)

    incident = only_incident(account)
    assert incident["status"] == "OPEN"
    assert len(trigger_events(account, incident["arn"])) == 2
    assert timeline_data(account, incident["arn"], GROUP_EVENT) == []


def test_put_events_cannot_join_webhook_group(sqlite_server: RunningServer) -> None:
    """An event made up by a PutEvents caller that names a webhook's group is not of the group."""
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, {"source": ["tocsin.alertmanager"]})
    other = new_account(sqlite_server, "555566667777")
    route_to_plan(other, {"source": ["tocsin.alertmanager"]})
    webhook_id, url = register(
        sqlite_server, "alertmanager", account_id=account.account_id, resolve_incidents=True
    )
    send(url, group("firing", [alert("a1")]))
    detail = {"status": "firing", "webhookId": webhook_id, "groupKey": GROUP_KEY}

    entry = {
        "Source": "tocsin.alertmanager",
        "DetailType": "Alertmanager Alert",
        "Detail": json.dumps(detail),
    }
    assert other.events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    send(url, group("resolved", [alert("a1", "resolved", "2026-12-04T10:05:00Z")]))
    drain(sqlite_server)

    assert only_incident(account)["status"] == "RESOLVED"
    assert only_incident(other)["status"] == "OPEN"
