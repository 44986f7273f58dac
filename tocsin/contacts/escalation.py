"""Job handlers of the escalation engine: escalation stages and page sends.

Both handlers may run twice for one job after a lease takeover, and the
worker's fencing lets only one run commit. Sends reach other systems, so each
one carries an idempotency key (engagement, page, contact channel, stage)
that stays the same across retries. The SENT receipt that records a send
commits in the same transaction as the job's completion. An SMS or voice
message that covers several pages carries a key derived from all of their
keys, and each covered page gets its SENT receipt in that transaction, so
their own send jobs find the receipt and send nothing.

A page send is a ``SendingHandler``: it decides what to send and builds the
message in a read-only transaction, sends it with no transaction open, and
then locks the covered pages and writes the receipts. Every message that could
cover a send goes to the same engagement, channel type and address, so the
engine's exclusive lock on that triple (``PageSender.exclusive_key``) keeps a
second job from deciding to send before the first one has recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.contacts import incident_engagements
from tocsin.contacts.channels import ACTIVATED, find_channel
from tocsin.contacts.engagement_models import Engagement, Page, PageReceipt
from tocsin.contacts.engagements import STAGE_JOB
from tocsin.contacts.models import ContactChannel
from tocsin.contacts.pages import (
    COALESCED_CHANNEL_TYPES,
    ERROR,
    PAGE_SEND_JOB,
    SENT,
    PendingSend,
    accept_code,
    add_receipt,
    combined_message_text,
    combined_send_key,
    due_sends_to_same_address,
    find_page,
    is_active,
    message_text,
    send_job_key,
    send_key,
    sign_ack_token,
)
from tocsin.contacts.stage_starts import StageStartHandler
from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.engine.queue import enqueue
from tocsin.iam.crypto import SecretBox
from tocsin.notify.providers import (
    DeliveryFailed,
    OutgoingMessage,
    SentMessage,
    expected_send_seconds,
    send_detached,
)

logger = logging.getLogger(__name__)

# Retry delays of a failed send when its ChannelTargetInfo sets no
# RetryIntervalInMinutes: 1 minute, doubling up to 15 minutes.
FIRST_RETRY_MINUTES = 1
MAX_RETRY_MINUTES = 15


def retry_minutes(attempt: int, configured: int, *, permanent: bool = False) -> int:
    """Return the wait after failed send ``attempt`` (1-based) of a channel target.

    A permanent failure, which the provider expects to repeat, waits the
    longest interval, so a fixed address or credential still gets the page.
    """
    if permanent:
        return max(configured, MAX_RETRY_MINUTES)
    if configured > 0:
        return configured
    backoff: int = min(MAX_RETRY_MINUTES, FIRST_RETRY_MINUTES * 2 ** min(attempt - 1, 8))
    return backoff


def register(jobs: JobRegistry, settings: Settings, box: SecretBox) -> None:
    """Register the handlers of escalation stages, page sends and incident engagements."""

    jobs.register(STAGE_JOB, StageStartHandler())
    jobs.register_sending(PAGE_SEND_JOB, PageSender(settings, box))
    incident_engagements.register(jobs)


@dataclass(frozen=True)
class CoveredSend:
    """One channel stage of a page that a message covers."""

    page_arn: str
    channel_arn: str
    key: str


@dataclass(frozen=True)
class PageMessage:
    """A message that the prepare step of a page send built, and what it covers."""

    engagement_arn: str
    # The channel stage of the job's own page.
    own: CoveredSend
    # Every channel stage that the message covers, ``own`` included.
    covered: tuple[CoveredSend, ...]
    message: OutgoingMessage
    # The job clock's time when the message was built.
    now: datetime


PageOutcome = SentMessage | DeliveryFailed


@dataclass(frozen=True)
class PageSender:
    """The page-send job: send one channel stage of a page, or record the failure and retry."""

    settings: Settings
    box: SecretBox

    def exclusive_key(self, intent: PageMessage) -> str:
        """Return the key of the engagement and address, which coalesced messages share."""
        message = intent.message
        return f"page-send:{intent.engagement_arn}:{message.channel_type}:{message.address}"

    @property
    def send_timeout_seconds(self) -> float:
        return expected_send_seconds(self.settings)

    def prepare(self, job: JobContext) -> PageMessage | None:
        return _prepare_page_message(job, self.settings, self.box)

    def send(self, intent: PageMessage) -> PageOutcome:
        """Send the message; return any failure as a DeliveryFailed, so it gets a receipt.

        An error other than DeliveryFailed (a provider fault, a network error
        that the provider did not translate) is returned as a transient
        failure with the error's message. The page then gets an ERROR receipt
        and a retry like any failed send.
        """
        try:
            return send_detached(self.settings, intent.message, intent.now)
        except DeliveryFailed as error:
            return error
        except Exception as error:
            logger.warning(
                "send of message %s to contact channel %s failed: %s",
                intent.message.key,
                intent.message.channel_arn,
                error,
                exc_info=True,
            )
            return DeliveryFailed(f"{type(error).__name__}: {error}")

    def record(
        self, job: JobContext, intent: PageMessage | None, outcome: PageOutcome | None
    ) -> None:
        if intent is None or outcome is None:
            return
        _record_page_message(job, intent, outcome)


def _prepare_page_message(
    job: JobContext, settings: Settings, box: SecretBox
) -> PageMessage | None:
    """Build the message of one channel stage of a page, or return None when none is due.

    An SMS or voice send takes along the other due, unsent channel stages of
    the same engagement to the same address, so they share one message.
    """
    session, payload = job.session, job.payload
    page = find_page(session, payload["page_arn"])
    engagement = session.get(Engagement, page.engagement_arn) if page is not None else None
    if page is None or engagement is None:
        logger.info("job %s skipped a send of the deleted page %s", job.job_id, payload["page_arn"])
        return None
    channel = _channel_to_send(job, page, engagement)
    if channel is None:
        return None
    stage_index = payload["stage"]
    key = send_key(engagement, page, channel.channel_id, stage_index)
    own = PendingSend(page, stage_index, channel, key)
    sends = [own]
    if channel.type in COALESCED_CHANNEL_TYPES:
        sends += due_sends_to_same_address(session, engagement, own, job.clock.now())
    recorded = _recorded_keys(session, [send.key for send in sends])
    sends = [send for send in sends if send.key not in recorded]
    if own not in sends:
        logger.info("job %s sent nothing for page %s: it was sent already", job.job_id, page.arn)
        return None
    return _build_message(job, settings, box, engagement, own, sends)


def _build_message(
    job: JobContext,
    settings: Settings,
    box: SecretBox,
    engagement: Engagement,
    own: PendingSend,
    sends: list[PendingSend],
) -> PageMessage:
    """Build one message that covers ``sends``."""
    sends = sorted(sends, key=lambda send: (send.page.start_time, send.key))
    covered = [
        (
            send.page.contact_arn.rsplit("/", 1)[-1],
            accept_code(box, send.page),
            _ack_url(settings, box, send),
        )
        for send in sends
    ]
    if len(sends) == 1:
        subject, body = message_text(engagement, own.channel.type, *covered[0][1:])
    else:
        subject, body = combined_message_text(engagement, own.channel.type, covered)
    message = OutgoingMessage(
        channel_type=own.channel.type,
        address=own.channel.address,
        subject=subject,
        body=body,
        key=combined_send_key(sends),
        account_id=own.page.account_id,
        channel_arn=own.channel.arn,
    )
    return PageMessage(
        engagement_arn=engagement.arn,
        own=CoveredSend(own.page.arn, own.channel.arn, own.key),
        covered=tuple(CoveredSend(send.page.arn, send.channel.arn, send.key) for send in sends),
        message=message,
        now=job.clock.now(),
    )


def _recorded_keys(session: Session, keys: list[str]) -> set[str]:
    """Return those of ``keys`` that already have a receipt."""
    query = select(PageReceipt.send_key).where(PageReceipt.send_key.in_(keys))
    return {key for key in session.scalars(query) if key is not None}


def _lock_pages(session: Session, arns: list[str]) -> dict[str, Page]:
    """Lock the pages named by ``arns`` in ARN order and return those still present.

    Locking every page of a message in one order keeps two workers that cover
    the same pages from waiting on each other in a cycle, and makes the
    second one find the first one's SENT receipts.
    """
    locked = select(Page).where(Page.arn.in_(sorted(set(arns)))).order_by(Page.arn)
    query = locked.with_for_update().execution_options(populate_existing=True)
    return {page.arn: page for page in session.scalars(query)}


def _record_page_message(job: JobContext, intent: PageMessage, outcome: PageOutcome) -> None:
    """Write each covered page's SENT receipt, or the own page's ERROR receipt and retry.

    Sends that another job recorded in the meantime get no second receipt.
    When the send fails, only the own page gets an ERROR receipt and a retry.
    """
    session = job.session
    pages = _lock_pages(session, [send.page_arn for send in intent.covered])
    recorded = _recorded_keys(session, [send.key for send in intent.covered])
    own_page = pages.get(intent.own.page_arn)
    if own_page is None:
        logger.info(
            "job %s recorded nothing for the deleted page %s", job.job_id, intent.own.page_arn
        )
        return
    if intent.own.key in recorded:
        logger.info(
            "job %s recorded nothing for page %s: another job recorded send %s first",
            job.job_id,
            own_page.arn,
            intent.own.key,
        )
        return
    own_channel_id = intent.own.channel_arn.rsplit("/", 1)[-1]
    if isinstance(outcome, DeliveryFailed):
        # Only this job's page records the failure and retries. The other
        # covered sends keep their own jobs, which try again on their own
        # schedule and coalesce again.
        _enqueue_retry(job, own_page, own_channel_id, str(outcome), permanent=outcome.permanent)
        add_receipt(
            session,
            job.clock,
            own_page,
            ERROR,
            channel_arn=intent.own.channel_arn,
            info=str(outcome),
        )
        return

    outcome.write_outbox(session, job.clock.now())
    info = outcome.where
    if len(intent.covered) > 1:
        info = (
            f"{outcome.where}; one message for {len(intent.covered)} pages, "
            f"send {intent.message.key}"
        )
    for send in intent.covered:
        page = pages.get(send.page_arn)
        if page is None or send.key in recorded:
            continue
        receipt = add_receipt(
            session,
            job.clock,
            page,
            SENT,
            channel_arn=send.channel_arn,
            info=info,
            send_key=send.key,
        )
        if page.sent_time is None:
            page.sent_time = receipt.receipt_time
    logger.info(
        "page %s stage %s was sent to contact channel %s in a message for %d pages: %s",
        own_page.arn,
        job.payload["stage"],
        intent.own.channel_arn,
        len(intent.covered),
        outcome.where,
    )


def _ack_url(settings: Settings, box: SecretBox, send: PendingSend) -> str:
    token = sign_ack_token(box, send.page, send.channel.channel_id)
    return f"{settings.effective_public_url}/ack/{token}"


def _channel_to_send(job: JobContext, page: Page, engagement: Engagement) -> ContactChannel | None:
    """Return the job's channel if the page may still send to it; log why not otherwise."""
    arn = job.payload["channel_arn"]
    if not is_active(page, engagement):
        logger.info(
            "job %s sent nothing for page %s: it was acknowledged or stopped", job.job_id, page.arn
        )
        return None
    channel = find_channel(job.session, arn)
    if channel is None or channel.contact_arn != page.contact_arn:
        logger.warning("page %s skipped contact channel %s: it no longer exists", page.arn, arn)
        return None
    if channel.activation_status != ACTIVATED:
        logger.warning("page %s skipped contact channel %s: it is not activated", page.arn, arn)
        return None
    return channel


def _enqueue_retry(
    job: JobContext, page: Page, channel_id: str, error: str, *, permanent: bool
) -> None:
    """Enqueue the next attempt of a failed send; the send is retried until the page ends."""
    payload = job.payload
    attempt = payload["attempt"]
    delay = retry_minutes(attempt, payload.get("retry_minutes") or 0, permanent=permanent)
    enqueue(
        job.session,
        job.clock,
        PAGE_SEND_JOB,
        {**payload, "attempt": attempt + 1},
        due_at=job.clock.now() + timedelta(minutes=delay),
        key=send_job_key(page.page_id, payload["stage"], channel_id, attempt + 1),
        account_id=page.account_id,
    )
    logger.warning(
        "send %d of page %s to contact channel %s failed, retrying in %d minutes: %s",
        attempt,
        page.arn,
        payload["channel_arn"],
        delay,
        error,
    )
