"""Incidents started by EventBridge rules and by alarm triggers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from tests.events.events_support import (
    ALARM_EVENT_FILE,
    ALARM_PATTERN,
    Account,
    application,
    create_plan,
    drain,
    incident_records,
    load_case,
    management,
)
from tests.incidents.incident_support import trigger_count
from tocsin.engine.jobs import Job
from tocsin.events.ingest import put_event
from tocsin.incidents import triggers
from tocsin.testing import RunningServer

__all__ = ["application", "management"]


def alarm_event(account_id: str, name: str = ALARM_EVENT_FILE) -> dict[str, Any]:
    """Return a sample alarm event as the alarm service of ``account_id`` puts it on its bus."""
    event: dict[str, Any] = load_case(name)
    event["account"] = account_id
    return event


def put_alarm_events(server: RunningServer, account: Account, *events: dict[str, Any]) -> None:
    with server.runtime.database.session() as session:
        for event in events:
            put_event(
                session,
                server.clock,
                account_id=account.account_id,
                region="us-east-1",
                event=event,
            )


def given_up(kind: str) -> float:
    value = REGISTRY.get_sample_value(
        "tocsin_event_deliveries_total", {"target_kind": kind, "outcome": "given_up"}
    )
    return value or 0.0


def route_alarms(account: Account, plan: str, **target: Any) -> str:
    rule: str = account.events.put_rule(Name="alarms", EventPattern=json.dumps(ALARM_PATTERN))[
        "RuleArn"
    ]
    account.events.put_targets(Rule="alarms", Targets=[{"Id": "plan", "Arn": plan, **target}])
    return rule


def test_rule_starts_incident_from_alarm_event(server: RunningServer, application: Account) -> None:
    plan = create_plan(application)
    role = f"arn:aws:iam::{application.account_id}:role/events-to-incidents"
    rule = route_alarms(application, plan, RoleArn=role)
    event = alarm_event(application.account_id)
    put_alarm_events(server, application, event)
    drain(server)

    (summary,) = incident_records(application)
    record = application.incidents.get_incident_record(arn=summary["arn"])["incidentRecord"]
    assert record["incidentRecordSource"] == {
        "createdBy": role,
        "invokedBy": "events.amazonaws.com",
        "source": "aws.events",
        "resourceArn": rule,
    }
    assert record["title"] == "Checkout is failing"

    triggered = [
        json.loads(
            application.incidents.get_timeline_event(
                incidentRecordArn=summary["arn"], eventId=item["eventId"]
            )["event"]["eventData"]
        )
        for item in application.incidents.list_timeline_events(incidentRecordArn=summary["arn"])[
            "eventSummaries"
        ]
    ]
    trigger = next(data for data in triggered if "rawData" in data)
    assert trigger["triggerArn"] == rule
    assert json.loads(trigger["rawData"]) == event

    items = application.incidents.list_related_items(incidentRecordArn=summary["arn"])[
        "relatedItems"
    ]
    assert {"type": "INVOLVED_RESOURCE", "value": {"arn": event["resources"][0]}} in [
        item["identifier"] for item in items
    ]


def test_repeated_events_join_open_incident(server: RunningServer, application: Account) -> None:
    plan = create_plan(application)
    route_alarms(application, plan)
    single = alarm_event(application.account_id)
    math = alarm_event(application.account_id, "eb-state-change-metric-math-alarm.json")
    put_alarm_events(server, application, single, single)
    drain(server)
    put_alarm_events(server, application, math)
    drain(server)

    (summary,) = incident_records(application)
    assert trigger_count(server, summary["arn"]) == 3

    # Once resolved, the next event starts a new incident.
    application.incidents.update_incident_record(arn=summary["arn"], status="RESOLVED")
    put_alarm_events(server, application, single)
    drain(server)
    assert len(incident_records(application)) == 2


def test_events_that_do_not_match_start_nothing(
    server: RunningServer, application: Account
) -> None:
    plan = create_plan(application)
    route_alarms(application, plan)
    ok_event = alarm_event(application.account_id)
    ok_event["detail"]["state"]["value"] = "OK"
    composite = alarm_event(
        application.account_id, "eb-state-change-composite-alarm-with-suppressor.json"
    )
    put_alarm_events(server, application, ok_event)
    drain(server)
    assert incident_records(application) == []
    put_alarm_events(server, application, composite)
    drain(server)
    assert len(incident_records(application)) == 1


def test_input_transformer_sets_raw_data(server: RunningServer, application: Account) -> None:
    plan = create_plan(application)
    route_alarms(
        application,
        plan,
        InputTransformer={
            "InputPathsMap": {"alarm": "$.detail.alarmName", "state": "$.detail.state.value"},
            "InputTemplate": '{"alarm": "<alarm>", "state": "<state>"}',
        },
    )
    put_alarm_events(server, application, alarm_event(application.account_id))
    drain(server)
    (summary,) = incident_records(application)
    datas = [
        json.loads(
            application.incidents.get_timeline_event(
                incidentRecordArn=summary["arn"], eventId=item["eventId"]
            )["event"]["eventData"]
        )
        for item in application.incidents.list_timeline_events(incidentRecordArn=summary["arn"])[
            "eventSummaries"
        ]
    ]
    raw = next(data["rawData"] for data in datas if "rawData" in data)
    assert json.loads(raw) == {"alarm": "ServerCpuTooHigh", "state": "ALARM"}


def test_deleted_plan_is_given_up(server: RunningServer, application: Account) -> None:
    plan = create_plan(application)
    route_alarms(application, plan)
    application.incidents.delete_response_plan(arn=plan)
    before = given_up("response-plan")
    put_alarm_events(server, application, alarm_event(application.account_id))
    drain(server)

    assert incident_records(application) == []
    assert given_up("response-plan") == before + 1
    with server.runtime.database.session() as session:
        statuses = session.scalars(select(Job.status).where(Job.kind == "events.target")).all()
    assert statuses == ["done"]


def test_start_from_trigger_for_alarms(server: RunningServer, application: Account) -> None:
    plan = create_plan(application)
    alarm = f"arn:aws:cloudwatch:us-east-1:{application.account_id}:alarm:ServerCpuTooHigh"
    raw = json.dumps(alarm_event(application.account_id))
    moment = datetime(2019, 10, 2, 17, 4, 40, tzinfo=UTC)
    with server.runtime.database.session() as session:
        first = triggers.start_from_trigger(
            session,
            server.clock,
            plan_arn=plan,
            caller_account=application.account_id,
            source="aws.cloudwatch",
            trigger_arn=alarm,
            raw_data=raw,
            timestamp=moment,
        )
        second = triggers.start_from_trigger(
            session,
            server.clock,
            plan_arn=plan,
            caller_account=application.account_id,
            source="aws.cloudwatch",
            trigger_arn=alarm,
            raw_data=raw,
            timestamp=moment,
        )
    assert first.created is True
    assert second.created is False
    assert second.arn == first.arn
    assert trigger_count(server, first.arn) == 2
    record = application.incidents.get_incident_record(arn=first.arn)["incidentRecord"]
    assert record["incidentRecordSource"] == {
        "createdBy": alarm,
        "invokedBy": "cloudwatch.amazonaws.com",
        "source": "aws.cloudwatch",
        "resourceArn": alarm,
    }


def test_start_from_trigger_rejects_unshared_plan(
    server: RunningServer, application: Account, management: Account
) -> None:
    plan = create_plan(management)
    with (
        server.runtime.database.session() as session,
        pytest.raises(triggers.PlanUnavailable) as info,
    ):
        triggers.start_from_trigger(
            session,
            server.clock,
            plan_arn=plan,
            caller_account=application.account_id,
            source="aws.cloudwatch",
            trigger_arn=f"arn:aws:cloudwatch:us-east-1:{application.account_id}:alarm:a",
            raw_data="{}",
            timestamp=server.clock.now(),
        )
    assert application.account_id in str(info.value)
    with server.runtime.database.session() as session, pytest.raises(triggers.PlanUnavailable):
        triggers.start_from_trigger(
            session,
            server.clock,
            plan_arn=f"{plan}/doubled",
            caller_account=management.account_id,
            source="aws.cloudwatch",
            trigger_arn=f"arn:aws:cloudwatch:us-east-1:{management.account_id}:alarm:a",
            raw_data="{}",
            timestamp=server.clock.now(),
        )
