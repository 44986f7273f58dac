"""Alarm selections: the filters of DescribeAlarms and DescribeAlarmsForMetric."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from tocsin.events import alarms, metrics
from tocsin.events.alarm_errors import InvalidParameterCombinationException
from tocsin.events.alarm_models import CloudWatchAlarm
from tocsin.events.alarms import METRIC_ALARM
from tocsin.protocol.pagination import listing_filters


def select_alarms(
    session: Session, account_id: str, region: str, params: Mapping[str, Any]
) -> list[CloudWatchAlarm]:
    """Return the alarms that DescribeAlarms selects with ``params``, by name."""
    relation = params.get("ChildrenOfAlarmName") or params.get("ParentsOfAlarmName")
    if relation:
        others = [
            member
            for member in listing_filters(params)
            if member not in ("ChildrenOfAlarmName", "ParentsOfAlarmName")
        ]
        if others or (params.get("ChildrenOfAlarmName") and params.get("ParentsOfAlarmName")):
            raise InvalidParameterCombinationException(
                "ChildrenOfAlarmName and ParentsOfAlarmName cannot be combined with each other "
                f"or with other filters; the request also gives {others or 'both'}"
            )
        return _related(session, account_id, region, params)
    if params.get("AlarmNames") and params.get("AlarmNamePrefix"):
        raise InvalidParameterCombinationException(
            "AlarmNames and AlarmNamePrefix cannot be combined"
        )
    types = params.get("AlarmTypes") or [METRIC_ALARM]
    found = []
    for alarm in alarms.list_alarms(session, account_id, region):
        if alarm.alarm_type not in types:
            continue
        if params.get("AlarmNames") and alarm.name not in params["AlarmNames"]:
            continue
        if params.get("AlarmNamePrefix") and not alarm.name.startswith(params["AlarmNamePrefix"]):
            continue
        if params.get("StateValue") and alarm.state_value != params["StateValue"]:
            continue
        if params.get("ActionPrefix") and not matches_action_prefix(alarm, params["ActionPrefix"]):
            continue
        found.append(alarm)
    return found


def _related(
    session: Session, account_id: str, region: str, params: Mapping[str, Any]
) -> list[CloudWatchAlarm]:
    if params.get("ChildrenOfAlarmName"):
        name = params["ChildrenOfAlarmName"]
        parent = alarms.find(session, account_id, region, name)
        if parent is None:
            return []
        links = alarms.linked(session, parent_arn=parent.arn, kind="rule")
        arns = [link.child_arn for link in links]
    else:
        child = alarms.find(session, account_id, region, params["ParentsOfAlarmName"])
        if child is None:
            return []
        arns = [
            link.parent_arn for link in alarms.linked(session, child_arn=child.arn, kind="rule")
        ]
    found = [session.get(CloudWatchAlarm, arn) for arn in sorted(set(arns))]
    return sorted((alarm for alarm in found if alarm is not None), key=lambda alarm: alarm.name)


def matches_action_prefix(alarm: CloudWatchAlarm, prefix: str) -> bool:
    actions = [*alarm.alarm_actions, *alarm.ok_actions, *alarm.insufficient_data_actions]
    return any(action.startswith(prefix) for action in actions)


def alarms_for_metric(
    session: Session, account_id: str, region: str, params: Mapping[str, Any]
) -> list[CloudWatchAlarm]:
    """Return the metric alarms on the metric of DescribeAlarmsForMetric, with its filters."""
    dimensions_filter = metrics.dimension_key(params.get("Dimensions") or [])
    found = []
    for alarm in alarms.alarms_reading(
        session, account_id, region, [(params["Namespace"], params["MetricName"])]
    ):
        definition = alarm.definition
        if "Metrics" in definition:
            stats = [
                query["MetricStat"]
                for query in definition["Metrics"]
                if "MetricStat" in query
                and query["MetricStat"]["Metric"]["MetricName"] == params["MetricName"]
                and query["MetricStat"]["Metric"]["Namespace"] == params["Namespace"]
            ]
            candidates = [
                {
                    "Dimensions": stat["Metric"].get("Dimensions") or [],
                    "Period": stat["Period"],
                    "Unit": stat.get("Unit"),
                    "Statistic": stat["Stat"]
                    if stat["Stat"] in metrics.SIMPLE_STATISTICS
                    else None,
                    "ExtendedStatistic": None
                    if stat["Stat"] in metrics.SIMPLE_STATISTICS
                    else stat["Stat"],
                }
                for stat in stats
            ]
        else:
            candidates = [definition]
        if any(
            _metric_filter_matches(candidate, params, dimensions_filter) for candidate in candidates
        ):
            found.append(alarm)
    return found


def _metric_filter_matches(
    candidate: Mapping[str, Any], params: Mapping[str, Any], dimensions: str
) -> bool:
    if (
        params.get("Dimensions") is not None
        and metrics.dimension_key(candidate.get("Dimensions") or []) != dimensions
    ):
        return False
    for member in ("Statistic", "ExtendedStatistic", "Period", "Unit"):
        if params.get(member) is not None and candidate.get(member) != params[member]:
            return False
    return True
