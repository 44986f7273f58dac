"""State change events have the shape of CloudWatch's documented samples.

Each test builds the alarm of one sample, makes the same transition and
compares the structure (member names and value types) of the event that
Tocsin put on the default bus with the sample's. These run on SQLite only:
the event is built by the same Python code on both backends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.alarms.conftest import Account, jobs_of

pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)

FIXTURES = Path(__file__).parent / "fixtures"


def shape(value: Any) -> Any:
    """Return the structure of a JSON value: member names and value types, not values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return event


def last_event(account: Account, alarm: str) -> dict[str, Any]:
    """Return the newest state change event of ``alarm`` put on the default bus."""
    found = [
        event
        for job in jobs_of(account.server, "events.match")
        for event in job.payload["events"]
        if event["detail"].get("alarmName") == alarm
    ]
    assert found, "no state change event was put"
    return found[-1]


def test_single_metric_event_matches_sample(app: Account) -> None:
    expected = sample("eb-state-change-single-metric-alarm.json")
    dimensions = [{"Name": "InstanceId", "Value": "i-12345678901234567"}]
    app.cloudwatch.put_metric_alarm(
        AlarmName="ServerCpuTooHigh",
        AlarmDescription="Goes into alarm when server CPU utilization is too high!",
        Namespace="Custom/EC2",
        MetricName="CPUUtilization",
        Dimensions=dimensions,
        Statistic="Average",
        Period=300,
        EvaluationPeriods=1,
        Threshold=50.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    app.cloudwatch.put_metric_data(
        Namespace="Custom/EC2",
        MetricData=[{"MetricName": "CPUUtilization", "Dimensions": dimensions, "Value": 0.07}],
    )
    app.cloudwatch.put_metric_data(
        Namespace="Custom/EC2",
        MetricData=[{"MetricName": "CPUUtilization", "Dimensions": dimensions, "Value": 199.5}],
    )
    event = last_event(app, "ServerCpuTooHigh")
    assert shape(event) == shape(expected)
    assert event["detail"]["previousState"]["value"] == "OK"
    assert event["detail"]["state"]["value"] == "ALARM"
    reason_data = json.loads(event["detail"]["state"]["reasonData"])
    expected_data = json.loads(expected["detail"]["state"]["reasonData"])
    assert shape(reason_data) == shape(expected_data)


def test_metric_math_event_matches_sample(app: Account) -> None:
    expected = sample("eb-state-change-metric-math-alarm.json")
    dimensions = [{"Name": "InstanceId", "Value": "i-12345678901234567"}]

    def stat(query_id: str, metric: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {"Namespace": "Net", "MetricName": metric, "Dimensions": dimensions},
                "Period": 300,
                "Stat": "Maximum",
            },
            "ReturnData": False,
        }

    app.cloudwatch.put_metric_alarm(
        AlarmName="TotalNetworkTrafficTooHigh",
        AlarmDescription="Goes into alarm if total network traffic exceeds 10Kb",
        EvaluationPeriods=1,
        Threshold=10000.0,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[
            {
                "Id": "e1",
                "Expression": "SUM(METRICS())",
                "Label": "Total Network Traffic",
                "ReturnData": True,
            },
            stat("m1", "NetworkIn"),
            stat("m2", "NetworkOut"),
        ],
    )
    app.cloudwatch.put_metric_data(
        Namespace="Net",
        MetricData=[
            {"MetricName": "NetworkIn", "Dimensions": dimensions, "Value": 40000.0},
            {"MetricName": "NetworkOut", "Dimensions": dimensions, "Value": 5628.0},
        ],
    )
    event = last_event(app, "TotalNetworkTrafficTooHigh")
    assert shape(event) == shape(expected)
    state = event["detail"]["state"]
    assert state["reason"].startswith(
        "Threshold Crossed: 1 out of the last 1 datapoints [45628.0 ("
    )
    assert json.loads(state["reasonData"])["recentDatapoints"] == [45628.0]


def test_composite_event_matches_sample(app: Account) -> None:
    expected = sample("eb-state-change-composite-alarm-with-suppressor.json")
    topic = app.client("sns").create_topic(Name="ops")["TopicArn"]
    for name in ("ServerCpuTooHigh", "TotalNetworkTrafficTooHigh", "ServiceMaintenanceAlarm"):
        app.cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="Custom",
            MetricName=name,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="ignore",
        )
    app.cloudwatch.put_composite_alarm(
        AlarmName="ServiceAggregatedAlarm",
        AlarmRule="ALARM(ServerCpuTooHigh) OR ALARM(TotalNetworkTrafficTooHigh)",
        AlarmActions=[topic],
        ActionsSuppressor="ServiceMaintenanceAlarm",
        ActionsSuppressorWaitPeriod=120,
        ActionsSuppressorExtensionPeriod=180,
    )
    app.cloudwatch.put_metric_data(
        Namespace="Custom", MetricData=[{"MetricName": "ServerCpuTooHigh", "Value": 5.0}]
    )

    event = last_event(app, "ServiceAggregatedAlarm")
    assert shape(event) == shape(expected)
    state = event["detail"]["state"]
    assert state["actionsSuppressedBy"] == "WaitPeriod"
    assert state["actionsSuppressedReason"] == "Actions suppressed by WaitPeriod"

    cpu = f"arn:aws:cloudwatch:us-east-1:{app.account_id}:alarm:ServerCpuTooHigh"
    assert state["reason"].startswith(f"{cpu} transitioned to ALARM at ")
    previous = event["detail"]["previousState"]
    assert previous["reason"] == (
        f"arn:aws:cloudwatch:us-east-1:{app.account_id}:alarm:ServiceAggregatedAlarm was "
        "created and its alarm rule evaluates to OK"
    )
