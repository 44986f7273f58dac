"""Incidents started by triggers: EventBridge rules and CloudWatch alarms.

The trigger ARN of an incident is the ARN of what fired. For an EventBridge
rule it is the rule's ARN, with the event as raw data, and for a CloudWatch
alarm it is the alarm's ARN. Tocsin records it in the trigger details and in
``incidentRecordSource.resourceArn``. Repeats of one trigger join the open
incident that it started and raise that incident's trigger count. For
webhook alerts that carry a group key, the trigger is the rule and the
alert group together, so each group of a rule has its own incident.

NOTE: AWS documents ``createdBy`` only as "the principal that started the
incident" and ``invokedBy`` as the service principal that assumed that
principal's role. For a rule, Tocsin records the role that the target or
the rule names as ``createdBy``, else the rule's ARN. For an alarm it records
the alarm's ARN. ``invokedBy`` is the service principal of the source
(events.amazonaws.com, cloudwatch.amazonaws.com) unless the caller passes one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from tocsin import jsontext
from tocsin.engine.clock import Clock
from tocsin.iam.models import Account
from tocsin.iam.policy import AuthzRequest, Decision, PolicyError, evaluate
from tocsin.incidents import plans, policies, records, timeline
from tocsin.incidents.arns import parse_arn
from tocsin.incidents.models import IncidentRecord, ResponsePlan
from tocsin.incidents.records import StartedIncident
from tocsin.protocol.errors import ServiceError
from tocsin.sharing import access as sharing

logger = logging.getLogger(__name__)

START_ACTION = "ssm-incidents:StartIncident"
ACCOUNT_ID = re.compile(r"\d{12}")
# The service principal that starts incidents for each trigger source.
SERVICE_PRINCIPALS = {
    "aws.events": "events.amazonaws.com",
    "aws.cloudwatch": "cloudwatch.amazonaws.com",
}
# Stands in for the trigger's identity policies: the account that owns the
# rule or alarm chose the plan, so only the plan's sharing decides.
_OWNER_ALLOWED: dict[str, Any] = {
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
}


class PlanUnavailable(Exception):
    """The trigger's response plan does not exist, is malformed or is not shared with the caller.

    Retrying does not help until the plan's owner changes something, so the
    caller gives the trigger up.
    """


def _resource_policy_allows(session: Session, plan: ResponsePlan, account_id: str) -> bool:
    documents = policies.documents(session, plan)
    if not documents:
        return False
    account = session.get(Account, account_id)
    context: dict[str, Any] = {"aws:PrincipalAccount": account_id}
    if account is not None and account.organization_id:
        context["aws:PrincipalOrgID"] = account.organization_id
    request = AuthzRequest(
        action=START_ACTION,
        resource=plan.arn,
        principal_account=account_id,
        principal_arns=(f"arn:aws:iam::{account_id}:root",),
        resource_account=plan.account_id,
        context=context,
    )
    try:
        return evaluate(request, (_OWNER_ALLOWED,), documents) is Decision.ALLOW
    except PolicyError:
        logger.warning("the resource policy of %s could not be evaluated", plan.arn, exc_info=True)
        return False


def resolve_plan(session: Session, plan_arn: str, caller_account: str) -> ResponsePlan:
    """Return the plan that ``caller_account`` may start incidents with, or raise PlanUnavailable.

    The plan is usable when it is the caller's own, when a RAM resource share
    grants it to the caller, or when its resource policy allows StartIncident.
    """
    try:
        parsed = parse_arn(plan_arn, "plan ARN", "RESPONSE_PLAN")
    except ServiceError as exc:
        raise PlanUnavailable(exc.message) from exc
    plan = plans.find(session, parsed.account_id, parsed.resource_id)
    if plan is None:
        raise PlanUnavailable(f"Response plan {plan_arn} does not exist.")
    if plan.account_id == caller_account:
        return plan
    if sharing.shared_with(session, plan.arn, caller_account):
        return plan
    if _resource_policy_allows(session, plan, caller_account):
        return plan
    raise PlanUnavailable(f"Response plan {plan_arn} is not shared with account {caller_account}.")


def start_with_plan(
    session: Session,
    clock: Clock,
    plan: ResponsePlan,
    *,
    caller_account: str,
    created_by: str,
    source: str,
    trigger_arn: str,
    raw_data: str,
    timestamp: datetime,
    invoked_by: str | None,
    impacted_account: str | None = None,
    alert_group: str | None = None,
) -> StartedIncident:
    """Start or join an incident of a plan already resolved by ``resolve_plan``.

    ``impacted_account`` defaults to ``caller_account``; for an event it is the
    account the event came from, which a forwarding bus does not change.
    ``alert_group`` is the group of a webhook alert: each group of one trigger
    has its own open incident.
    """
    trigger = {
        "source": source,
        "triggerArn": trigger_arn,
        "rawData": raw_data,
        "timestamp": timestamp,
    }
    return records.start(
        session,
        clock,
        plan,
        {"triggerDetails": trigger},
        caller_arn=created_by,
        caller_account=caller_account,
        impacted_account=impacted_account,
        alert_group=alert_group,
        invoked_by=invoked_by or SERVICE_PRINCIPALS.get(source),
    )


def event_account(raw_data: str) -> str | None:
    """Return the ``account`` of an EventBridge event given as raw data, if it names one."""
    try:
        event = jsontext.loads(raw_data)
    except jsontext.JsonTextError:
        return None
    account = event.get("account") if isinstance(event, dict) else None
    return account if isinstance(account, str) and ACCOUNT_ID.fullmatch(account) else None


@dataclass(frozen=True)
class Firing:
    """One firing of a trigger: its raw data, the moment it happened and its alert group."""

    raw_data: str
    timestamp: datetime
    alert_group: str | None = None


def start_many(
    session: Session,
    clock: Clock,
    plan: ResponsePlan,
    firings: Sequence[Firing],
    *,
    caller_account: str,
    created_by: str,
    source: str,
    trigger_arn: str,
    invoked_by: str | None,
) -> list[StartedIncident]:
    """Start or join one incident per alert group for several firings of one trigger.

    Firings without an alert group count as one group. Returns the incidents
    in the order of each group's first firing. The result is what one
    ``start_with_plan`` call per firing gives: one trigger timeline event per
    firing and a trigger count that grows by one per firing. The first firing
    of each group starts or joins the group's incident, and the incidents
    that the groups start are inserted together. The other firings join with
    one count update per group, so a storm of firings costs a few statements
    per group, not a start per firing.
    """
    by_group: dict[str | None, list[Firing]] = {}
    for firing in firings:
        by_group.setdefault(firing.alert_group, []).append(firing)
    if not by_group:
        return []
    triggers: list[dict[str, Any]] = [
        {
            "source": source,
            "triggerArn": trigger_arn,
            "rawData": group_firings[0].raw_data,
            "timestamp": group_firings[0].timestamp,
        }
        for group_firings in by_group.values()
    ]
    service = invoked_by or SERVICE_PRINCIPALS.get(source)
    if plan.incident_template.get("dedupeString"):
        # Every group has the template's dedupe string, so each group after
        # the first joins the incident that the first starts.
        started = [
            records.start(
                session,
                clock,
                plan,
                {"triggerDetails": trigger},
                caller_arn=created_by,
                caller_account=caller_account,
                impacted_account=event_account(trigger["rawData"]),
                alert_group=alert_group,
                invoked_by=service,
            )
            for trigger, alert_group in zip(triggers, by_group, strict=True)
        ]
    else:
        started = _start_groups(
            session,
            clock,
            plan,
            triggers,
            list(by_group),
            caller_account=caller_account,
            created_by=created_by,
            invoked_by=service,
        )

    now = clock.now()
    events = []
    for incident, group_firings in zip(started, by_group.values(), strict=True):
        rest = group_firings[1:]
        events += _join_rest(session, incident, rest, created_by, source, trigger_arn, now)
    timeline.insert_events(session, events)
    return started


def _start_groups(
    session: Session,
    clock: Clock,
    plan: ResponsePlan,
    triggers: Sequence[dict[str, Any]],
    alert_groups: Sequence[str | None],
    *,
    caller_account: str,
    created_by: str,
    invoked_by: str | None,
) -> list[StartedIncident]:
    """Start or join the incident of each alert group, inserting the new ones together.

    The groups are distinct, so their trigger keys are, and no group can
    join an incident that another group of the call starts.
    """
    now = clock.now()
    joined: list[StartedIncident | None] = []
    created: list[records.NewIncident] = []
    for trigger, alert_group in zip(triggers, alert_groups, strict=True):
        new = records.build(
            plan,
            {"triggerDetails": trigger},
            caller_arn=created_by,
            caller_account=caller_account,
            now=now,
            impacted_account=event_account(trigger["rawData"]),
            alert_group=alert_group,
            invoked_by=invoked_by,
        )
        row = new.row
        existing = None
        if row["open_trigger_key"] is not None:
            existing = records._find_open(
                session, plan.account_id, row["open_dedupe_key"], row["open_trigger_key"]
            )
        if existing is None:
            joined.append(None)
            created.append(new)
            continue
        records._join(session, existing.id, existing.arn, trigger, created_by, now)
        joined.append(StartedIncident(existing.id, existing.arn, created=False))

    inserted = iter(zip(records.insert_new(session, created), created, strict=True))
    started = []
    for incident in joined:
        if incident is None:
            key, new = next(inserted)
            incident = StartedIncident(key, new.arn, created=True)
            logger.info(
                "started incident %s from %s for %s (source %s, %d start jobs)",
                new.arn,
                plan.arn,
                created_by,
                new.row["source"],
                len(new.jobs),
            )
        started.append(incident)
    return started


def _join_rest(
    session: Session,
    started: StartedIncident,
    firings: Sequence[Firing],
    created_by: str,
    source: str,
    trigger_arn: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """Count further firings on an incident; return their trigger timeline events to insert."""
    if not firings:
        return []
    total = session.execute(
        update(IncidentRecord)
        .where(IncidentRecord.id == started.id)
        .values(trigger_count=IncidentRecord.trigger_count + len(firings))
        .returning(IncidentRecord.trigger_count)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    events = []
    for offset, firing in enumerate(firings):
        trigger = {
            "source": source,
            "triggerArn": trigger_arn,
            "rawData": firing.raw_data,
            "timestamp": firing.timestamp,
        }
        count = total - len(firings) + offset + 1
        # The same builder as records.start, so joined triggers read alike.
        event = records._trigger_event(trigger, created_by, count=count, now=now)
        event["incident_id"] = started.id
        events.append(event)
    logger.info(
        "%d more trigger(s) from %s joined incident %s (trigger count %d)",
        len(firings),
        trigger_arn,
        started.arn,
        total,
    )
    return events


def start_from_trigger(
    session: Session,
    clock: Clock,
    *,
    plan_arn: str,
    caller_account: str,
    source: str,
    trigger_arn: str,
    raw_data: str,
    timestamp: datetime,
    invoked_by: str | None = None,
) -> StartedIncident:
    """Start an incident of ``plan_arn`` for a trigger, or join the trigger's open incident.

    ``caller_account`` owns the trigger (the rule or the alarm); the incident
    is created in the plan's account. Raises PlanUnavailable when the plan
    does not exist or is not shared with ``caller_account``.
    """
    plan = resolve_plan(session, plan_arn, caller_account)
    return start_with_plan(
        session,
        clock,
        plan,
        caller_account=caller_account,
        created_by=trigger_arn,
        source=source,
        trigger_arn=trigger_arn,
        raw_data=raw_data,
        timestamp=timestamp,
        invoked_by=invoked_by,
    )
