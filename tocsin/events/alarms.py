"""CloudWatch alarm definitions: checks, storage, listing, deletion and tags.

State changes, evaluation and actions live in ``alarm_evaluation`` and
``alarm_actions``; this module only stores what PutMetricAlarm and
PutCompositeAlarm define and answers questions about it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.events import metric_math, metrics
from tocsin.events.alarm_errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    MissingRequiredParameterException,
    ResourceNotFoundException,
    invalid_value,
)
from tocsin.events.alarm_models import CloudWatchAlarm, CloudWatchAlarmLink, CloudWatchAlarmMetric

METRIC_ALARM = "MetricAlarm"
COMPOSITE_ALARM = "CompositeAlarm"
OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"

COMPARISONS = {
    "GreaterThanThreshold": "greater than",
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
ANOMALY_COMPARISONS = (
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)
TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")
LOW_SAMPLE_COUNT = ("evaluate", "ignore")
# PutMetricAlarm members for features that Tocsin does not evaluate.
UNSUPPORTED_MEMBERS = (
    "ThresholdMetricId",
    "EvaluationWindow",
    "WarmUpConfiguration",
    "EvaluationCriteria",
    "EvaluationInterval",
    "ActionConfiguration",
)
SINGLE_METRIC_MEMBERS = (
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
)
METRIC_DEFINITION_MEMBERS = (
    *SINGLE_METRIC_MEMBERS,
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
)
COMPOSITE_DEFINITION_MEMBERS = (
    "AlarmRule",
    "ActionsSuppressor",
    "ActionsSuppressorWaitPeriod",
    "ActionsSuppressorExtensionPeriod",
)
# Periods under one hour may look back one day, longer periods seven days.
SHORT_WINDOW_SECONDS = 86400
LONG_WINDOW_SECONDS = 7 * 86400
MAX_TAGS = 50
ALARM_ARN = re.compile(
    r"^arn:aws:cloudwatch:(?P<region>[^:]+):(?P<account>\d{12}):alarm:(?P<name>.+)$"
)


def alarm_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{name}"


def find(session: Session, account_id: str, region: str, name: str) -> CloudWatchAlarm | None:
    return session.get(CloudWatchAlarm, alarm_arn(region, account_id, name))


def find_by_name_or_arn(
    session: Session, account_id: str, region: str, reference: str
) -> CloudWatchAlarm | None:
    """Return the alarm that a composite rule or suppressor names, by name or by ARN."""
    if reference.startswith("arn:"):
        return session.get(CloudWatchAlarm, reference)
    return find(session, account_id, region, reference)


def list_alarms(session: Session, account_id: str, region: str) -> list[CloudWatchAlarm]:
    """Return every alarm of the account in ``region``, by name."""
    query = (
        select(CloudWatchAlarm)
        .where(CloudWatchAlarm.account_id == account_id, CloudWatchAlarm.region == region)
        .order_by(CloudWatchAlarm.name)
    )
    return list(session.scalars(query))


def _period_allowed(period: int) -> bool:
    return period in (10, 20, 30) or period % 60 == 0


def _check_period(member: str, period: int) -> None:
    if not _period_allowed(period):
        raise invalid_value(member, period, "use 10, 20, 30 or a multiple of 60 seconds")


SNS_ACTION = re.compile(r"^arn:aws:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
# CloudWatch's documentation spells the resource "responseplan/"; Incident
# Manager's ARNs spell it "response-plan/". Both are accepted.
PLAN_ACTION = re.compile(
    r"^arn:aws:ssm-incidents::(?P<account>\d{12}):(?:response-plan|responseplan)/"
    r"(?P<name>[A-Za-z0-9_-]{1,200})$"
)


def action_kind(arn: str) -> str | None:
    """Return "sns" or "response-plan" for an action this server runs, else None."""
    if SNS_ACTION.match(arn):
        return "sns"
    if PLAN_ACTION.match(arn):
        return "response-plan"
    return None


def check_actions(member: str, actions: Sequence[str], region: str, account_id: str) -> None:
    """Reject action ARNs that Tocsin cannot run; see ``action_kind``."""
    for action in actions:
        kind = action_kind(action)
        if kind is None:
            raise invalid_value(
                member,
                action,
                "this server runs SNS topic actions (arn:aws:sns:...) and, in AlarmActions, "
                "Incident Manager response plan actions (arn:aws:ssm-incidents::...); "
                "Auto Scaling, EC2, Lambda and OpsItem actions are not supported",
            )
        if kind == "response-plan" and member != "AlarmActions":
            raise invalid_value(
                member, action, "a response plan can only be an action of the ALARM state"
            )
        if kind == "sns" and action.split(":")[3] != region:
            raise invalid_value(member, action, f"the topic must be in the alarm's Region {region}")


def _check_metric_queries(queries: Sequence[Mapping[str, Any]], account_id: str) -> int:
    """Check the Metrics of a metric math alarm and return the alarm's period."""
    metric_math.check_queries(queries)
    returning = [query for query in queries if query.get("ReturnData", True)]
    if len(returning) != 1:
        raise InvalidParameterValueException(
            "Exactly one element of the metrics list should return data "
            f"(ReturnData true); {len(returning)} do"
        )
    periods: set[int] = set()
    for index, query in enumerate(queries, start=1):
        member = f"Metrics.member.{index}"
        has_stat, has_expression = "MetricStat" in query, "Expression" in query
        if has_stat == has_expression:
            raise InvalidParameterCombinationException(
                f"{member} must have exactly one of MetricStat and Expression"
            )
        if query.get("AccountId") not in (None, account_id):
            raise invalid_value(
                f"{member}.AccountId",
                query["AccountId"],
                "metrics of other accounts are not supported by this server",
            )
        if has_stat:
            stat = query["MetricStat"]
            metrics.check_statistic(f"{member}.MetricStat.Stat", stat["Stat"])
            _check_period(f"{member}.MetricStat.Period", stat["Period"])
            if not stat["Metric"].get("MetricName") or not stat["Metric"].get("Namespace"):
                raise MissingRequiredParameterException(
                    f"{member}.MetricStat.Metric needs MetricName and Namespace"
                )
            metrics.check_dimensions(
                f"{member}.MetricStat.Metric.Dimensions", stat["Metric"].get("Dimensions") or []
            )
            periods.add(stat["Period"])
        elif query.get("Period") is not None:
            _check_period(f"{member}.Period", query["Period"])
            periods.add(query["Period"])
    if len(periods) != 1:
        raise InvalidParameterValueException(
            f"All metrics of an alarm must use one period; found {sorted(periods)}"
        )
    return periods.pop()


def _check_single_metric(params: Mapping[str, Any]) -> int:
    for member in ("MetricName", "Namespace", "Period"):
        if params.get(member) is None:
            raise MissingRequiredParameterException(
                f"The parameter {member} is required for an alarm on a single metric."
            )
    statistic, extended = params.get("Statistic"), params.get("ExtendedStatistic")
    if (statistic is None) == (extended is None):
        raise InvalidParameterCombinationException(
            "Exactly one of Statistic and ExtendedStatistic must be given."
        )
    if extended is not None:
        metrics.check_statistic("ExtendedStatistic", extended)
    elif params.get("EvaluateLowSampleCountPercentile") is not None:
        raise InvalidParameterCombinationException(
            "EvaluateLowSampleCountPercentile applies only to alarms on a percentile "
            "(ExtendedStatistic)."
        )
    metrics.check_dimensions("Dimensions", params.get("Dimensions") or [])
    period: int = params["Period"]
    _check_period("Period", period)
    return period


def check_metric_alarm(params: Mapping[str, Any], account_id: str) -> int:
    """Check a PutMetricAlarm request and return the alarm's period in seconds."""
    for member in UNSUPPORTED_MEMBERS:
        if params.get(member) is not None:
            raise invalid_value(member, params[member], "it is not supported by this server")
    comparison = params.get("ComparisonOperator")
    if comparison is None:
        raise MissingRequiredParameterException("The parameter ComparisonOperator is required.")
    if comparison in ANOMALY_COMPARISONS:
        raise invalid_value(
            "ComparisonOperator",
            comparison,
            "anomaly detection bands are not supported by this server; use a static threshold",
        )
    for member in ("EvaluationPeriods", "Threshold"):
        if params.get(member) is None:
            raise MissingRequiredParameterException(f"The parameter {member} is required.")
    queries = params.get("Metrics")
    if queries:
        given = [member for member in SINGLE_METRIC_MEMBERS if params.get(member) is not None]
        if given:
            raise InvalidParameterCombinationException(
                f"Metrics cannot be combined with {', '.join(given)}; "
                "define the metric either way, not both."
            )
        period = _check_metric_queries(queries, account_id)
    else:
        period = _check_single_metric(params)

    periods, to_alarm = params["EvaluationPeriods"], params.get("DatapointsToAlarm")
    if to_alarm is not None and to_alarm > periods:
        raise invalid_value(
            "DatapointsToAlarm", to_alarm, f"it must not exceed EvaluationPeriods ({periods})"
        )
    limit = SHORT_WINDOW_SECONDS if period < 3600 else LONG_WINDOW_SECONDS
    if periods * period > limit:
        raise invalid_value(
            "EvaluationPeriods",
            periods,
            f"EvaluationPeriods times Period ({periods * period} seconds) must not exceed "
            f"{limit} seconds",
        )
    missing = params.get("TreatMissingData")
    if missing is not None and missing not in TREAT_MISSING_DATA:
        raise invalid_value(
            "TreatMissingData", missing, f"use one of {', '.join(TREAT_MISSING_DATA)}"
        )
    low = params.get("EvaluateLowSampleCountPercentile")
    if low is not None and low not in LOW_SAMPLE_COUNT:
        raise invalid_value("EvaluateLowSampleCountPercentile", low, "use evaluate or ignore")
    return period


def checked_tags(
    tags: Iterable[Mapping[str, str]], existing: Mapping[str, str] | None = None
) -> dict[str, str]:
    result = dict(existing or {})
    for tag in tags:
        key = tag["Key"]
        if key.lower().startswith("aws:"):
            raise invalid_value("Tags", key, "tag keys may not start with aws:")
        result[key] = tag["Value"]
    if len(result) > MAX_TAGS:
        raise invalid_value("Tags", len(result), f"an alarm can have at most {MAX_TAGS} tags")
    return result


def metric_definition(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        member: params[member]
        for member in METRIC_DEFINITION_MEMBERS
        if params.get(member) is not None
    }


def composite_definition(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        member: params[member]
        for member in COMPOSITE_DEFINITION_MEMBERS
        if params.get(member) is not None
    }


def store_metric_links(session: Session, alarm: CloudWatchAlarm) -> None:
    """Record which metrics the alarm reads, replacing what an earlier definition read."""
    session.execute(
        delete(CloudWatchAlarmMetric).where(CloudWatchAlarmMetric.alarm_arn == alarm.arn)
    )
    pairs = set()
    definition = alarm.definition
    if definition.get("MetricName"):
        pairs.add((definition["Namespace"], definition["MetricName"]))
    for query in definition.get("Metrics") or []:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            pairs.add((metric["Namespace"], metric["MetricName"]))
    for namespace, name in sorted(pairs):
        session.add(
            CloudWatchAlarmMetric(
                alarm_arn=alarm.arn,
                account_id=alarm.account_id,
                region=alarm.region,
                namespace=namespace,
                name=name,
            )
        )


def alarms_reading(
    session: Session, account_id: str, region: str, metric_names: Iterable[tuple[str, str]]
) -> list[CloudWatchAlarm]:
    """Return the metric alarms that read any of the (namespace, metric name) pairs."""
    arns: set[str] = set()
    for namespace, name in metric_names:
        arns.update(
            session.scalars(
                select(CloudWatchAlarmMetric.alarm_arn).where(
                    CloudWatchAlarmMetric.account_id == account_id,
                    CloudWatchAlarmMetric.region == region,
                    CloudWatchAlarmMetric.namespace == namespace,
                    CloudWatchAlarmMetric.name == name,
                )
            )
        )
    found = [session.get(CloudWatchAlarm, arn) for arn in sorted(arns)]
    return [alarm for alarm in found if alarm is not None]


def resolve_children(
    session: Session, account_id: str, region: str, references: Iterable[str], member: str
) -> list[CloudWatchAlarm]:
    """Return the alarms a composite alarm names, raising InvalidParameterValue for unknown ones."""
    found, missing = [], []
    for reference in references:
        alarm = find_by_name_or_arn(session, account_id, region, reference)
        if alarm is None or alarm.account_id != account_id or alarm.region != region:
            missing.append(reference)
        else:
            found.append(alarm)
    if missing:
        raise InvalidParameterValueException(
            f"Could not save the composite alarm as alarms {missing} in {member} do not exist "
            f"in account {account_id} and Region {region}"
        )
    return found


def replace_links(
    session: Session,
    parent: CloudWatchAlarm,
    children: Iterable[CloudWatchAlarm],
    suppressor: CloudWatchAlarm | None,
) -> None:
    session.execute(delete(CloudWatchAlarmLink).where(CloudWatchAlarmLink.parent_arn == parent.arn))
    for child in {child.arn for child in children}:
        session.add(CloudWatchAlarmLink(parent_arn=parent.arn, child_arn=child, kind="rule"))
    if suppressor is not None:
        session.add(
            CloudWatchAlarmLink(parent_arn=parent.arn, child_arn=suppressor.arn, kind="suppressor")
        )
    session.flush()


def linked(
    session: Session,
    *,
    parent_arn: str | None = None,
    child_arn: str | None = None,
    kind: str | None = None,
) -> list[CloudWatchAlarmLink]:
    query = select(CloudWatchAlarmLink)
    if parent_arn is not None:
        query = query.where(CloudWatchAlarmLink.parent_arn == parent_arn)
    if child_arn is not None:
        query = query.where(CloudWatchAlarmLink.child_arn == child_arn)
    if kind is not None:
        query = query.where(CloudWatchAlarmLink.kind == kind)
    return list(
        session.scalars(
            query.order_by(CloudWatchAlarmLink.parent_arn, CloudWatchAlarmLink.child_arn)
        )
    )


def creates_cycle(session: Session, parent_arn: str, children: Iterable[CloudWatchAlarm]) -> bool:
    """Return whether a rule of ``parent_arn`` on ``children`` would make it its own child."""
    pending = [child.arn for child in children]
    seen: set[str] = set()
    while pending:
        arn = pending.pop()
        if arn == parent_arn:
            return True
        if arn in seen:
            continue
        seen.add(arn)
        pending.extend(link.child_arn for link in linked(session, parent_arn=arn, kind="rule"))
    return False


def describe(alarm: CloudWatchAlarm) -> dict[str, Any]:
    """Return the alarm as DescribeAlarms lists it (MetricAlarm or CompositeAlarm shape)."""
    output: dict[str, Any] = {
        "AlarmName": alarm.name,
        "AlarmArn": alarm.arn,
        "AlarmConfigurationUpdatedTimestamp": alarm.configuration_updated_at,
        "ActionsEnabled": alarm.actions_enabled,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "StateValue": alarm.state_value,
        "StateReason": alarm.state_reason,
        "StateUpdatedTimestamp": alarm.state_updated_at,
        "StateTransitionedTimestamp": alarm.state_transitioned_at,
        **alarm.definition,
    }
    if alarm.description is not None:
        output["AlarmDescription"] = alarm.description
    if alarm.state_reason_data is not None:
        output["StateReasonData"] = alarm.state_reason_data
    if alarm.alarm_type == COMPOSITE_ALARM and alarm.actions_suppressed_by is not None:
        output["ActionsSuppressedBy"] = alarm.actions_suppressed_by
        output["ActionsSuppressedReason"] = alarm.actions_suppressed_reason or ""
    return output


def parse_alarm_arn(arn: str) -> tuple[str, str, str]:
    """Return (region, account, name) of an alarm ARN, or raise InvalidParameterValue."""
    match = ALARM_ARN.match(arn)
    if match is None:
        raise invalid_value(
            "ResourceARN", arn, "expected arn:aws:cloudwatch:<region>:<account>:alarm:<name>"
        )
    return match["region"], match["account"], match["name"]


def tagged_alarm(session: Session, account_id: str, region: str, arn: str) -> CloudWatchAlarm:
    """Return the caller's alarm with ARN ``arn`` for a tagging operation."""
    arn_region, arn_account, _name = parse_alarm_arn(arn)
    alarm = session.get(CloudWatchAlarm, arn)
    if alarm is None or arn_account != account_id or arn_region != region:
        raise ResourceNotFoundException(
            f"The alarm {arn} does not exist.",
            fields={"ResourceType": "Alarm", "ResourceId": arn},
        )
    return alarm


def when(moment: datetime) -> str:
    """Format a time as CloudWatch alarm data does: 2019-10-02T17:04:40.985+0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
