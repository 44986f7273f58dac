"""Engagements: start, escalation stages, acknowledgement effects and stop.

Stage i of an escalation plan starts at the sum of the durations of the
stages before it, counted from the engagement's start. Stages due at the
start run in the StartEngagement transaction; each later stage is a
``STAGE_JOB`` row due at its start time. A personal contact or an on-call
schedule engaged directly gets its pages at once.

Row locks in this package follow one order, so that requests and job
handlers do not wait on each other in a cycle. Job rows come first, because a
worker locks its job before its handler runs and ``cancel`` locks the jobs it
cancels (escalation stages before page sends). Pages come next, and the
engagement last.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.access import find_contact
from tocsin.contacts.channels import find_channel
from tocsin.contacts.engagement_models import Engagement, Page
from tocsin.contacts.models import Contact
from tocsin.contacts.pages import (
    READ,
    cancel_sends,
    channel_targets,
    check_accept,
    create_page,
    find_page,
    record_accept,
    stage_offsets,
)
from tocsin.contacts.pages import stop_page as stop_one_page
from tocsin.contacts.plans import ESCALATION
from tocsin.contacts.resolution import Resolution, Skipped, resolve_direct, resolve_stage
from tocsin.engine.clock import Clock
from tocsin.engine.queue import cancel, enqueue
from tocsin.iam.crypto import SecretBox
from tocsin.incidents import records, timeline

logger = logging.getLogger(__name__)

STAGE_JOB = "contacts.engagement_stage"

# Event types that engagements add to the timeline of the incident they belong to.
ENGAGEMENT_STARTED_EVENT = "Engagement Started"
STAGE_STARTED_EVENT = "Engagement Stage Started"
PAGE_ACKNOWLEDGED_EVENT = "Page Acknowledged"
ENGAGEMENT_STOPPED_EVENT = "Engagement Stopped"
ENGAGEMENT_FAILED_EVENT = "Engagement Failed"

_ENGAGEMENT_ARN = re.compile(
    r"^arn:aws:ssm-contacts:[a-z0-9-]*:(?P<account>\d{12}):engagement/"
    r"(?P<alias>[a-z0-9_\-]{1,255})/"
    r"(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


def engagement_arn(contact: Contact, engagement_id: str) -> str:
    region = contact.arn.split(":")[3]
    return (
        f"arn:aws:ssm-contacts:{region}:{contact.account_id}:engagement/"
        f"{contact.alias}/{engagement_id}"
    )


def find_engagement(session: Session, arn: str, *, lock: bool = False) -> Engagement | None:
    """Return the engagement that ``arn`` names in any Region, or None."""
    match = _ENGAGEMENT_ARN.match(arn)
    if match is None:
        return None
    query = select(Engagement).where(Engagement.engagement_id == match["id"])
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    engagement = session.scalar(query)
    if (
        engagement is None
        or engagement.account_id != match["account"]
        or f"/{match['alias']}/" not in engagement.arn
    ):
        return None
    return engagement


def stage_job_key(engagement: Engagement, stage_index: int) -> str:
    return f"contacts:engagement:{engagement.engagement_id}:stage:{stage_index}"


def add_timeline_event(
    session: Session,
    clock: Clock,
    engagement: Engagement,
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


def start_engagement(
    session: Session,
    clock: Clock,
    box: SecretBox,
    contact: Contact,
    params: Mapping[str, Any],
    *,
    started_by: str,
) -> Engagement:
    """Create an engagement of ``contact`` from StartEngagement's parameters and start it."""
    now = clock.now()
    engagement_id = str(uuid.uuid4())
    stages = list(contact.plan.get("Stages") or []) if contact.type == ESCALATION else []
    engagement = Engagement(
        arn=engagement_arn(contact, engagement_id),
        engagement_id=engagement_id,
        account_id=contact.account_id,
        started_by=started_by,
        contact_arn=contact.arn,
        contact_type=contact.type,
        sender=params["Sender"],
        subject=params["Subject"],
        content=params["Content"],
        public_subject=params.get("PublicSubject"),
        public_content=params.get("PublicContent"),
        incident_id=params.get("IncidentId") or None,
        stages=stages,
        started_stages=[],
        start_time=now,
    )
    session.add(engagement)
    session.flush()
    logger.info(
        "account %s started engagement %s of %s %s",
        started_by,
        engagement.arn,
        contact.type,
        contact.arn,
    )
    started = {
        "engagementArn": engagement.arn,
        "contactArn": contact.arn,
        "contactType": contact.type,
        "sender": engagement.sender,
        "stageCount": len(stages),
    }
    add_timeline_event(session, clock, engagement, ENGAGEMENT_STARTED_EVENT, started)

    if contact.type != ESCALATION:
        resolution = resolve_direct(session, contact, now)
        _page_reached(session, clock, box, engagement, resolution, None)
        return engagement
    if not stages:
        logger.warning(
            "escalation plan %s has no stages, so engagement %s pages nobody",
            contact.arn,
            engagement.arn,
        )
    for stage_index, offset in enumerate(stage_offsets(stages)):
        if not offset:
            start_stage(session, clock, box, engagement, stage_index)
            continue
        enqueue(
            session,
            clock,
            STAGE_JOB,
            {"engagement_arn": engagement.arn, "stage": stage_index},
            due_at=now + offset,
            key=stage_job_key(engagement, stage_index),
            account_id=engagement.account_id,
        )
    return engagement


def start_stage(
    session: Session, clock: Clock, box: SecretBox, engagement: Engagement, stage_index: int
) -> list[Page]:
    """Start escalation stage ``stage_index`` unless it has started, and return its new pages."""
    if stage_index in engagement.started_stages:
        return []
    engagement.started_stages = [*engagement.started_stages, stage_index]
    plan: Contact | str = find_contact(session, engagement.contact_arn) or engagement.contact_arn
    stage = engagement.stages[stage_index]
    resolution = resolve_stage(session, plan, stage, stage_index, clock.now())
    return _page_reached(session, clock, box, engagement, resolution, stage_index)


def _has_channels(session: Session, contact: Contact) -> bool:
    for stage in contact.plan.get("Stages") or []:
        for info in channel_targets(stage):
            channel = find_channel(session, info["ContactChannelId"])
            if channel is not None and channel.contact_arn == contact.arn:
                return True
    return False


def _page_reached(
    session: Session,
    clock: Clock,
    box: SecretBox,
    engagement: Engagement,
    resolution: Resolution,
    stage_index: int | None,
) -> list[Page]:
    """Page every personal contact that ``resolution`` reached, and record the stage once."""
    pages: list[Page] = []
    skipped = list(resolution.skipped)
    for reached in resolution.reached:
        if not _has_channels(session, reached.contact):
            reason = "The personal contact's plan has no stage that targets a contact channel."
            skipped.append(Skipped(reached.contact.arn, reason))
            continue
        pages.append(create_page(session, clock, box, engagement, reached, stage_index))
    for item in skipped:
        logger.warning(
            "engagement %s stage %s skipped %s: %s",
            engagement.arn,
            stage_index,
            item.contact_arn,
            item.reason,
        )
    if not pages:
        logger.warning("engagement %s stage %s paged nobody", engagement.arn, stage_index)
    data: dict[str, Any] = {
        "engagementArn": engagement.arn,
        "contactArn": engagement.contact_arn,
        "pageArns": [page.arn for page in pages],
        "pagedContactArns": [page.contact_arn for page in pages],
        "skipped": [item.to_data() for item in skipped],
    }
    if stage_index is not None:
        data["stageIndex"] = stage_index
    add_timeline_event(session, clock, engagement, STAGE_STARTED_EVENT, data)
    return pages


def cancel_stages(session: Session, clock: Clock, engagement: Engagement) -> int:
    """Cancel the escalation stages that have not started, and return how many were pending."""
    cancelled = 0
    for stage_index in range(len(engagement.stages)):
        if stage_index not in engagement.started_stages:
            cancelled += cancel(session, stage_job_key(engagement, stage_index), clock=clock)
    return cancelled


def stop_engagement(
    session: Session, clock: Clock, engagement: Engagement, reason: str | None
) -> bool:
    """Stop the engagement so that no stage starts and no page sends, and return whether it did.

    Stopping a stopped engagement changes nothing and keeps the first stop
    time and reason.
    """
    if engagement.stop_time is not None:
        return False
    cancel_stages(session, clock, engagement)
    page_query = select(Page).where(Page.engagement_arn == engagement.arn).order_by(Page.arn)
    for page in session.scalars(page_query):
        cancel_sends(session, clock, page)

    locked = page_query.with_for_update().execution_options(populate_existing=True)
    stopped = [page.arn for page in session.scalars(locked) if stop_one_page(session, clock, page)]
    current = find_engagement(session, engagement.arn, lock=True)
    if current is None or current.stop_time is not None:
        return False
    current.stop_time = clock.now()
    current.stop_reason = reason or None
    logger.info(
        "stopped engagement %s and %d pages: %s", current.arn, len(stopped), reason or "no reason"
    )
    data: dict[str, Any] = {"engagementArn": current.arn, "stoppedPageArns": stopped}
    if reason:
        data["reason"] = reason
    add_timeline_event(session, clock, current, ENGAGEMENT_STOPPED_EVENT, data)
    return True


def accept_page(
    session: Session, clock: Clock, box: SecretBox, page: Page, params: Mapping[str, Any]
) -> bool:
    """Record AcceptPage's DELIVERED or READ receipt, and return whether it was the first READ.

    A first READ stops the page's channel stages that have not started. When
    the page's target was essential, it also cancels the escalation stages
    that have not started. Raises ValidationException for a channel of
    another contact or a wrong enforced AcceptCode.
    """
    channel_arn = check_accept(box, page, params)
    engagement = session.get(Engagement, page.engagement_arn)
    if engagement is None:
        raise LookupError(f"page {page.arn} names the missing engagement {page.engagement_arn}")
    accept_type = params["AcceptType"]
    if accept_type == READ:
        # Escalation stages first, then sends, in the order StopEngagement uses.
        if page.essential:
            cancel_stages(session, clock, engagement)
        cancel_sends(session, clock, page)

    locked = find_page(session, page.arn, lock=True)
    if locked is None:
        raise LookupError(f"page {page.arn} disappeared while it was being accepted")
    info = params.get("Note") or params["AcceptCode"]
    first_read = record_accept(
        session, clock, locked, accept_type, channel_arn=channel_arn, info=info
    )
    if not first_read:
        return False

    escalation_ended = False
    if locked.essential:
        current = find_engagement(session, engagement.arn, lock=True)
        if current is not None and current.escalation_ended_at is None:
            current.escalation_ended_at = clock.now()
            escalation_ended = current.stop_time is None
            logger.info(
                "essential page %s was acknowledged, so engagement %s starts no more stages",
                locked.arn,
                current.arn,
            )
    data: dict[str, Any] = {
        "engagementArn": engagement.arn,
        "pageArn": locked.arn,
        "contactArn": locked.contact_arn,
        "essential": locked.essential,
        "escalationEnded": escalation_ended,
    }
    if channel_arn:
        data["contactChannelArn"] = channel_arn
    if params.get("Note"):
        data["note"] = params["Note"]
    add_timeline_event(session, clock, engagement, PAGE_ACKNOWLEDGED_EVENT, data)
    return True
