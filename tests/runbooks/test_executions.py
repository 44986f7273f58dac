"""StartAutomationExecution and the run's life: statuses, steps, failures, stops and listings."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.runbooks.conftest import OTHER, OWNER, Tenant, error_of
from tests.runbooks.execution_support import (
    advance,
    create_document,
    execution,
    make_role,
    run,
    settle,
    statuses,
    trust_policy,
)
from tocsin.testing import RunningServer

# Scenarios of step flow touch the database as the API tests do, so one backend suffices.
SQLITE_ONLY = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


SLEEP_AND_BRANCH = """\
schemaVersion: '0.3'
parameters:
  Color:
    type: String
    allowedValues: [red, green, blue]
  Count:
    type: Integer
    default: 3
  Ids:
    type: StringList
    default: []
outputs:
  - Pick.Chosen
mainSteps:
  - name: Nap
    action: aws:sleep
    inputs:
      Duration: PT1M
  - name: Choose
    action: aws:branch
    inputs:
      Choices:
        - NextStep: Red
          Variable: '{{ Color }}'
          StringEquals: red
        - And:
            - Variable: '{{ Count }}'
              NumericGreater: 2
            - Not:
                Variable: '{{ Color }}'
                EqualsIgnoreCase: RED
          NextStep: Big
      Default: Small
  - name: Red
    action: aws:sleep
    inputs:
      Duration: PT1S
    isEnd: true
  - name: Big
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return {"chosen": "big-" + events["color"], "id": context["automation:EXECUTION_ID"]}
      InputPayload:
        color: '{{ Color }}'
    outputs:
      - Name: Chosen
        Selector: $.Payload.chosen
        Type: String
    nextStep: Pick
  - name: Small
    action: aws:sleep
    inputs:
      Duration: PT1S
  - name: Pick
    action: aws:executeScript
    inputs:
      Runtime: python3.8
      Handler: handler
      Script: |-
        def handler(events, context):
            return {"value": events["value"]}
      InputPayload:
        value: '{{ Big.Chosen }}'
    outputs:
      - Name: Chosen
        Selector: $.Payload.value
        Type: String
"""


@SQLITE_ONLY
def test_run_sleeps_branches_and_scripts(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Flow", SLEEP_AND_BRANCH)
    started = tenant.ssm.start_automation_execution(
        DocumentName="Flow", Parameters={"Color": ["green"]}
    )["AutomationExecutionId"]
    settle(server)
    waiting = execution(tenant.ssm, started)
    assert waiting["AutomationExecutionStatus"] == "InProgress"
    assert statuses(waiting) == [("Nap", "InProgress")]
    assert waiting["CurrentStepName"] == "Nap"

    advance(server, seconds=61)
    found = execution(tenant.ssm, started)
    assert found["AutomationExecutionStatus"] == "Success"
    assert statuses(found) == [
        ("Nap", "Success"),
        ("Choose", "Success"),
        ("Big", "Success"),
        ("Pick", "Success"),
    ]
    assert found["StepExecutions"][1]["NextStep"] == "Big"
    assert found["Outputs"] == {"Pick.Chosen": ["big-green"]}
    assert found["Parameters"] == {"Color": ["green"], "Count": ["3"], "Ids": []}
    assert found["ExecutedBy"].endswith(":root") or ":user/" in found["ExecutedBy"]


@SQLITE_ONLY
def test_branch_takes_first_match(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Flow", SLEEP_AND_BRANCH)
    execution_id = tenant.ssm.start_automation_execution(
        DocumentName="Flow", Parameters={"Color": ["red"]}
    )["AutomationExecutionId"]
    settle(server)
    advance(server, seconds=61)
    advance(server, seconds=2)
    found = execution(tenant.ssm, execution_id)
    assert statuses(found) == [("Nap", "Success"), ("Choose", "Success"), ("Red", "Success")]
    assert found["AutomationExecutionStatus"] == "Success"


@SQLITE_ONLY
def test_branch_default(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Flow", SLEEP_AND_BRANCH)
    execution_id = tenant.ssm.start_automation_execution(
        DocumentName="Flow", Parameters={"Color": ["blue"], "Count": ["1"]}
    )["AutomationExecutionId"]
    settle(server)
    advance(server, seconds=61)
    advance(server, seconds=2)
    found = execution(tenant.ssm, execution_id)
    names = [name for name, _ in statuses(found)]
    assert names == ["Nap", "Choose", "Small", "Pick"]
    # Pick refers to the output of Big, which never ran, so the reference stays as written.
    assert found["Outputs"] == {"Pick.Chosen": ["{{ Big.Chosen }}"]}


@pytest.mark.parametrize(
    ("parameters", "fragment"),
    [
        ({"Color": ["pink"]}, "'pink' is not one of the allowed values"),
        ({"Count": ["4"]}, "Parameter 'Color' is required"),
        ({"Color": ["red"], "Count": ["many"]}, "'many' is not an integer"),
        ({"Color": ["red"], "Other": ["x"]}, "Parameter 'Other' is not declared"),
    ],
)
def test_start_rejects_bad_parameters(
    tenant: Tenant, parameters: dict[str, list[str]], fragment: str
) -> None:
    create_document(tenant.ssm, "Flow", SLEEP_AND_BRANCH)
    with pytest.raises(ClientError) as excinfo:
        tenant.ssm.start_automation_execution(DocumentName="Flow", Parameters=parameters)
    code, message, status = error_of(excinfo)
    assert code == "InvalidAutomationExecutionParametersException"
    assert fragment in message
    assert status == 400


def test_start_unknown_document(tenant: Tenant) -> None:
    with pytest.raises(ClientError) as excinfo:
        tenant.ssm.start_automation_execution(DocumentName="Missing")
    code, message, _ = error_of(excinfo)
    assert code == "AutomationDefinitionNotFoundException"
    assert "Missing" in message


def test_start_unknown_version(tenant: Tenant) -> None:
    create_document(tenant.ssm, "Flow", SLEEP_AND_BRANCH)
    with pytest.raises(ClientError) as excinfo:
        tenant.ssm.start_automation_execution(
            DocumentName="Flow", DocumentVersion="7", Parameters={"Color": ["red"]}
        )
    code, _, _ = error_of(excinfo)
    assert code == "AutomationDefinitionVersionNotFoundException"


def test_get_unknown_execution(tenant: Tenant) -> None:
    with pytest.raises(ClientError) as excinfo:
        tenant.ssm.get_automation_execution(
            AutomationExecutionId="00000000-0000-0000-0000-000000000000"
        )
    code, message, _ = error_of(excinfo)
    assert code == "AutomationExecutionNotFoundException"
    assert "00000000-0000-0000-0000-000000000000" in message


FAILURES = """\
schemaVersion: '0.3'
mainSteps:
  - name: Broken
    action: aws:executeScript
    onFailure: Continue
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            raise RuntimeError("disk full")
  - name: Unsupported
    action: aws:runCommand
    onFailure: step:Recover
    isCritical: false
    inputs:
      DocumentName: AWS-RunShellScript
  - name: Skipped
    action: aws:sleep
    inputs:
      Duration: PT1S
  - name: Recover
    action: aws:executeScript
    maxAttempts: 2
    inputs:
      Runtime: PowerShell 7.4
      Handler: handler
      Script: Write-Output hi
"""


@SQLITE_ONLY
def test_failure_handling(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Failures", FAILURES)
    found = run(server, tenant.ssm, "Failures")
    assert statuses(found) == [
        ("Broken", "Failed"),
        ("Unsupported", "Failed"),
        ("Recover", "Failed"),
    ]
    broken, unsupported, recover = found["StepExecutions"]
    assert "RuntimeError: disk full" in broken["FailureMessage"]
    assert "aws:runCommand" in unsupported["FailureMessage"]
    assert "PowerShell 7.4" in recover["FailureMessage"]
    assert found["AutomationExecutionStatus"] == "Failed"
    assert "Recover" in found["FailureMessage"]


ABORT = """\
schemaVersion: '0.3'
mainSteps:
  - name: First
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return 1 / 0
  - name: Never
    action: aws:sleep
    inputs:
      Duration: PT1S
"""


@SQLITE_ONLY
def test_abort_ends_run(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Abort", ABORT)
    found = run(server, tenant.ssm, "Abort")
    assert statuses(found) == [("First", "Failed")]
    assert found["AutomationExecutionStatus"] == "Failed"
    assert "ZeroDivisionError" in found["FailureMessage"]


PAUSES = """\
schemaVersion: '0.3'
mainSteps:
  - name: Hold
    action: aws:pause
    onCancel: step:Cleanup
    inputs: {}
  - name: After
    action: aws:sleep
    inputs:
      Duration: PT1S
  - name: Cleanup
    action: aws:pause
    inputs: {}
"""


def test_resume_and_stop(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Pauses", PAUSES)
    first = run(server, tenant.ssm, "Pauses")
    assert first["AutomationExecutionStatus"] == "Waiting"
    assert statuses(first) == [("Hold", "Waiting")]
    execution_id = first["AutomationExecutionId"]

    tenant.ssm.send_automation_signal(AutomationExecutionId=execution_id, SignalType="Resume")
    settle(server)
    advance(server, seconds=2)
    resumed = execution(tenant.ssm, execution_id)
    assert statuses(resumed) == [("Hold", "Success"), ("After", "Success"), ("Cleanup", "Waiting")]

    tenant.ssm.stop_automation_execution(AutomationExecutionId=execution_id)
    stopped = execution(tenant.ssm, execution_id)
    assert stopped["AutomationExecutionStatus"] == "Cancelled"
    assert statuses(stopped)[-1] == ("Cleanup", "Cancelled")
    with pytest.raises(ClientError) as excinfo:
        tenant.ssm.stop_automation_execution(AutomationExecutionId=execution_id)
    assert error_of(excinfo)[0] == "InvalidAutomationStatusUpdateException"


def test_stop_runs_on_cancel_step(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Pauses", PAUSES)
    execution_id = run(server, tenant.ssm, "Pauses")["AutomationExecutionId"]
    tenant.ssm.stop_automation_execution(AutomationExecutionId=execution_id, Type="Cancel")
    settle(server)
    found = execution(tenant.ssm, execution_id)
    assert statuses(found) == [("Hold", "Cancelled"), ("Cleanup", "Waiting")]
    with pytest.raises(ClientError) as excinfo:
        tenant.ssm.send_automation_signal(AutomationExecutionId=execution_id, SignalType="Approve")
    assert error_of(excinfo)[0] == "InvalidAutomationSignalException"


def test_describe_executions_filters_and_pages(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Pauses", PAUSES)
    create_document(tenant.ssm, "Abort", ABORT)
    waiting = [run(server, tenant.ssm, "Pauses")["AutomationExecutionId"] for _ in range(3)]
    failed = run(server, tenant.ssm, "Abort")["AutomationExecutionId"]

    listed = tenant.ssm.describe_automation_executions(
        Filters=[{"Key": "DocumentNamePrefix", "Values": ["Pau"]}], MaxResults=2
    )
    assert len(listed["AutomationExecutionMetadataList"]) == 2
    rest = tenant.ssm.describe_automation_executions(
        Filters=[{"Key": "DocumentNamePrefix", "Values": ["Pau"]}],
        MaxResults=2,
        NextToken=listed["NextToken"],
    )
    ids = [
        m["AutomationExecutionId"]
        for m in listed["AutomationExecutionMetadataList"] + rest["AutomationExecutionMetadataList"]
    ]
    assert sorted(ids) == sorted(waiting)
    assert "NextToken" not in rest

    by_status = tenant.ssm.describe_automation_executions(
        Filters=[{"Key": "ExecutionStatus", "Values": ["Failed"]}]
    )["AutomationExecutionMetadataList"]
    assert [m["AutomationExecutionId"] for m in by_status] == [failed]
    assert by_status[0]["AutomationType"] == "Local"

    steps = tenant.ssm.describe_automation_step_executions(
        AutomationExecutionId=failed, Filters=[{"Key": "StepName", "Values": ["First"]}]
    )["StepExecutions"]
    assert [s["StepStatus"] for s in steps] == ["Failed"]
    with pytest.raises(ClientError) as excinfo:
        tenant.ssm.describe_automation_executions(
            Filters=[{"Key": "StartTimeBefore", "Values": ["yesterday"]}]
        )
    assert error_of(excinfo)[0] == "InvalidFilterValue"


def test_role_must_trust_automation(server: RunningServer, tenant: Tenant) -> None:
    role = make_role(tenant.iam, "NotForSsm", trust_policy(service="lambda.amazonaws.com"))
    create_document(
        tenant.ssm,
        "WithRole",
        "schemaVersion: '0.3'\nassumeRole: '{{ AutomationAssumeRole }}'\nparameters:\n"
        "  AutomationAssumeRole:\n    type: String\nmainSteps:\n  - name: P\n"
        "    action: aws:pause\n    inputs: {}\n",
    )
    with pytest.raises(ClientError) as excinfo:
        tenant.ssm.start_automation_execution(
            DocumentName="WithRole", Parameters={"AutomationAssumeRole": [role]}
        )
    code, message, _ = error_of(excinfo)
    assert code == "InvalidAutomationExecutionParametersException"
    assert role in message
    assert "ssm.amazonaws.com" in message


CROSS = """\
schemaVersion: '0.3'
mainSteps:
  - name: Who
    action: aws:executeAwsApi
    inputs:
      Service: sts
      Api: GetCallerIdentity
    outputs:
      - Name: Arn
        Selector: $.Arn
        Type: String
"""


@SQLITE_ONLY
def test_shared_document_in_target_account(server: RunningServer, tenant: Tenant) -> None:
    other_keys = server.create_account(account_id=OTHER)
    other_ssm = server.client("ssm", other_keys)
    create_document(tenant.ssm, "Cross", CROSS)
    arn = f"arn:aws:ssm:us-east-1:{OWNER}:document/Cross"
    with pytest.raises(ClientError) as excinfo:
        other_ssm.start_automation_execution(DocumentName=arn)
    assert error_of(excinfo)[0] == "AutomationDefinitionNotFoundException"

    tenant.ssm.modify_document_permission(
        Name="Cross", PermissionType="Share", AccountIdsToAdd=[OTHER]
    )
    target = {"Accounts": [OWNER], "Regions": ["us-east-1"], "ExecutionRoleName": "Runner"}
    with pytest.raises(ClientError) as excinfo:
        other_ssm.start_automation_execution(DocumentName=arn, TargetLocations=[target])
    code, message, _ = error_of(excinfo)
    assert code == "InvalidAutomationExecutionParametersException"
    assert f"arn:aws:iam::{OWNER}:role/Runner does not exist" in message

    make_role(tenant.iam, "Runner", trust_policy(service=None, aws=OTHER))
    found = run(server, other_ssm, arn, TargetLocations=[target])
    assert found["AutomationExecutionStatus"] == "Success"
    assert found["DocumentName"] == arn
    outputs = found["StepExecutions"][0]["Outputs"]
    assert outputs["Arn"][0].startswith(f"arn:aws:sts::{OWNER}:assumed-role/Runner/")
    # The target account lists the run as a cross-account one.
    listed = tenant.ssm.describe_automation_executions()["AutomationExecutionMetadataList"]
    assert [(m["AutomationExecutionId"], m["AutomationType"]) for m in listed] == [
        (found["AutomationExecutionId"], "CrossAccount")
    ]

    two = {"Accounts": [OWNER, OTHER], "Regions": ["us-east-1"]}
    with pytest.raises(ClientError) as excinfo:
        other_ssm.start_automation_execution(DocumentName=arn, TargetLocations=[two])
    assert error_of(excinfo)[0] == "InvalidTarget"


STEPS = """\
schemaVersion: '0.3'
mainSteps:
  - name: First
    action: aws:sleep
    inputs:
      Duration: PT1S
  - name: Second
    action: aws:sleep
    inputs:
      Duration: PT1S
"""


def start_step(ssm: Any, execution_id: str, name: str) -> None:
    ssm.send_automation_signal(
        AutomationExecutionId=execution_id, SignalType="StartStep", Payload={"StepName": [name]}
    )


def test_interactive_mode_waits_for_start_step(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Steps", STEPS)
    waiting = run(server, tenant.ssm, "Steps", Mode="Interactive")
    execution_id = waiting["AutomationExecutionId"]
    assert waiting["Mode"] == "Interactive"
    assert waiting["AutomationExecutionStatus"] == "Waiting"
    assert waiting["CurrentStepName"] == "First"
    assert statuses(waiting) == []

    with pytest.raises(ClientError) as excinfo:
        start_step(tenant.ssm, execution_id, "Missing")
    assert error_of(excinfo)[0] == "AutomationStepNotFoundException"

    # Each step runs only when asked, and one at a time.
    start_step(tenant.ssm, execution_id, "First")
    settle(server)
    with pytest.raises(ClientError) as excinfo:
        start_step(tenant.ssm, execution_id, "Second")
    assert error_of(excinfo)[0] == "InvalidAutomationSignalException"
    advance(server, seconds=2)
    between = execution(tenant.ssm, execution_id)
    assert statuses(between) == [("First", "Success")]
    assert between["AutomationExecutionStatus"] == "Waiting"
    assert between["CurrentStepName"] == "Second"

    start_step(tenant.ssm, execution_id, "Second")
    settle(server)
    advance(server, seconds=2)
    finished = execution(tenant.ssm, execution_id)
    assert statuses(finished) == [("First", "Success"), ("Second", "Success")]
    assert finished["AutomationExecutionStatus"] == "Success"


def test_start_step_needs_interactive_mode(server: RunningServer, tenant: Tenant) -> None:
    create_document(tenant.ssm, "Pauses", PAUSES)
    execution_id = run(server, tenant.ssm, "Pauses")["AutomationExecutionId"]
    with pytest.raises(ClientError) as excinfo:
        start_step(tenant.ssm, execution_id, "After")
    assert error_of(excinfo)[0] == "InvalidAutomationSignalException"
    assert "Interactive mode" in error_of(excinfo)[1]
