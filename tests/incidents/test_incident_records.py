"""StartIncident, incident records, tags and findings through boto3."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from sqlalchemy import select

from tests.incidents.conftest import OWNER, REGION, TEMPLATE, Tenant, error_of, prepare
from tests.incidents.incident_support import ALARM_EVENT, TUTORIAL_RUNBOOK, jobs_of
from tocsin.engine.jobs import Job
from tocsin.testing import RunningServer

TOPIC = f"arn:aws:sns:{REGION}:{OWNER}:incidents"
CHAT_TOPIC = f"arn:aws:sns:{REGION}:{OWNER}:chat"
CONTACTS = [
    f"arn:aws:ssm-contacts:{REGION}:{OWNER}:contact/primary",
    f"arn:aws:ssm-contacts:{REGION}:{OWNER}:contact/secondary",
]
RUNBOOK_ACTION = {
    "ssmAutomation": {
        "documentName": "IncidentResponseRunbook",
        "roleArn": f"arn:aws:iam::{OWNER}:role/runbook",
        "dynamicParameters": {"IncidentRecordArn": {"variable": "INCIDENT_RECORD_ARN"}},
    }
}
INCIDENT_ARN = re.compile(
    rf"^arn:aws:ssm-incidents::{OWNER}:incident-record/full/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


@pytest.fixture
def full_plan(prepared: str, owner: Tenant) -> str:
    template = {
        **TEMPLATE,
        "summary": "Orders cannot be paid",
        "notificationTargets": [{"snsTopicArn": TOPIC}],
        "incidentTags": {"team": "payments"},
    }
    arn: str = owner.client.create_response_plan(
        name="full",
        incidentTemplate=template,
        chatChannel={"chatbotSns": [CHAT_TOPIC]},
        engagements=CONTACTS,
        actions=[RUNBOOK_ACTION],
    )["arn"]
    return arn


def test_start_incident_copies_template(owner: Tenant, full_plan: str) -> None:
    arn = owner.client.start_incident(responsePlanArn=full_plan)["incidentRecordArn"]
    assert INCIDENT_ARN.match(arn)
    record = owner.client.get_incident_record(arn=arn)["incidentRecord"]
    assert record["title"] == TEMPLATE["title"]
    assert record["impact"] == TEMPLATE["impact"]
    assert record["summary"] == "Orders cannot be paid"
    assert record["status"] == "OPEN"
    assert record["notificationTargets"] == [{"snsTopicArn": TOPIC}]
    assert record["chatChannel"] == {"chatbotSns": [CHAT_TOPIC]}
    assert record["automationExecutions"] == []
    assert "resolvedTime" not in record
    source = record["incidentRecordSource"]
    assert source["source"] == "aws.ssm-incidents.custom"
    assert source["createdBy"].startswith(f"arn:aws:iam::{OWNER}:")
    assert "resourceArn" not in source
    assert record["lastModifiedBy"] == source["createdBy"]
    # Without a plan dedupe string, the record gets a generated UUID-like one.
    assert re.match(r"^[0-9a-f-]{36}$", record["dedupeString"])
    assert owner.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "payments"}


def test_start_incident_overrides_title_and_impact(owner: Tenant, full_plan: str) -> None:
    arn = owner.client.start_incident(responsePlanArn=full_plan, title="Card declines", impact=1)[
        "incidentRecordArn"
    ]
    record = owner.client.get_incident_record(arn=arn)["incidentRecord"]
    assert record["title"] == "Card declines"
    assert record["impact"] == 1


def test_start_incident_enqueues_jobs(server: RunningServer, owner: Tenant, full_plan: str) -> None:
    arn = owner.client.start_incident(responsePlanArn=full_plan)["incidentRecordArn"]
    jobs = jobs_of(server, arn)
    kinds = [kind for kind, _key in jobs]
    assert kinds.count("incidents.start_engagement") == 2
    assert kinds.count("incidents.start_runbook") == 1
    # One notification for the SNS target and one for the chat channel topic.
    assert kinds.count("incidents.notify") == 2
    keys = [key for _kind, key in jobs]
    assert all(key is not None and arn.rsplit("/", 1)[1] in key for key in keys)
    assert len(set(keys)) == len(keys)

    # Every kind has a handler, so each job runs at least once. A background
    # worker may hold a job in an open transaction for a moment, so look again
    # until every job has been tried or a deadline passes.
    kinds_started = ["incidents.start_engagement", "incidents.start_runbook", "incidents.notify"]
    deadline = time.monotonic() + 20
    while True:
        server.runtime.engine.run_due()  # type: ignore[union-attr]
        with server.runtime.database.session() as session:
            runs = session.execute(
                select(Job.status, Job.attempts).where(Job.kind.in_(kinds_started))
            ).all()
        never_run = [status for status, attempts in runs if status == "pending" and attempts == 0]
        if not never_run or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(runs) == 5
    assert never_run == []


def test_start_incident_trigger_details(owner: Tenant, full_plan: str) -> None:
    alarm = f"arn:aws:cloudwatch:{REGION}:{OWNER}:alarm:ServerCpuTooHigh"
    arn = owner.client.start_incident(
        responsePlanArn=full_plan,
        triggerDetails={
            "source": "aws.cloudwatch",
            "triggerArn": alarm,
            "timestamp": datetime(2019, 10, 2, 17, 4, 40, tzinfo=UTC),
        },
    )["incidentRecordArn"]
    source = owner.client.get_incident_record(arn=arn)["incidentRecord"]["incidentRecordSource"]
    assert source["source"] == "aws.cloudwatch"
    assert source["resourceArn"] == alarm


def test_tutorial_runbook_reads_trigger(owner: Tenant, full_plan: str) -> None:
    raw_data = ALARM_EVENT.read_text()
    arn = owner.client.start_incident(
        responsePlanArn=full_plan,
        triggerDetails={
            "source": "aws.cloudwatch",
            "triggerArn": f"arn:aws:cloudwatch:us-east-1:{OWNER}:alarm:ServerCpuTooHigh",
            "timestamp": datetime(2019, 10, 2, 17, 4, 40, tzinfo=UTC),
            "rawData": raw_data,
        },
    )["incidentRecordArn"]
    # Follow the runbook's steps with its own inputs.
    steps = {
        step["name"]: step for step in yaml.safe_load(TUTORIAL_RUNBOOK.read_text())["mainSteps"]
    }
    list_inputs = steps["ListTimelineEvents"]["inputs"]
    events = owner.client.list_timeline_events(
        incidentRecordArn=arn, filters=list_inputs["filters"]
    )["eventSummaries"]
    event_id = events[0]["eventId"]
    event_data = owner.client.get_timeline_event(incidentRecordArn=arn, eventId=event_id)["event"][
        "eventData"
    ]

    raw = json.loads(event_data)["rawData"]
    assert raw == raw_data
    alarm_event = json.loads(raw)
    metric = alarm_event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]
    assert metric["dimensions"]["InstanceId"] == "i-12345678901234567"

    # The event's resources array becomes INVOLVED_RESOURCE related items.
    items = owner.client.list_related_items(incidentRecordArn=arn)["relatedItems"]
    assert [item["identifier"] for item in items] == [
        {
            "type": "INVOLVED_RESOURCE",
            "value": {"arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"},
        }
    ]


def test_start_incident_failures(server: RunningServer, owner: Tenant, other: Tenant) -> None:
    with pytest.raises(ClientError) as excinfo:
        owner.client.start_incident(
            responsePlanArn=f"arn:aws:ssm-incidents::{OWNER}:response-plan/missing"
        )
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        owner.client.start_incident(responsePlanArn="arn:aws:ssm-incidents::1:response-plan/x")
    assert error_of(excinfo)["Code"] == "ValidationException"
    # Another account's plan that is not shared looks missing.
    prepare(server, other)
    plan = other.client.create_response_plan(name="theirs", incidentTemplate=TEMPLATE)["arn"]
    with pytest.raises(ClientError) as excinfo:
        owner.client.start_incident(responsePlanArn=plan)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"


def test_start_incident_needs_active_replication_set(prepared: str, owner: Tenant) -> None:
    plan = owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE)["arn"]
    owner.client.delete_replication_set(arn=prepared)
    with pytest.raises(ClientError) as excinfo:
        owner.client.start_incident(responsePlanArn=plan)
    error = error_of(excinfo)
    assert error["Code"] == "ConflictException"
    assert error["resourceType"] == "REPLICATION_SET"


def test_update_incident_record(owner: Tenant, full_plan: str) -> None:
    arn = owner.client.start_incident(responsePlanArn=full_plan)["incidentRecordArn"]
    owner.client.update_incident_record(
        arn=arn,
        title="New title",
        summary="New summary",
        impact=5,
        chatChannel={"empty": {}},
        notificationTargets=[],
    )
    record = owner.client.get_incident_record(arn=arn)["incidentRecord"]
    assert record["title"] == "New title"
    assert record["summary"] == "New summary"
    assert record["impact"] == 5
    assert "chatChannel" not in record
    assert record["notificationTargets"] == []

    owner.client.update_incident_record(arn=arn, status="RESOLVED")
    resolved = owner.client.get_incident_record(arn=arn)["incidentRecord"]
    assert resolved["status"] == "RESOLVED"
    assert "resolvedTime" in resolved
    owner.client.update_incident_record(arn=arn, status="OPEN")
    reopened = owner.client.get_incident_record(arn=arn)["incidentRecord"]
    assert reopened["status"] == "OPEN"
    assert "resolvedTime" not in reopened

    updates = owner.client.list_timeline_events(
        incidentRecordArn=arn,
        filters=[
            {
                "key": "eventType",
                "condition": {"equals": {"stringValues": ["SSM Incident Record Update"]}},
            }
        ],
    )["eventSummaries"]
    changes = []
    for summary in updates:
        event = owner.client.get_timeline_event(incidentRecordArn=arn, eventId=summary["eventId"])
        data: dict[str, Any] = json.loads(event["event"]["eventData"])
        changes.append((data["attribute"], data["newValue"]))
    assert changes == [
        ("title", "New title"),
        ("summary", "New summary"),
        ("impact", 5),
        ("chatChannel", None),
        ("notificationTargets", []),
        ("status", "RESOLVED"),
        ("status", "OPEN"),
    ]


def test_update_incident_record_rejects_foreign_topic(owner: Tenant, full_plan: str) -> None:
    arn = owner.client.start_incident(responsePlanArn=full_plan)["incidentRecordArn"]
    with pytest.raises(ClientError) as excinfo:
        owner.client.update_incident_record(
            arn=arn, notificationTargets=[{"snsTopicArn": f"arn:aws:sns:{REGION}:999999999999:t"}]
        )
    assert error_of(excinfo)["Code"] == "ValidationException"
    missing = arn[:-4] + "0000"
    with pytest.raises(ClientError) as excinfo:
        owner.client.update_incident_record(arn=missing, title="x")
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFoundException"
    assert error["resourceType"] == "INCIDENT_RECORD"


def test_delete_incident_record(owner: Tenant, full_plan: str) -> None:
    arn = owner.client.start_incident(responsePlanArn=full_plan)["incidentRecordArn"]
    owner.client.delete_incident_record(arn=arn)
    with pytest.raises(ClientError) as excinfo:
        owner.client.get_incident_record(arn=arn)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    # Deleting again succeeds, because the model marks the operation idempotent.
    owner.client.delete_incident_record(arn=arn)
    with pytest.raises(ClientError) as excinfo:
        owner.client.list_tags_for_resource(resourceArn=arn)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"


def test_incident_tags(owner: Tenant, full_plan: str) -> None:
    arn = owner.client.start_incident(responsePlanArn=full_plan)["incidentRecordArn"]
    owner.client.tag_resource(resourceArn=arn, tags={"severity": "high"})
    owner.client.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert owner.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"severity": "high"}


def test_findings_are_empty(owner: Tenant, full_plan: str) -> None:
    arn = owner.client.start_incident(responsePlanArn=full_plan)["incidentRecordArn"]
    assert owner.client.list_incident_findings(incidentRecordArn=arn)["findings"] == []
    result = owner.client.batch_get_incident_findings(
        incidentRecordArn=arn, findingIds=["f-1", "f-2"]
    )
    assert result["findings"] == []
    assert [error["findingId"] for error in result["errors"]] == ["f-1", "f-2"]
    assert all(error["code"] == "ResourceNotFoundException" for error in result["errors"])
    assert all("f-" in error["message"] for error in result["errors"])
    with pytest.raises(ClientError) as excinfo:
        owner.client.list_incident_findings(incidentRecordArn=arn[:-4] + "0000")
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"


def test_unpaired_surrogate_is_rejected(server: RunningServer, owner: Tenant) -> None:
    prepare(server, owner)
    plan = owner.client.create_response_plan(name="surrogates", incidentTemplate=TEMPLATE)["arn"]
    raw = server.client("ssm-incidents", owner.keys, parameter_validation=False)
    for call in (
        lambda: raw.start_incident(responsePlanArn=plan, title="a\ud800b"),
        lambda: raw.create_response_plan(
            name="other", incidentTemplate=TEMPLATE, displayName="x\udfffy"
        ),
        lambda: raw.tag_resource(resourceArn=plan, tags={"k\ud800": "v"}),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        error = excinfo.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["Error"]["Code"] == "SerializationException"
        assert "unpaired UTF-16 surrogate" in error["Error"]["Message"]
    assert owner.client.list_incident_records()["incidentRecordSummaries"] == []
