"""Patterns that route CloudWatch alarm events to incidents, against a real alarm event."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tocsin.events.patterns import compile_pattern, matches

FIXTURE = Path(__file__).parent / "fixtures" / "eb-state-change-single-metric-alarm.json"
ALARM_EVENT: dict[str, Any] = json.loads(FIXTURE.read_text())

ALARM_RULE = {
    "source": ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm State Change"],
    "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"],
    "detail": {"state": {"value": ["ALARM"]}},
}


def alarm_event() -> dict[str, Any]:
    return copy.deepcopy(ALARM_EVENT)


def test_alarm_rule_matches_alarm_state() -> None:
    pattern = compile_pattern(json.dumps(ALARM_RULE))
    assert pattern.matches(alarm_event())


def test_alarm_rule_ignores_ok_state() -> None:
    event = alarm_event()
    event["detail"]["state"]["value"] = "OK"
    assert not compile_pattern(json.dumps(ALARM_RULE)).matches(event)


def test_alarm_rule_ignores_other_alarm() -> None:
    event = alarm_event()
    event["resources"] = ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:Other"]
    assert not compile_pattern(json.dumps(ALARM_RULE)).matches(event)


def test_pattern_reaches_into_metrics_array() -> None:
    pattern = {
        "detail": {
            "configuration": {
                "metrics": {
                    "metricStat": {
                        "metric": {
                            "namespace": [{"wildcard": "AWS/*"}],
                            "name": ["CPUUtilization"],
                        },
                        "period": [{"numeric": [">=", 60, "<=", 300]}],
                    },
                    "returnData": [True],
                }
            }
        }
    }
    assert compile_pattern(json.dumps(pattern)).matches(alarm_event())
    pattern["detail"]["configuration"]["metrics"]["returnData"] = [False]
    assert not compile_pattern(json.dumps(pattern)).matches(alarm_event())


def test_reason_data_is_a_string_not_an_object() -> None:
    # reasonData is JSON text inside a string, so its fields are not event fields.
    pattern = {"detail": {"state": {"reasonData": {"version": ["1.0"]}}}}
    assert not compile_pattern(json.dumps(pattern)).matches(alarm_event())
    pattern = {"detail": {"state": {"reasonData": [{"prefix": "{"}]}}}
    assert compile_pattern(json.dumps(pattern)).matches(alarm_event())


def test_read_only_mapping_event() -> None:
    event = MappingProxyType(alarm_event())
    assert compile_pattern(json.dumps(ALARM_RULE)).matches(event)


def test_alarm_event_through_test_event_pattern() -> None:
    assert matches(json.dumps(ALARM_RULE), FIXTURE.read_text())
