"""Engagements: start, escalation stages, acknowledgement effects and stop.

Stage i of an escalation plan starts at the sum of the durations of the
stages before it, counted from the engagement's start. Stages due at the
start run in the StartEngagement transaction; each later stage is a
``STAGE_JOB`` row due at its start time, and ``stage_starts`` runs those
jobs, many in one transaction when they fall due together. A personal
contact or an on-call schedule engaged directly gets its pages at once.

Row locks in this package follow one order, so that requests and job
handlers do not wait on each other in a cycle. Job rows come first, because a
worker locks its job before its handler runs and ``cancel`` locks the jobs it
cancels (escalation stages before page sends). Pages come next, and the
engagement last.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.engagement_events import (
    ENGAGEMENT_FAILED_EVENT,
    ENGAGEMENT_STARTED_EVENT,
    ENGAGEMENT_STOPPED_EVENT,
    PAGE_ACKNOWLEDGED_EVENT,
    STAGE_STARTED_EVENT,
    add_timeline_event,
)
from tocsin.contacts.engagement_models import Engagement, Page
from tocsin.contacts.models import Contact
from tocsin.contacts.pages import (
    READ,
    cancel_sends,
    check_accept,
    find_page,
    record_accept,
    stage_offsets,
)
from tocsin.contacts.pages import stop_page as stop_one_page
from tocsin.contacts.plans import ESCALATION
from tocsin.contacts.resolution import resolve_direct
from tocsin.contacts.stage_starts import StageStarter
from tocsin.engine.clock import Clock
from tocsin.engine.queue import cancel, enqueue
from tocsin.iam.crypto import SecretBox
from tocsin.store.ids import uuid7

logger = logging.getLogger(__name__)

__all__ = [
    "ENGAGEMENT_FAILED_EVENT",
    "ENGAGEMENT_STARTED_EVENT",
    "ENGAGEMENT_STOPPED_EVENT",
    "PAGE_ACKNOWLEDGED_EVENT",
    "STAGE_JOB",
    "STAGE_STARTED_EVENT",
    "accept_page",
    "add_timeline_event",
    "cancel_stages",
    "engagement_arn",
    "find_engagement",
    "start_engagement",
    "stop_engagement",
]

STAGE_JOB = "contacts.engagement_stage"

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


def start_engagement(
    session: Session,
    clock: Clock,
    contact: Contact,
    params: Mapping[str, Any],
    *,
    started_by: str,
) -> Engagement:
    """Create an engagement of ``contact`` from StartEngagement's parameters and start it."""
    now = clock.now()
    engagement_id = str(uuid7())
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

    starter = StageStarter(session, clock)
    if contact.type != ESCALATION:
        starter.page_reached(engagement, resolve_direct(session, contact, now), None)
        starter.write()
        return engagement
    if not stages:
        logger.warning(
            "escalation plan %s has no stages, so engagement %s pages nobody",
            contact.arn,
            engagement.arn,
        )
    for stage_index, offset in enumerate(stage_offsets(stages)):
        if not offset:
            starter.start_stage(engagement, stage_index)
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
    starter.write()
    return engagement


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
