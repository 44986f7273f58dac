"""Fixtures of the ssm-contacts tests: clients of two accounts and the delivery of codes."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from sqlalchemy import select

from tocsin.contacts.models import OutboxMessage
from tocsin.testing import RunningServer

OWNER = "111111111111"
OTHER = "222222222222"


@pytest.fixture
def contacts(server: RunningServer) -> Any:
    """An ssm-contacts client of account OWNER; without SMTP, codes go to the outbox."""
    return server.client("ssm-contacts", server.create_account(account_id=OWNER))


@pytest.fixture
def other(server: RunningServer, contacts: Any) -> Any:
    """An ssm-contacts client of account OTHER."""
    return server.client("ssm-contacts", server.create_account(account_id=OTHER))


def outbox(server: RunningServer, channel_arn: str, count: int = 1) -> list[OutboxMessage]:
    """Wait until the outbox has ``count`` messages for ``channel_arn`` and return them."""
    deadline = time.monotonic() + 10
    while True:
        with server.runtime.database.session() as session:
            rows = list(
                session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.channel_arn == channel_arn)
                    .order_by(OutboxMessage.id)
                )
            )
            session.expunge_all()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def code_in(text: str) -> str:
    match = re.search(r"\b(\d{6})\b", text)
    assert match is not None, text
    return match.group(1)


def personal(client: Any, alias: str, **extra: Any) -> str:
    arn: str = client.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []}, **extra)[
        "ContactArn"
    ]
    return arn
