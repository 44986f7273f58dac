"""Events that engagements add to the timeline of the incident they belong to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.incidents import records, timeline

# Event types that engagements add to the timeline of the incident they belong to.
ENGAGEMENT_STARTED_EVENT = "Engagement Started"
STAGE_STARTED_EVENT = "Engagement Stage Started"
PAGE_ACKNOWLEDGED_EVENT = "Page Acknowledged"
ENGAGEMENT_STOPPED_EVENT = "Engagement Stopped"
ENGAGEMENT_FAILED_EVENT = "Engagement Failed"


class TimelineEngagement(Protocol):
    """The columns of an engagement that ``add_timeline_event`` reads."""

    @property
    def arn(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def started_by(self) -> str: ...

    @property
    def incident_id(self) -> str | None: ...


def add_timeline_event(
    session: Session,
    clock: Clock,
    engagement: TimelineEngagement,
    event_type: str,
    data: Mapping[str, Any],
) -> None:
    """Add an event to the timeline of the engagement's incident, if it has one.

    Only an incident of the engagement's account, or of the account that
    started it, gets the event, so that an IncidentId cannot write into the
    timeline of an unrelated account's incident.
    """
    if not engagement.incident_id:
        return
    incident = records.find_by_arn(session, engagement.incident_id)
    if incident is None or incident.account_id not in (
        engagement.account_id,
        engagement.started_by,
    ):
        return
    references = [{"resource": engagement.arn}]
    timeline.add(session, clock, incident, event_type, dict(data), references=references)
