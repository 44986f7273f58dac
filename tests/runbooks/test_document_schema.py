"""The parsed form of Automation documents that the execution engine runs."""

from __future__ import annotations

import pytest

from tests.runbooks.conftest import fixture_text
from tocsin.runbooks.document_parameters import check_value, coerce_value
from tocsin.runbooks.document_schema import parse
from tocsin.runbooks.document_steps import Condition, Transition
from tocsin.runbooks.errors import InvalidDocumentContent

RICH = """\
schemaVersion: '0.3'
assumeRole: '{{ AutomationAssumeRole }}'
parameters:
  AutomationAssumeRole:
    type: String
    default: ''
    allowedPattern: '^$|^arn:aws:iam::\\d{12}:role/.+$'
  Sizes:
    type: StringList
    default: [S, M]
    allowedValues: [S, M, L]
    maxItems: 3
  Retries:
    type: Integer
    default: 2
variables:
  Attempts:
    type: Integer
    default: 0
mainSteps:
  - name: Call
    action: aws:executeAwsApi
    onFailure: Continue
    maxAttempts: '3'
    timeoutSeconds: '60'
    inputs:
      Service: ssm-incidents
      Api: ListIncidentRecords
      Token: '{{ ssm:/team/token }}'
      Execution: '{{ automation:EXECUTION_ID }}'
      Counter: '{{ variable:Attempts }}'
    outputs:
      - {Name: Count, Selector: '$.count', Type: Integer}
  - name: Decide
    action: aws:branch
    inputs:
      Choices:
        - NextStep: Finish
          And:
            - {Variable: '{{ Call.Count }}', NumericGreater: 0}
            - Not: {Variable: '{{ Retries }}', NumericEquals: 0}
      Default: Script
  - name: Script
    action: aws:executeScript
    onCancel: step:Finish
    isCritical: 'false'
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: "def handler(events, context):\\n  return {{'a': 1}}\\n"
    nextStep: Finish
  - name: Finish
    action: aws:pause
    isEnd: true
    inputs: {}
outputs:
  - Call.Count
  - Script.Payload
"""


def test_rich_document_parses_to_typed_steps() -> None:
    document, _ = parse(RICH, "YAML")

    call = document.step("Call")
    assert call.on_failure == Transition("Continue")
    assert call.is_critical is False
    assert call.max_attempts == 3
    assert call.timeout_seconds == 60
    assert call.outputs[0].name == "Count"
    assert call.outputs[0].type == "Integer"

    decide = document.step("Decide")
    assert decide.default_step == "Script"
    assert decide.choices[0].next_step == "Finish"
    condition = decide.choices[0].condition
    assert condition.operator == "And"
    assert condition.operands[0] == Condition(
        "NumericGreater", variable="{{ Call.Count }}", value=0
    )
    assert condition.operands[1].operator == "Not"
    assert condition.operands[1].operands[0].operator == "NumericEquals"

    script = document.step("Script")
    assert script.on_cancel == Transition("Step", "Finish")
    assert str(script.on_cancel) == "step:Finish"
    assert script.on_failure == Transition("Abort")
    assert script.is_critical is False
    assert script.next_step == "Finish"

    finish = document.step("Finish")
    assert finish.is_end is True
    assert document.following(call) == decide
    assert document.following(finish) is None
    assert document.outputs == ("Call.Count", "Script.Payload")
    assert document.assume_role == "{{ AutomationAssumeRole }}"
    assert set(document.variables) == {"Attempts"}


def test_parameters_keep_types_and_constraints() -> None:
    document, _ = parse(RICH, "YAML")
    sizes = document.parameter("Sizes")
    assert sizes is not None
    assert sizes.type == "StringList"
    assert sizes.allowed_values == ("S", "M", "L")
    assert sizes.describe() == {"Name": "Sizes", "Type": "StringList", "DefaultValue": '["S", "M"]'}
    retries = document.parameter("Retries")
    assert retries is not None
    assert retries.describe()["DefaultValue"] == "2"
    role = document.parameter("AutomationAssumeRole")
    assert role is not None
    assert role.required is False
    assert check_value(role, "arn:aws:iam::111111111111:role/runbook") is None
    assert "allowed pattern" in (check_value(role, "not-an-arn") or "")
    assert "allowed values" in (check_value(sizes, ["XL"]) or "")
    assert "maxItems" in (check_value(sizes, ["S", "M", "L", "S"]) or "")
    assert "Integer" in (check_value(retries, "2") or "")


def test_branch_fixture_marks_unrunnable_actions() -> None:
    content = fixture_text("ssmdocs-aws-branch-output-variable-default-sleep.yaml")
    document, _ = parse(content, "YAML")

    assert [step.name for step in document.steps] == [
        "GetInstance",
        "ChooseOSforCommands",
        "runShellCommand",
        "runPowerShellCommand",
        "Sleep",
    ]
    assert document.step("ChooseOSforCommands").default_step == "Sleep"
    assert document.step("runShellCommand").runnable is False
    assert document.step("runShellCommand").is_end is True
    assert document.step("Sleep").runnable is True
    assert document.step("GetInstance").runnable is True


def test_loop_steps_are_parsed_and_named() -> None:
    content = """\
schemaVersion: '0.3'
mainSteps:
  - name: Repeat
    action: aws:loop
    inputs:
      MaxIterations: 3
      LoopCondition: {Variable: '{{ Check.Done }}', BooleanEquals: false}
      Steps:
        - name: Check
          action: aws:executeAwsApi
          inputs: {Service: ssm, Api: GetAutomationExecution, Id: '{{ Repeat.CurrentIteration }}'}
          outputs:
            - {Name: Done, Selector: '$.done', Type: Boolean}
"""
    document, _ = parse(content, "YAML")
    assert [step.name for step in document.all_steps()] == ["Repeat", "Check"]
    assert document.step("Repeat").loop_steps[0].name == "Check"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("schemaVersion: 0.3\nmainSteps: []\n", "at least one step"),
        ("schemaVersion: '0.3'\n1: x\nmainSteps: []\n", "Key 1"),
        ("schemaVersion: '0.3'\n'x': &a [*a]\n", "nested more than"),
    ],
)
def test_content_edge_cases_are_rejected(content: str, fragment: str) -> None:
    with pytest.raises(InvalidDocumentContent) as excinfo:
        parse(content, "YAML")
    assert fragment in excinfo.value.message


def test_run_values_are_coerced_to_types() -> None:
    document, _ = parse(RICH, "YAML")
    sizes = document.parameter("Sizes")
    retries = document.parameter("Retries")
    assert sizes is not None
    assert retries is not None

    assert coerce_value(sizes, ["S", "L"]) == ["S", "L"]
    assert coerce_value(retries, ["5"]) == 5
    with pytest.raises(ValueError, match=r"'Retries'.*not an integer"):
        coerce_value(retries, ["five"])
    with pytest.raises(ValueError, match=r"'Retries'.*one value"):
        coerce_value(retries, ["1", "2"])
    with pytest.raises(ValueError, match=r"'Sizes'.*allowed values"):
        coerce_value(sizes, ["XXL"])


def test_execute_script_handler_rules() -> None:
    head = "schemaVersion: '0.3'\nmainSteps:\n  - name: Run\n    action: aws:executeScript\n"
    powershell = head + "    inputs: {Runtime: PowerShell 7.4, Script: Write-Output 1}\n"
    python = head + "    inputs: {Runtime: python3.11, Script: 'print(1)'}\n"

    document, _ = parse(powershell, "YAML")
    assert document.step("Run").inputs["Runtime"] == "PowerShell 7.4"
    with pytest.raises(InvalidDocumentContent, match="Handler"):
        parse(python, "YAML")
