"""Send one message to one contact channel through the provider configured for its type.

Email goes through SMTP when the ``smtp_url`` setting is present. SMS and
voice have no provider plugins yet. Whatever no provider is configured for is
written to the development outbox (``contacts_outbox``) in the caller's
transaction, where operators and tests read it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.contacts.models import OutboxMessage
from tocsin.notify.email import send_email

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "tocsin@localhost"


@dataclass(frozen=True)
class OutgoingMessage:
    """One message for one contact channel."""

    channel_type: str  # EMAIL, SMS or VOICE
    address: str  # email address or E.164 phone number
    subject: str
    body: str
    # Idempotency key: the same on every retry of this send, so a receiver can drop a duplicate.
    key: str
    account_id: str
    channel_arn: str


class DeliveryFailed(Exception):
    """The provider did not accept the message; the caller records the error and retries later."""


def send_message(
    session: Session, settings: Settings, message: OutgoingMessage, now: datetime
) -> str:
    """Send ``message`` and return a short description of where it went.

    Raises DeliveryFailed when the provider rejects the message or cannot be
    reached. An outbox write joins ``session``'s transaction.
    """
    if message.channel_type == "EMAIL" and settings.smtp_url:
        sender = settings.smtp_sender or DEFAULT_SENDER
        try:
            send_email(
                settings.smtp_url,
                sender,
                message.address,
                message.subject,
                message.body,
                message.key,
            )
        except (OSError, ValueError) as error:
            raise DeliveryFailed(f"SMTP delivery to {message.address} failed: {error}") from error
        return "sent by SMTP"
    write_outbox(session, message, now)
    return "written to the development outbox"


def write_outbox(session: Session, message: OutgoingMessage, now: datetime) -> None:
    """Store ``message`` in the development outbox unless its key is already there."""
    exists = session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == message.key))
    if exists is not None:
        return
    session.add(
        OutboxMessage(
            key=message.key,
            account_id=message.account_id,
            channel_arn=message.channel_arn,
            channel_type=message.channel_type,
            address=message.address,
            subject=message.subject,
            body=message.body,
            created_at=now,
        )
    )
