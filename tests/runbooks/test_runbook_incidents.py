"""Runbooks that response plans start: the incident's executions, related items and timeline.

These scenarios run on SQLite only; the incident hook writes through the same
functions as the API tests that cover both backends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.conftest import fresh_database_url
from tests.incidents.conftest import Tenant, prepare
from tests.runbooks.execution_support import (
    advance,
    create_document,
    execution,
    make_role,
    settle,
    statuses,
    trust_policy,
)
from tocsin.incidents import plans, records
from tocsin.runbooks.run_timeline import START_FAILED_EVENT, STEP_EVENT
from tocsin.testing import RunningServer

OWNER = "111111111111"
APP = "222222222222"
REGION = "us-east-1"
CASES = Path(__file__).parent / "fixtures"
TUTORIAL = (CASES / "im-tutorial-IncidentResponseRunbook-restart-ec2.yaml").read_text()
ALARM_EVENT = (
    Path(__file__).parents[1] / "incidents/fixtures/eb-state-change-single-metric-alarm.json"
)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@pytest.fixture
def server(
    request: pytest.FixtureRequest, tmp_path: Path, moto_url: str
) -> Iterator[RunningServer]:
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(
        tmp_path / "home", database_url=url, automation_aws_endpoint_url=moto_url
    ) as running:
        yield running


@pytest.fixture
def owner(server: RunningServer) -> Tenant:
    keys = server.create_account(account_id=OWNER)
    tenant = Tenant(keys, server.client("ssm-incidents", keys, region=REGION))
    prepare(server, tenant)
    return tenant


def _instance(moto_url: str) -> str:
    ec2 = boto3.client(
        "ec2",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance_id: str = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    return instance_id


def _step_events(client: Any, incident_arn: str) -> list[dict[str, Any]]:
    events = client.list_timeline_events(
        incidentRecordArn=incident_arn,
        filters=[{"key": "eventType", "condition": {"equals": {"stringValues": [STEP_EVENT]}}}],
        sortBy="EVENT_TIME",
        sortOrder="ASCENDING",
        maxResults=100,
    )["eventSummaries"]
    found = []
    for summary in events:
        event = client.get_timeline_event(
            incidentRecordArn=incident_arn, eventId=summary["eventId"]
        )["event"]
        found.append(json.loads(event["eventData"]))
    return found


def test_tutorial_runbook_restarts_instance(
    server: RunningServer, owner: Tenant, moto_url: str
) -> None:
    instance_id = _instance(moto_url)
    alarm = json.loads(ALARM_EVENT.read_text())
    alarm["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"][
        "InstanceId"
    ] = instance_id
    iam = server.client("iam", owner.keys)
    role = make_role(
        iam, "IncidentRunbookRole", trust_policy(service="ssm-incidents.amazonaws.com")
    )
    create_document(server.client("ssm", owner.keys), "IncidentResponseRunbook", TUTORIAL)
    plan = owner.client.create_response_plan(
        name="restart",
        incidentTemplate={"title": "CPU is too high", "impact": 3},
        actions=[
            {
                "ssmAutomation": {
                    "documentName": "IncidentResponseRunbook",
                    "roleArn": role,
                    "targetAccount": "RESPONSE_PLAN_OWNER_ACCOUNT",
                    "dynamicParameters": {"IncidentRecordArn": {"variable": "INCIDENT_RECORD_ARN"}},
                }
            }
        ],
    )["arn"]
    incident = owner.client.start_incident(
        responsePlanArn=plan,
        triggerDetails={
            "source": "aws.cloudwatch",
            "timestamp": "2019-10-02T17:04:40Z",
            "triggerArn": alarm["resources"][0],
            "rawData": json.dumps(alarm),
        },
    )["incidentRecordArn"]
    settle(server)
    for _ in range(4):
        advance(server, seconds=5)

    record = owner.client.get_incident_record(arn=incident)["incidentRecord"]
    [automation] = record["automationExecutions"]
    execution_id = automation["ssmExecutionArn"].rsplit("/", 1)[-1]
    ssm = server.client("ssm", owner.keys, region=REGION)
    found = execution(ssm, execution_id)
    assert found["AutomationExecutionStatus"] == "Success", found.get("FailureMessage")
    assert found["StepExecutions"][3]["Outputs"] == {"InstanceId": [instance_id]}
    child = ssm.describe_automation_executions(
        Filters=[{"Key": "ParentExecutionId", "Values": [execution_id]}]
    )["AutomationExecutionMetadataList"]
    assert [(c["DocumentName"], c["AutomationExecutionStatus"]) for c in child] == [
        ("AWS-RestartEC2Instance", "Success")
    ]

    items = owner.client.list_related_items(incidentRecordArn=incident)["relatedItems"]
    automation_items = [i for i in items if i["identifier"]["type"] == "AUTOMATION"]
    assert [i["identifier"]["value"]["arn"] for i in automation_items] == [
        automation["ssmExecutionArn"]
    ]
    events = _step_events(owner.client, incident)
    parent_events = [
        (e["stepName"], e["status"]) for e in events if e["automationExecutionId"] == execution_id
    ]
    assert parent_events[:2] == [
        ("ListTimelineEvents", "InProgress"),
        ("ListTimelineEvents", "Success"),
    ]
    assert parent_events[-1] == ("RestartInstance", "Success")
    child_steps = {e["stepName"] for e in events if e["documentName"] == "AWS-RestartEC2Instance"}
    assert child_steps == {
        "StopInstances",
        "WaitUntilStopped",
        "StartInstances",
        "WaitUntilRunning",
    }


PROBE = """\
schemaVersion: '0.3'
parameters:
  Incident:
    type: String
  Resources:
    type: StringList
outputs:
  - Who.Account
mainSteps:
  - name: Who
    action: aws:executeAwsApi
    inputs:
      Service: sts
      Api: GetCallerIdentity
    outputs:
      - Name: Account
        Selector: $.Account
        Type: String
  - name: Fail
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            raise ValueError("incident " + events["incident"])
      InputPayload:
        incident: '{{ Incident }}'
"""


def test_runbook_in_impacted_account(server: RunningServer, owner: Tenant) -> None:
    iam = server.client("iam", owner.keys)
    plan_role = make_role(iam, "PlanRole", trust_policy(service="ssm-incidents.amazonaws.com"))
    app_keys = server.create_account(account_id=APP)
    make_role(
        server.client("iam", app_keys),
        "AWS-SystemsManager-AutomationExecutionRole",
        trust_policy(service=None, aws=plan_role),
    )
    ssm = server.client("ssm", owner.keys, region=REGION)
    create_document(ssm, "Probe", PROBE)
    ssm.modify_document_permission(Name="Probe", PermissionType="Share", AccountIdsToAdd=[APP])
    owner.client.create_response_plan(
        name="probe",
        incidentTemplate={"title": "Probe", "impact": 3},
        actions=[
            {
                "ssmAutomation": {
                    "documentName": "Probe",
                    "roleArn": plan_role,
                    "targetAccount": "IMPACTED_ACCOUNT",
                    "dynamicParameters": {
                        "Incident": {"variable": "INCIDENT_RECORD_ARN"},
                        "Resources": {"variable": "INVOLVED_RESOURCES"},
                    },
                }
            }
        ],
    )
    with server.runtime.database.session() as session:
        plan = plans.find(session, OWNER, "probe")
        assert plan is not None
        started = records.start(
            session,
            server.clock,
            plan,
            {"title": "Probe"},
            caller_arn=f"arn:aws:iam::{APP}:root",
            caller_account=APP,
        )
        incident = started.arn
    settle(server)

    record = owner.client.get_incident_record(arn=incident)["incidentRecord"]
    [automation] = record["automationExecutions"]
    execution_id = automation["ssmExecutionArn"].rsplit("/", 1)[-1]
    found = execution(ssm, execution_id)
    assert statuses(found) == [("Who", "Success"), ("Fail", "Failed")]
    assert found["StepExecutions"][0]["Outputs"] == {"Account": [APP]}
    assert found["Parameters"]["Incident"] == [incident]
    assert found["Parameters"]["Resources"] == []
    # The application account reads the run that acts in it.
    app_ssm = server.client("ssm", app_keys, region=REGION)
    assert execution(app_ssm, execution_id)["AutomationExecutionStatus"] == "Failed"

    events = _step_events(owner.client, incident)
    assert [(e["stepName"], e["status"], e["accountId"]) for e in events] == [
        ("Who", "InProgress", APP),
        ("Who", "Success", APP),
        ("Fail", "InProgress", APP),
        ("Fail", "Failed", APP),
    ]
    assert "ValueError: incident " + incident in events[-1]["failureMessage"]


def test_runbook_that_cannot_start_is_on_timeline(server: RunningServer, owner: Tenant) -> None:
    iam = server.client("iam", owner.keys)
    plan_role = make_role(iam, "PlanRole", trust_policy(service="ssm-incidents.amazonaws.com"))
    plan = owner.client.create_response_plan(
        name="missing-runbook",
        incidentTemplate={"title": "Missing runbook", "impact": 3},
        actions=[{"ssmAutomation": {"documentName": "NoSuchRunbook", "roleArn": plan_role}}],
    )["arn"]
    incident = owner.client.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    settle(server)

    summaries = owner.client.list_timeline_events(
        incidentRecordArn=incident,
        filters=[
            {"key": "eventType", "condition": {"equals": {"stringValues": [START_FAILED_EVENT]}}}
        ],
    )["eventSummaries"]
    assert len(summaries) == 1
    event = owner.client.get_timeline_event(
        incidentRecordArn=incident, eventId=summaries[0]["eventId"]
    )["event"]
    data = json.loads(event["eventData"])
    assert data["documentName"] == "NoSuchRunbook"
    assert "NoSuchRunbook" in data["failureMessage"]
    record = owner.client.get_incident_record(arn=incident)["incidentRecord"]
    assert record["automationExecutions"] == []
