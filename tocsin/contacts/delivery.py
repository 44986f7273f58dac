"""Delivery of activation codes over the contact channel they activate.

Email goes through SMTP when the ``smtp_url`` setting is present, for
example ``smtp://user:password@mail.example.com:587?starttls=true`` or
``smtps://mail.example.com``. SMS and voice have no provider plugins yet.
Whatever cannot be sent is written to the development outbox
(``contacts_outbox``), where operators and tests read it.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.contacts.channels import CODE_LIFETIME, SEND_JOB_KIND
from tocsin.contacts.models import ContactChannel, OutboxMessage
from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.iam.crypto import SecretBox

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30.0
DEFAULT_SENDER = "tocsin@localhost"
SUBJECT = "Incident Manager contact channel activation code"


def activation_text(code: str, channel: ContactChannel) -> str:
    return (
        f"Your Incident Manager activation code for contact channel {channel.name} is:\n\n"
        f"{code}\n\nEnter it to activate the channel. It expires in "
        f"{CODE_LIFETIME.total_seconds() // 60:.0f} minutes.\n"
    )


def register(jobs: JobRegistry, settings: Settings, box: SecretBox) -> None:
    """Register the activation-code job handler, which uses ``settings`` and ``box``."""

    def send_activation_code(job: JobContext) -> None:
        channel = job.session.get(ContactChannel, job.payload["channel_id"])
        if channel is None or channel.code_serial != job.payload["serial"]:
            # The channel was deleted or a newer code replaced this one.
            logger.info(
                "job %s skipped activation code %s of contact channel %s: no longer current",
                job.job_id,
                job.payload["serial"],
                job.payload["channel_id"],
            )
            return
        code = box.decrypt(job.payload["code"])
        text = activation_text(code, channel)
        smtp_url = settings.smtp_url
        if channel.type == "EMAIL" and smtp_url:
            sender = settings.smtp_sender or DEFAULT_SENDER
            send_email(smtp_url, sender, channel.address, SUBJECT, text, job.idempotency_key)
            logger.info(
                "job %s sent an activation code to contact channel %s by SMTP",
                job.job_id,
                channel.arn,
            )
            return
        reason = (
            "no SMTP server is configured"
            if channel.type == "EMAIL"
            else f"no {channel.type} provider exists yet"
        )
        write_outbox(job.session, job, channel, SUBJECT, text)
        logger.warning(
            "job %s wrote the activation message of contact channel %s to the development outbox "
            "because %s",
            job.job_id,
            channel.arn,
            reason,
        )

    jobs.register(SEND_JOB_KIND, send_activation_code)


def write_outbox(
    session: Session, job: JobContext, channel: ContactChannel, subject: str, body: str
) -> None:
    exists = session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.key == job.idempotency_key)
    )
    if exists is not None:
        return
    session.add(
        OutboxMessage(
            key=job.idempotency_key,
            account_id=channel.account_id,
            channel_arn=channel.arn,
            channel_type=channel.type,
            address=channel.address,
            subject=subject,
            body=body,
            created_at=job.clock.now(),
        )
    )


def send_email(url: str, sender: str, recipient: str, subject: str, text: str, key: str) -> None:
    """Send one plain-text message through the SMTP server at ``url``.

    The Message-ID carries ``key``, so a receiver can drop a resend after a crash.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(
            f"smtp_url must look like smtp://host:port or smtps://host, not scheme {parts.scheme!r}"
        )
    options = parse_qs(parts.query)
    starttls = options.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = f"<{key}@tocsin>"
    message.set_content(text)
    client: smtplib.SMTP
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=SMTP_TIMEOUT_SECONDS)
    else:
        client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        if starttls:
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
