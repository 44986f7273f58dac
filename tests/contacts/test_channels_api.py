"""Contact channels through boto3: addresses, listing and activation by outbox and SMTP."""

from __future__ import annotations

import email
import email.policy
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from botocore.exceptions import ClientError

from tests.contacts.conftest import OWNER, code_in, outbox, personal
from tocsin.engine.clock import FakeClock
from tocsin.testing import RunningServer, free_port


def channel(client: Any, contact: str, kind: str, address: str, **extra: Any) -> str:
    arn: str = client.create_contact_channel(
        ContactId=contact,
        Name=f"{kind.lower()}-channel",
        Type=kind,
        DeliveryAddress={"SimpleAddress": address},
        **extra,
    )["ContactChannelArn"]
    return arn


def test_channel_life_cycle(contacts: Any) -> None:
    contact = personal(contacts, "person")
    arn = channel(contacts, contact, "SMS", "+15555550100", DeferActivation=True)
    assert arn.startswith("arn:aws:ssm-contacts:us-east-1:111111111111:contact-channel/person/")

    got = contacts.get_contact_channel(ContactChannelId=arn)
    assert got["ContactArn"] == contact
    assert got["Type"] == "SMS"
    assert got["DeliveryAddress"] == {"SimpleAddress": "+15555550100"}
    assert got["ActivationStatus"] == "NOT_ACTIVATED"

    contacts.update_contact_channel(
        ContactChannelId=arn, Name="renamed", DeliveryAddress={"SimpleAddress": "+4915112345678"}
    )
    got = contacts.get_contact_channel(ContactChannelId=arn)
    assert got["Name"] == "renamed"
    assert got["DeliveryAddress"]["SimpleAddress"] == "+4915112345678"

    with pytest.raises(contacts.exceptions.ConflictException):
        channel(contacts, contact, "SMS", "+4915112345678")
    contacts.delete_contact_channel(ContactChannelId=arn)
    for call in (contacts.get_contact_channel, contacts.delete_contact_channel):
        with pytest.raises(ClientError) as info:
            call(ContactChannelId=arn)
        assert info.value.response["ResourceType"] == "CONTACT_CHANNEL"


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("SMS", "15555550100"),
        ("SMS", "+1555"),
        ("VOICE", "+0555555010012"),
        ("VOICE", "+1234567890123456"),
        ("EMAIL", "not-an-address"),
        ("EMAIL", "a@b"),
        ("EMAIL", "two@@example.com"),
    ],
)
def test_invalid_addresses_rejected(contacts: Any, kind: str, address: str) -> None:
    contact = personal(contacts, "person")
    with pytest.raises(ClientError) as info:
        channel(contacts, contact, kind, address)
    error = info.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["Fields"][0]["Name"] == "DeliveryAddress.SimpleAddress"


def test_channels_only_on_personal_contacts(contacts: Any) -> None:
    escalation = contacts.create_contact(Alias="esc", Type="ESCALATION", Plan={"Stages": []})
    with pytest.raises(contacts.exceptions.ValidationException):
        channel(contacts, escalation["ContactArn"], "EMAIL", "a@example.com")


def test_list_channels_pages(contacts: Any) -> None:
    contact = personal(contacts, "person")
    created = [
        channel(contacts, contact, "SMS", f"+1555555010{i}", DeferActivation=True) for i in range(5)
    ]
    pages = list(
        contacts.get_paginator("list_contact_channels").paginate(
            ContactId=contact, PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(page["ContactChannels"]) for page in pages] == [2, 2, 1]
    listed = [c["ContactChannelArn"] for page in pages for c in page["ContactChannels"]]
    assert sorted(listed) == sorted(created)


def test_activation_through_outbox(server: RunningServer, contacts: Any) -> None:
    contact = personal(contacts, "person")
    deferred = channel(contacts, contact, "SMS", "+15555550100", DeferActivation=True)
    arn = channel(contacts, contact, "VOICE", "+15555550101")

    # Without DeferActivation the code is sent at once; with it, nothing is sent.
    messages = outbox(server, arn)
    assert len(messages) == 1
    assert messages[0].address == "+15555550101"
    code = code_in(messages[0].body)
    assert outbox(server, deferred, count=0) == []

    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(ClientError) as info:
        contacts.activate_contact_channel(ContactChannelId=arn, ActivationCode=wrong)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert contacts.get_contact_channel(ContactChannelId=arn)["ActivationStatus"] == "NOT_ACTIVATED"

    contacts.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    assert contacts.get_contact_channel(ContactChannelId=arn)["ActivationStatus"] == "ACTIVATED"
    contacts.deactivate_contact_channel(ContactChannelId=arn)
    assert contacts.get_contact_channel(ContactChannelId=arn)["ActivationStatus"] == "NOT_ACTIVATED"

    # A code issued before deactivation no longer works.
    with pytest.raises(contacts.exceptions.ValidationException):
        contacts.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)


def test_activation_locks_and_expires(server: RunningServer, contacts: Any) -> None:
    contact = personal(contacts, "person")
    arn = channel(contacts, contact, "SMS", "+15555550100", DeferActivation=True)
    with pytest.raises(ClientError) as info:
        contacts.activate_contact_channel(ContactChannelId=arn, ActivationCode="123456")
    assert "No activation code is pending" in info.value.response["Error"]["Message"]

    contacts.send_activation_code(ContactChannelId=arn)
    code = code_in(outbox(server, arn)[0].body)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(contacts.exceptions.ValidationException):
            contacts.activate_contact_channel(ContactChannelId=arn, ActivationCode=wrong)
    with pytest.raises(ClientError) as info:
        contacts.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    assert "locked" in info.value.response["Error"]["Message"]

    contacts.send_activation_code(ContactChannelId=arn)
    code = code_in(outbox(server, arn, count=2)[1].body)
    clock = server.clock
    assert isinstance(clock, FakeClock)
    clock.advance(minutes=16)
    with pytest.raises(ClientError) as info:
        contacts.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    assert "expired" in info.value.response["Error"]["Message"]

    for _ in range(3):
        contacts.send_activation_code(ContactChannelId=arn)
    with pytest.raises(ClientError) as info:
        contacts.send_activation_code(ContactChannelId=arn)
    assert info.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert info.value.response["ServiceCode"] == "ssm-contacts"


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.received = threading.Event()

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(envelope.content)
        self.received.set()
        return "250 OK"


def test_activation_through_smtp(tmp_path: Path) -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = {"smtp_url": f"smtp://127.0.0.1:{port}", "smtp_sender": "im@example.com"}
    try:
        with RunningServer(tmp_path, **smtp) as server:
            client = server.client("ssm-contacts", server.create_account(account_id=OWNER))
            contact = personal(client, "person")
            arn = channel(client, contact, "EMAIL", "oncall@example.com")
            assert inbox.received.wait(10)

            message = email.message_from_bytes(inbox.messages[0], policy=email.policy.default)
            assert message["To"] == "oncall@example.com"
            assert message["From"] == "im@example.com"
            assert isinstance(message, EmailMessage)
            code = code_in(message.get_content())
            client.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
            status = client.get_contact_channel(ContactChannelId=arn)["ActivationStatus"]
            assert status == "ACTIVATED"
            assert outbox(server, arn, count=0) == []
    finally:
        controller.stop()
