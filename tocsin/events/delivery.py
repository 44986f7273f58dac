"""Event delivery jobs: match a batch of events against a bus's rules, then deliver per target.

``events.match`` runs once per batch that ``tocsin.events.ingest`` wrote. It
matches every event against the enabled rules of its bus and enqueues one
``events.target`` job per (rule, target) with the events that matched, so a
burst of identical events costs one target job per batch. Each target job
delivers in one transaction: it starts or joins incidents, publishes to an
SNS topic, or puts the events on another bus. A failure the engine can retry
(a database error) raises and is retried with backoff. A target that can
never succeed (a deleted plan, revoked sharing, a missing topic or a bus
policy that does not allow the sender) is given up: the events are counted
in ``tocsin_event_deliveries_total`` with outcome ``given_up`` and logged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select

from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.engine.queue import enqueue
from tocsin.events import alert_groups, buses, inputs, permissions, rules, targets
from tocsin.events.buses import BusRef
from tocsin.events.ingest import MATCH_JOB, enqueue_batch
from tocsin.events.models import EventRule, EventTarget
from tocsin.events.patterns import InvalidEventPattern, Pattern, compile_pattern
from tocsin.incidents import triggers
from tocsin.notify.publishing import publish
from tocsin.protocol.errors import ServiceError

logger = logging.getLogger(__name__)

TARGET_JOB = "events.target"
EVENTS_SOURCE = "aws.events"
# An event that arrived from another bus is not sent on to a further bus,
# which also stops two buses that target each other from looping.
MAX_BUS_HOPS = 1

DELIVERIES = Counter(
    "tocsin_event_deliveries_total",
    "Events handed to rule targets, by target kind and outcome (delivered, given_up).",
    ["target_kind", "outcome"],
)
DROPPED = Counter(
    "tocsin_events_dropped_total",
    "Events that reached no rule because their bus did not exist when they were matched.",
)


@lru_cache(maxsize=4096)
def _compiled(text: str) -> Pattern | None:
    try:
        return compile_pattern(text)
    except InvalidEventPattern:
        # PutRule checked the pattern, so only a stored row edited by hand gets here.
        logger.error("a stored event pattern is invalid and matches nothing: %s", text[:200])
        return None


def _target_key(job_id: int, rule_arn: str, target_id: str) -> str:
    digest = hashlib.sha256(f"{rule_arn}\n{target_id}".encode()).hexdigest()[:32]
    return f"events-target:{job_id}:{digest}"


def match_events(context: JobContext) -> None:
    """Match a batch of events against the bus's enabled rules and enqueue target jobs."""
    payload = context.payload
    session = context.session
    bus = BusRef(payload["account"], payload["region"], payload["bus"])
    events: list[dict[str, Any]] = payload["events"]
    hops = int(payload.get("hops", 0))
    if not buses.exists(session, bus):
        DROPPED.inc(len(events))
        logger.warning(
            "dropped %d event(s) of job %s: event bus %s does not exist",
            len(events),
            context.job_id,
            bus.arn,
        )
        return

    enabled = list(
        session.scalars(
            select(EventRule)
            .where(
                EventRule.account_id == bus.account_id,
                EventRule.region == bus.region,
                EventRule.bus_name == bus.name,
                EventRule.state.in_(rules.MATCHING_STATES),
            )
            .order_by(EventRule.name)
        )
    )
    if not enabled:
        logger.debug("no enabled rule on %s for %d event(s)", bus.arn, len(events))
        return
    rule_targets: dict[str, list[EventTarget]] = {}
    for target in session.scalars(
        select(EventTarget)
        .where(EventTarget.rule_arn.in_([rule.arn for rule in enabled]))
        .order_by(EventTarget.rule_arn, EventTarget.target_id)
    ):
        rule_targets.setdefault(target.rule_arn, []).append(target)

    queued = 0
    for rule in enabled:
        pattern = _compiled(rule.event_pattern)
        if pattern is None:
            continue
        matched = [event for event in events if pattern.matches(event)]
        if not matched:
            continue
        for target in rule_targets.get(rule.arn, []):
            queued += _enqueue_target(context, rule, target, matched, hops)
    logger.info(
        "matched %d event(s) on %s against %d rule(s): %d target job(s)",
        len(events),
        bus.arn,
        len(enabled),
        queued,
    )


def _enqueue_target(
    context: JobContext,
    rule: EventRule,
    target: EventTarget,
    matched: list[dict[str, Any]],
    hops: int,
) -> int:
    try:
        kind = targets.kind_of(target.arn, rule)
    except ServiceError as exc:
        logger.warning(
            "target %s of rule %s is not deliverable: %s", target.target_id, rule.arn, exc
        )
        DELIVERIES.labels("unknown", "given_up").inc(len(matched))
        return 0
    if kind == targets.EVENT_BUS and hops >= MAX_BUS_HOPS:
        logger.info(
            "did not forward %d event(s) from rule %s to bus %s: they already crossed %d bus(es)",
            len(matched),
            rule.arn,
            target.arn,
            hops,
        )
        return 0
    payload = {
        "rule_arn": rule.arn,
        "rule_account": rule.account_id,
        "region": rule.region,
        "role_arn": rule.role_arn,
        "kind": kind,
        "hops": hops,
        "target": targets.snapshot(target),
        "events": matched,
    }
    enqueue(
        context.session,
        context.clock,
        TARGET_JOB,
        payload,
        key=_target_key(context.job_id, rule.arn, target.target_id),
        account_id=rule.account_id,
    )
    return 1


def deliver(context: JobContext) -> None:
    """Deliver the events of one target job to its target."""
    kind = context.payload["kind"]
    _DELIVERERS[kind](context, context.payload)


def _give_up(context: JobContext, payload: Mapping[str, Any], reason: str) -> None:
    count = len(payload["events"])
    DELIVERIES.labels(payload["kind"], "given_up").inc(count)
    logger.warning(
        "gave up delivering %d event(s) of rule %s to target %s (job %s): %s",
        count,
        payload["rule_arn"],
        payload["target"]["arn"],
        context.job_id,
        reason,
    )


def _event_time(event: Mapping[str, Any], fallback: datetime) -> datetime:
    text = event.get("time")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    return fallback


def _to_response_plan(context: JobContext, payload: Mapping[str, Any]) -> None:
    target = payload["target"]
    try:
        plan = triggers.resolve_plan(context.session, target["arn"], payload["rule_account"])
    except triggers.PlanUnavailable as exc:
        _give_up(context, payload, str(exc))
        return
    created_by = target.get("role_arn") or payload.get("role_arn") or payload["rule_arn"]
    now = context.clock.now()
    events = payload["events"]
    # Alert groups are locked before any incident row, as receiving a post does.
    groups = alert_groups.lock_event_groups(context.session, events)
    firings = [
        triggers.Firing(
            raw_data=inputs.render(target, event, payload["rule_arn"]),
            timestamp=_event_time(event, now),
            alert_group=group.group_id if group is not None else None,
        )
        for event, group in zip(events, groups, strict=True)
        if not alert_groups.is_late_resolution(event, group)
    ]
    started = triggers.start_many(
        context.session,
        context.clock,
        plan,
        firings,
        caller_account=payload["rule_account"],
        created_by=created_by,
        source=EVENTS_SOURCE,
        trigger_arn=payload["rule_arn"],
        invoked_by=None,
    )
    alert_groups.settle_started(context.session, context.clock, started, payload["region"])
    DELIVERIES.labels(payload["kind"], "delivered").inc(len(events))
    logger.info(
        "delivered %d event(s) of rule %s to plan %s: incident(s) %s",
        len(events),
        payload["rule_arn"],
        plan.arn,
        ", ".join(incident.arn for incident in started),
    )


def _to_sns_topic(context: JobContext, payload: Mapping[str, Any]) -> None:
    target = payload["target"]
    events = payload["events"]
    delivered = 0
    for position, event in enumerate(events):
        try:
            publish(
                context.session,
                context.clock,
                target["arn"],
                inputs.render(target, event, payload["rule_arn"]),
                publisher_account=payload["rule_account"],
            )
        except ServiceError as exc:
            # publish checks the topic and the message before it writes, so a
            # failed event leaves nothing behind.
            if exc.instance_code == "InvalidParameterException":
                _give_up(context, {**payload, "events": [event]}, exc.message)
                continue
            # A missing topic or a topic policy that rejects the rule's account
            # fails every event alike, so the rest of the batch is given up too.
            _give_up(context, {**payload, "events": events[position:]}, exc.message)
            break
        delivered += 1
    DELIVERIES.labels(payload["kind"], "delivered").inc(delivered)


def _to_event_bus(context: JobContext, payload: Mapping[str, Any]) -> None:
    target = payload["target"]
    ref = buses.parse_bus_arn(target["arn"])
    if ref is None or not buses.exists(context.session, ref):
        _give_up(context, payload, f"event bus {target['arn']} does not exist")
        return
    bus = buses.get(context.session, context.clock, ref)
    if not permissions.allows_account(context.session, bus, payload["rule_account"]):
        _give_up(
            context,
            payload,
            f"the policy of event bus {bus.arn} does not allow account "
            f"{payload['rule_account']} to put events",
        )
        return
    enqueue_batch(context.session, context.clock, ref, payload["events"], hops=payload["hops"] + 1)
    DELIVERIES.labels(payload["kind"], "delivered").inc(len(payload["events"]))
    logger.info(
        "put %d event(s) of rule %s on event bus %s",
        len(payload["events"]),
        payload["rule_arn"],
        bus.arn,
    )


_DELIVERERS: dict[str, Callable[[JobContext, Mapping[str, Any]], None]] = {
    targets.RESPONSE_PLAN: _to_response_plan,
    targets.SNS_TOPIC: _to_sns_topic,
    targets.EVENT_BUS: _to_event_bus,
}


def register(registry: JobRegistry) -> None:
    """Register the event delivery jobs on ``registry``; a second call does nothing."""
    if registry.get(MATCH_JOB) is None:
        registry.register(MATCH_JOB, match_events)
    if registry.get(TARGET_JOB) is None:
        registry.register(TARGET_JOB, deliver)
