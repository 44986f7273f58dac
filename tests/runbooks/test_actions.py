"""Each action kind of automation steps, run end to end through boto3.

These scenarios run on SQLite only: the actions do not touch the database
differently per backend, and test_executions covers both backends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from tests.conftest import fresh_database_url
from tests.runbooks.conftest import OWNER, Tenant, error_of
from tests.runbooks.execution_support import (
    advance,
    create_document,
    execution,
    make_role,
    run,
    settle,
    statuses,
)
from tocsin.testing import Keys, RunningServer


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
        tmp_path / "home",
        database_url=url,
        automation_aws_endpoint_url=moto_url,
        automation_script_timeout_seconds=20.0,
        automation_script_memory_mib=256,
    ) as running:
        yield running


APPROVAL = """\
schemaVersion: '0.3'
parameters:
  Approvers:
    type: StringList
  Needed:
    type: Integer
    default: 1
mainSteps:
  - name: Approve
    action: aws:approve
    timeoutSeconds: 600
    inputs:
      Approvers: '{{ Approvers }}'
      MinRequiredApprovals: '{{ Needed }}'
      Message: Restart the fleet?
  - name: Done
    action: aws:sleep
    inputs:
      Duration: PT0S
"""


def _user(server: RunningServer, tenant: Tenant, name: str) -> tuple[str, Any]:
    arn = tenant.iam.create_user(UserName=name)["User"]["Arn"]
    tenant.iam.put_user_policy(
        UserName=name,
        PolicyName="ssm",
        PolicyDocument=json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]}
        ),
    )
    key = tenant.iam.create_access_key(UserName=name)["AccessKey"]
    keys = Keys(key["AccessKeyId"], key["SecretAccessKey"], None, OWNER)
    return arn, server.client("ssm", keys)


def test_approval_needs_enough_approvers(server: RunningServer, tenant: Tenant) -> None:
    alice, alice_ssm = _user(server, tenant, "alice")
    bob, bob_ssm = _user(server, tenant, "bob")
    _, carol_ssm = _user(server, tenant, "carol")
    create_document(tenant.ssm, "Approval", APPROVAL)
    found = run(
        server, tenant.ssm, "Approval", Parameters={"Approvers": [alice, bob], "Needed": ["2"]}
    )
    execution_id = found["AutomationExecutionId"]
    assert found["AutomationExecutionStatus"] == "Waiting"

    with pytest.raises(ClientError) as excinfo:
        carol_ssm.send_automation_signal(AutomationExecutionId=execution_id, SignalType="Approve")
    code, message, _ = error_of(excinfo)
    assert code == "InvalidAutomationSignalException"
    assert "carol" in message

    alice_ssm.send_automation_signal(
        AutomationExecutionId=execution_id, SignalType="Approve", Payload={"Comment": ["ok"]}
    )
    assert execution(tenant.ssm, execution_id)["AutomationExecutionStatus"] == "Waiting"
    bob_ssm.send_automation_signal(AutomationExecutionId=execution_id, SignalType="Approve")
    settle(server)
    done = execution(tenant.ssm, execution_id)
    assert done["AutomationExecutionStatus"] == "Success"
    outputs = done["StepExecutions"][0]["Outputs"]
    assert outputs["ApprovalStatus"] == ["Approved"]
    assert outputs["Approvers"] == [alice, bob]


def test_rejection_fails_run(server: RunningServer, tenant: Tenant) -> None:
    alice, alice_ssm = _user(server, tenant, "alice")
    create_document(tenant.ssm, "Approval", APPROVAL)
    execution_id = run(server, tenant.ssm, "Approval", Parameters={"Approvers": [alice]})[
        "AutomationExecutionId"
    ]
    alice_ssm.send_automation_signal(
        AutomationExecutionId=execution_id, SignalType="Reject", Payload={"Comment": ["not now"]}
    )
    found = execution(tenant.ssm, execution_id)
    assert found["AutomationExecutionStatus"] == "Failed"
    assert statuses(found) == [("Approve", "Failed")]
    assert "rejected by " + alice in found["StepExecutions"][0]["FailureMessage"]
    assert "not now" in found["FailureMessage"]


def test_approval_times_out(server: RunningServer, tenant: Tenant) -> None:
    alice, _ = _user(server, tenant, "alice")
    create_document(tenant.ssm, "Approval", APPROVAL)
    execution_id = run(server, tenant.ssm, "Approval", Parameters={"Approvers": [alice]})[
        "AutomationExecutionId"
    ]
    advance(server, seconds=601)
    found = execution(tenant.ssm, execution_id)
    assert found["AutomationExecutionStatus"] == "TimedOut"
    assert statuses(found) == [("Approve", "TimedOut")]


CALLS = """\
schemaVersion: '0.3'
assumeRole: '{{ AutomationAssumeRole }}'
parameters:
  AutomationAssumeRole:
    type: String
  Bucket:
    type: String
mainSteps:
  - name: ListDocs
    action: aws:executeAwsApi
    inputs:
      Service: ssm
      Api: ListDocuments
      Filters:
        - Key: Name
          Values: [Calls]
    outputs:
      - Name: First
        Selector: $.DocumentIdentifiers[0].Name
        Type: String
  - name: MakeBucket
    action: aws:executeAwsApi
    inputs:
      Service: s3
      Api: CreateBucket
      Bucket: '{{ Bucket }}'
  - name: WaitBucket
    action: aws:waitForAwsResourceProperty
    inputs:
      Service: s3
      Api: ListBuckets
      PropertySelector: $.Buckets[0].Name
      DesiredValues: ['{{ Bucket }}']
  - name: AssertDoc
    action: aws:assertAwsResourceProperty
    inputs:
      Service: ssm
      Api: DescribeDocument
      Name: Calls
      PropertySelector: $.Document.DocumentType
      DesiredValues: [Automation]
  - name: AssertWrong
    action: aws:assertAwsResourceProperty
    inputs:
      Service: ssm
      Api: DescribeDocument
      Name: Calls
      PropertySelector: $.Document.DocumentType
      DesiredValues: [Command]
"""


def test_api_actions_call_tocsin_and_moto(server: RunningServer, tenant: Tenant) -> None:
    role = make_role(tenant.iam, "AutomationRole")
    create_document(tenant.ssm, "Calls", CALLS)
    found = run(
        server,
        tenant.ssm,
        "Calls",
        Parameters={"AutomationAssumeRole": [role], "Bucket": ["runbook-bucket-1"]},
    )
    assert statuses(found) == [
        ("ListDocs", "Success"),
        ("MakeBucket", "Success"),
        ("WaitBucket", "Success"),
        ("AssertDoc", "Success"),
        ("AssertWrong", "Failed"),
    ]
    assert found["StepExecutions"][0]["Outputs"] == {"First": ["Calls"]}
    assert "not one of the desired values ['Command']" in found["FailureMessage"]


WAIT = """\
schemaVersion: '0.3'
assumeRole: '{{ AutomationAssumeRole }}'
parameters:
  AutomationAssumeRole:
    type: String
mainSteps:
  - name: WaitForever
    action: aws:waitForAwsResourceProperty
    timeoutSeconds: 10
    inputs:
      Service: ssm
      Api: DescribeDocument
      Name: Wait
      PropertySelector: $.Document.Status
      DesiredValues: [Deleting]
"""


def test_wait_polls_until_timeout(server: RunningServer, tenant: Tenant) -> None:
    role = make_role(tenant.iam, "AutomationRole")
    create_document(tenant.ssm, "Wait", WAIT)
    execution_id = run(server, tenant.ssm, "Wait", Parameters={"AutomationAssumeRole": [role]})[
        "AutomationExecutionId"
    ]
    assert execution(tenant.ssm, execution_id)["AutomationExecutionStatus"] == "InProgress"
    for _ in range(3):
        advance(server, seconds=5)
    found = execution(tenant.ssm, execution_id)
    assert found["AutomationExecutionStatus"] == "TimedOut"
    assert "Active" in found["StepExecutions"][0]["FailureMessage"]


def test_call_without_role_uses_user_key(server: RunningServer, tenant: Tenant) -> None:
    create_document(
        tenant.ssm,
        "NoRole",
        "schemaVersion: '0.3'\nmainSteps:\n  - name: Who\n    action: aws:executeAwsApi\n"
        "    inputs:\n      Service: sts\n      Api: GetCallerIdentity\n    outputs:\n"
        "      - Name: Account\n        Selector: $.Account\n        Type: String\n",
    )
    found = run(server, tenant.ssm, "NoRole")
    assert found["AutomationExecutionStatus"] == "Success"
    assert found["StepExecutions"][0]["Outputs"] == {"Account": [OWNER]}


HANG = """\
schemaVersion: '0.3'
mainSteps:
  - name: Misbehave
    action: aws:executeScript
    timeoutSeconds: 1
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        import time

        def handler(events, context):
            while True:
                time.sleep(0.05)
"""
MEMORY = """\
schemaVersion: '0.3'
mainSteps:
  - name: Misbehave
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            blocks = []
            while True:
                blocks.append(bytearray(64 * 1024 * 1024))
"""


def test_hanging_script_times_out(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Hang", HANG)
    create_document(tenant.ssm, "Memory", MEMORY)
    found = run(server, tenant.ssm, "Hang")
    assert statuses(found) == [("Misbehave", "TimedOut")]
    assert found["AutomationExecutionStatus"] == "TimedOut"
    assert "did not finish within 1 seconds" in found["StepExecutions"][0]["FailureMessage"]
    # The same worker goes on to run the next script.
    after = run(server, tenant.ssm, "Memory")
    assert statuses(after) == [("Misbehave", "Failed")]


def test_memory_hungry_script_fails(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Memory", MEMORY)
    found = run(server, tenant.ssm, "Memory")
    assert statuses(found) == [("Misbehave", "Failed")]
    assert "memory limit of 256 MiB" in found["StepExecutions"][0]["FailureMessage"]
    assert found["AutomationExecutionStatus"] == "Failed"


PARENT = """\
schemaVersion: '0.3'
outputs:
  - Child.ExecutionId
mainSteps:
  - name: Child
    action: aws:executeAutomation
    inputs:
      DocumentName: ChildDoc
      RuntimeParameters:
        Text: '{{ automation:EXECUTION_ID }}'
  - name: Check
    action: aws:branch
    inputs:
      Choices:
        - Variable: '{{ Child.Status }}'
          StringEquals: Success
          NextStep: Good
    isEnd: true
  - name: Good
    action: aws:sleep
    inputs:
      Duration: PT0S
"""
CHILD = """\
schemaVersion: '0.3'
parameters:
  Text:
    type: String
outputs:
  - Echo.Text
mainSteps:
  - name: Echo
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return {"text": events["text"]}
      InputPayload:
        text: '{{ Text }}'
    outputs:
      - Name: Text
        Selector: $.Payload.text
        Type: String
"""


def test_execute_automation_runs_child(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "ChildDoc", CHILD)
    create_document(tenant.ssm, "ParentDoc", PARENT)
    parent = run(server, tenant.ssm, "ParentDoc")
    assert parent["AutomationExecutionStatus"] == "Success"
    assert statuses(parent) == [("Child", "Success"), ("Check", "Success"), ("Good", "Success")]
    child_id = parent["Outputs"]["Child.ExecutionId"][0]
    child = execution(tenant.ssm, child_id)
    assert child["ParentAutomationExecutionId"] == parent["AutomationExecutionId"]
    assert child["Outputs"] == {"Echo.Text": [parent["AutomationExecutionId"]]}
    listed = tenant.ssm.describe_automation_executions(
        Filters=[{"Key": "ParentExecutionId", "Values": [parent["AutomationExecutionId"]]}]
    )["AutomationExecutionMetadataList"]
    assert [m["AutomationExecutionId"] for m in listed] == [child_id]


LOOP = """\
schemaVersion: '0.3'
mainSteps:
  - name: Again
    action: aws:executeAutomation
    inputs:
      DocumentName: LoopDoc
"""


def test_execute_automation_stops_nesting(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "LoopDoc", LOOP)
    top = run(server, tenant.ssm, "LoopDoc")
    assert top["AutomationExecutionStatus"] == "Failed"

    chain = [top]
    while child_ids := chain[-1]["StepExecutions"][0].get("Outputs", {}).get("ExecutionId"):
        chain.append(execution(tenant.ssm, child_ids[0]))
    assert len(chain) == 6
    assert all(found["AutomationExecutionStatus"] == "Failed" for found in chain)

    deepest = chain[-1]["FailureMessage"]
    assert "nesting depth 6" in deepest
    assert "LoopDoc" in deepest
    assert "at most 5 levels" in deepest

    # Each level repeats at most 500 characters of the message below it.
    assert len(top["FailureMessage"]) < 700
    assert top["FailureMessage"].startswith("Step fails when it is Again. Automation ")


LOUD_CHILD = """\
schemaVersion: '0.3'
mainSteps:
  - name: Shout
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            raise RuntimeError("disk full " * 400)
"""
LOUD_PARENT = """\
schemaVersion: '0.3'
mainSteps:
  - name: Call
    action: aws:executeAutomation
    inputs:
      DocumentName: LoudChild
"""


def test_execute_automation_shortens_child_failure(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "LoudChild", LOUD_CHILD)
    create_document(tenant.ssm, "LoudParent", LOUD_PARENT)
    parent = run(server, tenant.ssm, "LoudParent")
    assert parent["AutomationExecutionStatus"] == "Failed"
    child_id = parent["StepExecutions"][0]["Outputs"]["ExecutionId"][0]
    child = execution(tenant.ssm, child_id)
    assert len(child["FailureMessage"]) > 1000

    step_failure = parent["StepExecutions"][0]["FailureMessage"]
    assert child_id in step_failure
    assert "disk full" in step_failure
    assert step_failure.endswith("\u2026")
    assert len(step_failure) < 700


FLAKY = """\
schemaVersion: '0.3'
parameters:
  Marker:
    type: String
mainSteps:
  - name: Flaky
    action: aws:executeScript
    maxAttempts: 2
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        import os

        def handler(events, context):
            if not os.path.exists(events["marker"]):
                open(events["marker"], "w").close()
                raise RuntimeError("first attempt fails")
            return {"attempt": 2}
      InputPayload:
        marker: '{{ Marker }}'
    outputs:
      - Name: Attempt
        Selector: $.Payload.attempt
        Type: Integer
"""


def test_max_attempts_retries_step(server: RunningServer, tenant: Tenant, tmp_path: Path) -> None:
    create_document(tenant.ssm, "Flaky", FLAKY)
    marker = str(tmp_path / "marker")
    found = run(server, tenant.ssm, "Flaky", Parameters={"Marker": [marker]})
    assert found["AutomationExecutionStatus"] == "Success"
    step = found["StepExecutions"][0]
    assert step["Outputs"] == {"Attempt": ["2"]}
    assert step["MaxAttempts"] == 2


def test_stop_step_and_reverse_order(server: RunningServer, tenant: Tenant) -> None:
    create_document(
        tenant.ssm,
        "TwoPauses",
        "schemaVersion: '0.3'\nmainSteps:\n  - name: One\n    action: aws:pause\n"
        "    onCancel: step:Two\n    inputs: {}\n  - name: Two\n    action: aws:pause\n"
        "    inputs: {}\n",
    )
    found = run(server, tenant.ssm, "TwoPauses", ClientToken="6bb4ad2e-3bd2-4f30-9d4a-2f1c9f5a0b11")
    execution_id = found["AutomationExecutionId"]
    again = tenant.ssm.start_automation_execution(
        DocumentName="TwoPauses", ClientToken="6bb4ad2e-3bd2-4f30-9d4a-2f1c9f5a0b11"
    )
    assert again["AutomationExecutionId"] == execution_id

    step_id = found["StepExecutions"][0]["StepExecutionId"]
    tenant.ssm.send_automation_signal(
        AutomationExecutionId=execution_id,
        SignalType="StopStep",
        Payload={"StepExecutionId": [step_id]},
    )
    settle(server)
    page = tenant.ssm.describe_automation_step_executions(
        AutomationExecutionId=execution_id, ReverseOrder=True, MaxResults=1
    )
    assert [s["StepName"] for s in page["StepExecutions"]] == ["Two"]
    rest = tenant.ssm.describe_automation_step_executions(
        AutomationExecutionId=execution_id,
        ReverseOrder=True,
        MaxResults=1,
        NextToken=page["NextToken"],
    )
    assert [(s["StepName"], s["StepStatus"]) for s in rest["StepExecutions"]] == [
        ("One", "Cancelled")
    ]
    with pytest.raises(ClientError) as excinfo:
        tenant.ssm.send_automation_signal(
            AutomationExecutionId=execution_id,
            SignalType="StopStep",
            Payload={"StepExecutionId": ["00000000-0000-0000-0000-000000000000"]},
        )
    assert error_of(excinfo)[0] == "AutomationStepNotFoundException"


VARIABLES = """\
schemaVersion: '0.3'
parameters:
  Until:
    type: String
mainSteps:
  - name: Wait
    action: aws:sleep
    inputs:
      Timestamp: '{{ Until }}'
  - name: Echo
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return events
      InputPayload:
        account: '{{ global:ACCOUNT_ID }}'
        region: '{{ global:REGION }}'
        partition: '{{ global:AWS_PARTITION }}'
        date: '{{ global:DATE }}'
        execution: 'run {{ automation:EXECUTION_ID }}'
    outputs:
      - Name: Account
        Selector: $.Payload.account
        Type: String
      - Name: Region
        Selector: $.Payload.region
        Type: String
      - Name: Partition
        Selector: $.Payload.partition
        Type: String
      - Name: Date
        Selector: $.Payload.date
        Type: String
      - Name: Execution
        Selector: $.Payload.execution
        Type: String
"""


def test_sleep_until_timestamp_and_variables(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Variables", VARIABLES)
    until = (server.clock.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = run(server, tenant.ssm, "Variables", Parameters={"Until": [until]})
    assert statuses(found) == [("Wait", "InProgress")]
    advance(server, hours=1)
    assert statuses(execution(tenant.ssm, found["AutomationExecutionId"])) == [
        ("Wait", "InProgress")
    ]
    advance(server, hours=1, seconds=1)
    done = execution(tenant.ssm, found["AutomationExecutionId"])
    assert done["AutomationExecutionStatus"] == "Success"
    outputs = done["StepExecutions"][1]["Outputs"]
    assert outputs["Account"] == [OWNER]
    assert outputs["Region"] == ["us-east-1"]
    assert outputs["Partition"] == ["aws"]
    assert outputs["Date"] == [server.clock.now().strftime("%Y-%m-%d")]
    assert outputs["Execution"] == ["run " + found["AutomationExecutionId"]]
