"""Changes to alarms: put, delete, set state, enable and disable actions.

Creating an alarm sets it to INSUFFICIENT_DATA and evaluates it at once, as
CloudWatch does. Updating one keeps its state and evaluates it again. Tags in
PutMetricAlarm or PutCompositeAlarm apply only when the alarm is created.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.events import alarm_evaluation, alarm_history, alarm_rules, alarms
from tocsin.events.alarm_errors import (
    InvalidFormatFault,
    InvalidParameterValueException,
    MissingRequiredParameterException,
    ResourceConflict,
    ResourceNotFound,
    invalid_value,
)
from tocsin.events.alarm_models import CloudWatchAlarm, CloudWatchAlarmLink, CloudWatchAlarmMetric
from tocsin.events.alarms import COMPOSITE_ALARM, INSUFFICIENT_DATA, METRIC_ALARM

logger = logging.getLogger(__name__)

INITIAL_REASON = "Unchecked: Initial alarm creation"


def _common(
    alarm: CloudWatchAlarm, params: Mapping[str, Any], region: str, account_id: str
) -> None:
    for member, attribute in (
        ("AlarmActions", "alarm_actions"),
        ("OKActions", "ok_actions"),
        ("InsufficientDataActions", "insufficient_data_actions"),
    ):
        actions = list(params.get(member) or [])
        alarms.check_actions(member, actions, region, account_id)
        setattr(alarm, attribute, actions)
    alarm.description = params.get("AlarmDescription")
    alarm.actions_enabled = params.get("ActionsEnabled", True)


def _upsert(
    session: Session,
    clock: Clock,
    account_id: str,
    region: str,
    params: Mapping[str, Any],
    alarm_type: str,
    definition: dict[str, Any],
) -> tuple[CloudWatchAlarm, bool]:
    """Create or update the alarm row; return it and whether it is new."""
    name = params["AlarmName"]
    now = clock.now()
    alarm = alarms.find(session, account_id, region, name)
    created = alarm is None
    if alarm is not None and alarm.alarm_type != alarm_type:
        raise InvalidParameterValueException(
            f"The alarm {name} already exists as a {alarm.alarm_type}; "
            f"delete it before putting a {alarm_type} of that name"
        )
    if alarm is None:
        alarm = CloudWatchAlarm(
            arn=alarms.alarm_arn(region, account_id, name),
            account_id=account_id,
            region=region,
            name=name,
            alarm_type=alarm_type,
            tags=alarms.checked_tags(params.get("Tags") or []),
            state_value=INSUFFICIENT_DATA,
            state_reason=INITIAL_REASON,
            state_reason_data=None,
            state_updated_at=now,
            state_transitioned_at=now,
            generation=1,
        )
        session.add(alarm)
    else:
        alarm.generation += 1

    _common(alarm, params, region, account_id)
    alarm.definition = definition
    alarm.configuration_updated_at = now
    session.flush()

    kind = "Create" if created else "Update"
    alarm_history.record(
        session,
        alarm,
        alarm_history.CONFIGURATION_UPDATE,
        f'Alarm "{name}" {"created" if created else "updated"}',
        {
            "type": kind,
            f"{kind.lower()}dAlarm": json.loads(json.dumps(alarms.describe(alarm), default=str)),
        },
        now,
    )
    logger.info("alarm %s %s", alarm.arn, "created" if created else "updated")
    return alarm, created


def put_metric_alarm(
    session: Session, clock: Clock, account_id: str, region: str, params: Mapping[str, Any]
) -> CloudWatchAlarm:
    """Create or update a metric alarm, evaluate it and schedule its next evaluation."""
    alarms.check_metric_alarm(params, account_id)
    definition = alarms.metric_definition(params)
    alarm, _created = _upsert(session, clock, account_id, region, params, METRIC_ALARM, definition)
    alarms.store_metric_links(session, alarm)
    session.flush()
    alarm_evaluation.evaluate_metric_alarm(session, clock, alarm)
    alarm_evaluation.schedule_next(session, clock, alarm)
    return alarm


def _check_suppressor(params: Mapping[str, Any]) -> None:
    if not params.get("ActionsSuppressor"):
        for member in ("ActionsSuppressorWaitPeriod", "ActionsSuppressorExtensionPeriod"):
            if params.get(member) is not None:
                raise InvalidParameterValueException(
                    f"{member} applies only with ActionsSuppressor"
                )
        return
    for member in ("ActionsSuppressorWaitPeriod", "ActionsSuppressorExtensionPeriod"):
        value = params.get(member)
        if value is None:
            raise MissingRequiredParameterException(
                f"The parameter {member} is required when ActionsSuppressor is given."
            )
        if value < 0:
            raise invalid_value(member, value, "it must be 0 or more seconds")


def put_composite_alarm(
    session: Session, clock: Clock, account_id: str, region: str, params: Mapping[str, Any]
) -> CloudWatchAlarm:
    """Create or update a composite alarm after checking its rule and children."""
    if params.get("ActionConfiguration") is not None:
        raise invalid_value(
            "ActionConfiguration",
            params["ActionConfiguration"],
            "it is not supported by this server",
        )
    rule = alarm_rules.parse_rule(params["AlarmRule"])
    _check_suppressor(params)
    own_arn = alarms.alarm_arn(region, account_id, params["AlarmName"])
    references = alarm_rules.referenced_alarms(rule)
    if params["AlarmName"] in references or own_arn in references:
        raise InvalidParameterValueException(
            f"The AlarmRule of {params['AlarmName']} names the alarm itself"
        )
    children = alarms.resolve_children(session, account_id, region, references, "AlarmRule")
    if alarms.creates_cycle(session, own_arn, children):
        raise InvalidParameterValueException(
            f"The AlarmRule of {params['AlarmName']} would make the alarm depend on itself "
            "through other composite alarms"
        )
    suppressor = None
    if params.get("ActionsSuppressor"):
        (suppressor,) = alarms.resolve_children(
            session, account_id, region, [params["ActionsSuppressor"]], "ActionsSuppressor"
        )
        if suppressor.arn == own_arn:
            raise InvalidParameterValueException("An alarm cannot be its own ActionsSuppressor")

    definition = alarms.composite_definition(params)
    alarm, _created = _upsert(
        session, clock, account_id, region, params, COMPOSITE_ALARM, definition
    )
    alarms.replace_links(session, alarm, children, suppressor)
    alarm_evaluation.evaluate_composite(session, clock, alarm)
    return alarm


def delete_alarms(
    session: Session, clock: Clock, account_id: str, region: str, names: Sequence[str]
) -> None:
    """Delete alarms by name; delete none when one is missing or still used by a composite."""
    found = []
    for name in names:
        alarm = alarms.find(session, account_id, region, name)
        if alarm is None:
            raise ResourceNotFound(f"The alarm {name} does not exist; no alarm was deleted.")
        found.append(alarm)
    deleting = {alarm.arn for alarm in found}
    for alarm in found:
        users = [
            link.parent_arn
            for link in alarms.linked(session, child_arn=alarm.arn)
            if link.parent_arn not in deleting
        ]
        if users:
            raise ResourceConflict(
                f"The alarm {alarm.name} is used by the composite alarms {sorted(set(users))}; "
                "delete them or change their rule or ActionsSuppressor first."
            )
    now = clock.now()
    for alarm in found:
        alarm_history.record(
            session,
            alarm,
            alarm_history.CONFIGURATION_UPDATE,
            f'Alarm "{alarm.name}" deleted',
            {
                "type": "Delete",
                "deletedAlarm": json.loads(json.dumps(alarms.describe(alarm), default=str)),
            },
            now,
        )
        session.execute(
            delete(CloudWatchAlarmLink).where(CloudWatchAlarmLink.parent_arn == alarm.arn)
        )
        session.execute(
            delete(CloudWatchAlarmMetric).where(CloudWatchAlarmMetric.alarm_arn == alarm.arn)
        )
        session.delete(alarm)
        logger.info("alarm %s deleted", alarm.arn)
    session.flush()


def set_alarm_state(
    session: Session,
    clock: Clock,
    account_id: str,
    region: str,
    name: str,
    value: str,
    reason: str,
    reason_data: str | None,
) -> None:
    """Set an alarm's state until its next evaluation, running the new state's actions."""
    alarm = alarms.find(session, account_id, region, name)
    if alarm is None:
        raise ResourceNotFound(f"The alarm {name} does not exist.")
    if reason_data is not None:
        try:
            json.loads(reason_data)
        except json.JSONDecodeError as exc:
            raise InvalidFormatFault(
                f"StateReasonData is not valid JSON: {exc.msg} at character {exc.pos + 1}"
            ) from None
    if value == alarm.state_value:
        alarm.state_reason = reason
        alarm.state_reason_data = reason_data
        alarm.state_updated_at = clock.now()
        return
    alarm_evaluation.change_state(session, clock, alarm, value, reason, reason_data)


def set_actions_enabled(
    session: Session, account_id: str, region: str, names: Sequence[str], enabled: bool
) -> None:
    """Enable or disable the actions of the named alarms; names without an alarm are skipped."""
    for name in names:
        alarm = alarms.find(session, account_id, region, name)
        if alarm is not None:
            alarm.actions_enabled = enabled
