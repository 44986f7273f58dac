"""What a page send records: an ERROR receipt for any send error, and SentTime at the SENT receipt.

Both run on SQLite only: the receipt is written by the same code on both
backends, and the cases turn on the provider's behaviour, not the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_database_url
from tests.contacts.conftest import OWNER, personal
from tests.contacts.engagement_support import (
    channel_stage,
    engage,
    mark_activated,
    pages_of,
    settle,
)
from tests.notify.conftest import HttpReceiver, Reply
from tocsin.engine.clock import FakeClock
from tocsin.engine.worker import Engine
from tocsin.testing import RunningServer


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    running = HttpReceiver().start()
    yield running
    running.stop()


@pytest.fixture
def server(
    request: pytest.FixtureRequest, tmp_path: Path, receiver: HttpReceiver
) -> Iterator[RunningServer]:
    """A server that sends SMS through a webhook on ``receiver`` and runs jobs on request."""
    url = fresh_database_url("sqlite", tmp_path, request)
    sms_url = f"webhook+http://127.0.0.1:{receiver.port}/sms"
    with RunningServer(tmp_path / "home", database_url=url, workers=0, sms_url=sms_url) as running:
        runtime = running.runtime
        runtime.engine = Engine(runtime.database, runtime.clock, runtime.jobs, running.settings)
        yield running


def sms_person(server: RunningServer, contacts: Any) -> str:
    """Create a personal contact whose plan pages one activated SMS channel at once."""
    contact = personal(contacts, "person")
    channel: str = contacts.create_contact_channel(
        ContactId=contact,
        Name="phone",
        Type="SMS",
        DeliveryAddress={"SimpleAddress": "+12065550123"},
        DeferActivation=True,
    )["ContactChannelArn"]
    mark_activated(server, channel)
    contacts.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(channel)]})
    return contact


def test_send_error_gets_error_receipt(server: RunningServer, receiver: HttpReceiver) -> None:
    contacts = server.client("ssm-contacts", server.create_account(account_id=OWNER))
    contact = sms_person(server, contacts)
    # A 200 response whose gzip body does not decode makes the HTTP client
    # raise a decoding error, which is not a delivery failure.
    receiver.reply = Reply(body=b"not gzip", headers={"Content-Encoding": "gzip"})

    engagement = engage(contacts, contact)
    settle(server)

    assert len(receiver.wait_for(1)) == 1
    [page] = pages_of(contacts, engagement)
    receipts = contacts.list_page_receipts(PageId=page["PageArn"])["Receipts"]
    assert [receipt["ReceiptType"] for receipt in receipts] == ["ERROR"]
    assert "DecodingError" in receipts[0]["ReceiptInfo"]
    assert "SentTime" not in contacts.describe_page(PageId=page["PageArn"])

    # The retry sends again once the receiver returns a plain 200 response.
    receiver.reply = Reply()
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(timedelta(minutes=1))
    settle(server)
    receipts = contacts.list_page_receipts(PageId=page["PageArn"])["Receipts"]
    assert [receipt["ReceiptType"] for receipt in receipts] == ["ERROR", "SENT"]


def test_sent_time_is_receipt_time(server: RunningServer, receiver: HttpReceiver) -> None:
    contacts = server.client("ssm-contacts", server.create_account(account_id=OWNER))
    contact = sms_person(server, contacts)
    clock = server.clock
    assert isinstance(clock, FakeClock)
    # The receiver holds its reply for a second, and the clock moves on by
    # 30 seconds while the send is in flight.
    receiver.reply = Reply(delay_seconds=1.0)

    def advance_during_send() -> None:
        receiver.wait_for(1)
        clock.advance(timedelta(seconds=30))

    mover = threading.Thread(target=advance_during_send)
    mover.start()
    started = clock.now()
    engagement = engage(contacts, contact)
    settle(server)
    mover.join(10)

    [page] = pages_of(contacts, engagement)
    described = contacts.describe_page(PageId=page["PageArn"])
    [receipt] = contacts.list_page_receipts(PageId=page["PageArn"])["Receipts"]
    assert receipt["ReceiptType"] == "SENT"
    assert described["SentTime"] == receipt["ReceiptTime"]
    assert described["SentTime"] - started >= timedelta(seconds=30)
