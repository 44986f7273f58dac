"""Alarm actions: SNS notifications and incidents, run as durable jobs, and action suppression.

Each action of a state change is one job, written in the transaction of the
state change, that runs in the alarm's account's name. A failure that cannot
heal (a topic or response plan that does not exist or is not shared) is
recorded at once in the alarm's history as a failed action. Other failures
are retried by the engine, up to ``ACTION_ATTEMPTS`` attempts, and recorded
as failed after the last one.

Composite alarms with an actions suppressor hold their actions back while the
suppressor is in ALARM, for ActionsSuppressorWaitPeriod seconds after the
composite alarm goes to ALARM (in case the suppressor follows), and for
ActionsSuppressorExtensionPeriod seconds after the suppressor leaves ALARM.
A suppression job at the end of a wait or extension runs the held actions
when the composite alarm is still in the same state.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext
from tocsin.engine.queue import enqueue
from tocsin.events import alarm_history, alarms
from tocsin.events.alarm_messages import AlarmState, sns_notification, state_change_event
from tocsin.events.alarm_models import CloudWatchAlarm
from tocsin.events.alarms import (
    ALARM,
    COMPOSITE_ALARM,
    INSUFFICIENT_DATA,
    OK,
    PLAN_ACTION,
    action_kind,
    when,
)
from tocsin.incidents import triggers
from tocsin.notify import publishing
from tocsin.protocol.errors import ServiceError

logger = logging.getLogger(__name__)

ACTION_JOB = "cloudwatch.alarm_action"
SUPPRESSION_JOB = "cloudwatch.alarm_suppression"
ACTION_ATTEMPTS = 5
# Raw data of an incident trigger is at most 10,000 characters.
MAX_RAW_DATA = 10000


def plan_arn(action: str) -> str:
    match = PLAN_ACTION.match(action)
    assert match is not None
    return f"arn:aws:ssm-incidents::{match['account']}:response-plan/{match['name']}"


def _actions_of(alarm: CloudWatchAlarm, state: str) -> list[str]:
    lists = {
        ALARM: alarm.alarm_actions,
        OK: alarm.ok_actions,
        INSUFFICIENT_DATA: alarm.insufficient_data_actions,
    }
    return list(lists[state])


def _suppress(alarm: CloudWatchAlarm, by: str) -> None:
    alarm.actions_suppressed_by = by
    alarm.actions_suppressed_reason = f"Actions suppressed by {by}"


def _enqueue_suppression_end(
    session: Session, clock: Clock, alarm: CloudWatchAlarm, phase: str, seconds: int
) -> None:
    due = clock.now() + timedelta(seconds=seconds)
    transitioned = when(alarm.state_transitioned_at)
    enqueue(
        session,
        clock,
        SUPPRESSION_JOB,
        {"alarm_arn": alarm.arn, "state": alarm.state_value, "transitioned": transitioned},
        due_at=due,
        key=f"cloudwatch-suppression:{alarm.arn}:{transitioned}:{phase}:{int(due.timestamp())}",
        account_id=alarm.account_id,
    )


def start_actions(
    session: Session,
    clock: Clock,
    alarm: CloudWatchAlarm,
    previous: AlarmState,
    history_id: int,
    triggering: list[dict[str, Any]] | None = None,
) -> None:
    """Start the actions of the alarm's new state, or hold them back while suppressed."""
    if not alarm.actions_enabled or not _actions_of(alarm, alarm.state_value):
        return
    suppressor_name = alarm.definition.get("ActionsSuppressor")
    if alarm.alarm_type == COMPOSITE_ALARM and suppressor_name:
        suppressor = alarms.find_by_name_or_arn(
            session, alarm.account_id, alarm.region, suppressor_name
        )
        if suppressor is not None and suppressor.state_value == ALARM:
            _suppress(alarm, "Alarm")
            return
        wait = int(alarm.definition.get("ActionsSuppressorWaitPeriod") or 0)
        if alarm.state_value == ALARM and wait > 0:
            _suppress(alarm, "WaitPeriod")
            _enqueue_suppression_end(session, clock, alarm, "wait", wait)
            return
    _enqueue_actions(session, clock, alarm, previous, f"{history_id}", triggering)


def _enqueue_actions(
    session: Session,
    clock: Clock,
    alarm: CloudWatchAlarm,
    previous: AlarmState,
    key: str,
    triggering: list[dict[str, Any]] | None,
) -> None:
    current = AlarmState.of(alarm)
    subject, message = sns_notification(alarm, previous, current, triggering)
    event = state_change_event(alarm, previous, current)
    raw_data = _raw_data(event)
    for index, action in enumerate(_actions_of(alarm, alarm.state_value)):
        enqueue(
            session,
            clock,
            ACTION_JOB,
            {
                "alarm_arn": alarm.arn,
                "action": action,
                "state": alarm.state_value,
                "timestamp": current.timestamp.isoformat(),
                "subject": subject,
                "message": message,
                "raw_data": raw_data,
            },
            key=f"cloudwatch-action:{alarm.arn}:{key}:{index}",
            account_id=alarm.account_id,
            max_attempts=ACTION_ATTEMPTS,
        )


def _raw_data(event: dict[str, Any]) -> str:
    """Return the state change event as incident raw data, within its 10,000 characters.

    A long event loses its configuration first, then its reason data, so that
    the raw data stays valid JSON.
    """
    text = json.dumps(event, separators=(",", ":"))
    detail = dict(event["detail"])
    for member in ("configuration", "previousState", "state"):
        if len(text) <= MAX_RAW_DATA:
            break
        if member == "configuration":
            detail[member] = {}
        else:
            detail[member] = {k: v for k, v in detail[member].items() if k != "reasonData"}
        text = json.dumps({**event, "detail": detail}, separators=(",", ":"))
    return text


def suppressor_changed(
    session: Session, clock: Clock, parent: CloudWatchAlarm, suppressor: CloudWatchAlarm
) -> None:
    """Follow a state change of a composite alarm's suppressor."""
    if suppressor.state_value == ALARM:
        if parent.actions_suppressed_by in ("WaitPeriod", "ExtensionPeriod"):
            _suppress(parent, "Alarm")
        return
    if parent.actions_suppressed_by != "Alarm":
        return
    extension = int(parent.definition.get("ActionsSuppressorExtensionPeriod") or 0)
    _suppress(parent, "ExtensionPeriod")
    _enqueue_suppression_end(session, clock, parent, "extension", extension)


def run_suppression_end(context: JobContext) -> None:
    """Job handler: at the end of a wait or extension period, run the held actions."""
    session, payload = context.session, context.payload
    alarm = session.get(CloudWatchAlarm, payload["alarm_arn"])
    if alarm is None or alarm.state_value != payload["state"]:
        return
    if when(alarm.state_transitioned_at) != payload["transitioned"]:
        return
    if alarm.actions_suppressed_by not in ("WaitPeriod", "ExtensionPeriod"):
        return
    suppressor = alarms.find_by_name_or_arn(
        session, alarm.account_id, alarm.region, alarm.definition.get("ActionsSuppressor", "")
    )
    if suppressor is not None and suppressor.state_value == ALARM:
        _suppress(alarm, "Alarm")
        return
    alarm.actions_suppressed_by = None
    alarm.actions_suppressed_reason = None
    previous = AlarmState(alarm.state_value, alarm.state_reason, None, alarm.state_updated_at)
    _enqueue_actions(session, context.clock, alarm, previous, f"released-{context.job_id}", None)


def _record(
    session: Session,
    alarm: CloudWatchAlarm,
    action: str,
    now: datetime,
    *,
    error: str | None,
    detail: dict[str, Any],
) -> None:
    if error is None:
        summary = f"Successfully executed action {action}"
        data = {"actionState": "Succeeded", "notificationResource": action, **detail}
    else:
        summary = f"Failed to execute action {action}"
        data = {"actionState": "Failed", "notificationResource": action, "error": error}
    data["stateUpdateTimestamp"] = when(alarm.state_updated_at)
    alarm_history.record(session, alarm, alarm_history.ACTION, summary, data, now)


def _perform(context: JobContext, alarm: CloudWatchAlarm, action: str) -> dict[str, Any]:
    payload = context.payload
    if action_kind(action) == "sns":
        message_id = publishing.publish(
            context.session,
            context.clock,
            action,
            payload["message"],
            payload["subject"],
            publisher_account=alarm.account_id,
        )
        return {"publishedMessage": {"messageId": message_id}}
    started = triggers.start_from_trigger(
        context.session,
        context.clock,
        plan_arn=plan_arn(action),
        caller_account=alarm.account_id,
        source="aws.cloudwatch",
        trigger_arn=alarm.arn,
        raw_data=payload["raw_data"],
        timestamp=datetime.fromisoformat(payload["timestamp"]),
    )
    return {"incidentRecordArn": started.arn}


def run_action(context: JobContext) -> None:
    """Job handler: run one action of one state change in the alarm's account's name."""
    session, payload = context.session, context.payload
    alarm = session.get(CloudWatchAlarm, payload["alarm_arn"])
    if alarm is None:
        logger.info("alarm %s was deleted before its action ran", payload["alarm_arn"])
        return
    action = payload["action"]
    now = context.clock.now()
    try:
        # A savepoint keeps the partial writes of a failed action out of the history's transaction.
        with session.begin_nested():
            detail = _perform(context, alarm, action)
    except (ServiceError, triggers.PlanUnavailable) as exc:
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        logger.warning("action %s of alarm %s failed: %s", action, alarm.arn, message)
        _record(session, alarm, action, now, error=message, detail={})
        return
    except Exception as exc:
        if context.attempt < ACTION_ATTEMPTS:
            raise
        logger.exception("action %s of alarm %s failed on its last attempt", action, alarm.arn)
        _record(session, alarm, action, now, error=f"{type(exc).__name__}: {exc}", detail={})
        return
    logger.info("action %s of alarm %s succeeded", action, alarm.arn)
    _record(session, alarm, action, now, error=None, detail=detail)
