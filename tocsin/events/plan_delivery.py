"""Delivery of target jobs to response plans: start or join incidents for several jobs at once.

The target jobs of a batch that share a response plan, a rule, the
principal recorded as ``createdBy`` and a Region are delivered together. The
plan is resolved once, the alert groups of all their events are locked in
one statement, and one ``triggers.start_many`` call starts or joins the
incidents of all their firings. That gives what delivering each job alone
gives, because target jobs do not change alert groups: a firing joins the
open incident of its trigger and group whichever job started it.

The exception is an alert group that has resolved. After each job,
``alert_groups.settle_started`` resolves the incidents that such a group's
firings started or joined, so a later job's firing of the group starts a
new incident. When any event's group has resolved, the jobs are therefore
delivered one after another, and so are the shares of the match jobs that
a target job took its events from (its ``event_batches``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tocsin.engine.jobs import JobContext
from tocsin.events import alert_groups, inputs
from tocsin.events.webhook_models import AlertGroup
from tocsin.incidents import triggers
from tocsin.incidents.models import ResponsePlan

logger = logging.getLogger(__name__)

EVENTS_SOURCE = "aws.events"


def _created_by(payload: Mapping[str, Any]) -> str:
    """Return the target's role, else the rule's role, else the rule ARN: the ``createdBy``."""
    principal: str = (
        payload["target"].get("role_arn") or payload.get("role_arn") or payload["rule_arn"]
    )
    return principal


def deliver(contexts: Sequence[JobContext]) -> list[tuple[JobContext, str | None]]:
    """Deliver target jobs of response plans in the jobs' shared transaction.

    Returns each job with the reason it was given up, or with None when it
    was delivered. A job is given up when its plan does not exist or is not
    shared with the rule's account.
    """
    bundles: dict[tuple[str, str, str, str, str], list[JobContext]] = {}
    for context in contexts:
        payload = context.payload
        key = (
            payload["target"]["arn"],
            payload["rule_account"],
            payload["rule_arn"],
            _created_by(payload),
            payload["region"],
        )
        bundles.setdefault(key, []).append(context)

    outcomes: list[tuple[JobContext, str | None]] = []
    plans: dict[tuple[str, str], ResponsePlan | str] = {}
    # Sorted bundles lock incident rows in the same order in concurrent batches.
    for key in sorted(bundles):
        jobs = bundles[key]
        plan_arn, rule_account = key[0], key[1]
        if (plan_arn, rule_account) not in plans:
            try:
                plans[plan_arn, rule_account] = triggers.resolve_plan(
                    jobs[0].session, plan_arn, rule_account
                )
            except triggers.PlanUnavailable as exc:
                plans[plan_arn, rule_account] = str(exc)
        plan = plans[plan_arn, rule_account]
        if isinstance(plan, str):
            outcomes += [(job, plan) for job in jobs]
            continue
        _start_bundle(plan, jobs)
        outcomes += [(job, None) for job in jobs]
    return outcomes


def _start_bundle(plan: ResponsePlan, jobs: Sequence[JobContext]) -> None:
    """Start or join the incidents of target jobs that share a plan, a rule and a principal."""
    session = jobs[0].session
    events = [event for job in jobs for event in job.payload["events"]]
    # Alert groups are locked before any incident row, as receiving a post does.
    groups = alert_groups.lock_event_groups(session, events)
    resolved = any(group is not None and group.status == alert_groups.RESOLVED for group in groups)
    if not resolved:
        _start(plan, [(job, job.payload["events"]) for job in jobs], groups)
        return
    # Each match job's share of each target job is delivered alone, as it
    # was before batches merged them.
    offset = 0
    for job in jobs:
        events = job.payload["events"]
        start = 0
        for count in job.payload.get("event_batches") or [len(events)]:
            part = events[start : start + count]
            _start(plan, [(job, part)], groups[offset : offset + count])
            start += count
            offset += count


def _event_time(event: Mapping[str, Any], fallback: datetime) -> datetime:
    text = event.get("time")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    return fallback


def _start(
    plan: ResponsePlan,
    parts: Sequence[tuple[JobContext, Sequence[Mapping[str, Any]]]],
    groups: Sequence[AlertGroup | None],
) -> None:
    """Start or join incidents for events of target jobs, in order; ``groups`` are their groups."""
    session, clock = parts[0][0].session, parts[0][0].clock
    payload = parts[0][0].payload
    now = clock.now()

    firings: list[triggers.Firing] = []
    position = 0
    for job, events in parts:
        for event in events:
            group = groups[position]
            position += 1
            if alert_groups.is_late_resolution(event, group):
                continue
            firings.append(
                triggers.Firing(
                    raw_data=inputs.render(job.payload["target"], event, payload["rule_arn"]),
                    timestamp=_event_time(event, now),
                    alert_group=group.group_id if group is not None else None,
                )
            )
    # The sort is stable, so each group keeps the order of its firings. It makes
    # concurrent batches take the incident rows of their groups in one order.
    firings.sort(key=lambda firing: firing.alert_group or "")

    started = triggers.start_many(
        session,
        clock,
        plan,
        firings,
        caller_account=payload["rule_account"],
        created_by=_created_by(payload),
        source=EVENTS_SOURCE,
        trigger_arn=payload["rule_arn"],
        invoked_by=None,
    )
    alert_groups.settle_started(session, clock, started, payload["region"])
    logger.info(
        "delivered %d event(s) of %d target job(s) of rule %s to plan %s: incident(s) %s",
        position,
        len({job.job_id for job, _events in parts}),
        payload["rule_arn"],
        plan.arn,
        ", ".join(incident.arn for incident in started),
    )
