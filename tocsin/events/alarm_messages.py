"""The messages of a state change: the EventBridge event, the SNS notification and history data.

The shapes follow CloudWatch's documented samples: the "CloudWatch Alarm
State Change" event with ``detail.state``, ``detail.previousState`` and
``detail.configuration``, and the JSON alarm notification that CloudWatch
publishes to SNS topics, with its ``ALARM: "name" in Region`` subject.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tocsin.events.alarm_models import CloudWatchAlarm
from tocsin.events.alarms import COMPOSITE_ALARM, when

EVENT_SOURCE = "aws.cloudwatch"
STATE_CHANGE = "CloudWatch Alarm State Change"
# SNS subjects are shorter than 100 characters.
MAX_SUBJECT = 99
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-north-1": "EU (Stockholm)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "sa-east-1": "South America (Sao Paulo)",
}


@dataclass(frozen=True)
class AlarmState:
    """One state of an alarm as history, events and notifications describe it."""

    value: str
    reason: str
    reason_data: str | None
    timestamp: datetime
    suppressed_by: str | None = None
    suppressed_reason: str | None = None

    @classmethod
    def of(cls, alarm: CloudWatchAlarm) -> AlarmState:
        return cls(
            alarm.state_value,
            alarm.state_reason,
            alarm.state_reason_data,
            alarm.state_updated_at,
            alarm.actions_suppressed_by,
            alarm.actions_suppressed_reason,
        )

    def event_form(self) -> dict[str, Any]:
        form: dict[str, Any] = {"value": self.value, "reason": self.reason}
        if self.reason_data is not None:
            form["reasonData"] = self.reason_data
        form["timestamp"] = when(self.timestamp)
        if self.suppressed_by is not None:
            form["actionsSuppressedBy"] = self.suppressed_by
            form["actionsSuppressedReason"] = self.suppressed_reason or ""
        return form

    def history_form(self) -> dict[str, Any]:
        form: dict[str, Any] = {"stateValue": self.value, "stateReason": self.reason}
        if self.reason_data is not None:
            form["stateReasonData"] = json.loads(self.reason_data)
        return form


def region_name(region: str) -> str:
    return REGION_NAMES.get(region, region)


def _dimension_map(dimensions: list[dict[str, str]]) -> dict[str, str]:
    return {item["Name"]: item["Value"] for item in dimensions}


def _metric_stat(stat: dict[str, Any]) -> dict[str, Any]:
    metric = stat["Metric"]
    form: dict[str, Any] = {
        "metric": {
            "namespace": metric["Namespace"],
            "name": metric["MetricName"],
            "dimensions": _dimension_map(metric.get("Dimensions") or []),
        },
        "period": stat["Period"],
        "stat": stat["Stat"],
    }
    if stat.get("Unit"):
        form["unit"] = stat["Unit"]
    return form


def event_configuration(alarm: CloudWatchAlarm) -> dict[str, Any]:
    """Return ``detail.configuration`` of the alarm's state change event."""
    definition = alarm.definition
    configuration: dict[str, Any] = {}
    if alarm.description is not None:
        configuration["description"] = alarm.description
    if alarm.alarm_type == COMPOSITE_ALARM:
        configuration["alarmRule"] = definition["AlarmRule"]
        for member in (
            "ActionsSuppressor",
            "ActionsSuppressorWaitPeriod",
            "ActionsSuppressorExtensionPeriod",
        ):
            if member in definition:
                configuration[member[0].lower() + member[1:]] = definition[member]
        return configuration
    if "Metrics" in definition:
        queries = []
        for query in definition["Metrics"]:
            form: dict[str, Any] = {"id": query["Id"]}
            if "Expression" in query:
                form["expression"] = query["Expression"]
            if "Label" in query:
                form["label"] = query["Label"]
            if "MetricStat" in query:
                form["metricStat"] = _metric_stat(query["MetricStat"])
            form["returnData"] = query.get("ReturnData", True)
            queries.append(form)
        configuration["metrics"] = queries
        return configuration
    stat = {
        "Metric": {
            "Namespace": definition["Namespace"],
            "MetricName": definition["MetricName"],
            "Dimensions": definition.get("Dimensions") or [],
        },
        "Period": definition["Period"],
        "Stat": definition.get("Statistic") or definition.get("ExtendedStatistic"),
        "Unit": definition.get("Unit"),
    }
    # CloudWatch gives the single metric of a classic alarm a generated id.
    query_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{alarm.arn}#{alarm.generation}"))
    configuration["metrics"] = [
        {"id": query_id, "metricStat": _metric_stat(stat), "returnData": True}
    ]
    return configuration


def state_change_event(
    alarm: CloudWatchAlarm, previous: AlarmState, current: AlarmState
) -> dict[str, Any]:
    """Return the "CloudWatch Alarm State Change" event of a transition, without id and time."""
    return {
        "version": "0",
        "source": EVENT_SOURCE,
        "detail-type": STATE_CHANGE,
        "account": alarm.account_id,
        "region": alarm.region,
        "resources": [alarm.arn],
        "detail": {
            "alarmName": alarm.name,
            "state": current.event_form(),
            "previousState": previous.event_form(),
            "configuration": event_configuration(alarm),
        },
    }


def _trigger(alarm: CloudWatchAlarm) -> dict[str, Any]:
    definition = alarm.definition
    trigger: dict[str, Any] = {}
    if "Metrics" in definition:
        trigger["Metrics"] = definition["Metrics"]
    else:
        extended = definition.get("ExtendedStatistic")
        trigger.update(
            {
                "MetricName": definition["MetricName"],
                "Namespace": definition["Namespace"],
                "StatisticType": "ExtendedStatistic" if extended else "Statistic",
                "Statistic": extended or str(definition["Statistic"]).upper(),
                "Unit": definition.get("Unit"),
                "Dimensions": [
                    {"value": item["Value"], "name": item["Name"]}
                    for item in definition.get("Dimensions") or []
                ],
                "Period": definition["Period"],
            }
        )
    trigger.update(
        {
            "EvaluationPeriods": definition["EvaluationPeriods"],
            "DatapointsToAlarm": definition.get(
                "DatapointsToAlarm", definition["EvaluationPeriods"]
            ),
            "ComparisonOperator": definition["ComparisonOperator"],
            "Threshold": float(definition["Threshold"]),
            "TreatMissingData": definition.get("TreatMissingData", "missing"),
            "EvaluateLowSampleCountPercentile": definition.get(
                "EvaluateLowSampleCountPercentile", ""
            ),
        }
    )
    return trigger


def sns_notification(
    alarm: CloudWatchAlarm,
    previous: AlarmState,
    current: AlarmState,
    triggering: list[dict[str, Any]] | None = None,
) -> tuple[str, str]:
    """Return the subject and the JSON message that an SNS action publishes."""
    message: dict[str, Any] = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": alarm.account_id,
        "AlarmConfigurationUpdatedTimestamp": when(alarm.configuration_updated_at),
        "NewStateValue": current.value,
        "NewStateReason": current.reason,
        "StateChangeTime": when(current.timestamp),
        "Region": region_name(alarm.region),
        "AlarmArn": alarm.arn,
        "OldStateValue": previous.value,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
    }
    if alarm.alarm_type == COMPOSITE_ALARM:
        message["AlarmRule"] = alarm.definition["AlarmRule"]
        message["TriggeringChildren"] = triggering or []
    else:
        message["Trigger"] = _trigger(alarm)
    subject = f'{current.value}: "{alarm.name}" in {region_name(alarm.region)}'
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 3] + "..."
    return subject, json.dumps(message)


def long_time(moment: datetime) -> str:
    """Format a time as composite alarm reasons do: Friday 22 July, 2022 15:57:45 UTC."""
    return moment.strftime("%A %d %B, %Y %H:%M:%S UTC")
