"""Targets of rules: PutTargets, RemoveTargets and ListTargetsByRule through boto3."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.events.events_support import Account, application, error_of

__all__ = ["application"]

PLAN = "arn:aws:ssm-incidents::111122223333:response-plan/checkout"


@pytest.fixture
def rule(application: Account) -> str:
    application.events.put_rule(Name="alarms", EventPattern='{"source":["aws.cloudwatch"]}')
    return "alarms"


def test_put_and_list_targets(application: Account, rule: str) -> None:
    events = application.events
    topic = f"arn:aws:sns:us-east-1:{application.account_id}:alerts"
    bus = "arn:aws:events:us-east-1:111122223333:event-bus/default"
    transformer = {
        "InputPathsMap": {"alarm": "$.detail.alarmName"},
        "InputTemplate": '{"alarm": "<alarm>"}',
    }
    result = events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "plan", "Arn": PLAN, "RoleArn": "arn:aws:iam::222233334444:role/ev"},
            {"Id": "topic", "Arn": topic, "InputTransformer": transformer},
            {"Id": "bus", "Arn": bus},
        ],
    )
    assert result["FailedEntryCount"] == 0
    assert result["FailedEntries"] == []
    listed = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert [target["Id"] for target in listed] == ["bus", "plan", "topic"]
    assert listed[1]["RoleArn"] == "arn:aws:iam::222233334444:role/ev"
    assert listed[2]["InputTransformer"] == transformer

    page = events.list_targets_by_rule(Rule=rule, Limit=2)
    assert [target["Id"] for target in page["Targets"]] == ["bus", "plan"]
    rest = events.list_targets_by_rule(Rule=rule, Limit=2, NextToken=page["NextToken"])
    assert [target["Id"] for target in rest["Targets"]] == ["topic"]


def test_put_targets_replaces_same_id(application: Account, rule: str) -> None:
    events = application.events
    events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": PLAN}])
    other = "arn:aws:ssm-incidents::111122223333:response-plan/payments"
    events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": other, "Input": '{"a": 1}'}])
    listed = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert listed == [{"Id": "t", "Arn": other, "Input": '{"a": 1}'}]


def test_failed_entries_are_reported_per_target(application: Account, rule: str) -> None:
    events = application.events
    own_bus = f"arn:aws:events:us-east-1:{application.account_id}:event-bus/default"
    result = events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "good", "Arn": PLAN},
            {
                "Id": "regional-plan",
                "Arn": "arn:aws:ssm-incidents:us-east-1:111122223333:response-plan/x",
            },
            {"Id": "lambda", "Arn": "arn:aws:lambda:us-east-1:222233334444:function:f"},
            {"Id": "own-bus", "Arn": own_bus},
            {"Id": "bad-input", "Arn": PLAN, "Input": "{not json"},
        ],
    )
    assert result["FailedEntryCount"] == 4
    failed = {entry["TargetId"]: entry for entry in result["FailedEntries"]}
    assert sorted(failed) == ["bad-input", "lambda", "own-bus", "regional-plan"]
    for entry in failed.values():
        assert entry["ErrorCode"] == "ValidationException"
    assert "response plan" in failed["regional-plan"]["ErrorMessage"]
    assert "lambda" in failed["lambda"]["ErrorMessage"]
    assert "Input" in failed["bad-input"]["ErrorMessage"]
    listed = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert [target["Id"] for target in listed] == ["good"]


def test_input_members_are_exclusive(application: Account, rule: str) -> None:
    result = application.events.put_targets(
        Rule=rule,
        Targets=[{"Id": "t", "Arn": PLAN, "Input": "{}", "InputPath": "$.detail"}],
    )
    assert result["FailedEntryCount"] == 1
    message = result["FailedEntries"][0]["ErrorMessage"]
    assert "InputPath" in message


def test_bad_input_path_is_reported(application: Account, rule: str) -> None:
    result = application.events.put_targets(
        Rule=rule, Targets=[{"Id": "t", "Arn": PLAN, "InputPath": "detail.state"}]
    )
    assert result["FailedEntryCount"] == 1
    assert "detail.state" in result["FailedEntries"][0]["ErrorMessage"]


def test_target_limit(application: Account, rule: str) -> None:
    targets = [{"Id": f"t{index}", "Arn": PLAN} for index in range(5)]
    application.events.put_targets(Rule=rule, Targets=targets)
    with pytest.raises(ClientError) as info:
        application.events.put_targets(Rule=rule, Targets=[{"Id": "t9", "Arn": PLAN}])
    code, _status, message = error_of(info)
    assert code == "LimitExceededException"
    assert "5" in message


def test_remove_targets_reports_unknown_ids(application: Account, rule: str) -> None:
    events = application.events
    events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": PLAN}])
    result = events.remove_targets(Rule=rule, Ids=["t", "missing"])
    assert result["FailedEntryCount"] == 1
    assert result["FailedEntries"][0]["TargetId"] == "missing"
    assert result["FailedEntries"][0]["ErrorCode"] == "ResourceNotFoundException"
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == []


def test_targets_of_missing_rule(application: Account) -> None:
    with pytest.raises(ClientError) as info:
        application.events.put_targets(Rule="missing", Targets=[{"Id": "t", "Arn": PLAN}])
    code, _status, message = error_of(info)
    assert code == "ResourceNotFoundException"
    assert "missing" in message


def test_bus_target_takes_no_input(application: Account, rule: str) -> None:
    bus = "arn:aws:events:us-east-1:111122223333:event-bus/default"
    result = application.events.put_targets(
        Rule=rule, Targets=[{"Id": "b", "Arn": bus, "Input": json.dumps({"a": 1})}]
    )
    assert result["FailedEntryCount"] == 1
    assert "event bus" in result["FailedEntries"][0]["ErrorMessage"]
