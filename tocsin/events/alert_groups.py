"""Alert groups: the posts of one Alertmanager group become one incident.

Alertmanager and Grafana's unified alerting send every notification of an
alert group with the group's ``groupKey`` and ``status``. A group is
identified by its webhook and its group key, and its state is a row of
``alert_groups``, written while the post is received:

- An incident that the group's alerts start carries the group's id in
  ``incident_records.alert_group``, and the group id is part of the
  incident's trigger key (see ``records.trigger_key``). Later posts of the
  group therefore join the open incident instead of starting another.
- A post that resolves alerts adds one ``Tocsin Alert Group Update`` event
  to the timeline of each open incident of the group. An alert resolution
  is recorded once per fingerprint and ``endsAt``, so Alertmanager's repeated
  resolutions of one alert are not recorded again.
- When every alert of the group has resolved and the webhook was created
  with ``--resolve``, the incidents resolve through
  ``records.update_record``, as UpdateIncidentRecord resolves them.

Incidents are started later, by the rule's target job. The group row is
locked by both paths, and a target job that runs after the group resolved
resolves the incident that it started or joined (see ``settle_started``).
Resolved alerts of a group that has wholly resolved start no incident, even
where a rule routes resolved alerts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.events.webhook_formats import (
    ALERTMANAGER,
    ALERTMANAGER_SOURCE,
    GRAFANA,
    GRAFANA_SOURCE,
    AlertEvent,
)
from tocsin.events.webhook_models import AlertGroup, AlertWebhook
from tocsin.incidents import records, timeline
from tocsin.incidents.models import IncidentRecord

logger = logging.getLogger(__name__)

GROUP_EVENT = "Tocsin Alert Group Update"
# Maximum length of a timeline event's eventData in the Incident Manager API.
MAX_EVENT_DATA = 12_000
FIRING, RESOLVED = "firing", "resolved"
# Formats and event sources whose payloads carry Alertmanager's group members.
GROUPED_FORMATS = (ALERTMANAGER, GRAFANA)
GROUPED_SOURCES = (ALERTMANAGER_SOURCE, GRAFANA_SOURCE)


@dataclass(frozen=True)
class ResolvedAlert:
    """An alert of a post whose status is resolved."""

    fingerprint: str
    ends_at: str | None
    labels: Mapping[str, str]

    @property
    def key(self) -> str:
        return f"{self.fingerprint} {self.ends_at or ''}"


@dataclass(frozen=True)
class GroupPost:
    """The alert group of one post, whether the post resolves it, and its resolved alerts."""

    group_key: str
    # True when the post's status is resolved and so is every alert in it.
    resolved: bool
    resolved_alerts: tuple[ResolvedAlert, ...]


def group_id(webhook_id: str, group_key: str) -> str:
    """Return the id of the alert group ``group_key`` posted to webhook ``webhook_id``."""
    return hashlib.sha256(f"{webhook_id}\n{group_key}".encode()).hexdigest()


def group_post(format_name: str, payload: Any, events: Sequence[AlertEvent]) -> GroupPost | None:
    """Return the group of a converted post, or None when the post names no group key.

    Only Alertmanager payloads and Grafana's unified alerting payloads have
    group keys. The converter has already validated every member read here.
    """
    if format_name not in GROUPED_FORMATS or not isinstance(payload, dict):
        return None
    if "alerts" not in payload or not events:
        return None
    group_key = events[0].detail.get("groupKey")
    if not isinstance(group_key, str):
        return None
    statuses = [event.detail["status"] for event in events]
    resolved_alerts = tuple(
        ResolvedAlert(event.detail["fingerprint"], event.detail["endsAt"], event.detail["labels"])
        for event in events
        if event.detail["status"] == RESOLVED
    )
    all_resolved = all(status == RESOLVED for status in statuses)
    resolved = all_resolved and payload.get("status", RESOLVED) == RESOLVED
    return GroupPost(group_key, resolved, resolved_alerts)


# The statements of _lock_group are built once, because building them costs
# more CPU than running them, and every post of a grouped format runs both.
_GROUPS = cast(Table, AlertGroup.__table__)
_INSERT_GROUP: dict[str, Insert] = {
    "postgresql": postgresql.insert(_GROUPS).on_conflict_do_nothing(index_elements=["group_id"]),
    "sqlite": sqlite.insert(_GROUPS).on_conflict_do_nothing(index_elements=["group_id"]),
}
_LOCK_GROUP = (
    select(AlertGroup)
    .where(AlertGroup.group_id == bindparam("locked_group"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _lock_group(
    session: Session, webhook: AlertWebhook, group_key: str, now: datetime
) -> AlertGroup:
    """Return the group's row, created if new, locked until the transaction ends."""
    identifier = group_id(webhook.webhook_id, group_key)
    dialect = session.get_bind().dialect.name
    row = {
        "group_id": identifier,
        "webhook_id": webhook.webhook_id,
        "group_key": group_key,
        "status": FIRING,
        "recorded_resolutions": [],
        "updated_at": now,
    }
    session.connection().execute(_INSERT_GROUP[dialect], row)
    group: AlertGroup = session.scalars(_LOCK_GROUP, {"locked_group": identifier}).one()
    return group


def open_incidents(session: Session, group_ids: Sequence[str]) -> list[IncidentRecord]:
    """Return the open incidents that the alert groups ``group_ids`` started, oldest first."""
    if not group_ids:
        return []
    return list(
        session.scalars(
            select(IncidentRecord)
            .where(IncidentRecord.alert_group.in_(group_ids), IncidentRecord.status == "OPEN")
            .order_by(IncidentRecord.id)
        )
    )


def webhook_group_ids(session: Session, webhook_id: str) -> list[str]:
    """Return the ids of every alert group posted to webhook ``webhook_id``."""
    return list(
        session.scalars(select(AlertGroup.group_id).where(AlertGroup.webhook_id == webhook_id))
    )


def record_post(
    session: Session, clock: Clock, webhook: AlertWebhook, post: GroupPost, modified_by: str
) -> list[str]:
    """Update the group's state with a post and apply it to the group's open incidents.

    Returns the ARNs of the incidents that this post resolved. ``modified_by``
    is recorded as the principal that resolved them.
    """
    now = clock.now()
    group = _lock_group(session, webhook, post.group_key, now)
    was_resolved = group.status == RESOLVED
    recorded = list(group.recorded_resolutions)
    if not post.resolved and was_resolved:
        # The group fires again, so its alerts can resolve anew.
        recorded = []
    new_resolutions = [alert for alert in post.resolved_alerts if alert.key not in recorded]
    group.recorded_resolutions = recorded + [alert.key for alert in new_resolutions]
    group.status = RESOLVED if post.resolved else FIRING
    group.updated_at = now

    group_resolved = post.resolved and not was_resolved
    if not new_resolutions and not group_resolved:
        return []
    resolve = group_resolved and webhook.resolve_incidents
    resolved_arns = []
    # NOTE: a resolution that arrives before the target job has started the
    # group's incident is stored in the group only, so without --resolve it
    # never reaches that incident's timeline.
    for incident in open_incidents(session, [group.group_id]):
        _add_group_event(session, clock, incident, group, new_resolutions, resolve)
        if resolve:
            records.update_record(session, clock, incident, {"status": "RESOLVED"}, modified_by)
            resolved_arns.append(incident.arn)
    logger.info(
        "alert group %s of webhook %s is %s: %d alert resolution(s) recorded, "
        "%d incident(s) resolved",
        group.group_id[:16],
        webhook.webhook_id,
        group.status,
        len(new_resolutions),
        len(resolved_arns),
    )
    return resolved_arns


def _add_group_event(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    group: AlertGroup,
    resolved_alerts: Sequence[ResolvedAlert],
    incident_resolved: bool,
) -> None:
    if group.status == RESOLVED:
        summary = f"Alert group {group.group_key} resolved: every alert in it has resolved."
    else:
        summary = f"{len(resolved_alerts)} alert(s) of group {group.group_key} resolved."
    data: dict[str, Any] = {
        "summary": summary,
        "webhookId": group.webhook_id,
        "groupKey": group.group_key,
        "groupStatus": group.status,
        "resolvedAlerts": [],
        "omittedAlerts": 0,
        "incidentResolved": incident_resolved,
    }
    # TimelineEvent.eventData is at most 12,000 characters long, so a post that
    # resolves many alerts lists the first ones that fit and counts the rest.
    # NOTE: the group key appears twice, so a key of more than about 5,900
    # characters still makes eventData longer than the limit.
    budget = MAX_EVENT_DATA - len(json.dumps(data, sort_keys=True)) - len(str(len(resolved_alerts)))
    for alert in resolved_alerts:
        item = {"fingerprint": alert.fingerprint, "endsAt": alert.ends_at, "labels": alert.labels}
        # Each item costs its JSON and the ", " that separates it from the previous one.
        cost = len(json.dumps(item, sort_keys=True)) + 2
        if cost > budget:
            break
        data["resolvedAlerts"].append(item)
        budget -= cost
    data["omittedAlerts"] = len(resolved_alerts) - len(data["resolvedAlerts"])
    timeline.add(session, clock, incident, GROUP_EVENT, data)


def lock_event_groups(
    session: Session, events: Sequence[Mapping[str, Any]]
) -> list[AlertGroup | None]:
    """Return the alert group of each event, locked, or None for an event of no group.

    An event belongs to a group when it came from a webhook of a grouped
    format: its detail names a webhook of the event's account and a group
    key that the webhook received. Events that PutEvents callers make up to
    look alike find no such group. The rows are locked in the order of
    their ids, so that concurrent jobs lock them in the same order.
    """
    candidates: list[tuple[str, str] | None] = []
    for event in events:
        detail = event.get("detail")
        if event.get("source") not in GROUPED_SOURCES or not isinstance(detail, dict):
            candidates.append(None)
            continue
        webhook_id, group_key = detail.get("webhookId"), detail.get("groupKey")
        if isinstance(webhook_id, str) and isinstance(group_key, str):
            candidates.append((group_id(webhook_id, group_key), str(event.get("account"))))
        else:
            candidates.append(None)
    wanted = sorted({candidate[0] for candidate in candidates if candidate is not None})
    if not wanted:
        return [None] * len(events)
    rows = session.execute(
        select(AlertGroup, AlertWebhook.account_id)
        .join(AlertWebhook, AlertWebhook.webhook_id == AlertGroup.webhook_id)
        .where(AlertGroup.group_id.in_(wanted))
        .order_by(AlertGroup.group_id)
        .with_for_update(of=AlertGroup)
        .execution_options(populate_existing=True)
    ).all()
    known = {row.AlertGroup.group_id: (row.AlertGroup, row.account_id) for row in rows}
    found: list[AlertGroup | None] = []
    for candidate in candidates:
        match = known.get(candidate[0]) if candidate is not None else None
        if candidate is not None and match is not None and match[1] == candidate[1]:
            found.append(match[0])
        else:
            found.append(None)
    return found


def is_late_resolution(event: Mapping[str, Any], group: AlertGroup | None) -> bool:
    """Return whether ``event`` is a resolved alert of a group that has wholly resolved.

    Such an event starts no incident, because its resolution is already on
    the timelines of the group's incidents.
    """
    detail = event.get("detail")
    return (
        group is not None
        and group.status == RESOLVED
        and isinstance(detail, dict)
        and detail.get("status") == RESOLVED
    )


def settle_started(
    session: Session, clock: Clock, incidents: Sequence[records.StartedIncident], region: str
) -> list[str]:
    """Resolve started or joined incidents whose alert group resolved before the job ran.

    A target job may run after the group's resolving post was received, and
    that post found no incident to resolve then. Only groups of webhooks
    created with ``--resolve`` are resolved. The caller holds the group rows'
    locks (``lock_event_groups``). ``region`` is the Region of the webhook's events.
    Returns the ARNs of the resolved incidents.
    """
    if not incidents:
        return []
    rows = session.execute(
        select(IncidentRecord, AlertGroup, AlertWebhook)
        .join(AlertGroup, AlertGroup.group_id == IncidentRecord.alert_group)
        .join(AlertWebhook, AlertWebhook.webhook_id == AlertGroup.webhook_id)
        .where(
            IncidentRecord.id.in_([incident.id for incident in incidents]),
            IncidentRecord.status == "OPEN",
            AlertGroup.status == RESOLVED,
            AlertWebhook.resolve_incidents.is_(True),
        )
        .order_by(IncidentRecord.id)
    ).all()
    resolved = []
    for incident, group, webhook in rows:
        _add_group_event(session, clock, incident, group, [], incident_resolved=True)
        modified_by = webhook_principal(region, webhook.account_id, webhook.webhook_id)
        records.update_record(session, clock, incident, {"status": "RESOLVED"}, modified_by)
        resolved.append(incident.arn)
        logger.info(
            "resolved incident %s: its alert group of webhook %s had resolved before "
            "the incident started",
            incident.arn,
            webhook.webhook_id,
        )
    return resolved


def webhook_principal(region: str, account_id: str, webhook_id: str) -> str:
    """Return the ARN-shaped name of a webhook, recorded as ``lastModifiedBy`` when it resolves."""
    return f"arn:aws:events:{region}:{account_id}:webhook/{webhook_id}"
