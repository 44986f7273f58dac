"""Page delivery through a real SMTP server that is down at first: ERROR receipts, then SENT."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import BACKENDS, fresh_database_url
from tests.contacts.conftest import OWNER, personal
from tests.contacts.engagement_support import (
    accept_code_in,
    advance,
    channel_stage,
    engage,
    mark_activated,
    pages_of,
    settle,
)
from tests.contacts.test_channels_api import Inbox
from tocsin.testing import RunningServer, free_port

PUBLIC_URL = "https://tocsin.example.com/"


@pytest.fixture(params=BACKENDS)
def mail_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RunningServer, int]]:
    """A server whose SMTP URL names a port on 127.0.0.1 where nothing listens yet."""
    url = fresh_database_url(request.param, tmp_path, request)
    port = free_port()
    settings: dict[str, Any] = {
        "smtp_url": f"smtp://127.0.0.1:{port}",
        "smtp_sender": "im@example.com",
        "public_url": PUBLIC_URL,
    }
    with RunningServer(tmp_path / "home", database_url=url, **settings) as server:
        yield server, port


def receipts(client: Any, page: str) -> list[tuple[str, Any]]:
    items = client.list_page_receipts(PageId=page)["Receipts"]
    return [(item["ReceiptType"], item["ReceiptTime"]) for item in items]


def test_failed_send_retried_until_sent(mail_server: tuple[RunningServer, int]) -> None:
    server, port = mail_server
    contacts = server.client("ssm-contacts", server.create_account(account_id=OWNER))
    contact = personal(contacts, "person")
    channel = contacts.create_contact_channel(
        ContactId=contact,
        Name="mail",
        Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "person@example.com"},
        DeferActivation=True,
    )["ContactChannelArn"]
    mark_activated(server, channel)
    contacts.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(channel)]})

    start = server.clock.now()
    engagement = engage(contacts, contact)
    settle(server)
    page = pages_of(contacts, engagement)[0]["PageArn"]
    assert receipts(contacts, page) == [("ERROR", start)]
    assert "SentTime" not in contacts.describe_page(PageId=page)

    # Retries follow 1, 2, 4 minutes when the target sets no RetryIntervalInMinutes.
    advance(server, minutes=1)
    advance(server, minutes=2)
    expected = [
        ("ERROR", start),
        ("ERROR", start + timedelta(minutes=1)),
        ("ERROR", start + timedelta(minutes=3)),
    ]
    assert receipts(contacts, page) == expected

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        advance(server, minutes=3)
        assert inbox.messages == []
        advance(server, minutes=1)
        assert inbox.received.wait(10)
        advance(server, minutes=30)
    finally:
        controller.stop()

    assert len(inbox.messages) == 1
    sent_at = start + timedelta(minutes=7)
    assert receipts(contacts, page) == [*expected, ("SENT", sent_at)]
    assert contacts.describe_page(PageId=page)["SentTime"] == sent_at
    message = email.message_from_bytes(inbox.messages[0], policy=email.policy.default)
    assert message["To"] == "person@example.com"
    assert message["Subject"] == "Checkout down"
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_content()
    assert "Orders fail" in body
    assert f"{PUBLIC_URL}ack/" in body
    assert len(accept_code_in(body)) == 6
    assert page.rsplit("/", 1)[-1] in message["Message-ID"]


def test_retry_interval_of_target(mail_server: tuple[RunningServer, int]) -> None:
    server, _port = mail_server
    contacts = server.client("ssm-contacts", server.create_account(account_id=OWNER))
    contact = personal(contacts, "person")
    channel = contacts.create_contact_channel(
        ContactId=contact,
        Name="mail",
        Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "person@example.com"},
        DeferActivation=True,
    )["ContactChannelArn"]
    mark_activated(server, channel)
    contacts.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(channel, retry=5)]})
    start = server.clock.now()
    engagement = engage(contacts, contact)
    settle(server)
    page = pages_of(contacts, engagement)[0]["PageArn"]
    advance(server, minutes=4)
    assert len(receipts(contacts, page)) == 1
    advance(server, minutes=1)
    assert receipts(contacts, page)[-1] == ("ERROR", start + timedelta(minutes=5))

    # A stopped engagement ends the retries.
    contacts.stop_engagement(EngagementId=engagement)
    advance(server, minutes=60)
    assert [kind for kind, _ in receipts(contacts, page)] == ["ERROR", "ERROR", "STOP"]
