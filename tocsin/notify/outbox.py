"""The development outbox: a table of messages that no provider was configured to send."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.models import OutboxMessage
from tocsin.notify.base import OutgoingMessage


class OutboxProvider:
    """Writes messages to ``contacts_outbox`` in the caller's transaction."""

    name = "outbox"
    DESCRIPTION = "written to the development outbox"

    def send(self, session: Session, message: OutgoingMessage, now: datetime) -> str:
        write_outbox(session, message, now)
        return self.DESCRIPTION


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


def list_outbox(
    session: Session,
    *,
    account_id: str | None = None,
    channel_arn: str | None = None,
    limit: int | None = None,
) -> Sequence[OutboxMessage]:
    """Return outbox messages, newest first, optionally of one account or one channel."""
    query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    if account_id is not None:
        query = query.where(OutboxMessage.account_id == account_id)
    if channel_arn is not None:
        query = query.where(OutboxMessage.channel_arn == channel_arn)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()
