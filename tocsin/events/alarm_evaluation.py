"""Alarm evaluation and state changes.

A metric alarm is evaluated when datapoints of its metrics arrive and at the
end of each of its periods, by a durable job that schedules the next one.
The evaluation looks at the alarm's last EvaluationPeriods periods. The
newest of them is the period in progress when it already has data, and
otherwise the last complete period. The statistic of each period is
compared with the threshold, and TreatMissingData sets how missing
periods count:

- breaching / notBreaching: a missing period counts as breaching / not breaching;
- missing: with no data at all the alarm goes to INSUFFICIENT_DATA; otherwise
  DatapointsToAlarm breaching periods mean ALARM, too few breaching periods
  even if every missing one breached mean OK, and anything between keeps
  the state;
- ignore: like missing, except that no data at all keeps the state.

A state change writes a StateUpdate history item, puts the "CloudWatch Alarm
State Change" event on the account's default bus, starts the actions of the
new state and re-evaluates the composite alarms that use the alarm.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.engine.queue import enqueue
from tocsin.events import alarm_actions, alarm_history, alarm_rules, alarms, ingest, metrics
from tocsin.events.alarm_messages import AlarmState, long_time, state_change_event
from tocsin.events.alarm_models import CloudWatchAlarm
from tocsin.events.alarms import ALARM, COMPOSITE_ALARM, INSUFFICIENT_DATA, OK, when
from tocsin.events.metric_math import Evaluator, MathError, Series, check_queries

logger = logging.getLogger(__name__)

EVALUATE_JOB = "cloudwatch.evaluate_alarm"
BREACHES: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
MISSING_LABELS = {"breaching": "Breaching", "notBreaching": "NonBreaching"}


def change_state(
    session: Session,
    clock: Clock,
    alarm: CloudWatchAlarm,
    value: str,
    reason: str,
    reason_data: str | None,
    *,
    triggering: list[dict[str, Any]] | None = None,
) -> None:
    """Move ``alarm`` to state ``value`` and do everything a state change does."""
    now = clock.now()
    previous = AlarmState.of(alarm)
    alarm.state_value = value
    alarm.state_reason = reason[:1023]
    alarm.state_reason_data = reason_data
    alarm.state_updated_at = now
    if value != previous.value:
        alarm.state_transitioned_at = now
    alarm.actions_suppressed_by = None
    alarm.actions_suppressed_reason = None
    logger.info("alarm %s changed from %s to %s", alarm.arn, previous.value, value)

    item = alarm_history.record(
        session,
        alarm,
        alarm_history.STATE_UPDATE,
        f"Alarm updated from {previous.value} to {value}",
        {
            "version": "1.0",
            "oldState": previous.history_form(),
            "newState": AlarmState.of(alarm).history_form(),
        },
        now,
    )
    alarm_actions.start_actions(session, clock, alarm, previous, item.id, triggering)
    current = AlarmState.of(alarm)
    ingest.put_event(
        session,
        clock,
        account_id=alarm.account_id,
        region=alarm.region,
        event=state_change_event(alarm, previous, current),
    )
    for link in alarms.linked(session, child_arn=alarm.arn):
        parent = session.get(CloudWatchAlarm, link.parent_arn)
        if parent is None:
            continue
        if link.kind == "rule":
            evaluate_composite(session, clock, parent, changed=alarm)
        else:
            alarm_actions.suppressor_changed(session, clock, parent, alarm)


def _lock(session: Session, alarm: CloudWatchAlarm) -> None:
    """Lock the alarm's row and reload it, so that two evaluations of it run one after the other.

    PutMetricData and the period-end job may evaluate one alarm at the same
    time, and without the lock both could record the same transition.
    SQLite's write lock already serialises writers.

    Two PutMetricData requests whose metric alarms share a composite parent
    can lock in opposite orders. PostgreSQL then aborts one of them as a
    deadlock, and the dispatcher runs that request again (a job is retried).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        session.refresh(alarm, with_for_update=True)


# Composite alarms.


def _child_state(session: Session, parent: CloudWatchAlarm) -> Callable[[str], str]:
    def state_of(reference: str) -> str:
        child = alarms.find_by_name_or_arn(session, parent.account_id, parent.region, reference)
        return child.state_value if child is not None else INSUFFICIENT_DATA

    return state_of


def evaluate_composite(
    session: Session,
    clock: Clock,
    alarm: CloudWatchAlarm,
    *,
    changed: CloudWatchAlarm | None = None,
) -> None:
    """Evaluate a composite alarm's rule and change its state when the result differs."""
    _lock(session, alarm)
    rule = alarm_rules.parse_rule(alarm.definition["AlarmRule"])
    value = ALARM if alarm_rules.evaluate_rule(rule, _child_state(session, alarm)) else OK
    if value == alarm.state_value:
        return
    children = [
        child
        for reference in alarm_rules.referenced_alarms(rule)
        if (child := alarms.find_by_name_or_arn(session, alarm.account_id, alarm.region, reference))
    ]
    relevant = [child for child in children if value != ALARM or child.state_value == ALARM]
    triggering = [
        {
            "arn": child.arn,
            "state": {"value": child.state_value, "timestamp": when(child.state_updated_at)},
        }
        for child in relevant
    ]
    children_for_sns = [
        {
            "Arn": child.arn,
            "State": {"Value": child.state_value, "Timestamp": when(child.state_updated_at)},
        }
        for child in relevant
    ]
    if changed is not None:
        reason = (
            f"{changed.arn} transitioned to {changed.state_value} at "
            f"{long_time(changed.state_updated_at)}"
        )
    else:
        reason = f"{alarm.arn} was created and its alarm rule evaluates to {value}"
    change_state(
        session,
        clock,
        alarm,
        value,
        reason,
        json.dumps({"triggeringAlarms": triggering}, separators=(",", ":")),
        triggering=children_for_sns,
    )


# Metric alarms.


def alarm_period(alarm: CloudWatchAlarm) -> int:
    definition = alarm.definition
    if "Period" in definition:
        return int(definition["Period"])
    for query in definition["Metrics"]:
        if "MetricStat" in query:
            return int(query["MetricStat"]["Period"])
        if query.get("Period"):
            return int(query["Period"])
    raise ValueError(f"alarm {alarm.arn} has no period")


def _metric_key(alarm: CloudWatchAlarm, metric: dict[str, Any]) -> metrics.MetricKey:
    return metrics.MetricKey(
        alarm.account_id,
        alarm.region,
        metric["Namespace"],
        metric["MetricName"],
        metrics.dimension_key(metric.get("Dimensions") or []),
    )


def _series(
    session: Session, alarm: CloudWatchAlarm, period: int, start: datetime, count: int
) -> Series:
    """Return the values the alarm compares with its threshold, for ``count`` periods from start."""
    end = start + timedelta(seconds=period * count)
    definition = alarm.definition
    if "Metrics" not in definition:
        return metrics.statistics_by_period(
            session,
            _metric_key(alarm, definition),
            definition.get("Statistic") or definition["ExtendedStatistic"],
            period,
            start,
            end,
            definition.get("Unit"),
        )

    queries = definition["Metrics"]
    data = {
        query["Id"]: metrics.statistics_by_period(
            session,
            _metric_key(alarm, query["MetricStat"]["Metric"]),
            query["MetricStat"]["Stat"],
            period,
            start,
            end,
            query["MetricStat"].get("Unit"),
        )
        for query in queries
        if "MetricStat" in query
    }
    evaluator = Evaluator(
        timestamps=[start + timedelta(seconds=period * index) for index in range(count)],
        metrics=data,
        expressions=check_queries(queries),
        labels={query["Id"]: query.get("Label", query["Id"]) for query in queries},
    )

    returned = next(query["Id"] for query in queries if query.get("ReturnData", True))
    value = evaluator.value_of(returned)
    if isinstance(value, list):
        raise MathError(f"The expression of {returned} returns several time series, not one")
    if isinstance(value, dict):
        return value
    return {moment: value for moment in evaluator.timestamps}


@dataclass(frozen=True)
class Outcome:
    """The result of one evaluation: the new state, or None to keep the current one."""

    value: str | None
    reason: str = ""
    reason_data: str | None = None


def _format_point(value: float, moment: datetime) -> str:
    return f"{float(value)!r} ({moment.strftime('%d/%m/%y %H:%M:%S')})"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def decide(
    alarm: CloudWatchAlarm, window: list[datetime], series: Series, now: datetime
) -> Outcome:
    """Apply M out of N and TreatMissingData to the window's values."""
    definition = alarm.definition
    periods = len(window)
    needed = int(definition.get("DatapointsToAlarm") or periods)
    threshold = float(definition["Threshold"])
    comparison = definition["ComparisonOperator"]
    treat_missing = definition.get("TreatMissingData", "missing")
    breaches = BREACHES[comparison]

    present = [(moment, series[moment]) for moment in reversed(window) if moment in series]
    breaching = [(moment, value) for moment, value in present if breaches(value, threshold)]
    calm = [(moment, value) for moment, value in present if not breaches(value, threshold)]
    missing = periods - len(present)
    if treat_missing == "breaching":
        alarm_count, ok_possible = len(breaching) + missing, True
    elif treat_missing == "notBreaching":
        alarm_count, ok_possible = len(breaching), True
    else:
        alarm_count = len(breaching)
        ok_possible = len(breaching) + missing < needed

    reason_data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": when(now),
        "startDate": when(window[0]),
    }
    if "Statistic" in definition or "ExtendedStatistic" in definition:
        reason_data["statistic"] = definition.get("Statistic") or definition["ExtendedStatistic"]
    reason_data["period"] = alarm_period(alarm)
    reason_data["recentDatapoints"] = [value for _moment, value in reversed(present)]
    reason_data["threshold"] = threshold
    data_text = json.dumps(reason_data, separators=(",", ":"))

    if not present and treat_missing in ("missing", "ignore"):
        if treat_missing == "ignore":
            return Outcome(None)
        return Outcome(
            INSUFFICIENT_DATA,
            f"Insufficient Data: {_plural(periods, 'datapoint')} "
            f"{'was' if periods == 1 else 'were'} unknown.",
            data_text,
        )
    words = alarms.COMPARISONS[comparison]
    previous = alarm.state_value
    label = MISSING_LABELS.get(treat_missing)
    if alarm_count >= needed:
        chosen, verb, minimum, target = breaching, words, needed, ALARM
    elif ok_possible:
        chosen, verb, minimum, target = calm, f"not {words}", periods - needed + 1, OK
    else:
        return Outcome(None)
    if not present and label is not None:
        reason = (
            f"Threshold Crossed: no datapoints were received for {_plural(periods, 'period')} "
            f"and {_plural(missing, 'missing datapoint')} "
            f"{'was' if missing == 1 else 'were'} treated as [{label}]."
        )
        return Outcome(target, reason, data_text)
    treated = (
        f"{_plural(missing, 'missing datapoint')} {'was' if missing == 1 else 'were'} "
        f"treated as [{label}]"
    )
    if chosen:
        points = ", ".join(_format_point(value, moment) for moment, value in chosen)
        reason = (
            f"Threshold Crossed: {len(chosen)} out of the last {periods} datapoints [{points}] "
            f"{'was' if len(chosen) == 1 else 'were'} {verb} the threshold ({threshold!r})"
        )
        if missing and label is not None:
            reason += f", and {treated}"
    else:
        # Only missing periods decided, which a label of breaching or notBreaching names.
        reason = f"Threshold Crossed: {treated}"
    reason += f" (minimum {_plural(minimum, 'datapoint')} for {previous} -> {target} transition)."
    return Outcome(target, reason, data_text)


def evaluate_metric_alarm(session: Session, clock: Clock, alarm: CloudWatchAlarm) -> None:
    """Evaluate a metric alarm now and change its state when the outcome differs."""
    _lock(session, alarm)
    now = clock.now()
    period = alarm_period(alarm)
    periods = int(alarm.definition["EvaluationPeriods"])
    current = metrics.period_start(now, period)
    start = current - timedelta(seconds=period * periods)
    try:
        series = _series(session, alarm, period, start, periods + 1)
    except MathError as exc:
        logger.warning("alarm %s could not evaluate its metric math: %s", alarm.arn, exc.message)
        return
    newest = current if current in series else current - timedelta(seconds=period)
    window = [newest - timedelta(seconds=period * index) for index in range(periods - 1, -1, -1)]
    outcome = decide(alarm, window, series, now)
    if outcome.value is None or outcome.value == alarm.state_value:
        return
    change_state(session, clock, alarm, outcome.value, outcome.reason, outcome.reason_data)


def evaluate(session: Session, clock: Clock, alarm: CloudWatchAlarm) -> None:
    if alarm.alarm_type == COMPOSITE_ALARM:
        evaluate_composite(session, clock, alarm)
    else:
        evaluate_metric_alarm(session, clock, alarm)


def schedule_next(session: Session, clock: Clock, alarm: CloudWatchAlarm) -> None:
    """Write the job that evaluates the metric alarm at the end of its current period."""
    period = alarm_period(alarm)
    due = metrics.period_start(clock.now(), period) + timedelta(seconds=period)
    enqueue(
        session,
        clock,
        EVALUATE_JOB,
        {"alarm_arn": alarm.arn, "generation": alarm.generation},
        due_at=due,
        key=f"cloudwatch-evaluate:{alarm.arn}:{alarm.generation}:{int(due.timestamp())}",
        account_id=alarm.account_id,
    )


def run_evaluation(context: JobContext) -> None:
    """Job handler: evaluate one metric alarm at a period's end and schedule the next run."""
    alarm = context.session.get(CloudWatchAlarm, context.payload["alarm_arn"])
    if alarm is None or alarm.generation != context.payload["generation"]:
        return
    evaluate_metric_alarm(context.session, context.clock, alarm)
    schedule_next(context.session, context.clock, alarm)


def register(registry: JobRegistry) -> None:
    """Register the jobs of alarm evaluation, alarm actions, suppression and the metric purge."""
    registry.register(EVALUATE_JOB, run_evaluation)
    registry.register(alarm_actions.ACTION_JOB, alarm_actions.run_action)
    registry.register(alarm_actions.SUPPRESSION_JOB, alarm_actions.run_suppression_end)
    registry.register(metrics.PURGE_JOB, metrics.run_purge)
