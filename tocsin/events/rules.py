"""Rules on event buses: PutRule, DescribeRule, ListRules, EnableRule, DisableRule, DeleteRule."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.events import buses
from tocsin.events.buses import BusRef
from tocsin.events.errors import (
    InvalidEventPatternException,
    ResourceNotFoundException,
    ValidationException,
)
from tocsin.events.models import EventRule, EventTarget
from tocsin.events.patterns import InvalidEventPattern, compile_pattern

logger = logging.getLogger(__name__)

ENABLED = "ENABLED"
DISABLED = "DISABLED"
# States whose rules match events; the CloudTrail variant matches like ENABLED here.
MATCHING_STATES = (ENABLED, "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")


def rule_arn(bus: BusRef, name: str) -> str:
    """Return a rule's ARN: rules of a custom bus carry the bus name in their ARN."""
    if bus.name == buses.DEFAULT_BUS:
        return f"arn:aws:events:{bus.region}:{bus.account_id}:rule/{name}"
    return f"arn:aws:events:{bus.region}:{bus.account_id}:rule/{bus.name}/{name}"


def check_pattern(text: str) -> None:
    """Raise InvalidEventPatternException, with the matcher's reason, for a bad pattern."""
    try:
        compile_pattern(text)
    except InvalidEventPattern as exc:
        raise InvalidEventPatternException(str(exc)) from exc


def own_bus(session: Session, bus: BusRef, caller_account: str, region: str) -> None:
    """Reject a bus of another account or Region, or one that does not exist."""
    if bus.account_id != caller_account or bus.region != region or not buses.exists(session, bus):
        raise ResourceNotFoundException(f"Event bus {bus.name} does not exist.")


def find(session: Session, bus: BusRef, name: str) -> EventRule | None:
    return session.get(EventRule, rule_arn(bus, name))


def get(session: Session, bus: BusRef, name: str) -> EventRule:
    rule = find(session, bus, name)
    if rule is None:
        raise ResourceNotFoundException(f"Rule {name} does not exist on EventBus {bus.name}.")
    return rule


def put_rule(session: Session, clock: Clock, bus: BusRef, params: Mapping[str, Any]) -> EventRule:
    """Create or update a rule from PutRule's members and return it."""
    name = params["Name"]
    if params.get("ScheduleExpression"):
        raise ValidationException(
            "Parameter ScheduleExpression is not supported by this server: scheduled rules "
            f"are not implemented, so rule {name} needs an EventPattern instead"
        )
    pattern = params.get("EventPattern")
    existing = find(session, bus, name)
    if not pattern and existing is None:
        raise ValidationException(
            "Parameter(s) EventPattern or ScheduleExpression must be specified."
        )
    if pattern:
        check_pattern(pattern)

    if existing is None:
        rule = EventRule(
            arn=rule_arn(bus, name),
            account_id=bus.account_id,
            region=bus.region,
            bus_name=bus.name,
            name=name,
            event_pattern=pattern,
            state=params.get("State") or ENABLED,
            description=params.get("Description"),
            role_arn=params.get("RoleArn"),
            created_at=clock.now(),
        )
        session.add(rule)
        session.flush()
        logger.info("created rule %s (%s)", rule.arn, rule.state)
        return rule

    # PutRule replaces the members it is given and keeps the others, as EventBridge does.
    if pattern:
        existing.event_pattern = pattern
    if params.get("State"):
        existing.state = params["State"]
    if "Description" in params:
        existing.description = params["Description"]
    if "RoleArn" in params:
        existing.role_arn = params["RoleArn"]
    logger.info("updated rule %s (%s)", existing.arn, existing.state)
    return existing


def set_state(rule: EventRule, state: str) -> None:
    rule.state = state
    logger.info("set rule %s to %s", rule.arn, state)


def delete_rule(session: Session, rule: EventRule) -> None:
    """Delete a rule that has no targets left, as EventBridge requires."""
    targets = session.scalar(
        select(func.count()).select_from(EventTarget).where(EventTarget.rule_arn == rule.arn)
    )
    if targets:
        raise ValidationException("Rule can't be deleted since it has targets.")
    session.delete(rule)
    logger.info("deleted rule %s", rule.arn)


def list_rules(session: Session, bus: BusRef, prefix: str | None) -> list[EventRule]:
    """Return the bus's rules whose names start with ``prefix``, sorted by name."""
    query = select(EventRule).where(
        EventRule.account_id == bus.account_id,
        EventRule.region == bus.region,
        EventRule.bus_name == bus.name,
    )
    rules = list(session.scalars(query.order_by(EventRule.name)))
    if prefix:
        rules = [rule for rule in rules if rule.name.startswith(prefix)]
    return rules


def describe(rule: EventRule) -> dict[str, Any]:
    """Return DescribeRule's output, which is also a ListRules entry."""
    output: dict[str, Any] = {
        "Name": rule.name,
        "Arn": rule.arn,
        "EventPattern": rule.event_pattern,
        "State": rule.state,
        "EventBusName": rule.bus_name,
        "CreatedBy": rule.account_id,
    }
    if rule.description is not None:
        output["Description"] = rule.description
    if rule.role_arn is not None:
        output["RoleArn"] = rule.role_arn
    return output
