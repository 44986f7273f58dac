"""What a target receives for an event: Input, InputPath and InputTransformer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.events.events_support import ALARM_EVENT_FILE, load_case
from tocsin.events import inputs

RULE = "arn:aws:events:us-east-1:222233334444:rule/alarms"


@pytest.fixture
def event() -> dict[str, Any]:
    sample: dict[str, Any] = load_case(ALARM_EVENT_FILE)
    return sample


def transformer(template: str, **paths: str) -> dict[str, Any]:
    return {"input_transformer": {"InputPathsMap": paths, "InputTemplate": template}}


def test_default_input_is_whole_event(event: dict[str, Any]) -> None:
    assert json.loads(inputs.render({}, event, RULE)) == event


def test_constant_input(event: dict[str, Any]) -> None:
    assert inputs.render({"input": '{"fixed": true}'}, event, RULE) == '{"fixed": true}'


def test_input_path(event: dict[str, Any]) -> None:
    rendered = inputs.render({"input_path": "$.detail.state"}, event, RULE)
    assert json.loads(rendered) == event["detail"]["state"]
    element = inputs.render({"input_path": "$.resources[0]"}, event, RULE)
    assert json.loads(element) == event["resources"][0]
    assert inputs.render({"input_path": "$.detail.missing.deeper"}, event, RULE) == "null"


def test_json_template_quotes(event: dict[str, Any]) -> None:
    target = transformer(
        '{"alarm": "<name>", "period": <period>, "state": <state>, '
        '"rule": "<aws.events.rule-arn>"}',
        name="$.detail.alarmName",
        period="$.detail.configuration.metrics[0].metricStat.period",
        state="$.detail.state.value",
    )
    assert json.loads(inputs.render(target, event, RULE)) == {
        "alarm": "ServerCpuTooHigh",
        "period": 300,
        "state": "ALARM",
        "rule": RULE,
    }


def test_string_with_quotes_stays_json(event: dict[str, Any]) -> None:
    event["detail"]["alarmName"] = 'CPU "high"'
    target = transformer('{"alarm": "<name>"}', name="$.detail.alarmName")
    assert json.loads(inputs.render(target, event, RULE)) == {"alarm": 'CPU "high"'}


def test_text_template(event: dict[str, Any]) -> None:
    target = transformer(
        "Alarm <name> is <state> (rule <aws.events.rule-name>)",
        name="$.detail.alarmName",
        state="$.detail.state.value",
    )
    rendered = inputs.render(target, event, RULE)
    assert rendered == "Alarm ServerCpuTooHigh is ALARM (rule alarms)"


def test_whole_event_variable(event: dict[str, Any]) -> None:
    target = transformer('{"original": <aws.events.event.json>}')
    assert json.loads(inputs.render(target, event, RULE)) == {"original": event}


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ({"InputPath": "detail"}, "detail"),
        ({"InputPath": "$.a[x]"}, "$.a[x]"),
        ({"Input": "{"}, "Input"),
        ({"Input": "{}", "InputPath": "$"}, "Only one"),
        (
            {"InputTransformer": {"InputPathsMap": {"aws.events.x": "$"}, "InputTemplate": "x"}},
            "reserved",
        ),
    ],
)
def test_invalid_inputs_rejected(target: dict[str, Any], fragment: str) -> None:
    with pytest.raises(inputs.InvalidTargetInput) as info:
        inputs.check(target)
    assert fragment in str(info.value)
