"""Coalescing of SMS and voice sends: due pages of one engagement to one address, one message."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import BACKENDS, fresh_database_url
from tests.contacts.conftest import OWNER, personal
from tests.contacts.engagement_support import (
    activated_channel,
    advance,
    channel_stage,
    contact_stage,
    engage,
    escalation,
    mark_activated,
    page_messages,
    pages_of,
    settle,
)
from tests.contacts.test_acknowledge_links import fetch
from tests.notify.conftest import HttpReceiver, Reply
from tocsin.contacts.pages import PAGE_SEND_JOB
from tocsin.engine.jobs import Job, JobStatus
from tocsin.testing import RunningServer

SHARED_PHONE = "+15550100001"


@pytest.fixture(params=BACKENDS)
def webhook_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RunningServer, HttpReceiver]]:
    """A server that sends SMS to a webhook receiver on 127.0.0.1, which fails at first."""
    receiver = HttpReceiver().start()
    receiver.reply = Reply(status=503, body=b"try later")
    url = fresh_database_url(request.param, tmp_path, request)
    sms_url = f"webhook+http://127.0.0.1:{receiver.port}/sms"
    try:
        with RunningServer(tmp_path / "home", database_url=url, sms_url=sms_url) as server:
            yield server, receiver
    finally:
        receiver.stop()


def phone_person(
    server: RunningServer, client: Any, alias: str, phone: str, kind: str = "SMS"
) -> tuple[str, str]:
    """Create a personal contact whose plan sends at once to one activated phone channel."""
    contact = personal(client, alias)
    channel = activated_channel(server, client, contact, phone, kind)
    client.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(channel)]})
    return contact, channel


def all_page_messages(server: RunningServer, channels: list[str]) -> list[Any]:
    return [message for channel in channels for message in page_messages(server, channel)]


def sections(body: str) -> dict[str, tuple[str, str]]:
    """Return the accept code and acknowledgement path of each page in a combined message."""
    found = re.findall(
        r"Page for ([a-z0-9_-]+):\nAccept code: (\d{6})\nAcknowledge: https?://[^/\s]+(/ack/\S+)",
        body,
    )
    return {alias: (code, path) for alias, code, path in found}


def receipts(client: Any, page: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.list_page_receipts(PageId=page)["Receipts"]
    return items


def send_job_statuses(server: RunningServer) -> list[str]:
    with server.runtime.database.session() as session:
        return list(session.scalars(select(Job.status).where(Job.kind == PAGE_SEND_JOB)))


def test_three_pages_same_phone_one_message(server: RunningServer, contacts: Any) -> None:
    people = [phone_person(server, contacts, alias, SHARED_PHONE) for alias in ("ana", "bo", "cy")]
    plan = escalation(
        contacts, "team", contact_stage(5, *[(contact, True) for contact, _ in people])
    )
    engagement = engage(contacts, plan)
    settle(server)

    channels = [channel for _, channel in people]
    messages = all_page_messages(server, channels)
    assert len(messages) == 1
    message = messages[0]
    assert message.address == SHARED_PHONE
    assert message.channel_type == "SMS"
    assert "This message covers 3 pages." in message.body
    assert "-combined-" in message.key

    pages = pages_of(contacts, engagement)
    assert len(pages) == 3
    for page in pages:
        items = receipts(contacts, page["PageArn"])
        assert [item["ReceiptType"] for item in items] == ["SENT"]
        assert "one message for 3 pages" in items[0]["ReceiptInfo"]
        assert message.key in items[0]["ReceiptInfo"]
        assert contacts.describe_page(PageId=page["PageArn"])["SentTime"] == server.clock.now()
    assert send_job_statuses(server) == [JobStatus.DONE.value] * 3

    # Each page keeps its own accept code and acknowledgement link.
    by_alias = sections(message.body)
    assert sorted(by_alias) == ["ana", "bo", "cy"]
    assert len({code for code, _ in by_alias.values()}) == 3
    page_of = {page["ContactArn"].rsplit("/", 1)[-1]: page["PageArn"] for page in pages}
    contacts.accept_page(
        PageId=page_of["ana"],
        AcceptType="DELIVERED",
        AcceptCode=by_alias["ana"][0],
        AcceptCodeValidation="ENFORCE",
    )
    status, _, body = fetch(server, by_alias["bo"][1], "POST")
    assert status == 200
    assert "Page acknowledged" in body
    assert [item["ReceiptType"] for item in receipts(contacts, page_of["bo"])] == ["SENT", "READ"]
    assert [item["ReceiptType"] for item in receipts(contacts, page_of["cy"])] == ["SENT"]

    # Nothing is sent again later.
    advance(server, minutes=30)
    assert len(all_page_messages(server, channels)) == 1


def test_voice_pages_same_phone_one_message(server: RunningServer, contacts: Any) -> None:
    people = [
        phone_person(server, contacts, alias, SHARED_PHONE, "VOICE") for alias in ("ana", "bo")
    ]
    plan = escalation(
        contacts, "team", contact_stage(5, *[(contact, True) for contact, _ in people])
    )
    engage(contacts, plan)
    settle(server)

    messages = all_page_messages(server, [channel for _, channel in people])
    assert len(messages) == 1
    assert "This message covers 2 pages." in messages[0].body


def test_different_engagements_not_coalesced(server: RunningServer, contacts: Any) -> None:
    first, first_channel = phone_person(server, contacts, "ana", SHARED_PHONE)
    second, second_channel = phone_person(server, contacts, "bo", SHARED_PHONE)
    engagements = [engage(contacts, first), engage(contacts, second)]
    settle(server)

    messages = all_page_messages(server, [first_channel, second_channel])
    assert len(messages) == 2
    for message in messages:
        assert "This message covers" not in message.body
        assert "-combined-" not in message.key
    for engagement in engagements:
        page = pages_of(contacts, engagement)[0]["PageArn"]
        items = receipts(contacts, page)
        assert [item["ReceiptType"] for item in items] == ["SENT"]
        assert "one message for" not in items[0]["ReceiptInfo"]


def test_different_numbers_not_coalesced(server: RunningServer, contacts: Any) -> None:
    first, first_channel = phone_person(server, contacts, "ana", "+15550100001")
    second, second_channel = phone_person(server, contacts, "bo", "+15550100002")
    plan = escalation(contacts, "team", contact_stage(5, (first, True), (second, True)))
    engage(contacts, plan)
    settle(server)

    assert len(page_messages(server, first_channel)) == 1
    assert len(page_messages(server, second_channel)) == 1


def test_email_not_coalesced(server: RunningServer, contacts: Any) -> None:
    people = [
        phone_person(server, contacts, alias, "team@example.com", "EMAIL")
        for alias in ("ana", "bo")
    ]
    plan = escalation(
        contacts, "team", contact_stage(5, *[(contact, True) for contact, _ in people])
    )
    engage(contacts, plan)
    settle(server)

    messages = all_page_messages(server, [channel for _, channel in people])
    assert len(messages) == 2
    assert all("This message covers" not in message.body for message in messages)


def test_send_not_yet_due_not_coalesced(server: RunningServer, contacts: Any) -> None:
    first, first_channel = phone_person(server, contacts, "ana", SHARED_PHONE)
    second, second_channel = phone_person(server, contacts, "bo", SHARED_PHONE)
    plan = escalation(
        contacts, "team", contact_stage(5, (first, False)), contact_stage(5, (second, False))
    )
    engage(contacts, plan)
    settle(server)
    assert len(page_messages(server, first_channel)) == 1
    assert page_messages(server, second_channel) == []

    advance(server, minutes=5)
    messages = all_page_messages(server, [first_channel, second_channel])
    assert len(messages) == 2
    assert all("This message covers" not in message.body for message in messages)


def test_failed_combined_send_retried_once(
    webhook_server: tuple[RunningServer, HttpReceiver],
) -> None:
    server, receiver = webhook_server
    contacts = server.client("ssm-contacts", server.create_account(account_id=OWNER))
    people = []
    for alias in ("ana", "bo", "cy"):
        contact = personal(contacts, alias)
        channel = contacts.create_contact_channel(
            ContactId=contact,
            Name="phone",
            Type="SMS",
            DeliveryAddress={"SimpleAddress": SHARED_PHONE},
            DeferActivation=True,
        )["ContactChannelArn"]
        mark_activated(server, channel)
        contacts.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(channel)]})
        people.append(contact)
    plan = escalation(contacts, "team", contact_stage(5, *[(contact, True) for contact in people]))
    engagement = engage(contacts, plan)
    settle(server)

    # Each page's own send job tried the combined message once and failed.
    failed = receiver.wait_for(3)
    assert len(failed) == 3
    assert len({request.headers["idempotency-key"] for request in failed}) == 1
    pages = [page["PageArn"] for page in pages_of(contacts, engagement)]
    for page in pages:
        assert [item["ReceiptType"] for item in receipts(contacts, page)] == ["ERROR"]

    # The first retry sends one message for all three; the other retries find it recorded.
    receiver.reply = Reply(status=200)
    advance(server, minutes=1)
    requests = receiver.wait_for(4)
    assert len(requests) == 4
    delivered = requests[3]
    assert delivered.headers["idempotency-key"] == failed[0].headers["idempotency-key"]
    assert "This message covers 3 pages." in delivered.json()["body"]
    for page in pages:
        assert [item["ReceiptType"] for item in receipts(contacts, page)] == ["ERROR", "SENT"]
    advance(server, minutes=30)
    assert len(receiver.requests) == 4
