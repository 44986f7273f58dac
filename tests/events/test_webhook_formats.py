"""Converters of Alertmanager, Grafana and generic webhook payloads to events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tocsin.events.webhook_formats import (
    MAX_EVENT_BYTES,
    WebhookPayloadError,
    convert,
    label_fingerprint,
    parse_body,
)

# The minimal Alertmanager payload of GoAlert's smoke tests (Apache-2.0).
ALERTMANAGER_MINIMAL: dict[str, Any] = {
    "status": "firing",
    "receiver": "alert-name-receiver-1",
    "externalURL": "http://my.url",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "TestAlert"},
            "annotations": {"summary": "My alert summary", "description": "My description"},
        }
    ],
    "commonLabels": {"alertname": "InstanceDown", "instance": "foobar"},
    "commonAnnotations": {"alertname": "InstanceDown", "instance": "foobar"},
}

# The Grafana legacy webhook payload of GoAlert's smoke tests (Apache-2.0).
GRAFANA_LEGACY: dict[str, Any] = {
    "ruleName": "bob",
    "ruleId": 1,
    "message": "test",
    "state": "alerting",
    "title": "woot",
    "ruleUrl": "dontcare",
}


def alertmanager_v4(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    """Return an Alertmanager version 4 group with every documented member."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "tocsin",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "severity": "page"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test:9093",
        "notification_reason": "new_alert",
        "alerts": list(alerts),
    }


def alert(instance: str, status: str = "firing", fingerprint: str = "0f1e2d3c4b5a6978") -> dict:
    return {
        "status": status,
        "labels": {"alertname": "HighLatency", "severity": "page", "instance": instance},
        "annotations": {"summary": f"Latency is high on {instance}"},
        "startsAt": "2026-12-04T10:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-04T10:05:00Z",
        "generatorURL": "http://prometheus.test:9090/graph?g0.expr=latency",
        "fingerprint": fingerprint,
    }


def test_alertmanager_minimal_sample() -> None:
    events = convert("alertmanager", ALERTMANAGER_MINIMAL)

    assert len(events) == 1
    event = events[0]
    fingerprint = label_fingerprint({"alertname": "TestAlert"})
    assert event.source == "tocsin.alertmanager"
    assert event.detail_type == "Alertmanager Alert"
    assert event.resources == [f"alertmanager/alert/{fingerprint}"]
    assert event.detail == {
        "status": "firing",
        "labels": {"alertname": "TestAlert"},
        "annotations": {"summary": "My alert summary", "description": "My description"},
        "startsAt": None,
        "endsAt": None,
        "generatorURL": None,
        "fingerprint": fingerprint,
        "receiver": "alert-name-receiver-1",
        "groupKey": None,
        "externalURL": "http://my.url",
    }


def test_alertmanager_v4_one_event_per_alert() -> None:
    payload = alertmanager_v4(alert("a:9100", fingerprint="aaaa"), alert("b:9100", "resolved"))

    events = convert("alertmanager", payload)

    assert [event.detail["status"] for event in events] == ["firing", "resolved"]
    assert [event.resources for event in events] == [
        ["alertmanager/alert/aaaa"],
        ["alertmanager/alert/0f1e2d3c4b5a6978"],
    ]
    first = events[0].detail
    assert first["labels"]["instance"] == "a:9100"
    assert first["annotations"] == {"summary": "Latency is high on a:9100"}
    assert first["startsAt"] == "2026-12-04T10:00:00.000Z"
    assert first["endsAt"] == "0001-01-01T00:00:00Z"
    assert first["generatorURL"] == "http://prometheus.test:9090/graph?g0.expr=latency"
    assert first["groupKey"] == '{}:{alertname="HighLatency"}'
    assert first["receiver"] == "tocsin"
    assert first["externalURL"] == "http://alertmanager.test:9093"
    assert events[1].detail["endsAt"] == "2026-12-04T10:05:00Z"


def test_alertmanager_alert_takes_group_status() -> None:
    entry = alert("a:9100")
    del entry["status"]

    events = convert("alertmanager", alertmanager_v4(entry, status="resolved"))

    assert events[0].detail["status"] == "resolved"


def test_label_fingerprint_ignores_label_order() -> None:
    first = label_fingerprint({"a": "1", "b": "2"})
    second = label_fingerprint({"b": "2", "a": "1"})

    assert first == second
    assert first != label_fingerprint({"a": "1", "b": "3"})
    assert len(first) == 16


def test_grafana_legacy_sample() -> None:
    events = convert("grafana", GRAFANA_LEGACY)

    assert len(events) == 1
    event = events[0]
    assert event.source == "tocsin.grafana"
    assert event.detail_type == "Grafana Alert"
    assert event.resources == ["grafana/rule/1"]
    assert event.detail == {
        "status": "firing",
        "title": "woot",
        "ruleId": 1,
        "ruleName": "bob",
        "ruleUrl": "dontcare",
        "state": "alerting",
        "message": "test",
    }


@pytest.mark.parametrize(("state", "status"), [("ok", "resolved"), ("no_data", "no_data")])
def test_grafana_legacy_state_to_status(state: str, status: str) -> None:
    events = convert("grafana", {**GRAFANA_LEGACY, "state": state})

    assert events[0].detail["status"] == status


def test_grafana_unified_alerts() -> None:
    payload = alertmanager_v4(alert("a:9100"))
    payload.update(version="1", orgId=1, title="[FIRING:1] HighLatency", message="Latency")
    payload["alerts"][0].update(values={"B": 2.5}, dashboardURL="http://grafana.test/d/x")

    events = convert("grafana", payload)

    detail = events[0].detail
    assert events[0].source == "tocsin.grafana"
    assert events[0].resources == ["grafana/alert/0f1e2d3c4b5a6978"]
    assert detail["status"] == "firing"
    assert detail["values"] == {"B": 2.5}
    assert detail["dashboardURL"] == "http://grafana.test/d/x"
    assert detail["orgId"] == 1
    assert detail["title"] == "[FIRING:1] HighLatency"


def test_generic_object_is_detail() -> None:
    payload = {"service": "checkout", "severity": 2, "tags": ["a", "b"], "nested": {"x": None}}

    events = convert("generic", payload)

    assert len(events) == 1
    assert events[0].source == "tocsin.webhook"
    assert events[0].detail_type == "Webhook Alert"
    assert events[0].detail == payload
    assert events[0].resources == []
    assert json.loads(events[0].entry()["Detail"]) == payload


@pytest.mark.parametrize(
    ("format_name", "payload", "message"),
    [
        ("alertmanager", [], "The payload must be a JSON object, got an array ([])."),
        ("alertmanager", {"status": "firing"}, "The payload has no alerts member"),
        ("alertmanager", {"alerts": {}}, "alerts must be a JSON array, got an object ({})."),
        ("alertmanager", {"alerts": []}, "alerts is empty"),
        ("alertmanager", {"alerts": ["x"]}, 'alerts[0] must be a JSON object, got a string ("x")'),
        (
            "alertmanager",
            {"alerts": [{"status": "pending"}]},
            "alerts[0].status must be 'firing' or 'resolved', got a string (\"pending\").",
        ),
        ("alertmanager", {"alerts": [{}]}, "alerts[0].status must be 'firing' or 'resolved'"),
        (
            "alertmanager",
            {"alerts": [{"status": "firing", "labels": {"severity": 2}}]},
            "alerts[0].labels.severity must be a string, got a number (2)",
        ),
        (
            "alertmanager",
            {"alerts": [{"status": "firing", "fingerprint": 7}]},
            "alerts[0].fingerprint must be a string, got a number (7).",
        ),
        ("alertmanager", {"version": "3", "alerts": []}, "version must be '4', got a string"),
        ("alertmanager", {"status": "open", "alerts": []}, "status must be 'firing' or"),
        ("alertmanager", {"commonLabels": [], "alerts": []}, "commonLabels must be a JSON object"),
        ("grafana", {"title": "x"}, "state must be a non-empty string"),
        ("grafana", {"state": "ok", "ruleId": [1]}, "ruleId must be a number or a string"),
        ("grafana", {"state": "ok", "title": 5}, "title must be a string, got a number (5)."),
        ("grafana", "text", 'The payload must be a JSON object, got a string ("text").'),
        ("generic", 5, "The payload must be a JSON object, got a number (5)."),
        ("generic", None, "The payload must be a JSON object, got null."),
    ],
)
def test_convert_rejects_bad_shape(format_name: str, payload: Any, message: str) -> None:
    with pytest.raises(WebhookPayloadError) as excinfo:
        convert(format_name, payload)

    assert message in str(excinfo.value)


def test_convert_rejects_event_over_256_kib() -> None:
    payload = {"text": "x" * MAX_EVENT_BYTES}

    with pytest.raises(WebhookPayloadError) as excinfo:
        convert("generic", payload)

    assert "more than the EventBridge limit of 262144 bytes" in str(excinfo.value)


def test_convert_accepts_event_at_limit() -> None:
    overhead = len('{"text":""}') + len("tocsin.webhook") + len("Webhook Alert")
    payload = {"text": "x" * (MAX_EVENT_BYTES - overhead)}

    events = convert("generic", payload)

    assert events[0].size() == MAX_EVENT_BYTES


def test_convert_names_the_oversized_alert() -> None:
    big = alert("b:9100")
    big["annotations"] = {"description": "y" * MAX_EVENT_BYTES}

    with pytest.raises(WebhookPayloadError) as excinfo:
        convert("alertmanager", alertmanager_v4(alert("a:9100"), big))

    assert str(excinfo.value).startswith("The event of alerts[1] is ")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "The body is empty"),
        (b"  \n", "The body is empty"),
        (b"{", "The body is not valid JSON: Expecting property name"),
        (b'{"a": 1} x', "The body is not valid JSON: Extra data at line 1 column 10."),
        (b"\xff\xfe{}", "The body is not valid UTF-8 (byte 0)"),
        (b'{"a": NaN}', "The body contains NaN, which is not valid JSON."),
        (b"[" * 100_000, "The body's JSON is nested too deeply."),
    ],
)
def test_parse_body_rejects(body: bytes, message: str) -> None:
    with pytest.raises(WebhookPayloadError) as excinfo:
        parse_body(body)

    assert message in str(excinfo.value)


def test_parse_body_reads_utf8() -> None:
    assert parse_body('{"summary": "Überlast"}'.encode()) == {"summary": "Überlast"}
