"""Event delivery jobs: match batches of events against a bus's rules, then deliver per target.

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

Both kinds are batch handlers (``tocsin.engine.worker.BatchHandler``), so a
worker claims and runs up to ``MATCH_BATCH_SIZE`` or ``TARGET_BATCH_SIZE``
due jobs in one transaction. A match batch reads each bus's rules once and
writes one target job per (rule, target) for the events of several match
jobs, up to ``MAX_TARGET_EVENTS`` events. A target batch resolves each
response plan once and starts the incidents of one rule's target together.
The result is the same as when each job runs alone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.engine.queue import NewJob, enqueue_many
from tocsin.events import buses, inputs, permissions, plan_delivery, rules, targets
from tocsin.events.buses import BusRef
from tocsin.events.ingest import MATCH_JOB, MAX_BATCH, enqueue_batch
from tocsin.events.models import EventRule, EventTarget
from tocsin.events.patterns import InvalidEventPattern, Pattern, compile_pattern
from tocsin.notify.publishing import publish
from tocsin.protocol.errors import ServiceError

logger = logging.getLogger(__name__)

TARGET_JOB = "events.target"
# Due jobs of each kind that a worker claims and runs in one transaction.
MATCH_BATCH_SIZE = 20
TARGET_BATCH_SIZE = 20
# Events that one target job takes from several match jobs of a batch: as
# many as ingest puts in one match job.
MAX_TARGET_EVENTS = MAX_BATCH
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


@dataclass
class _BusRules:
    """The enabled rules of a bus, by name, and the targets of each rule, by rule ARN."""

    rules: list[EventRule]
    targets: dict[str, list[EventTarget]]


def _bus_rules(session: Session, bus: BusRef) -> _BusRules | None:
    """Read the enabled rules of ``bus`` and their targets; return None when the bus is missing."""
    if not buses.exists(session, bus):
        return None
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
    rule_targets: dict[str, list[EventTarget]] = {}
    if enabled:
        for target in session.scalars(
            select(EventTarget)
            .where(EventTarget.rule_arn.in_([rule.arn for rule in enabled]))
            .order_by(EventTarget.rule_arn, EventTarget.target_id)
        ):
            rule_targets.setdefault(target.rule_arn, []).append(target)
    return _BusRules(enabled, rule_targets)


class _TargetJobs:
    """The target jobs that one match batch writes, merged per (rule, target, hops).

    The events that several match jobs route to one target share a job until
    it contains ``MAX_TARGET_EVENTS`` events. The events of one match job are
    never split, so a job's key can name the match job that opened it.
    ``event_batches`` in the payload keeps the match jobs' shares apart for
    the deliveries that must treat them as separate jobs (see ``plan_delivery``).
    """

    def __init__(self) -> None:
        self.jobs: list[NewJob] = []
        self._open: dict[tuple[str, str, int], NewJob] = {}

    def add(
        self,
        context: JobContext,
        rule: EventRule,
        target: EventTarget,
        kind: str,
        matched: list[dict[str, Any]],
        hops: int,
    ) -> None:
        slot = (rule.arn, target.target_id, hops)
        job = self._open.get(slot)
        if job is not None and len(job.payload["events"]) + len(matched) <= MAX_TARGET_EVENTS:
            job.payload["events"].extend(matched)
            job.payload["event_batches"].append(len(matched))
            return
        payload = {
            "rule_arn": rule.arn,
            "rule_account": rule.account_id,
            "region": rule.region,
            "role_arn": rule.role_arn,
            "kind": kind,
            "hops": hops,
            "target": targets.snapshot(target),
            "events": list(matched),
            # How many of the events each match job gave, in order.
            "event_batches": [len(matched)],
        }
        job = NewJob(
            TARGET_JOB,
            payload,
            due_at=context.clock.now(),
            key=_target_key(context.job_id, rule.arn, target.target_id),
            account_id=rule.account_id,
        )
        self._open[slot] = job
        self.jobs.append(job)


@dataclass(frozen=True)
class MatchHandler:
    """The match job: match events against their bus's enabled rules and enqueue target jobs."""

    batch_size: int = MATCH_BATCH_SIZE

    def __call__(self, context: JobContext) -> None:
        self.run_batch([context])

    def run_batch(self, contexts: Sequence[JobContext]) -> None:
        if not contexts:
            return
        session, clock = contexts[0].session, contexts[0].clock
        rules_by_bus: dict[str, _BusRules | None] = {}
        target_jobs = _TargetJobs()
        matched_events = 0
        for context in contexts:
            payload = context.payload
            bus = BusRef(payload["account"], payload["region"], payload["bus"])
            if bus.arn not in rules_by_bus:
                rules_by_bus[bus.arn] = _bus_rules(session, bus)
            bus_rules = rules_by_bus[bus.arn]
            events: list[dict[str, Any]] = payload["events"]
            matched_events += len(events)
            if bus_rules is None:
                DROPPED.inc(len(events))
                logger.warning(
                    "dropped %d event(s) of job %s: event bus %s does not exist",
                    len(events),
                    context.job_id,
                    bus.arn,
                )
                continue
            if not bus_rules.rules:
                logger.debug("no enabled rule on %s for %d event(s)", bus.arn, len(events))
                continue
            hops = int(payload.get("hops", 0))
            for rule in bus_rules.rules:
                pattern = _compiled(rule.event_pattern)
                if pattern is None:
                    continue
                matched = [event for event in events if pattern.matches(event)]
                if not matched:
                    continue
                for target in bus_rules.targets.get(rule.arn, []):
                    kind = _deliverable_kind(rule, target, matched, hops)
                    if kind is not None:
                        target_jobs.add(context, rule, target, kind, matched, hops)
        enqueue_many(session, clock, target_jobs.jobs)
        logger.info(
            "matched %d event(s) of %d match job(s) on %d bus(es): %d target job(s)",
            matched_events,
            len(contexts),
            len(rules_by_bus),
            len(target_jobs.jobs),
        )


def _deliverable_kind(
    rule: EventRule, target: EventTarget, matched: list[dict[str, Any]], hops: int
) -> str | None:
    """Return the kind of ``target``, or None when the matched events are not sent to it."""
    try:
        kind = targets.kind_of(target.arn, rule)
    except ServiceError as exc:
        logger.warning(
            "target %s of rule %s is not deliverable: %s", target.target_id, rule.arn, exc
        )
        DELIVERIES.labels("unknown", "given_up").inc(len(matched))
        return None
    if kind == targets.EVENT_BUS and hops >= MAX_BUS_HOPS:
        logger.info(
            "did not forward %d event(s) from rule %s to bus %s: they already crossed %d bus(es)",
            len(matched),
            rule.arn,
            target.arn,
            hops,
        )
        return None
    return kind


@dataclass(frozen=True)
class TargetHandler:
    """The target job: deliver the events of one (rule, target) pair to the target.

    A batch delivers the jobs of each response plan target together (see
    ``plan_delivery``), and the other jobs one after another.
    """

    batch_size: int = TARGET_BATCH_SIZE

    def __call__(self, context: JobContext) -> None:
        self.run_batch([context])

    def run_batch(self, contexts: Sequence[JobContext]) -> None:
        to_plans = []
        for context in contexts:
            kind = context.payload["kind"]
            if kind == targets.RESPONSE_PLAN:
                to_plans.append(context)
            else:
                _DELIVERERS[kind](context, context.payload)
        if not to_plans:
            return
        for context, reason in plan_delivery.deliver(to_plans):
            if reason is None:
                DELIVERIES.labels(targets.RESPONSE_PLAN, "delivered").inc(
                    len(context.payload["events"])
                )
            else:
                _give_up(context, context.payload, reason)


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
    targets.SNS_TOPIC: _to_sns_topic,
    targets.EVENT_BUS: _to_event_bus,
}


def register(registry: JobRegistry) -> None:
    """Register the event delivery jobs on ``registry``; a second call does nothing."""
    if registry.get(MATCH_JOB) is None:
        registry.register(MATCH_JOB, MatchHandler())
    if registry.get(TARGET_JOB) is None:
        registry.register(TARGET_JOB, TargetHandler())
