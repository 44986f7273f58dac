"""Escalation stage starts and the pages they create, written with bulk statements.

A stage start resolves the stage's targets at the moment it runs, gives each
reached personal contact a page, and enqueues the first send of every channel
stage of that page's own plan. ``StageStarter`` collects the new pages and
send jobs of any number of stage starts in one transaction and writes them
with one statement each (``insert_many``) when ``write`` is called. Contacts,
and the channel stages that a page of each contact sends, are read once per
starter.

``StageStartHandler`` runs the escalation-stage jobs: one at a time like any
handler, or a batch of them in one transaction when many fall due together.
A batch reads only the engagement columns that a stage start needs, with no
ORM objects, and records the started stages with one UPDATE.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, select, text
from sqlalchemy.orm import Session

from tocsin.contacts.access import find_contact
from tocsin.contacts.channels import find_channel
from tocsin.contacts.engagement_events import STAGE_STARTED_EVENT, add_timeline_event
from tocsin.contacts.engagement_models import Engagement, Page
from tocsin.contacts.models import Contact
from tocsin.contacts.pages import (
    DERIVED_ACCEPT_CODE,
    PAGE_SEND_JOB,
    channel_targets,
    page_arn,
    send_job_key,
    stage_offsets,
)
from tocsin.contacts.plans import ONCALL_SCHEDULE
from tocsin.contacts.resolution import Reached, Resolution, Skipped, resolve_stage
from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext
from tocsin.engine.queue import NewJob, column_in, enqueue_many
from tocsin.store.bulk import insert_many
from tocsin.store.ids import uuid7

logger = logging.getLogger(__name__)

# Stage jobs that one worker starts in one transaction. The pages of a batch
# become visible when it commits, so a larger batch delays its first stage
# longer, and on SQLite it holds the write lock longer. A smaller batch
# costs more per stage, because pages and jobs of one batch share index
# pages and each batch pays for its statements and commit. With 10,000
# stages due together (bench/engagements.py), 1,000 per batch started them
# 1.4 (SQLite) and 1.6 (PostgreSQL) times faster than 200, and a batch of
# 1,000 takes about 0.1 s.
STAGE_BATCH_SIZE = 1000

ENGAGEMENTS = Engagement.metadata.tables[Engagement.__tablename__]
PAGES = Page.metadata.tables[Page.__tablename__]

# Set started_stages of many engagements from one JSON object that maps each
# engagement ARN to its new list. Both SQLite (3.33 or later) and PostgreSQL
# accept UPDATE ... FROM json_each, so one statement and one parameter cover
# a whole batch.
_UPDATE_STARTED_STAGES = {
    "sqlite": text(
        "UPDATE engagements SET started_stages = started.value "
        "FROM json_each(:started) AS started WHERE engagements.arn = started.key"
    ),
    "postgresql": text(
        "UPDATE engagements SET started_stages = started.value "
        "FROM json_each(CAST(:started AS json)) AS started WHERE engagements.arn = started.key"
    ),
}


@dataclass(frozen=True)
class NewPage:
    """A page that a stage start created."""

    arn: str
    contact_arn: str


@dataclass(slots=True)
class DueEngagement:
    """The columns of an engagement that a batch of stage starts reads, read without the ORM.

    ``started_stages`` changes as stages start, and ``write_started_stages``
    stores it.
    """

    arn: str
    account_id: str
    started_by: str
    contact_arn: str
    incident_id: str | None
    stages: list[Any]
    started_stages: list[Any]
    stop_time: datetime | None
    escalation_ended_at: datetime | None


@dataclass(frozen=True)
class ChannelSend:
    """The first send of one channel stage in a personal contact's plan."""

    stage: int
    offset: timedelta
    channel_arn: str
    channel_id: str
    retry_minutes: int


@dataclass(frozen=True)
class PagePlan:
    """The stages and first sends that every page of one personal contact copies from its plan."""

    stages: list[dict[str, Any]]
    sends: tuple[ChannelSend, ...]
    # Whether a stage targets an existing channel of the contact itself.
    pageable: bool


@dataclass
class StageStarter:
    """Start stages and page contacts in one transaction, then write the pages in bulk."""

    session: Session
    clock: Clock
    _pages: list[dict[str, Any]] = field(default_factory=list)
    _sends: list[NewJob] = field(default_factory=list)
    _contacts: dict[str, Contact | None] = field(default_factory=dict)
    _plans: dict[str, PagePlan] = field(default_factory=dict)
    # Resolutions that do not depend on the instant, by plan ARN, stage index
    # and the stage object's identity. Each entry keeps its stage alive, so
    # the identity is not reused while the starter lives.
    _resolutions: dict[tuple[str, int, int], tuple[Any, Resolution]] = field(default_factory=dict)

    def find_contact(self, arn: str) -> Contact | None:
        if arn not in self._contacts:
            self._contacts[arn] = find_contact(self.session, arn)
        return self._contacts[arn]

    def start_stage(
        self, engagement: Engagement | DueEngagement, stage_index: int
    ) -> list[NewPage]:
        """Start escalation stage ``stage_index`` unless it has started; return its new pages."""
        if stage_index in engagement.started_stages:
            return []
        engagement.started_stages = [*engagement.started_stages, stage_index]
        plan: Contact | str = self.find_contact(engagement.contact_arn) or engagement.contact_arn
        stage = engagement.stages[stage_index]
        key = (engagement.contact_arn, stage_index, id(stage))
        if key in self._resolutions:
            resolution = self._resolutions[key][1]
        else:
            now = self.clock.now()
            resolution = resolve_stage(
                self.session, plan, stage, stage_index, now, self.find_contact
            )
            if not self._reaches_schedule(stage):
                self._resolutions[key] = (stage, resolution)
        return self.page_reached(engagement, resolution, stage_index)

    def _reaches_schedule(self, stage: dict[str, Any]) -> bool:
        """Return whether a target of ``stage`` is an on-call schedule, whose shifts change."""
        for target in stage.get("Targets") or []:
            contact_arn = (target.get("ContactTargetInfo") or {}).get("ContactId")
            contact = self.find_contact(contact_arn) if contact_arn else None
            if contact is not None and contact.type == ONCALL_SCHEDULE:
                return True
        return False

    def page_reached(
        self,
        engagement: Engagement | DueEngagement,
        resolution: Resolution,
        stage_index: int | None,
    ) -> list[NewPage]:
        """Page every personal contact that ``resolution`` reached, and record the stage once."""
        pages: list[NewPage] = []
        skipped = list(resolution.skipped)
        for reached in resolution.reached:
            plan = self._page_plan(reached.contact)
            if not plan.pageable:
                reason = "The personal contact's plan has no stage that targets a contact channel."
                skipped.append(Skipped(reached.contact.arn, reason))
                continue
            pages.append(self._add_page(engagement.arn, reached, plan, stage_index))
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
        insert_many(self.session, PAGES, self._pages)
        enqueue_many(self.session, self.clock, self._sends)
        self._pages, self._sends = [], []

    def _page_plan(self, contact: Contact) -> PagePlan:
        if contact.arn in self._plans:
            return self._plans[contact.arn]
        stages = list(contact.plan.get("Stages") or [])
        sends = []
        pageable = False
        for stage_index, offset in enumerate(stage_offsets(stages)):
            for info in channel_targets(stages[stage_index]):
                channel_arn = info["ContactChannelId"]
                send = ChannelSend(
                    stage=stage_index,
                    offset=offset,
                    channel_arn=channel_arn,
                    channel_id=channel_arn.rsplit("/", 1)[-1],
                    retry_minutes=info.get("RetryIntervalInMinutes") or 0,
                )
                sends.append(send)
                if not pageable:
                    channel = find_channel(self.session, channel_arn)
                    pageable = channel is not None and channel.contact_arn == contact.arn
        plan = PagePlan(stages, tuple(sends), pageable)
        self._plans[contact.arn] = plan
        return plan

    def _add_page(
        self, engagement_arn: str, reached: Reached, plan: PagePlan, stage_index: int | None
    ) -> NewPage:
        contact = reached.contact
        page_id = str(uuid7())
        arn = page_arn(contact.arn, contact.alias, page_id)
        start_time = self.clock.now()
        self._pages.append(
            {
                "arn": arn,
                "page_id": page_id,
                "account_id": contact.account_id,
                "engagement_arn": engagement_arn,
                "contact_arn": contact.arn,
                "stage_index": stage_index,
                "essential": reached.essential,
                "resolution": reached.resolution,
                "stages": plan.stages,
                # The code is derived from page_id when a message needs it.
                "accept_code": DERIVED_ACCEPT_CODE,
                "start_time": start_time,
            }
        )
        for send in plan.sends:
            payload = {
                "page_arn": arn,
                "stage": send.stage,
                "channel_arn": send.channel_arn,
                "attempt": 1,
                "retry_minutes": send.retry_minutes,
            }
            self._sends.append(
                NewJob(
                    kind=PAGE_SEND_JOB,
                    payload=payload,
                    due_at=start_time + send.offset,
                    key=send_job_key(page_id, send.stage, send.channel_id, 1),
                    account_id=contact.account_id,
                )
            )
        logger.debug("started page %s of engagement %s to %s", arn, engagement_arn, contact.arn)
        return NewPage(arn, contact.arn)


def lock_engagements(session: Session, arns: Collection[str]) -> dict[str, DueEngagement]:
    """Lock the engagements named by ``arns`` in ARN order and return those that exist.

    The engagements of one escalation plan carry the same ``stages`` text, so
    the JSON columns are read as text and each distinct text is decoded once.
    Engagements with equal text therefore share one list, which nothing
    changes in place.
    """
    columns = ENGAGEMENTS.c
    query = (
        select(
            columns.arn,
            columns.account_id,
            columns.started_by,
            columns.contact_arn,
            columns.incident_id,
            cast(columns.stages, Text),
            cast(columns.started_stages, Text),
            columns.stop_time,
            columns.escalation_ended_at,
        )
        .where(column_in(session, columns.arn, sorted(set(arns))))
        .order_by(columns.arn)
        .with_for_update()
    )
    decoded: dict[str, Any] = {}

    def decode(text: str) -> Any:
        if text not in decoded:
            decoded[text] = json.loads(text)
        return decoded[text]

    engagements = {}
    for row in session.execute(query):
        arn, account_id, started_by, contact_arn, incident_id, stages, started, stop, ended = row
        engagements[arn] = DueEngagement(
            arn=arn,
            account_id=account_id,
            started_by=started_by,
            contact_arn=contact_arn,
            incident_id=incident_id,
            stages=decode(stages),
            started_stages=decode(started),
            stop_time=stop,
            escalation_ended_at=ended,
        )
    return engagements


def write_started_stages(session: Session, engagements: Collection[DueEngagement]) -> None:
    """Store ``started_stages`` of ``engagements`` with one UPDATE."""
    if not engagements:
        return
    started = json.dumps({engagement.arn: engagement.started_stages for engagement in engagements})
    statement = _UPDATE_STARTED_STAGES[session.get_bind().dialect.name]
    session.execute(statement, {"started": started})


@dataclass(frozen=True)
class StageStartHandler:
    """The escalation-stage job: start one stage of an engagement, alone or in a batch.

    A job whose engagement was deleted, stopped or acknowledged starts
    nothing. A stage that has started already starts no second time, which
    makes a retaken job harmless even before the engine's fencing.
    """

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
        starter = StageStarter(session, clock)
        started: dict[str, DueEngagement] = {}
        stages = pages = 0
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
            started[arn] = engagement
            stages += 1
        write_started_stages(session, started.values())
        starter.write()
        logger.info(
            "started %d escalation stages with %d pages for %d due stage jobs",
            stages,
            pages,
            len(contexts),
        )
