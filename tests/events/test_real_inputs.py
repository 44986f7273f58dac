"""Events and webhook bodies written by other people lead to the expected incident, or to none.

Each fixture is put on a running server the way it reaches Tocsin in real
use, a rule with the pattern given below routes it to a response plan, and
the test reads the incident through boto3. Events whose source starts with
``aws.`` come only from AWS services, so PutEvents rejects them, as
EventBridge does. They are put on the bus by the path that Tocsin's own
services use, after TestEventPattern has matched them through boto3.
"""

from __future__ import annotations

import json
from typing import Any

from tests.events.events_support import (
    ALARM_PATTERN,
    Account,
    drain,
    incident_records,
    load_case,
    new_account,
)
from tests.events.sns_webhook_support import own_signed, send
from tests.events.test_webhook_incidents import (
    route_to_plan,
    sqlite_server,
    trigger_events,
)
from tests.events.webhook_support import post, register
from tests.incidents.incident_support import trigger_count
from tocsin.events.ingest import put_event
from tocsin.testing import RunningServer

__all__ = ["sqlite_server"]

CONFIGURATION_UPDATES = {
    "source": ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm Configuration Change"],
    "detail": {"operation": ["update"]},
}
# The pattern that the EventBridge user guide gives for this event.
TERMINATED_INSTANCES = {
    "source": ["aws.ec2"],
    "detail-type": ["EC2 Instance State-change Notification"],
    "detail": {"state": ["terminated"]},
}
EC2_ISSUES = {
    "source": ["aws.health"],
    "detail-type": ["AWS Health Event"],
    "detail": {"service": ["EC2"], "eventTypeCategory": ["issue"]},
}
SUPPRESSED_COMPOSITE_ALARMS = {
    "detail": {
        "alarmData": {
            "state": {"value": ["ALARM"]},
            "configuration": {"actionsSuppressor": [{"exists": True}]},
        }
    }
}
WEBHOOK_ALARMS = {
    "source": ["tocsin.webhook"],
    "detail": {"source": ["aws.cloudwatch"], "alarmData": {"state": {"value": ["ALARM"]}}},
}
SNS_OK = {
    "source": ["tocsin.sns"],
    "detail-type": ["CloudWatch Alarm State Change"],
    "detail": {"state": {"value": ["OK"]}},
}
SNS_ALARM = {**SNS_OK, "detail": {"state": {"value": ["ALARM"]}}}
FIRING_GRAFANA = {"source": ["tocsin.grafana"], "detail": {"status": ["firing"]}}


def matches(account: Account, pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    result: bool = account.events.test_event_pattern(
        EventPattern=json.dumps(pattern), Event=json.dumps(event)
    )["Result"]
    return result


def entry_of(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event["resources"],
    }


def put_service_event(server: RunningServer, account: Account, event: dict[str, Any]) -> None:
    """Put an ``aws.*`` event on the account's default bus, as Tocsin's own services do.

    Before that, the test checks that PutEvents rejects the event's source,
    because only AWS services may send ``aws.*`` events.
    """
    result = account.events.put_events(Entries=[entry_of(event)])
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"
    with server.runtime.database.session() as session:
        put_event(
            session, server.clock, account_id=account.account_id, region="us-east-1", event=event
        )
    drain(server)


def related_arns(account: Account, incident_arn: str) -> list[str]:
    items = account.incidents.list_related_items(incidentRecordArn=incident_arn)["relatedItems"]
    return [item["identifier"]["value"]["arn"] for item in items]


def incident_of(account: Account) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the account's only incident record and the event of its only trigger."""
    (summary,) = incident_records(account)
    record = account.incidents.get_incident_record(arn=summary["arn"])["incidentRecord"]
    (trigger,) = trigger_events(account, summary["arn"])
    return record, trigger


def check_started_by_rule(account: Account, incident_arn: str, rule: str) -> None:
    """Check the fields that the response plan and the rule give the incident."""
    record = account.incidents.get_incident_record(arn=incident_arn)["incidentRecord"]
    assert record["title"] == "Checkout is failing"
    assert record["impact"] == 2
    assert record["status"] == "OPEN"
    assert record["incidentRecordSource"]["source"] == "aws.events"
    assert record["incidentRecordSource"]["invokedBy"] == "events.amazonaws.com"
    assert record["incidentRecordSource"]["resourceArn"] == rule


def impacted_account(server: RunningServer, incident_arn: str) -> str:
    from tocsin.incidents import records

    with server.runtime.database.session() as session:
        incident = records.find_by_arn(session, incident_arn)
        assert incident is not None
        return incident.impacted_account_id


def test_alarm_configuration_changes(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "123456789012")
    rule = route_to_plan(account, CONFIGURATION_UPDATES)
    created = load_case("eb-config-change-composite-alarm-created.json")
    updated = load_case("eb-config-change-metric-alarm-updated.json")
    assert not matches(account, CONFIGURATION_UPDATES, created)
    assert matches(account, CONFIGURATION_UPDATES, updated)
    # A configuration change is not a state change, whatever its state value.
    assert not matches(account, ALARM_PATTERN, created)
    assert not matches(account, ALARM_PATTERN, updated)

    put_service_event(sqlite_server, account, created)
    assert incident_records(account) == []
    put_service_event(sqlite_server, account, updated)

    record, trigger = incident_of(account)
    check_started_by_rule(account, record["arn"], rule)
    assert trigger["triggerArn"] == rule
    assert json.loads(trigger["rawData"]) == updated
    assert related_arns(account, record["arn"]) == updated["resources"]
    assert impacted_account(sqlite_server, record["arn"]) == "123456789012"


def test_ec2_replay_joins_incident(server: RunningServer) -> None:
    """Runs on both backends, because joining an open incident relies on a unique index."""
    # The event's account owns the bus, and its instance belongs to another account.
    account = new_account(server, "111122223333")
    rule = route_to_plan(account, TERMINATED_INSTANCES)
    replayed = load_case("ec2-state-change-terminated-replay.json")
    original = {name: value for name, value in replayed.items() if name != "replay-name"}
    assert matches(account, TERMINATED_INSTANCES, replayed)

    put_service_event(server, account, original)
    put_service_event(server, account, replayed)

    (summary,) = incident_records(account)
    check_started_by_rule(account, summary["arn"], rule)
    assert trigger_count(server, summary["arn"]) == 2
    triggers = trigger_events(account, summary["arn"])
    assert [trigger["triggerCount"] for trigger in triggers] == [1, 2]
    assert {trigger["triggerArn"] for trigger in triggers} == {rule}
    assert [trigger["timestamp"][:19] for trigger in triggers] == ["2017-12-22T18:43:48"] * 2
    assert json.loads(triggers[1]["rawData"])["replay-name"] == "replay_archive"
    assert "replay-name" not in json.loads(triggers[0]["rawData"])
    assert related_arns(account, summary["arn"]) == [
        "arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"
    ]
    assert impacted_account(server, summary["arn"]) == "111122223333"


def test_health_event_starts_incident(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "123456789012")
    rule = route_to_plan(account, EC2_ISSUES)
    event = load_case("health-event-ec2-instance-store-degraded.json")
    assert matches(account, EC2_ISSUES, event)

    put_service_event(sqlite_server, account, event)

    record, trigger = incident_of(account)
    check_started_by_rule(account, record["arn"], rule)
    assert trigger["triggerArn"] == rule
    assert trigger["source"] == "aws.events"
    # The trigger happened at the event's time, not when Tocsin received it.
    assert trigger["timestamp"].startswith("2016-06-05T06:27:57")
    assert json.loads(trigger["rawData"]) == event
    # "i-abcd1111" is an instance id, not an ARN, so it is no related item.
    assert related_arns(account, record["arn"]) == []
    assert impacted_account(sqlite_server, record["arn"]) == "123456789012"


def test_alarm_action_payload_through_put_events(sqlite_server: RunningServer) -> None:
    """A function that receives an alarm action forwards it with PutEvents and its own source."""
    account = new_account(sqlite_server, "111122223333")
    rule = route_to_plan(account, SUPPRESSED_COMPOSITE_ALARMS)
    payload = load_case("lambda-alarm-action-composite-alarm.json")
    entry = {
        "Source": "com.example.alarm-actions",
        "DetailType": "CloudWatch Alarm Action",
        "Detail": json.dumps(payload),
        "Resources": [payload["alarmArn"]],
    }

    result = account.events.put_events(Entries=[entry, entry])
    assert result["FailedEntryCount"] == 0
    drain(sqlite_server)

    (summary,) = incident_records(account)
    check_started_by_rule(account, summary["arn"], rule)
    assert trigger_count(sqlite_server, summary["arn"]) == 2
    raw = json.loads(trigger_events(account, summary["arn"])[0]["rawData"])
    assert raw["account"] == "111122223333"
    assert raw["detail"] == payload
    assert related_arns(account, summary["arn"]) == [payload["alarmArn"]]
    assert impacted_account(sqlite_server, summary["arn"]) == "111122223333"


def test_alarm_action_payload_through_webhook(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "111122223333")
    rule = route_to_plan(account, WEBHOOK_ALARMS)
    _, url = register(sqlite_server, "generic", account_id=account.account_id)
    payload = load_case("lambda-alarm-action-composite-alarm.json")

    response = post(url, payload)
    assert response.status_code == 200, response.text
    drain(sqlite_server)

    record, trigger = incident_of(account)
    check_started_by_rule(account, record["arn"], rule)
    assert trigger["triggerArn"] == rule
    event = json.loads(trigger["rawData"])
    assert event["source"] == "tocsin.webhook"
    for name, value in payload.items():
        assert event["detail"][name] == value, name
    assert impacted_account(sqlite_server, record["arn"]) == "111122223333"


def test_sns_lambda_record_ok(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "111122223333")
    _, url = register(sqlite_server, "sns", account_id=account.account_id)
    record = load_case("sns-lambda-record-alarm-ok-minimal.json")["Records"][0]["Sns"]

    # As Lambda received it, the message names no certificate that Tocsin trusts.
    rejected = send(url, record)
    assert rejected.status_code == 403
    assert "'EXAMPLE'" in rejected.json()["message"]

    # Signed by Tocsin's own topic, the same message is accepted. It is an OK
    # notification, so a rule for alarms ignores it and a rule for OK takes it.
    route_to_plan(account, SNS_ALARM, name="alarms")
    ok_rule: str = account.events.put_rule(Name="recoveries", EventPattern=json.dumps(SNS_OK))[
        "RuleArn"
    ]
    plan = account.incidents.list_response_plans()["responsePlanSummaries"][0]["arn"]
    account.events.put_targets(Rule="recoveries", Targets=[{"Id": "plan", "Arn": plan}])
    signed = own_signed(sqlite_server, record)
    accepted = send(url, signed)
    assert accepted.status_code == 200, accepted.text
    drain(sqlite_server)

    (summary,) = incident_records(account)
    check_started_by_rule(account, summary["arn"], ok_rule)
    (trigger,) = trigger_events(account, summary["arn"])
    event = json.loads(trigger["rawData"])
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == []
    detail = event["detail"]
    assert detail["alarmName"] == "DBMigrationRequired"
    assert detail["state"]["value"] == "OK"
    assert detail["previousState"] == {"value": "ALARM"}
    assert detail["region"] == "us-east-1"
    assert detail["regionName"] == "US (Virginia)"
    assert detail["awsAccountId"] == "111122223333"
    assert detail["subject"] == record["Subject"]
    assert detail["summary"].startswith("Threshold Crossed: 1 datapoint")
    assert impacted_account(sqlite_server, summary["arn"]) == "111122223333"


def test_grafana_legacy_alert(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    rule = route_to_plan(account, FIRING_GRAFANA)
    _, url = register(sqlite_server, "grafana", account_id=account.account_id)
    body = load_case("goalert-smoke-grafana-legacy.json")

    assert post(url, body).status_code == 200
    assert post(url, body).status_code == 200
    drain(sqlite_server)

    (summary,) = incident_records(account)
    check_started_by_rule(account, summary["arn"], rule)
    assert trigger_count(sqlite_server, summary["arn"]) == 2
    event = json.loads(trigger_events(account, summary["arn"])[0]["rawData"])
    assert event["source"] == "tocsin.grafana"
    assert event["resources"] == ["grafana/rule/1"]
    expected = {
        "status": "firing",
        "title": "woot",
        "ruleId": 1,
        "ruleName": "bob",
        "ruleUrl": "dontcare",
        "state": "alerting",
        "message": "test",
    }
    for name, value in expected.items():
        assert event["detail"][name] == value, name
    assert related_arns(account, summary["arn"]) == []
    assert impacted_account(sqlite_server, summary["arn"]) == "222233334444"
