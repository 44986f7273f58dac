"""Deduplication of incidents by dedupe string and by trigger ARN, also under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.incidents.conftest import OWNER, REGION, TEMPLATE, Tenant
from tests.incidents.incident_support import jobs_of, trigger_count
from tocsin.testing import RunningServer

ALARM = f"arn:aws:cloudwatch:{REGION}:{OWNER}:alarm:HighLatency"
CONTACT = f"arn:aws:ssm-contacts:{REGION}:{OWNER}:contact/primary"
TRIGGER_EVENT_FILTER = [
    {"key": "eventType", "condition": {"equals": {"stringValues": ["SSM Incident Trigger"]}}}
]


@pytest.fixture
def deduped_plan(prepared: str, owner: Tenant) -> str:
    arn: str = owner.client.create_response_plan(
        name="deduped",
        incidentTemplate={**TEMPLATE, "dedupeString": "checkout-errors"},
        engagements=[CONTACT],
    )["arn"]
    return arn


def trigger(source: str = "aws.cloudwatch", arn: str = ALARM) -> dict[str, Any]:
    return {
        "source": source,
        "triggerArn": arn,
        "timestamp": datetime(2025, 1, 1, tzinfo=UTC),
    }


def test_dedupe_string_joins_open_incident(
    server: RunningServer, owner: Tenant, deduped_plan: str
) -> None:
    first = owner.client.start_incident(responsePlanArn=deduped_plan)["incidentRecordArn"]
    second = owner.client.start_incident(responsePlanArn=deduped_plan, title="Again")[
        "incidentRecordArn"
    ]
    assert second == first
    assert trigger_count(server, first) == 2
    triggers = owner.client.list_timeline_events(
        incidentRecordArn=first, filters=TRIGGER_EVENT_FILTER
    )["eventSummaries"]
    assert len(triggers) == 2
    # The joining trigger starts no second engagement.
    assert [kind for kind, _ in jobs_of(server, first)] == ["incidents.start_engagement"]
    record = owner.client.get_incident_record(arn=first)["incidentRecord"]
    assert record["dedupeString"] == "checkout-errors"
    assert record["title"] == TEMPLATE["title"]


def test_resolved_incident_is_not_joined(owner: Tenant, deduped_plan: str) -> None:
    first = owner.client.start_incident(responsePlanArn=deduped_plan)["incidentRecordArn"]
    owner.client.update_incident_record(arn=first, status="RESOLVED")
    second = owner.client.start_incident(responsePlanArn=deduped_plan)["incidentRecordArn"]
    assert second != first
    # Reopening the first leaves new triggers joining the second, which is open.
    owner.client.update_incident_record(arn=first, status="OPEN")
    third = owner.client.start_incident(responsePlanArn=deduped_plan)["incidentRecordArn"]
    assert third == second


def test_trigger_arn_joins_open_incident(
    server: RunningServer, prepared: str, owner: Tenant
) -> None:
    plan = owner.client.create_response_plan(name="plain", incidentTemplate=TEMPLATE)["arn"]
    first = owner.client.start_incident(responsePlanArn=plan, triggerDetails=trigger())[
        "incidentRecordArn"
    ]
    second = owner.client.start_incident(responsePlanArn=plan, triggerDetails=trigger())[
        "incidentRecordArn"
    ]
    assert second == first
    assert trigger_count(server, first) == 2
    other_alarm = ALARM.replace("HighLatency", "Errors")
    third = owner.client.start_incident(
        responsePlanArn=plan, triggerDetails=trigger(arn=other_alarm)
    )["incidentRecordArn"]
    assert third != first
    # Without a dedupe string or a trigger ARN, every call starts an incident.
    manual = {owner.client.start_incident(responsePlanArn=plan)["incidentRecordArn"] for _ in "ab"}
    assert len(manual) == 2


def test_changed_dedupe_string_applies_to_new_triggers(owner: Tenant, deduped_plan: str) -> None:
    first = owner.client.start_incident(responsePlanArn=deduped_plan)["incidentRecordArn"]
    owner.client.update_response_plan(arn=deduped_plan, incidentTemplateDedupeString="payments")
    second = owner.client.start_incident(responsePlanArn=deduped_plan)["incidentRecordArn"]
    assert second != first
    assert owner.client.get_incident_record(arn=first)["incidentRecord"]["dedupeString"] == (
        "checkout-errors"
    )
    assert owner.client.get_incident_record(arn=second)["incidentRecord"]["dedupeString"] == (
        "payments"
    )
    third = owner.client.start_incident(responsePlanArn=deduped_plan)["incidentRecordArn"]
    assert third == second


def test_concurrent_triggers_create_one_incident(
    server: RunningServer, owner: Tenant, deduped_plan: str
) -> None:
    callers = 50
    clients = [server.client("ssm-incidents", owner.keys, region=REGION) for _ in range(callers)]
    barrier = threading.Barrier(callers)
    results: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def start(client: Any) -> None:
        barrier.wait()
        try:
            arn = client.start_incident(responsePlanArn=deduped_plan)["incidentRecordArn"]
        except BaseException as exc:  # collected and asserted below
            with lock:
                failures.append(exc)
            return
        with lock:
            results.append(arn)

    threads = [threading.Thread(target=start, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(results) == callers
    assert len(set(results)) == 1
    listed = owner.client.list_incident_records()["incidentRecordSummaries"]
    assert [summary["arn"] for summary in listed] == results[:1]
    assert trigger_count(server, results[0]) == callers
    assert len(jobs_of(server, results[0])) == 1
