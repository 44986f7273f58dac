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
    started = records.start(
        session,
        clock,
        plan,
        {"triggerDetails": trigger},
        caller_arn=created_by,
        caller_account=caller_account,
        impacted_account=impacted_account,
        alert_group=alert_group,
    )
    service = invoked_by or SERVICE_PRINCIPALS.get(source)
    if started.created and service is not None:
        session.execute(
            update(IncidentRecord)
            .where(IncidentRecord.id == started.id)
            .values(invoked_by=service)
            .execution_options(synchronize_session=False)
        )
    return started


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
    in the order of each group's first firing.
    """
    by_group: dict[str | None, list[Firing]] = {}
    for firing in firings:
        by_group.setdefault(firing.alert_group, []).append(firing)
    return [
        _start_group(
            session,
            clock,
            plan,
            group_firings,
            caller_account=caller_account,
            created_by=created_by,
            source=source,
            trigger_arn=trigger_arn,
            invoked_by=invoked_by,
        )
        for group_firings in by_group.values()
    ]


def _start_group(
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
) -> StartedIncident:
    """Start or join one incident for firings of one trigger and one alert group.

    The result is what one ``start_with_plan`` call per firing gives: one
    trigger timeline event per firing and a trigger count that grows by one
    per firing. The first firing starts or joins the incident. The others
    join it with one count update and one timeline insert per firing, so a
    storm of firings costs a few statements per firing, not a whole start.
    """
    first, rest = firings[0], firings[1:]
    started = start_with_plan(
        session,
        clock,
        plan,
        impacted_account=event_account(first.raw_data),
        caller_account=caller_account,
        created_by=created_by,
        source=source,
        trigger_arn=trigger_arn,
        raw_data=first.raw_data,
        timestamp=first.timestamp,
        invoked_by=invoked_by,
        alert_group=first.alert_group,
    )
    if not rest:
        return started

    total = session.execute(
        update(IncidentRecord)
        .where(IncidentRecord.id == started.id)
        .values(trigger_count=IncidentRecord.trigger_count + len(rest))
        .returning(IncidentRecord.trigger_count)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    now = clock.now()
    events = []
    for offset, firing in enumerate(rest):
        trigger = {
            "source": source,
            "triggerArn": trigger_arn,
            "rawData": firing.raw_data,
            "timestamp": firing.timestamp,
        }
        count = total - len(rest) + offset + 1
        # The same builder as records.start, so joined triggers read alike.
        event = records._trigger_event(trigger, created_by, count=count, now=now)
        event["incident_id"] = started.id
        events.append(event)
    timeline.insert_events(session, events)
    logger.info(
        "%d more trigger(s) from %s joined incident %s (trigger count %d)",
        len(rest),
        trigger_arn,
        started.arn,
        total,
    )
    return started


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
