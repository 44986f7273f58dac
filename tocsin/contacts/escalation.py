"""Job handlers of the escalation engine: escalation stages and page sends.

Both handlers may run twice for one job after a lease takeover, and the
worker's fencing lets only one run commit. Sends reach other systems, so each
one carries an idempotency key (engagement, page, contact channel, stage)
that stays the same across retries. The SENT receipt that records a send
commits in the same transaction as the job's completion. An SMS or voice
message that covers several pages carries a key derived from all of their
keys, and each covered page gets its SENT receipt in that transaction, so
their own send jobs find the receipt and send nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.contacts import incident_engagements
from tocsin.contacts.channels import ACTIVATED, find_channel
from tocsin.contacts.engagement_models import Engagement, Page, PageReceipt
from tocsin.contacts.engagements import STAGE_JOB, find_engagement, start_stage
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
from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.engine.queue import enqueue
from tocsin.iam.crypto import SecretBox
from tocsin.notify.providers import DeliveryFailed, OutgoingMessage, send_message

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

    def run_stage(job: JobContext) -> None:
        arn = job.payload["engagement_arn"]
        stage_index = job.payload["stage"]
        engagement = find_engagement(job.session, arn, lock=True)
        if engagement is None:
            logger.info(
                "job %s skipped stage %s of the deleted engagement %s", job.job_id, stage_index, arn
            )
            return
        if engagement.stop_time is not None or engagement.escalation_ended_at is not None:
            logger.info(
                "job %s skipped stage %s of engagement %s: it was stopped or acknowledged",
                job.job_id,
                stage_index,
                arn,
            )
            return
        pages = start_stage(job.session, job.clock, box, engagement, stage_index)
        logger.info(
            "job %s started stage %s of engagement %s with %d pages",
            job.job_id,
            stage_index,
            arn,
            len(pages),
        )

    def send_page(job: JobContext) -> None:
        _send_page(job, settings, box)

    jobs.register(STAGE_JOB, run_stage)
    jobs.register(PAGE_SEND_JOB, send_page)
    incident_engagements.register(jobs, box)


def _send_page(job: JobContext, settings: Settings, box: SecretBox) -> None:
    """Send one channel stage of a page, or record the failure and enqueue a retry.

    An SMS or voice send takes along the other due, unsent channel stages of
    the same engagement to the same address, so they share one message.
    """
    session, payload = job.session, job.payload
    page = find_page(session, payload["page_arn"])
    engagement = session.get(Engagement, page.engagement_arn) if page is not None else None
    if page is None or engagement is None:
        logger.info("job %s skipped a send of the deleted page %s", job.job_id, payload["page_arn"])
        return
    channel = _channel_to_send(job, page, engagement)
    if channel is None:
        return
    stage_index = payload["stage"]
    key = send_key(engagement, page, channel.channel_id, stage_index)
    own = PendingSend(page, stage_index, channel, key)
    sends = [own]
    if channel.type in COALESCED_CHANNEL_TYPES:
        sends += due_sends_to_same_address(session, engagement, own, job.clock.now())
    sends = _lock_unsent(session, engagement, sends)
    if own not in sends:
        logger.info(
            "job %s sent nothing for page %s: it was sent, acknowledged or stopped",
            job.job_id,
            page.arn,
        )
        return
    _deliver(job, settings, box, engagement, own, sends)


def _lock_unsent(
    session: Session, engagement: Engagement, sends: list[PendingSend]
) -> list[PendingSend]:
    """Lock the pages of ``sends`` in ARN order; return those still present, active and unsent.

    Locking every page of a message in one order keeps two workers that cover
    the same pages from waiting on each other in a cycle, and makes the
    second one find the first one's SENT receipts.
    """
    arns = sorted({send.page.arn for send in sends})
    locked = select(Page).where(Page.arn.in_(arns)).order_by(Page.arn).with_for_update()
    present = {
        page.arn for page in session.scalars(locked.execution_options(populate_existing=True))
    }
    recorded = set(
        session.scalars(
            select(PageReceipt.send_key).where(
                PageReceipt.send_key.in_([send.key for send in sends])
            )
        )
    )
    return [
        send
        for send in sends
        if send.page.arn in present
        and send.key not in recorded
        and is_active(send.page, engagement)
    ]


def _deliver(
    job: JobContext,
    settings: Settings,
    box: SecretBox,
    engagement: Engagement,
    own: PendingSend,
    sends: list[PendingSend],
) -> None:
    """Send one message that covers ``sends`` and write each page's SENT receipt.

    When the send fails, only ``own``'s page gets an ERROR receipt and a retry.
    """
    session = job.session
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
    message_key = combined_send_key(sends)
    message = OutgoingMessage(
        channel_type=own.channel.type,
        address=own.channel.address,
        subject=subject,
        body=body,
        key=message_key,
        account_id=own.page.account_id,
        channel_arn=own.channel.arn,
    )
    now = job.clock.now()
    try:
        where = send_message(session, settings, message, now)
    except DeliveryFailed as exc:
        permanent = bool(getattr(exc, "permanent", False))
        # Only this job's page records the failure and retries. The other
        # covered sends keep their own jobs, which try again on their own
        # schedule and coalesce again.
        _enqueue_retry(job, own.page, own.channel.channel_id, str(exc), permanent=permanent)
        add_receipt(session, job.clock, own.page, ERROR, channel_arn=own.channel.arn, info=str(exc))
        return

    info = where
    if len(sends) > 1:
        info = f"{where}; one message for {len(sends)} pages, send {message_key}"
    for send in sends:
        add_receipt(
            session,
            job.clock,
            send.page,
            SENT,
            channel_arn=send.channel.arn,
            info=info,
            send_key=send.key,
        )
        if send.page.sent_time is None:
            send.page.sent_time = now
    logger.info(
        "page %s stage %s was sent to contact channel %s in a message for %d pages: %s",
        own.page.arn,
        own.stage_index,
        own.channel.arn,
        len(sends),
        where,
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
        key=send_job_key(page, payload["stage"], channel_id, attempt + 1),
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
