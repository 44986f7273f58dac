"""SNS filter policies and delivery policies as pure functions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tocsin.notify import delivery_policy, filter_policy
from tocsin.notify.sns_errors import FilterPolicyLimitExceededException, InvalidParameterException


def _attributes(**values: Any) -> dict[str, dict[str, str]]:
    result = {}
    for name, value in values.items():
        if isinstance(value, list):
            result[name] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
        elif isinstance(value, int | float):
            result[name] = {"DataType": "Number", "StringValue": str(value)}
        else:
            result[name] = {"DataType": "String", "StringValue": value}
    return result


def _matches(policy: dict[str, Any], **values: Any) -> bool:
    text = json.dumps(policy)
    filter_policy.validate(text, "MessageAttributes")
    return filter_policy.matches(text, "MessageAttributes", "body", _attributes(**values))


@pytest.mark.parametrize(
    ("policy", "values", "expected"),
    [
        ({"store": ["example"]}, {"store": "example"}, True),
        ({"store": ["example"]}, {"store": "other"}, False),
        ({"store": ["example"]}, {}, False),
        ({"store": ["a", "b"]}, {"store": "b"}, True),
        ({"store": [{"prefix": "ex"}]}, {"store": "example"}, True),
        ({"store": [{"suffix": "ple"}]}, {"store": "example"}, True),
        ({"store": [{"suffix": "ple"}]}, {"store": "examples"}, False),
        ({"store": [{"equals-ignore-case": "EXAMPLE"}]}, {"store": "Example"}, True),
        ({"store": [{"anything-but": "example"}]}, {"store": "other"}, True),
        ({"store": [{"anything-but": ["a", "b"]}]}, {"store": "b"}, False),
        ({"store": [{"anything-but": {"prefix": "ex"}}]}, {"store": "example"}, False),
        ({"store": [{"anything-but": {"prefix": "ex"}}]}, {"store": "shop"}, True),
        ({"store": [{"anything-but": "x"}]}, {}, False),
        ({"price": [{"numeric": [">", 0, "<=", 100]}]}, {"price": 100}, True),
        ({"price": [{"numeric": [">", 0, "<=", 100]}]}, {"price": 0}, False),
        ({"price": [{"numeric": ["=", 3.5]}]}, {"price": 3.5}, True),
        ({"price": [10]}, {"price": 10}, True),
        ({"price": [10]}, {"price": "10"}, False),
        ({"store": [{"exists": True}]}, {"store": "x"}, True),
        ({"store": [{"exists": False}]}, {"store": "x"}, False),
        ({"store": [{"exists": False}]}, {}, True),
        ({"tags": ["red"]}, {"tags": ["blue", "red"]}, True),
        ({"tags": ["green"]}, {"tags": ["blue", "red"]}, False),
        ({"a": ["1"], "b": ["2"]}, {"a": "1", "b": "2"}, True),
        ({"a": ["1"], "b": ["2"]}, {"a": "1", "b": "3"}, False),
        ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, {"b": "2"}, True),
        ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, {"b": "3"}, False),
    ],
)
def test_filter_policy_on_attributes(
    policy: dict[str, Any], values: dict[str, Any], expected: bool
) -> None:
    assert _matches(policy, **values) is expected


def test_filter_policy_on_message_body() -> None:
    policy = json.dumps({"alarm": {"state": ["ALARM"], "region": [{"prefix": "eu-"}]}})
    filter_policy.validate(policy, "MessageBody")
    body = {"alarm": {"state": "ALARM", "region": "eu-west-1"}}
    assert filter_policy.matches(policy, "MessageBody", json.dumps(body), {})
    body["alarm"]["state"] = "OK"
    assert not filter_policy.matches(policy, "MessageBody", json.dumps(body), {})
    assert not filter_policy.matches(policy, "MessageBody", "not json", {})
    nulls = json.dumps({"value": [None]})
    assert filter_policy.matches(nulls, "MessageBody", json.dumps({"value": None}), {})


def test_no_filter_policy_matches_everything() -> None:
    assert filter_policy.matches(None, None, "anything", {})


@pytest.mark.parametrize(
    "policy",
    [
        "[]",
        "{}",
        '{"a": "x"}',
        '{"a": []}',
        '{"a": [true]}',
        '{"a": [{"prefix": 1}]}',
        '{"a": [{"numeric": ["<", 5, ">", 1]}]}',
        '{"a": [{"numeric": ["~", 5]}]}',
        '{"a": [{"exists": "yes"}]}',
        '{"a": [{"prefix": "x", "suffix": "y"}]}',
        '{"$or": [{"a": ["1"]}]}',
        '{"a": {"b": ["1"]}}',
        "{broken",
    ],
)
def test_filter_policy_rejects_invalid(policy: str) -> None:
    with pytest.raises(InvalidParameterException) as caught:
        filter_policy.validate(policy, "MessageAttributes")
    assert caught.value.message.startswith("Invalid parameter: FilterPolicy")


def test_filter_policy_limits() -> None:
    six_keys = json.dumps({f"k{index}": ["v"] for index in range(6)})
    with pytest.raises(FilterPolicyLimitExceededException):
        filter_policy.validate(six_keys, "MessageAttributes")
    combinations = json.dumps({"a": [str(n) for n in range(20)], "b": [str(n) for n in range(8)]})
    with pytest.raises(InvalidParameterException) as caught:
        filter_policy.validate(combinations, "MessageAttributes")
    assert "160 combinations" in caught.value.message


def test_default_retry_policy() -> None:
    policy = delivery_policy.effective_policy(None, None)
    delays = [policy.retry.delay_before_retry(retry) for retry in range(1, 5)]
    assert delays == [20.0, 20.0, 20.0, None]
    assert policy.content_type == "text/plain; charset=UTF-8"


def _retry(**fields: Any) -> delivery_policy.RetryPolicy:
    text = json.dumps({"http": {"defaultHealthyRetryPolicy": fields}})
    return delivery_policy.parse_topic_policy(text).retry


def test_retry_phases_in_order() -> None:
    retry = _retry(
        numRetries=8,
        numNoDelayRetries=2,
        numMinDelayRetries=1,
        numMaxDelayRetries=2,
        minDelayTarget=10,
        maxDelayTarget=40,
        backoffFunction="linear",
    )
    delays = [retry.delay_before_retry(number) for number in range(1, 10)]
    assert delays == [0.0, 0.0, 10.0, 20.0, 30.0, 40.0, 40.0, 40.0, None]


@pytest.mark.parametrize("function", ["linear", "arithmetic", "geometric", "exponential"])
def test_backoff_rises_from_min_to_max(function: str) -> None:
    retry = _retry(numRetries=6, minDelayTarget=10, maxDelayTarget=100, backoffFunction=function)
    delays = [retry.delay_before_retry(number) for number in range(1, 7)]
    assert all(delay is not None for delay in delays)
    values = [float(delay or 0) for delay in delays]
    assert values == sorted(values)
    assert values[0] > 10
    assert values[-1] == pytest.approx(100)


def test_subscription_policy_overrides_unless_disabled() -> None:
    subscription = json.dumps({"healthyRetryPolicy": {"numRetries": 9}})
    assert delivery_policy.effective_policy(None, subscription).retry.retries == 9
    topic = json.dumps({"http": {"disableSubscriptionOverrides": True}})
    assert delivery_policy.effective_policy(topic, subscription).retry.retries == 3


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"numRetries": 101}, "numRetries"),
        ({"minDelayTarget": 0}, "minDelayTarget"),
        ({"minDelayTarget": 30, "maxDelayTarget": 20}, "minDelayTarget"),
        ({"maxDelayTarget": 3601, "minDelayTarget": 1}, "maxDelayTarget"),
        ({"numRetries": 2, "numNoDelayRetries": 3}, "must not exceed"),
        ({"backoffFunction": "cubic"}, "backoffFunction"),
        ({"numRetries": "3"}, "integer"),
        ({"retries": 3}, "unknown"),
    ],
)
def test_retry_policy_rejects_invalid(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidParameterException) as caught:
        _retry(**fields)
    assert fragment in caught.value.message
