"""Alerts posted to webhooks become events that rules route to response plans.

Each test posts over HTTP, runs the event jobs, and reads the result through
boto3: the incident's trigger timeline event carries the event as its raw
data, so the event fields are checked exactly as a runbook would read them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.events.events_support import (
    Account,
    application,
    create_plan,
    drain,
    incident_records,
    new_account,
)
from tests.events.test_webhook_formats import ALERTMANAGER_MINIMAL, GRAFANA_LEGACY
from tests.events.webhook_support import post, register
from tests.incidents.conftest import settle
from tocsin.events.webhook_formats import label_fingerprint
from tocsin.events.webhook_models import AlertWebhook
from tocsin.testing import RunningServer

__all__ = ["application"]

FIRING_ALERTS = {
    "source": ["tocsin.alertmanager"],
    "detail-type": ["Alertmanager Alert"],
    "detail": {"status": ["firing"]},
}


@pytest.fixture
def sqlite_server(sqlite_template: Path, tmp_path: Path) -> Iterator[RunningServer]:
    """A running server on SQLite, for the tests whose outcome does not depend on the backend."""
    shutil.copyfile(sqlite_template, tmp_path / "tocsin.db")
    url = f"sqlite:///{tmp_path / 'tocsin.db'}"
    with RunningServer(tmp_path / "home", database_url=url) as running:
        yield running


def route_to_plan(account: Account, pattern: dict[str, Any], name: str = "alerts") -> str:
    """Create a response plan and a rule on the default bus that targets it; return the rule ARN."""
    plan = create_plan(account)
    rule: str = account.events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    result = account.events.put_targets(Rule=name, Targets=[{"Id": "plan", "Arn": plan}])
    assert result["FailedEntryCount"] == 0
    return rule


def trigger_events(account: Account, incident_arn: str) -> list[dict[str, Any]]:
    """Return the eventData of the incident's trigger timeline events, oldest first."""
    only_triggers = {"equals": {"stringValues": ["SSM Incident Trigger"]}}
    listed = account.incidents.list_timeline_events(
        incidentRecordArn=incident_arn,
        filters=[{"key": "eventType", "condition": only_triggers}],
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


def only_event(account: Account) -> dict[str, Any]:
    """Return the event that started the account's only incident."""
    records = incident_records(account)
    assert len(records) == 1
    triggers = trigger_events(account, records[0]["arn"])
    assert len(triggers) == 1
    event: dict[str, Any] = json.loads(triggers[0]["rawData"])
    return event


def test_alertmanager_alert_starts_and_joins_incident(
    server: RunningServer, application: Account
) -> None:
    """Runs on both backends, because joining an open incident relies on a unique index."""
    rule = route_to_plan(application, FIRING_ALERTS)
    _, url = register(server, "alertmanager", account_id=application.account_id)
    alert = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "instance": "db-1"},
        "annotations": {"summary": "Disk is full"},
        "startsAt": "2026-12-04T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.test/graph",
        "fingerprint": "5e5e5e5e5e5e5e5e",
    }
    group = {"version": "4", "status": "firing", "receiver": "tocsin", "alerts": [alert]}

    first = post(url, group)
    assert first.status_code == 200, first.text
    assert len(first.json()["EventIds"]) == 1
    drain(server)
    records = incident_records(application)
    assert len(records) == 1
    assert records[0]["incidentRecordSource"]["resourceArn"] == rule
    assert records[0]["status"] == "OPEN"

    assert post(url, group).status_code == 200
    drain(server)
    assert len(incident_records(application)) == 1
    triggers = trigger_events(application, records[0]["arn"])
    assert [trigger["triggerCount"] for trigger in triggers] == [1, 2]
    assert {trigger["triggerArn"] for trigger in triggers} == {rule}

    resolved = {**group, "status": "resolved", "alerts": [{**alert, "status": "resolved"}]}
    assert post(url, resolved).status_code == 200
    drain(server)
    assert len(trigger_events(application, records[0]["arn"])) == 2
    assert len(incident_records(application)) == 1


def test_resolved_alert_starts_no_incident(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, FIRING_ALERTS)
    _, url = register(sqlite_server, "alertmanager", account_id=account.account_id)
    resolved = {
        "status": "resolved",
        "alerts": [{"status": "resolved", "labels": {"alertname": "DiskFull"}}],
    }

    response = post(url, resolved)

    assert response.status_code == 200, response.text
    drain(sqlite_server)
    assert incident_records(account) == []


def test_alertmanager_sample_event_fields(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, {"source": ["tocsin.alertmanager"]})
    webhook_id, url = register(sqlite_server, "alertmanager", account_id=account.account_id)

    response = post(url, ALERTMANAGER_MINIMAL)

    assert response.status_code == 200, response.text
    with sqlite_server.runtime.database.session() as session:
        webhook = session.get(AlertWebhook, webhook_id)
    assert webhook is not None
    assert webhook.last_used_at == sqlite_server.clock.now()
    drain(sqlite_server)
    event = only_event(account)
    fingerprint = label_fingerprint({"alertname": "TestAlert"})
    assert event["id"] == response.json()["EventIds"][0]
    assert event["version"] == "0"
    assert event["source"] == "tocsin.alertmanager"
    assert event["detail-type"] == "Alertmanager Alert"
    assert event["account"] == account.account_id
    assert event["region"] == "us-east-1"
    assert event["time"] == sqlite_server.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event["resources"] == [f"alertmanager/alert/{fingerprint}"]
    assert event["detail"] == {
        "status": "firing",
        "labels": {"alertname": "TestAlert"},
        "annotations": {"summary": "My alert summary", "description": "My description"},
        "startsAt": None,
        "endsAt": None,
        "generatorURL": None,
        "fingerprint": fingerprint,
        "receiver": "alert-name-receiver-1",
        "groupKey": None,
        "externalURL": "http://my.url",
        "webhookId": webhook_id,
    }


def test_grafana_sample_event_fields(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, {"source": ["tocsin.grafana"], "detail": {"state": ["alerting"]}})
    webhook_id, url = register(sqlite_server, "grafana", account_id=account.account_id)

    response = post(url, GRAFANA_LEGACY)

    assert response.status_code == 200, response.text
    drain(sqlite_server)
    event = only_event(account)
    assert event["source"] == "tocsin.grafana"
    assert event["detail-type"] == "Grafana Alert"
    assert event["resources"] == ["grafana/rule/1"]
    assert event["detail"] == {"status": "firing", **GRAFANA_LEGACY, "webhookId": webhook_id}


def test_generic_event_on_named_bus(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    account.events.create_event_bus(Name="monitoring")
    plan = create_plan(account)
    pattern = {"source": ["tocsin.webhook"], "detail": {"severity": [{"numeric": [">=", 3]}]}}
    account.events.put_rule(
        Name="severe", EventBusName="monitoring", EventPattern=json.dumps(pattern)
    )
    account.events.put_targets(
        Rule="severe", EventBusName="monitoring", Targets=[{"Id": "plan", "Arn": plan}]
    )
    _, url = register(sqlite_server, "generic", account_id=account.account_id, bus="monitoring")

    assert post(url, {"check": "api", "severity": 1}).status_code == 200
    response = post(url, {"check": "api", "severity": 4, "tags": ["edge"]})

    assert response.status_code == 200, response.text
    drain(sqlite_server)
    event = only_event(account)
    assert event["source"] == "tocsin.webhook"
    assert event["detail-type"] == "Webhook Alert"
    assert event["resources"] == []
    assert event["detail"] == {"check": "api", "severity": 4, "tags": ["edge"]}


def test_missing_bus_is_rejected(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    _, url = register(sqlite_server, "generic", account_id=account.account_id, bus="gone")

    response = post(url, {"check": "api"})

    assert response.status_code == 400
    assert response.json()["message"] == (
        f"Event bus gone does not exist in account {account.account_id}, Region us-east-1; "
        "create it, or create a webhook for another bus."
    )


def test_region_of_replication_set(sqlite_server: RunningServer) -> None:
    """Events take the Region of the account's replication set, so rules there match them."""
    account = new_account(sqlite_server, "222233334444")
    client = sqlite_server.client("ssm-incidents", account.keys, region="eu-west-1")
    events = sqlite_server.client("events", account.keys, region="eu-west-1")
    arn = client.create_replication_set(regions={"eu-west-1": {}})["arn"]
    settle(sqlite_server, client, arn)
    plan = client.create_response_plan(name="eu", incidentTemplate={"title": "EU", "impact": 3})
    events.put_rule(Name="all", EventPattern=json.dumps({"source": ["tocsin.webhook"]}))
    events.put_targets(Rule="all", Targets=[{"Id": "plan", "Arn": plan["arn"]}])
    _, url = register(sqlite_server, "generic", account_id=account.account_id)

    assert post(url, {"check": "eu"}).status_code == 200

    drain(sqlite_server)
    summaries = client.list_incident_records()["incidentRecordSummaries"]
    assert len(summaries) == 1
    timeline = client.list_timeline_events(incidentRecordArn=summaries[0]["arn"])["eventSummaries"]
    trigger = next(item for item in timeline if item["eventType"] == "SSM Incident Trigger")
    data = client.get_timeline_event(
        incidentRecordArn=summaries[0]["arn"], eventId=trigger["eventId"]
    )["event"]["eventData"]
    assert json.loads(json.loads(data)["rawData"])["region"] == "eu-west-1"
