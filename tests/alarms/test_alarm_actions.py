"""What a state change does: SNS notifications, the default-bus event, incidents and failures.

Only the incident test runs on both backends, because its action jobs may be
claimed by the background worker and the request path at once, which locks
differently on PostgreSQL. The others run on SQLite to keep the suite fast.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.alarms.conftest import (
    Account,
    history,
    put_alarm,
    put_value,
    run_jobs,
)
from tests.incidents.conftest import settle
from tests.notify.conftest import HttpReceiver

sqlite_only = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


def subscribe(account: Account, topic: str, receiver: HttpReceiver) -> None:
    """Subscribe the receiver to ``topic`` and confirm through the SubscribeURL."""
    before = len(receiver.requests)
    account.client("sns").subscribe(
        TopicArn=topic, Protocol="http", Endpoint=f"http://127.0.0.1:{receiver.port}/hook"
    )
    confirmation = receiver.wait_for(before + 1)[before].json()
    assert confirmation["Type"] == "SubscriptionConfirmation"
    assert httpx.get(confirmation["SubscribeURL"]).status_code == 200


def notifications(account: Account, receiver: HttpReceiver, count: int) -> list[dict[str, Any]]:
    run_jobs(account.server)
    received = [request.json() for request in receiver.wait_for(count + 1)]
    found = [message for message in received if message["Type"] == "Notification"]
    assert len(found) == count, found
    return found


@sqlite_only
def test_sns_action_publishes_alarm_message(app: Account, receiver: HttpReceiver) -> None:
    topic = app.client("sns").create_topic(Name="ops")["TopicArn"]
    subscribe(app, topic, receiver)
    put_alarm(
        app,
        "latency",
        AlarmDescription="Checkout is slow",
        AlarmActions=[topic],
        OKActions=[topic],
        Dimensions=[{"Name": "Service", "Value": "checkout"}],
    )
    put_value(app, "Latency", 150.0, Dimensions=[{"Name": "Service", "Value": "checkout"}])

    (notification,) = notifications(app, receiver, 1)
    assert notification["Subject"] == 'ALARM: "latency" in US East (N. Virginia)'
    message = json.loads(notification["Message"])
    assert message["AlarmName"] == "latency"
    assert message["AlarmDescription"] == "Checkout is slow"
    assert message["AWSAccountId"] == app.account_id
    assert message["NewStateValue"] == "ALARM"
    assert message["OldStateValue"] == "INSUFFICIENT_DATA"
    assert message["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints")
    assert message["Region"] == "US East (N. Virginia)"
    assert message["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{app.account_id}:alarm:latency"

    trigger = message["Trigger"]
    assert trigger["MetricName"] == "Latency"
    assert trigger["Namespace"] == "Shop"
    assert trigger["StatisticType"] == "Statistic"
    assert trigger["Statistic"] == "MAXIMUM"
    assert trigger["Dimensions"] == [{"value": "checkout", "name": "Service"}]
    assert trigger["Period"] == 60
    assert trigger["Threshold"] == 100.0
    assert trigger["ComparisonOperator"] == "GreaterThanThreshold"

    succeeded = history(app, "latency", "Action")
    assert [item["HistorySummary"] for item in succeeded] == [
        f"Successfully executed action {topic}"
    ]


@sqlite_only
def test_disabled_actions_do_not_run(app: Account) -> None:
    topic = app.client("sns").create_topic(Name="ops")["TopicArn"]
    put_alarm(app, "quiet", AlarmActions=[topic], ActionsEnabled=False)
    put_value(app, "Latency", 150.0)
    run_jobs(app.server)
    assert history(app, "quiet", "Action") == []


@sqlite_only
def test_missing_topic_is_a_failed_action(app: Account) -> None:
    topic = f"arn:aws:sns:us-east-1:{app.account_id}:gone"
    put_alarm(app, "lost", AlarmActions=[topic])
    app.cloudwatch.set_alarm_state(AlarmName="lost", StateValue="ALARM", StateReason="test")
    run_jobs(app.server)
    (item,) = history(app, "lost", "Action")
    assert item["HistorySummary"] == f"Failed to execute action {topic}"
    data = json.loads(item["HistoryData"])
    assert data["actionState"] == "Failed"
    assert data["error"]


@sqlite_only
def test_state_change_event_reaches_rule_target(app: Account, receiver: HttpReceiver) -> None:
    topic = app.client("sns").create_topic(Name="events")["TopicArn"]
    subscribe(app, topic, receiver)
    events = app.client("events")
    pattern = {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"state": {"value": ["ALARM"]}},
    }
    events.put_rule(Name="alarms", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="alarms", Targets=[{"Id": "topic", "Arn": topic}])
    put_alarm(
        app,
        "cpu",
        AlarmDescription="CPU is high",
        Dimensions=[{"Name": "InstanceId", "Value": "i-1"}],
    )
    put_value(app, "Latency", 150.0, Dimensions=[{"Name": "InstanceId", "Value": "i-1"}])

    (notification,) = notifications(app, receiver, 1)
    event = json.loads(notification["Message"])
    arn = f"arn:aws:cloudwatch:us-east-1:{app.account_id}:alarm:cpu"
    assert event["source"] == "aws.cloudwatch"
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["account"] == app.account_id
    assert event["region"] == "us-east-1"
    assert event["resources"] == [arn]

    detail = event["detail"]
    assert detail["alarmName"] == "cpu"
    assert detail["state"]["value"] == "ALARM"
    assert detail["state"]["reason"].startswith("Threshold Crossed")
    assert json.loads(detail["state"]["reasonData"])["threshold"] == 100.0
    assert detail["previousState"]["value"] == "INSUFFICIENT_DATA"
    assert detail["previousState"]["reason"] == "Unchecked: Initial alarm creation"

    configuration = detail["configuration"]
    assert configuration["description"] == "CPU is high"
    (metric,) = configuration["metrics"]
    assert metric["returnData"] is True
    assert metric["metricStat"] == {
        "metric": {"namespace": "Shop", "name": "Latency", "dimensions": {"InstanceId": "i-1"}},
        "period": 60,
        "stat": "Maximum",
    }


def create_plan(account: Account, name: str = "checkout") -> str:
    incidents = account.client("ssm-incidents")
    arn = incidents.create_replication_set(regions={"us-east-1": {}})["arn"]
    settle(account.server, incidents, arn)
    plan: str = incidents.create_response_plan(
        name=name, incidentTemplate={"title": "Checkout is failing", "impact": 2}
    )["arn"]
    return plan


def incidents_of(account: Account) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = account.client("ssm-incidents").list_incident_records()[
        "incidentRecordSummaries"
    ]
    return found


def flip(account: Account, name: str, *states: str) -> None:
    for state in states:
        account.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")
        run_jobs(account.server)


def test_response_plan_action_starts_and_joins_incident(management: Account) -> None:
    plan = create_plan(management)
    put_alarm(management, "checkout-errors", AlarmActions=[plan], TreatMissingData="ignore")
    flip(management, "checkout-errors", "ALARM")
    (summary,) = incidents_of(management)
    assert summary["title"] == "Checkout is failing"
    record = management.client("ssm-incidents").get_incident_record(arn=summary["arn"])[
        "incidentRecord"
    ]
    alarm_arn = f"arn:aws:cloudwatch:us-east-1:{management.account_id}:alarm:checkout-errors"
    assert record["incidentRecordSource"]["source"] == "aws.cloudwatch"
    assert record["incidentRecordSource"]["resourceArn"] == alarm_arn
    flip(management, "checkout-errors", "OK", "ALARM")
    assert [item["arn"] for item in incidents_of(management)] == [summary["arn"]]
    actions = history(management, "checkout-errors", "Action")
    assert [item["HistorySummary"] for item in actions] == [
        f"Successfully executed action {plan}"
    ] * 2


@sqlite_only
def test_shared_plan_starts_incident_in_owner_account(management: Account, app: Account) -> None:
    """An application account's alarm uses a plan shared through RAM by its full ARN."""
    plan = create_plan(management)
    ram = management.client("ram")
    ram.create_resource_share(name="responders", resourceArns=[plan], principals=[app.account_id])
    for invitation in app.client("ram").get_resource_share_invitations()[
        "resourceShareInvitations"
    ]:
        if invitation["status"] == "PENDING":
            app.client("ram").accept_resource_share_invitation(
                resourceShareInvitationArn=invitation["resourceShareInvitationArn"]
            )
    put_alarm(app, "app-errors", AlarmActions=[plan], TreatMissingData="ignore")
    flip(app, "app-errors", "ALARM")
    (summary,) = incidents_of(management)
    assert summary["arn"].startswith(
        f"arn:aws:ssm-incidents::{management.account_id}:incident-record/checkout/"
    )
    assert summary["incidentRecordSource"]["resourceArn"] == (
        f"arn:aws:cloudwatch:us-east-1:{app.account_id}:alarm:app-errors"
    )


@sqlite_only
def test_unshared_plan_is_a_failed_action(management: Account, app: Account) -> None:
    plan = create_plan(management)
    put_alarm(app, "app-errors", AlarmActions=[plan], TreatMissingData="ignore")
    flip(app, "app-errors", "ALARM")
    assert incidents_of(management) == []
    (item,) = history(app, "app-errors", "Action")
    assert item["HistorySummary"] == f"Failed to execute action {plan}"
    assert "not shared" in json.loads(item["HistoryData"])["error"]
