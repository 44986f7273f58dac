"""Composite alarms: rules, re-evaluation on child changes, relations, deletion and suppression.

Suppression and rule scenarios run on SQLite only because they exercise
Python logic; the relation listings and bad input run on both backends.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.alarms.conftest import Account, advance, error_of, history, put_alarm, state_of

sqlite_only = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


def set_state(account: Account, name: str, value: str) -> None:
    account.cloudwatch.set_alarm_state(AlarmName=name, StateValue=value, StateReason="test")


def composite(account: Account, name: str, rule: str, **extra: object) -> None:
    account.cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=rule, **extra)


@sqlite_only
def test_rule_follows_children(app: Account) -> None:
    put_alarm(app, "cpu")
    put_alarm(app, "network")
    put_alarm(app, "deploying")
    rule = '(ALARM(cpu) OR ALARM("network")) AND NOT ALARM(deploying)'
    composite(app, "service", rule)
    assert state_of(app, "service") == "OK"
    found = app.cloudwatch.describe_alarms(AlarmNames=["service"], AlarmTypes=["CompositeAlarm"])
    alarm = found["CompositeAlarms"][0]
    assert alarm["StateReason"] == (
        f"{alarm['AlarmArn']} was created and its alarm rule evaluates to OK"
    )

    set_state(app, "network", "ALARM")
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["service"], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ][0]
    assert alarm["StateValue"] == "ALARM"
    network_arn = f"arn:aws:cloudwatch:us-east-1:{app.account_id}:alarm:network"
    assert alarm["StateReason"].startswith(f"{network_arn} transitioned to ALARM at ")
    assert alarm["StateReason"].endswith(" UTC")
    triggering = json.loads(alarm["StateReasonData"])["triggeringAlarms"]
    assert [item["arn"] for item in triggering] == [network_arn]
    assert triggering[0]["state"]["value"] == "ALARM"

    set_state(app, "deploying", "ALARM")
    assert state_of(app, "service") == "OK"
    set_state(app, "deploying", "OK")
    assert state_of(app, "service") == "ALARM"
    set_state(app, "network", "OK")
    assert state_of(app, "service") == "OK"


@sqlite_only
def test_constants_and_state_functions(app: Account) -> None:
    put_alarm(app, "child")
    composite(app, "always", "TRUE")
    composite(app, "unknown", "INSUFFICIENT_DATA(child) AND NOT FALSE")
    composite(app, "calm", "OK(child)")
    assert state_of(app, "always") == "ALARM"
    assert state_of(app, "unknown") == "ALARM"
    assert state_of(app, "calm") == "OK"
    set_state(app, "child", "OK")
    assert state_of(app, "unknown") == "OK"
    assert state_of(app, "calm") == "ALARM"


def test_children_and_parents_listings(app: Account) -> None:
    put_alarm(app, "a")
    put_alarm(app, "b")
    composite(app, "parent", "ALARM(a) AND ALARM(b)")
    composite(app, "grandparent", "ALARM(parent)")
    cloudwatch = app.cloudwatch
    children = cloudwatch.describe_alarms(ChildrenOfAlarmName="parent")
    assert [a["AlarmName"] for a in children["MetricAlarms"]] == ["a", "b"]
    parents = cloudwatch.describe_alarms(ParentsOfAlarmName="parent")
    assert [a["AlarmName"] for a in parents["CompositeAlarms"]] == ["grandparent"]
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.describe_alarms(ChildrenOfAlarmName="parent", StateValue="OK")
    assert error_of(excinfo)["Code"] == "InvalidParameterCombination"
    only_metric = cloudwatch.describe_alarms()
    assert only_metric["CompositeAlarms"] == []
    both = cloudwatch.describe_alarms(AlarmTypes=["CompositeAlarm", "MetricAlarm"])
    assert [a["AlarmName"] for a in both["CompositeAlarms"]] == ["grandparent", "parent"]


def test_child_in_use_cannot_be_deleted(app: Account) -> None:
    put_alarm(app, "child")
    composite(app, "parent", "ALARM(child)")
    with pytest.raises(ClientError) as excinfo:
        app.cloudwatch.delete_alarms(AlarmNames=["child"])
    error = error_of(excinfo)
    assert error["Code"] == "ResourceConflict"
    assert error["Status"] == 409
    assert "parent" in error["Message"]
    assert state_of(app, "child") == "INSUFFICIENT_DATA"
    app.cloudwatch.delete_alarms(AlarmNames=["child", "parent"])
    remaining = app.cloudwatch.describe_alarms(AlarmTypes=["CompositeAlarm", "MetricAlarm"])
    assert remaining["MetricAlarms"] == []
    assert remaining["CompositeAlarms"] == []


BAD_RULES = [
    ("ALARM(child) AND", "end of the rule"),
    ("ALARM(child) XOR OK(child)", "XOR"),
    ("AT_LEAST(2, ALARM, (child))", "AT_LEAST"),
    ("ALARM(ghost)", "ghost"),
    ("alarm(child)", "alarm"),
    ("ALARM(loop)", "itself"),
    ('ALARM("child)', "not closed"),
]


@sqlite_only
def test_bad_rules_are_rejected(app: Account) -> None:
    put_alarm(app, "child")
    for rule, words in BAD_RULES:
        with pytest.raises(ClientError) as excinfo:
            composite(app, "loop", rule)
        error = error_of(excinfo)
        assert error["Code"] == "InvalidParameterValue", rule
        assert words in error["Message"], error


@sqlite_only
def test_cycle_through_other_composite_is_rejected(app: Account) -> None:
    put_alarm(app, "child")
    composite(app, "first", "ALARM(child)")
    composite(app, "second", "ALARM(first)")
    with pytest.raises(ClientError) as excinfo:
        composite(app, "first", "ALARM(second)")
    assert "itself" in error_of(excinfo)["Message"]


def topic_for(account: Account) -> str:
    arn: str = account.client("sns").create_topic(Name="ops")["TopicArn"]
    return arn


def action_items(account: Account, name: str) -> list[dict[str, object]]:
    return history(account, name, "Action", AlarmTypes=["CompositeAlarm"])


@sqlite_only
def test_suppressor_in_alarm_holds_actions_until_extension_ends(app: Account) -> None:
    topic = topic_for(app)
    # With ignore, periods without data keep the states that the test sets.
    put_alarm(app, "cpu", TreatMissingData="ignore")
    put_alarm(app, "maintenance", TreatMissingData="ignore")
    set_state(app, "maintenance", "ALARM")
    composite(
        app,
        "service",
        "ALARM(cpu)",
        AlarmActions=[topic],
        ActionsSuppressor="maintenance",
        ActionsSuppressorWaitPeriod=120,
        ActionsSuppressorExtensionPeriod=180,
    )
    set_state(app, "cpu", "ALARM")
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["service"], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ][0]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["ActionsSuppressedBy"] == "Alarm"
    advance(app.server, 600)
    assert action_items(app, "service") == []

    set_state(app, "maintenance", "OK")
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["service"], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ][0]
    assert alarm["ActionsSuppressedBy"] == "ExtensionPeriod"
    advance(app.server, 179)
    assert action_items(app, "service") == []
    advance(app.server, 1)
    items = action_items(app, "service")
    assert [item["HistorySummary"] for item in items] == [f"Successfully executed action {topic}"]


@sqlite_only
def test_wait_period_then_actions_run(app: Account) -> None:
    topic = topic_for(app)
    # With ignore, periods without data keep the states that the test sets.
    put_alarm(app, "cpu", TreatMissingData="ignore")
    put_alarm(app, "maintenance", TreatMissingData="ignore")
    composite(
        app,
        "service",
        "ALARM(cpu)",
        AlarmActions=[topic],
        ActionsSuppressor="maintenance",
        ActionsSuppressorWaitPeriod=120,
        ActionsSuppressorExtensionPeriod=60,
    )
    set_state(app, "cpu", "ALARM")
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["service"], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ][0]
    assert alarm["ActionsSuppressedBy"] == "WaitPeriod"
    assert alarm["ActionsSuppressedReason"] == "Actions suppressed by WaitPeriod"
    advance(app.server, 119)
    assert action_items(app, "service") == []
    advance(app.server, 1)
    assert len(action_items(app, "service")) == 1


@sqlite_only
def test_suppressor_that_fires_during_wait_suppresses(app: Account) -> None:
    topic = topic_for(app)
    # With ignore, periods without data keep the states that the test sets.
    put_alarm(app, "cpu", TreatMissingData="ignore")
    put_alarm(app, "maintenance", TreatMissingData="ignore")
    composite(
        app,
        "service",
        "ALARM(cpu)",
        AlarmActions=[topic],
        ActionsSuppressor="maintenance",
        ActionsSuppressorWaitPeriod=120,
        ActionsSuppressorExtensionPeriod=60,
    )
    set_state(app, "cpu", "ALARM")
    advance(app.server, 60)
    set_state(app, "maintenance", "ALARM")
    advance(app.server, 120)
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["service"], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ][0]
    assert alarm["ActionsSuppressedBy"] == "Alarm"
    assert action_items(app, "service") == []


@sqlite_only
def test_suppressor_needs_its_periods(app: Account) -> None:
    put_alarm(app, "cpu")
    with pytest.raises(ClientError) as excinfo:
        composite(app, "service", "ALARM(cpu)", ActionsSuppressor="cpu")
    error = error_of(excinfo)
    assert error["Code"] == "MissingParameter"
    assert "ActionsSuppressorWaitPeriod" in error["Message"]
