"""Rules: PutRule, DescribeRule, ListRules, EnableRule, DisableRule and DeleteRule through boto3."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.events.events_support import ALARM_PATTERN, Account, application, error_of, load_case

__all__ = ["application"]


def test_put_rule_and_describe(application: Account) -> None:
    events = application.events
    arn = events.put_rule(
        Name="alarms",
        EventPattern=json.dumps(ALARM_PATTERN),
        Description="alarms to incidents",
        RoleArn=f"arn:aws:iam::{application.account_id}:role/events-to-incidents",
    )["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:{application.account_id}:rule/alarms"
    rule = events.describe_rule(Name="alarms")
    assert rule["Arn"] == arn
    assert json.loads(rule["EventPattern"]) == ALARM_PATTERN
    assert rule["State"] == "ENABLED"
    assert rule["EventBusName"] == "default"
    assert rule["Description"] == "alarms to incidents"
    assert rule["CreatedBy"] == application.account_id
    assert rule["RoleArn"].endswith(":role/events-to-incidents")


def test_rule_from_workshop_sample_is_created_disabled(application: Account) -> None:
    sample = load_case("rules-targeting-response-plans.json")["rules"][0]
    pattern = dict(sample["EventPattern"])
    pattern["resources"] = ["arn:aws:cloudwatch:us-east-1:222233334444:alarm:cpu"]
    application.events.put_rule(
        Name=sample["Name"], State=sample["State"], EventPattern=json.dumps(pattern)
    )
    assert application.events.describe_rule(Name=sample["Name"])["State"] == "DISABLED"
    application.events.enable_rule(Name=sample["Name"])
    assert application.events.describe_rule(Name=sample["Name"])["State"] == "ENABLED"
    application.events.disable_rule(Name=sample["Name"])
    assert application.events.describe_rule(Name=sample["Name"])["State"] == "DISABLED"


@pytest.mark.parametrize("index", [1, 2])
def test_guardduty_sample_patterns_are_accepted(application: Account, index: int) -> None:
    sample = load_case("rules-targeting-response-plans.json")["rules"][index]
    application.events.put_rule(
        Name=f"guardduty-{index}", EventPattern=json.dumps(sample["EventPattern"])
    )
    stored = application.events.describe_rule(Name=f"guardduty-{index}")["EventPattern"]
    assert json.loads(stored) == sample["EventPattern"]


def test_put_rule_updates_given_members_only(application: Account) -> None:
    events = application.events
    events.put_rule(Name="r", EventPattern='{"source":["a"]}', Description="first")
    events.put_rule(Name="r", EventPattern='{"source":["b"]}', State="DISABLED")
    rule = events.describe_rule(Name="r")
    assert json.loads(rule["EventPattern"]) == {"source": ["b"]}
    assert rule["State"] == "DISABLED"
    assert rule["Description"] == "first"


def test_invalid_pattern_is_rejected(application: Account) -> None:
    with pytest.raises(ClientError) as info:
        application.events.put_rule(Name="bad", EventPattern='{"source": "aws.ec2"}')
    code, status, message = error_of(info)
    assert (code, status) == ("InvalidEventPatternException", 400)
    assert "$.source" in message
    with pytest.raises(ClientError) as info:
        application.events.describe_rule(Name="bad")
    assert error_of(info)[0] == "ResourceNotFoundException"


def test_schedule_expression_is_rejected(application: Account) -> None:
    with pytest.raises(ClientError) as info:
        application.events.put_rule(Name="nightly", ScheduleExpression="rate(1 day)")
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "ScheduleExpression" in message


def test_rule_needs_a_pattern(application: Account) -> None:
    with pytest.raises(ClientError) as info:
        application.events.put_rule(Name="empty")
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "EventPattern" in message


def test_bad_state_is_rejected(application: Account) -> None:
    with pytest.raises(ClientError) as info:
        application.events.put_rule(Name="r", EventPattern='{"source":["a"]}', State="ON")
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "'state'" in message
    assert "'ON'" in message


def test_rules_on_custom_bus(application: Account) -> None:
    events = application.events
    with pytest.raises(ClientError) as info:
        events.put_rule(Name="r", EventBusName="missing", EventPattern='{"source":["a"]}')
    assert error_of(info)[0] == "ResourceNotFoundException"
    events.create_event_bus(Name="orders")
    arn = events.put_rule(Name="r", EventBusName="orders", EventPattern='{"source":["a"]}')[
        "RuleArn"
    ]
    assert arn == f"arn:aws:events:us-east-1:{application.account_id}:rule/orders/r"
    assert events.list_rules()["Rules"] == []
    listed = events.list_rules(EventBusName="orders")["Rules"]
    assert [rule["Arn"] for rule in listed] == [arn]
    assert "CreatedBy" not in listed[0]


def test_list_rules_prefix_and_pages(application: Account) -> None:
    events = application.events
    for name in ("alarm-a", "alarm-b", "alarm-c", "other"):
        events.put_rule(Name=name, EventPattern='{"source":["a"]}')
    first = events.list_rules(NamePrefix="alarm-", Limit=2)
    assert [rule["Name"] for rule in first["Rules"]] == ["alarm-a", "alarm-b"]
    second = events.list_rules(NamePrefix="alarm-", Limit=2, NextToken=first["NextToken"])
    assert [rule["Name"] for rule in second["Rules"]] == ["alarm-c"]
    assert "NextToken" not in second


def test_delete_rule_refused_while_targets_remain(application: Account) -> None:
    events = application.events
    events.put_rule(Name="r", EventPattern='{"source":["a"]}')
    topic = f"arn:aws:sns:us-east-1:{application.account_id}:alerts"
    events.put_targets(Rule="r", Targets=[{"Id": "t", "Arn": topic}])
    with pytest.raises(ClientError) as info:
        events.delete_rule(Name="r")
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "targets" in message
    events.remove_targets(Rule="r", Ids=["t"])
    events.delete_rule(Name="r")
    with pytest.raises(ClientError) as info:
        events.describe_rule(Name="r")
    assert error_of(info)[0] == "ResourceNotFoundException"


def test_enable_missing_rule_is_not_found(application: Account) -> None:
    with pytest.raises(ClientError) as info:
        application.events.enable_rule(Name="nothing")
    code, _status, message = error_of(info)
    assert code == "ResourceNotFoundException"
    assert "nothing" in message


def test_rule_on_other_accounts_bus_is_not_found(application: Account) -> None:
    other_bus = "arn:aws:events:us-east-1:111122223333:event-bus/default"
    with pytest.raises(ClientError) as info:
        application.events.put_rule(
            Name="r", EventBusName=other_bus, EventPattern='{"source":["a"]}'
        )
    code, _status, message = error_of(info)
    assert code == "ResourceNotFoundException"
    assert "default" in message
