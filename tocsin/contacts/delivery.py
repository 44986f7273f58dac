"""Delivery of activation codes over the contact channel they activate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from tocsin.config import Settings
from tocsin.contacts.channels import CODE_LIFETIME, SEND_JOB_KIND
from tocsin.contacts.models import ContactChannel
from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.iam.crypto import SecretBox
from tocsin.notify.providers import (
    DeliveryFailed,
    OutgoingMessage,
    SentMessage,
    check_settings,
    expected_send_seconds,
    send_detached,
)

logger = logging.getLogger(__name__)

SUBJECT = "Incident Manager contact channel activation code"


def activation_text(code: str, channel: ContactChannel) -> str:
    return (
        f"Your Incident Manager activation code for contact channel {channel.name} is:\n\n"
        f"{code}\n\nEnter it to activate the channel. It expires in "
        f"{CODE_LIFETIME.total_seconds() // 60:.0f} minutes.\n"
    )


def register(jobs: JobRegistry, settings: Settings, box: SecretBox) -> None:
    """Register the activation-code job handler, which uses ``settings`` and ``box``.

    Raises ProviderSettingError (a ValueError) when a delivery setting cannot be
    used, so a misconfigured server stops at start.
    """
    check_settings(settings)
    jobs.register_sending(SEND_JOB_KIND, ActivationCodeSender(settings, box))


@dataclass(frozen=True)
class ActivationCodeSender:
    """The activation-code job: the message is sent with no database transaction open."""

    settings: Settings
    box: SecretBox

    def exclusive_key(self, intent: object) -> None:
        return None

    @property
    def send_timeout_seconds(self) -> float:
        return expected_send_seconds(self.settings)

    def prepare(self, job: JobContext) -> tuple[OutgoingMessage, datetime] | None:
        """Return the message to send and the job clock's time for its Date, or None."""
        channel = job.session.get(ContactChannel, job.payload["channel_id"])
        if channel is None or channel.code_serial != job.payload["serial"]:
            # The channel was deleted or a newer code replaced this one.
            logger.info(
                "job %s skipped activation code %s of contact channel %s: no longer current",
                job.job_id,
                job.payload["serial"],
                job.payload["channel_id"],
            )
            return None
        code = self.box.decrypt(job.payload["code"])
        message = OutgoingMessage(
            channel_type=channel.type,
            address=channel.address,
            subject=SUBJECT,
            body=activation_text(code, channel),
            key=job.idempotency_key,
            account_id=channel.account_id,
            channel_arn=channel.arn,
        )
        return message, job.clock.now()

    def send(self, intent: tuple[OutgoingMessage, datetime]) -> SentMessage | DeliveryFailed:
        message, now = intent
        try:
            return send_detached(self.settings, message, now)
        except DeliveryFailed as error:
            return error

    def record(
        self,
        job: JobContext,
        intent: tuple[OutgoingMessage, datetime] | None,
        outcome: SentMessage | DeliveryFailed | None,
    ) -> None:
        if intent is None or outcome is None:
            return
        message = intent[0]
        # A transient DeliveryFailed error fails the job, and the engine retries it
        # with backoff. A permanent one would fail the same way on every retry, so
        # the job ends and the user can request a new code.
        if isinstance(outcome, DeliveryFailed):
            if not outcome.permanent:
                raise outcome
            logger.error(
                "job %s gave up sending an activation code for contact channel %s: %s",
                job.job_id,
                message.channel_arn,
                outcome,
            )
            return
        outcome.write_outbox(job.session, job.clock.now())
        logger.info(
            "job %s delivered an activation code for contact channel %s: %s",
            job.job_id,
            message.channel_arn,
            outcome.where,
        )
