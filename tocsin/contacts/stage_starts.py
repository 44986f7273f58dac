"""Escalation stage starts and the pages they create, written with bulk statements.

A stage start resolves the stage's targets at the moment it runs, gives each
reached personal contact a page, and enqueues the first send of every channel
stage of that page's own plan. ``StageStarter`` collects the new pages and
send jobs of any number of stage starts in one transaction and writes them
with one multi-row INSERT each when ``write`` is called. Contacts, and
whether a contact has a channel to page, are read once per starter.

``StageStartHandler`` runs the escalation-stage jobs: one at a time like any
handler, or a batch of them in one transaction when many fall due together.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tocsin.contacts.access import find_contact
from tocsin.contacts.channels import find_channel
from tocsin.contacts.engagement_events import STAGE_STARTED_EVENT, add_timeline_event
from tocsin.contacts.engagement_models import Engagement, Page
from tocsin.contacts.models import Contact
from tocsin.contacts.pages import (
    ACCEPT_CODE_DIGITS,
    PAGE_SEND_JOB,
    channel_targets,
    page_arn,
    send_job_key,
    stage_offsets,
)
from tocsin.contacts.resolution import Reached, Resolution, Skipped, resolve_stage
from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext
from tocsin.engine.queue import NewJob, enqueue_many
from tocsin.iam.crypto import SecretBox

logger = logging.getLogger(__name__)

# Stage jobs that one worker claims and starts in one transaction. The pages
# of a batch become visible when it commits, so a larger batch delays its
# first stage longer. At about 0.5 ms per stage start (profiled on a loaded
# 2-vCPU machine), 200 take about 0.1 s.
STAGE_BATCH_SIZE = 200


@dataclass(frozen=True)
class NewPage:
    """A page that a stage start created."""

    arn: str
    contact_arn: str


@dataclass
class StageStarter:
    """Start stages and page contacts in one transaction, then write the pages in bulk."""

    session: Session
    clock: Clock
    box: SecretBox
    _pages: list[dict[str, Any]] = field(default_factory=list)
    _sends: list[NewJob] = field(default_factory=list)
    _contacts: dict[str, Contact | None] = field(default_factory=dict)
    _pageable: dict[str, bool] = field(default_factory=dict)

    def find_contact(self, arn: str) -> Contact | None:
        if arn not in self._contacts:
            self._contacts[arn] = find_contact(self.session, arn)
        return self._contacts[arn]

    def start_stage(self, engagement: Engagement, stage_index: int) -> list[NewPage]:
        """Start escalation stage ``stage_index`` unless it has started; return its new pages."""
        if stage_index in engagement.started_stages:
            return []
        engagement.started_stages = [*engagement.started_stages, stage_index]
        plan: Contact | str = self.find_contact(engagement.contact_arn) or engagement.contact_arn
        stage = engagement.stages[stage_index]
        now = self.clock.now()
        resolution = resolve_stage(self.session, plan, stage, stage_index, now, self.find_contact)
        return self.page_reached(engagement, resolution, stage_index)

    def page_reached(
        self, engagement: Engagement, resolution: Resolution, stage_index: int | None
    ) -> list[NewPage]:
        """Page every personal contact that ``resolution`` reached, and record the stage once."""
        pages: list[NewPage] = []
        skipped = list(resolution.skipped)
        for reached in resolution.reached:
            if not self._has_channels(reached.contact):
                reason = "The personal contact's plan has no stage that targets a contact channel."
                skipped.append(Skipped(reached.contact.arn, reason))
                continue
            pages.append(self._add_page(engagement, reached, stage_index))
        for item in skipped:
            logger.warning(
                "engagement %s stage %s skipped %s: %s",
                engagement.arn,
                stage_index,
                item.contact_arn,
                item.reason,
            )
        if not pages:
            logger.warning(
                "engagement %s stage %s found no contact to page", engagement.arn, stage_index
            )
        data: dict[str, Any] = {
            "engagementArn": engagement.arn,
            "contactArn": engagement.contact_arn,
            "pageArns": [page.arn for page in pages],
            "pagedContactArns": [page.contact_arn for page in pages],
            "skipped": [item.to_data() for item in skipped],
        }
        if stage_index is not None:
            data["stageIndex"] = stage_index
        add_timeline_event(self.session, self.clock, engagement, STAGE_STARTED_EVENT, data)
        return pages

    def write(self) -> None:
        """Insert the pages and send jobs collected so far, one statement each."""
        if self._pages:
            self.session.execute(insert(Page.metadata.tables[Page.__tablename__]), self._pages)
        enqueue_many(self.session, self.clock, self._sends)
        self._pages, self._sends = [], []

    def _has_channels(self, contact: Contact) -> bool:
        if contact.arn not in self._pageable:
            self._pageable[contact.arn] = any(
                channel is not None and channel.contact_arn == contact.arn
                for stage in contact.plan.get("Stages") or []
                for channel in (
                    find_channel(self.session, info["ContactChannelId"])
                    for info in channel_targets(stage)
                )
            )
        return self._pageable[contact.arn]

    def _add_page(
        self, engagement: Engagement, reached: Reached, stage_index: int | None
    ) -> NewPage:
        contact = reached.contact
        page_id = str(uuid.uuid4())
        code = f"{secrets.randbelow(10**ACCEPT_CODE_DIGITS):0{ACCEPT_CODE_DIGITS}d}"
        arn = page_arn(contact.arn, contact.alias, page_id)
        start_time = self.clock.now()
        stages = list(contact.plan.get("Stages") or [])
        self._pages.append(
            {
                "arn": arn,
                "page_id": page_id,
                "account_id": contact.account_id,
                "engagement_arn": engagement.arn,
                "contact_arn": contact.arn,
                "stage_index": stage_index,
                "essential": reached.essential,
                "resolution": reached.resolution,
                "stages": stages,
                "accept_code": self.box.encrypt(code),
                "start_time": start_time,
            }
        )
        for page_stage, offset in enumerate(stage_offsets(stages)):
            for info in channel_targets(stages[page_stage]):
                channel_arn = info["ContactChannelId"]
                channel_id = channel_arn.rsplit("/", 1)[-1]
                payload = {
                    "page_arn": arn,
                    "stage": page_stage,
                    "channel_arn": channel_arn,
                    "attempt": 1,
                    "retry_minutes": info.get("RetryIntervalInMinutes") or 0,
                }
                self._sends.append(
                    NewJob(
                        kind=PAGE_SEND_JOB,
                        payload=payload,
                        due_at=start_time + offset,
                        key=send_job_key(page_id, page_stage, channel_id, 1),
                        account_id=contact.account_id,
                    )
                )
        logger.debug("started page %s of engagement %s to %s", arn, engagement.arn, contact.arn)
        return NewPage(arn, contact.arn)


def lock_engagements(session: Session, arns: Sequence[str]) -> dict[str, Engagement]:
    """Lock the engagements named by ``arns`` in ARN order and return those that exist."""
    query = (
        select(Engagement)
        .where(Engagement.arn.in_(sorted(set(arns))))
        .order_by(Engagement.arn)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {engagement.arn: engagement for engagement in session.scalars(query)}


@dataclass(frozen=True)
class StageStartHandler:
    """The escalation-stage job: start one stage of an engagement, alone or in a batch.

    A job whose engagement was deleted, stopped or acknowledged starts
    nothing. A stage that has started already starts no second time, which
    makes a retaken job harmless even before the engine's fencing.
    """

    box: SecretBox
    batch_size: int = STAGE_BATCH_SIZE

    def __call__(self, context: JobContext) -> None:
        self.run_batch([context])

    def run_batch(self, contexts: Sequence[JobContext]) -> None:
        if not contexts:
            return
        session, clock = contexts[0].session, contexts[0].clock
        engagements = lock_engagements(
            session, [context.payload["engagement_arn"] for context in contexts]
        )
        starter = StageStarter(session, clock, self.box)
        started = pages = 0
        for context in contexts:
            arn, stage_index = context.payload["engagement_arn"], context.payload["stage"]
            engagement = engagements.get(arn)
            if engagement is None:
                logger.info(
                    "job %s skipped stage %s of the deleted engagement %s",
                    context.job_id,
                    stage_index,
                    arn,
                )
                continue
            if engagement.stop_time is not None or engagement.escalation_ended_at is not None:
                logger.info(
                    "job %s skipped stage %s of engagement %s: it was stopped or acknowledged",
                    context.job_id,
                    stage_index,
                    arn,
                )
                continue
            if stage_index in engagement.started_stages:
                logger.info(
                    "job %s skipped stage %s of engagement %s: it has started already",
                    context.job_id,
                    stage_index,
                    arn,
                )
                continue
            pages += len(starter.start_stage(engagement, stage_index))
            started += 1
        starter.write()
        logger.info(
            "started %d escalation stages with %d pages for %d due stage jobs",
            started,
            pages,
            len(contexts),
        )
