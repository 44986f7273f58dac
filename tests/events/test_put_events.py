"""PutEvents, TestEventPattern and delivery to SNS topics through boto3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.events.events_support import (
    ALARM_EVENT_FILE,
    Account,
    application,
    drain,
    error_of,
    load_case,
    management,
)
from tests.notify.conftest import HttpReceiver
from tocsin.testing import RunningServer

__all__ = ["application", "management"]

EC2_EVENT_BLOCK = 0
EC2_PATTERN_BLOCK = 1


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    running = HttpReceiver().start()
    yield running
    running.stop()


def docs_block(index: int) -> dict[str, Any]:
    block: dict[str, Any] = load_case("eb-docs-event-patterns-and-sample-events.json")["blocks"][
        index
    ]
    return block


def entry(source: str = "com.example.shop", **overrides: Any) -> dict[str, Any]:
    base = {
        "Source": source,
        "DetailType": "Order Placed",
        "Detail": json.dumps({"orderId": "o-1", "total": 12}),
    }
    base.update(overrides)
    return base


def test_put_events_returns_an_id_per_entry(application: Account) -> None:
    result = application.events.put_events(Entries=[entry(), entry(), entry()])
    assert result["FailedEntryCount"] == 0
    ids = [item["EventId"] for item in result["Entries"]]
    assert len(set(ids)) == 3


def test_put_events_reports_bad_entries(application: Account) -> None:
    result = application.events.put_events(
        Entries=[
            entry(),
            entry(Detail="[1, 2]"),
            entry(Detail="{broken"),
            {"Source": "com.example.shop", "Detail": "{}"},
            entry(source="aws.cloudwatch"),
            entry(EventBusName="missing"),
        ]
    )
    assert result["FailedEntryCount"] == 5
    results = result["Entries"]
    assert "EventId" in results[0]
    assert results[1]["ErrorCode"] == "MalformedDetail"
    assert results[2]["ErrorCode"] == "MalformedDetail"
    assert results[3]["ErrorCode"] == "InvalidArgument"
    assert "DetailType" in results[3]["ErrorMessage"]
    assert results[4]["ErrorCode"] == "NotAuthorizedForSourceException"
    assert results[5]["ErrorCode"] == "ResourceNotFoundException"
    assert "missing" in results[5]["ErrorMessage"]


def test_put_events_size_limit(application: Account) -> None:
    detail = json.dumps({"blob": "x" * 60_000})
    accepted = application.events.put_events(Entries=[entry(Detail=detail)] * 4)
    assert accepted["FailedEntryCount"] == 0
    with pytest.raises(ClientError) as info:
        application.events.put_events(Entries=[entry(Detail=detail)] * 5)
    code, status, message = error_of(info)
    assert (code, status) == ("ValidationException", 400)
    assert "262144" in message


def test_put_events_entry_count_limit(application: Account) -> None:
    with pytest.raises(ClientError) as info:
        application.events.put_events(Entries=[entry()] * 11)
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "entries" in message.lower()


def test_test_event_pattern_with_documented_sample(application: Account) -> None:
    sample = docs_block(EC2_EVENT_BLOCK)["raw"]
    pattern = docs_block(EC2_PATTERN_BLOCK)["raw"]
    assert application.events.test_event_pattern(EventPattern=pattern, Event=sample)["Result"]
    other = json.loads(sample)
    other["detail"]["state"] = "running"
    result = application.events.test_event_pattern(EventPattern=pattern, Event=json.dumps(other))
    assert result["Result"] is False


def test_test_event_pattern_errors(application: Account) -> None:
    sample = load_case(ALARM_EVENT_FILE)
    with pytest.raises(ClientError) as info:
        application.events.test_event_pattern(
            EventPattern='{"detail": {"state": [{"prefix": 5}]}}', Event=json.dumps(sample)
        )
    code, _status, message = error_of(info)
    assert code == "InvalidEventPatternException"
    assert "prefix" in message
    del sample["account"]
    with pytest.raises(ClientError) as info:
        application.events.test_event_pattern(
            EventPattern='{"source": ["aws.cloudwatch"]}', Event=json.dumps(sample)
        )
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "Event" in message
    assert "account" in message


def _subscribe(account: Account, receiver: HttpReceiver) -> str:
    sns = account.client("sns")
    topic: str = sns.create_topic(Name="orders")["TopicArn"]
    sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=f"http://127.0.0.1:{receiver.port}/hook"
    )
    token = receiver.wait_for(1)[0].json()["Token"]
    sns.confirm_subscription(TopicArn=topic, Token=token)
    return topic


def test_rule_publishes_transformed_event_to_topic(
    server: RunningServer, application: Account, receiver: HttpReceiver
) -> None:
    topic = _subscribe(application, receiver)
    events = application.events
    events.put_rule(
        Name="big-orders", EventPattern='{"detail": {"total": [{"numeric": [">", 10]}]}}'
    )
    events.put_targets(
        Rule="big-orders",
        Targets=[
            {
                "Id": "topic",
                "Arn": topic,
                "InputTransformer": {
                    "InputPathsMap": {"order": "$.detail.orderId", "total": "$.detail.total"},
                    "InputTemplate": (
                        '{"order": "<order>", "total": <total>, "rule": "<aws.events.rule-name>"}'
                    ),
                },
            }
        ],
    )
    events.put_events(
        Entries=[
            entry(Detail=json.dumps({"orderId": "o-7", "total": 99})),
            entry(Detail=json.dumps({"orderId": "o-8", "total": 3})),
        ]
    )
    drain(server)
    received = receiver.wait_for(2)
    notifications = [request.json() for request in received[1:]]
    assert len(notifications) == 1
    assert json.loads(notifications[0]["Message"]) == {
        "order": "o-7",
        "total": 99,
        "rule": "big-orders",
    }


def test_disabled_rule_delivers_nothing(
    server: RunningServer, application: Account, receiver: HttpReceiver
) -> None:
    topic = _subscribe(application, receiver)
    events = application.events
    events.put_rule(Name="all", EventPattern='{"source": ["com.example.shop"]}', State="DISABLED")
    events.put_targets(Rule="all", Targets=[{"Id": "topic", "Arn": topic, "InputPath": "$.detail"}])
    events.put_events(Entries=[entry()])
    drain(server)
    events.enable_rule(Name="all")
    events.put_events(Entries=[entry(Detail=json.dumps({"orderId": "o-2"}))])
    drain(server)
    received = receiver.wait_for(2)
    assert len(received) == 2
    assert json.loads(received[1].json()["Message"]) == {"orderId": "o-2"}


def test_topic_of_another_account_needs_its_policy(
    server: RunningServer, application: Account, management: Account, receiver: HttpReceiver
) -> None:
    """A rule publishes to another account's topic only when the topic policy allows it.

    Without that permission the event is given up.
    """
    topic = _subscribe(management, receiver)
    events = application.events
    events.put_rule(Name="all", EventPattern='{"source": ["com.example.shop"]}')
    events.put_targets(Rule="all", Targets=[{"Id": "topic", "Arn": topic}])
    events.put_events(Entries=[entry()])
    drain(server)
    assert len(receiver.wait_for(2, timeout=0.5)) == 1

    management.client("sns").add_permission(
        TopicArn=topic,
        Label="app",
        AWSAccountId=[application.account_id],
        ActionName=["Publish"],
    )
    events.put_events(Entries=[entry()])
    drain(server)
    received = receiver.wait_for(2)
    assert len(received) == 2
    assert json.loads(received[1].json()["Message"])["source"] == "com.example.shop"
