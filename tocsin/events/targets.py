"""Targets of rules: PutTargets, RemoveTargets and ListTargetsByRule.

Tocsin delivers to three kinds of target: a response plan (starts an
incident), an event bus (puts the event on it) and an SNS topic (publishes
the event). PutTargets reports an entry it cannot accept in FailedEntries
and stores the others, as EventBridge does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.events import buses, inputs
from tocsin.events.errors import LimitExceededException, ValidationException
from tocsin.events.models import EventRule, EventTarget
from tocsin.incidents.arns import parse_arn
from tocsin.notify.topics import TOPIC_ARN
from tocsin.protocol.errors import ServiceError

logger = logging.getLogger(__name__)

MAX_TARGETS_PER_RULE = 5
RESPONSE_PLAN = "response-plan"
EVENT_BUS = "event-bus"
SNS_TOPIC = "sns-topic"
_SERVICE = re.compile(r"^arn:aws[\w-]*:([a-z0-9-]+):")


def kind_of(arn: str, rule: EventRule) -> str:
    """Return the kind of target ``arn`` names; raise ValidationException if Tocsin has none."""
    service = _SERVICE.match(arn)
    name = service.group(1) if service else None
    if name == "ssm-incidents":
        parse_arn(arn, "Arn", "RESPONSE_PLAN")
        return RESPONSE_PLAN
    if name == "events":
        ref = buses.parse_bus_arn(arn)
        if ref is None:
            raise ValidationException(f"Arn {arn!r} is not an event bus ARN.")
        if ref.arn == buses.bus_arn(rule.account_id, rule.region, rule.bus_name):
            raise ValidationException(
                f"Arn {arn!r} is the rule's own event bus; a rule cannot send events back "
                "to the bus they came from."
            )
        if ref.region != rule.region:
            raise ValidationException(
                f"Arn {arn!r} is in Region {ref.region}; this server delivers only to event "
                f"buses in the rule's Region {rule.region}."
            )
        return EVENT_BUS
    if name == "sns":
        match = TOPIC_ARN.match(arn)
        if match is None:
            raise ValidationException(f"Arn {arn!r} is not an SNS topic ARN.")
        return SNS_TOPIC
    raise ValidationException(
        f"Arn {arn!r} names a target this server does not deliver to; use a response plan, "
        "an event bus or an SNS topic ARN."
    )


def _row(rule: EventRule, entry: Mapping[str, Any]) -> EventTarget:
    return EventTarget(
        rule_arn=rule.arn,
        target_id=entry["Id"],
        arn=entry["Arn"],
        role_arn=entry.get("RoleArn"),
        input=entry.get("Input"),
        input_path=entry.get("InputPath"),
        input_transformer=dict(entry["InputTransformer"]) if "InputTransformer" in entry else None,
    )


def check_entry(rule: EventRule, entry: Mapping[str, Any]) -> None:
    """Check one PutTargets entry; raise a ServiceError that becomes its FailedEntries item."""
    kind = kind_of(entry["Arn"], rule)
    try:
        inputs.check(entry)
    except inputs.InvalidTargetInput as exc:
        raise ValidationException(str(exc)) from exc
    if kind == EVENT_BUS and any(
        name in entry for name in ("Input", "InputPath", "InputTransformer")
    ):
        raise ValidationException(
            f"Target {entry['Id']}: an event bus target receives the event unchanged, so "
            "Input, InputPath and InputTransformer are not allowed."
        )


def put_targets(
    session: Session, rule: EventRule, entries: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Add or replace the targets of ``rule``; return the FailedEntries of PutTargets."""
    ids = [entry["Id"] for entry in entries]
    if len(set(ids)) != len(ids):
        raise ValidationException(f"Parameter Targets contains the same Id twice: {ids}")
    current = {target.target_id: target for target in list_targets(session, rule)}
    new_ids = {entry["Id"] for entry in entries} - current.keys()
    if len(current) + len(new_ids) > MAX_TARGETS_PER_RULE:
        raise LimitExceededException(
            f"Rule {rule.name} would have {len(current) + len(new_ids)} targets; the maximum "
            f"is {MAX_TARGETS_PER_RULE}."
        )

    failed: list[dict[str, str]] = []
    for entry in entries:
        try:
            check_entry(rule, entry)
        except ServiceError as exc:
            failed.append(
                {
                    "TargetId": entry["Id"],
                    "ErrorCode": exc.instance_code,
                    "ErrorMessage": exc.message,
                }
            )
            continue
        existing = current.get(entry["Id"])
        if existing is not None:
            session.delete(existing)
            session.flush()
        session.add(_row(rule, entry))
        logger.info("put target %s (%s) on rule %s", entry["Id"], entry["Arn"], rule.arn)
    session.flush()
    return failed


def remove_targets(session: Session, rule: EventRule, ids: Sequence[str]) -> list[dict[str, str]]:
    """Remove targets by Id; return the FailedEntries of RemoveTargets for unknown Ids."""
    current = {target.target_id: target for target in list_targets(session, rule)}
    failed: list[dict[str, str]] = []
    for target_id in ids:
        target = current.pop(target_id, None)
        if target is None:
            failed.append(
                {
                    "TargetId": target_id,
                    "ErrorCode": "ResourceNotFoundException",
                    "ErrorMessage": f"Target {target_id} does not exist on rule {rule.name}.",
                }
            )
            continue
        session.delete(target)
        logger.info("removed target %s from rule %s", target_id, rule.arn)
    return failed


def list_targets(session: Session, rule: EventRule) -> list[EventTarget]:
    return list(
        session.scalars(
            select(EventTarget)
            .where(EventTarget.rule_arn == rule.arn)
            .order_by(EventTarget.target_id)
        )
    )


def describe(target: EventTarget) -> dict[str, Any]:
    """Return a target as ListTargetsByRule's Target structure."""
    output: dict[str, Any] = {"Id": target.target_id, "Arn": target.arn}
    if target.role_arn is not None:
        output["RoleArn"] = target.role_arn
    if target.input is not None:
        output["Input"] = target.input
    if target.input_path is not None:
        output["InputPath"] = target.input_path
    if target.input_transformer is not None:
        output["InputTransformer"] = target.input_transformer
    return output


def snapshot(target: EventTarget) -> dict[str, Any]:
    """Return the target as a delivery job's payload carries it."""
    return {
        "id": target.target_id,
        "arn": target.arn,
        "role_arn": target.role_arn,
        "input": target.input,
        "input_path": target.input_path,
        "input_transformer": target.input_transformer,
    }
