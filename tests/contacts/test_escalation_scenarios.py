"""Escalation scenarios with a fake clock: stages, acknowledgements, stops and schedules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.contacts.conftest import personal
from tests.contacts.engagement_support import (
    accept_code_in,
    activated_channel,
    advance,
    channel_stage,
    contact_stage,
    engage,
    escalation,
    page_messages,
    paged_person,
    pages_of,
    receipt_types,
    settle,
)
from tocsin.testing import RunningServer


def page_of(client: Any, engagement: str, contact: str) -> str:
    arns = [p["PageArn"] for p in pages_of(client, engagement) if p["ContactArn"] == contact]
    assert len(arns) == 1, arns
    arn: str = arns[0]
    return arn


def test_two_stages_without_acknowledgement(server: RunningServer, contacts: Any) -> None:
    first, first_channel = paged_person(server, contacts, "first")
    second, second_channel = paged_person(server, contacts, "second")
    plan = escalation(
        contacts, "plan", contact_stage(5, (first, True)), contact_stage(5, (second, True))
    )
    engagement = engage(contacts, plan)
    started = server.clock.now()
    settle(server)
    assert len(page_messages(server, first_channel)) == 1
    assert page_messages(server, second_channel) == []

    advance(server, minutes=4, seconds=59)
    assert page_messages(server, second_channel) == []
    advance(server, seconds=1)
    messages = page_messages(server, second_channel)
    assert len(messages) == 1
    assert messages[0].created_at == started + timedelta(minutes=5)
    assert len(page_messages(server, first_channel)) == 1

    page = page_of(contacts, engagement, second)
    resolutions = contacts.list_page_resolutions(PageId=page)["PageResolutions"]
    assert resolutions == [
        {"ContactArn": plan, "Type": "ESCALATION", "StageIndex": 1},
        {"ContactArn": second, "Type": "PERSONAL"},
    ]
    advance(server, minutes=30)
    assert len(pages_of(contacts, engagement)) == 2


def test_essential_acknowledgement_stops_escalation(server: RunningServer, contacts: Any) -> None:
    first, first_channel = paged_person(server, contacts, "first")
    second, second_channel = paged_person(server, contacts, "second")
    plan = escalation(
        contacts, "plan", contact_stage(5, (first, True)), contact_stage(5, (second, True))
    )
    engagement = engage(contacts, plan)
    settle(server)
    code = accept_code_in(page_messages(server, first_channel)[0].body)

    advance(server, minutes=2)
    page = page_of(contacts, engagement, first)
    contacts.accept_page(PageId=page, AcceptType="READ", AcceptCode=code)
    advance(server, minutes=10)
    assert page_messages(server, second_channel) == []
    assert [p["ContactArn"] for p in pages_of(contacts, engagement)] == [first]
    assert "StopTime" not in contacts.describe_engagement(EngagementId=engagement)


def test_non_essential_acknowledgement_continues(server: RunningServer, contacts: Any) -> None:
    first, _first_channel = paged_person(server, contacts, "first")
    second, second_channel = paged_person(server, contacts, "second")
    plan = escalation(
        contacts, "plan", contact_stage(5, (first, False)), contact_stage(5, (second, True))
    )
    engagement = engage(contacts, plan)
    settle(server)
    advance(server, minutes=2)
    page = page_of(contacts, engagement, first)
    contacts.accept_page(PageId=page, AcceptType="READ", AcceptCode="123456")
    advance(server, minutes=3)
    assert len(page_messages(server, second_channel)) == 1
    assert receipt_types(contacts, page) == ["SENT", "READ"]


def test_acknowledgement_stops_own_stages(server: RunningServer, contacts: Any) -> None:
    contact = personal(contacts, "person")
    email = activated_channel(server, contacts, contact, "person@example.com")
    sms = activated_channel(server, contacts, contact, "+15555550100", kind="SMS")
    stages = [channel_stage(email, minutes=3), channel_stage(sms, minutes=3)]
    contacts.update_contact(ContactId=contact, Plan={"Stages": stages})

    # Without an acknowledgement the second channel stage sends after 3 minutes.
    engage(contacts, contact)
    settle(server)
    assert len(page_messages(server, email)) == 1
    assert page_messages(server, sms) == []
    advance(server, minutes=3)
    assert len(page_messages(server, sms)) == 1

    # Acknowledged within the first stage, the page sends nothing more, ever.
    engagement = engage(contacts, contact)
    settle(server)
    page = page_of(contacts, engagement, contact)
    contacts.accept_page(PageId=page, AcceptType="READ", AcceptCode="123456")
    advance(server, minutes=3)
    advance(server, days=120)
    assert len(page_messages(server, email)) == 2
    assert len(page_messages(server, sms)) == 1
    assert receipt_types(contacts, page) == ["SENT", "READ"]


def test_two_essential_targets_first_ack_stops(server: RunningServer, contacts: Any) -> None:
    first, _ = paged_person(server, contacts, "first")
    second, _ = paged_person(server, contacts, "second")
    third, third_channel = paged_person(server, contacts, "third")
    plan = escalation(
        contacts,
        "plan",
        contact_stage(5, (first, True), (second, True)),
        contact_stage(5, (third, True)),
    )
    engagement = engage(contacts, plan)
    settle(server)
    assert sorted(p["ContactArn"] for p in pages_of(contacts, engagement)) == sorted(
        [first, second]
    )
    contacts.accept_page(
        PageId=page_of(contacts, engagement, second), AcceptType="READ", AcceptCode="123456"
    )
    advance(server, minutes=6)
    assert page_messages(server, third_channel) == []


def test_stop_engagement_cancels_everything(server: RunningServer, contacts: Any) -> None:
    contact = personal(contacts, "person")
    email = activated_channel(server, contacts, contact, "person@example.com")
    sms = activated_channel(server, contacts, contact, "+15555550100", kind="SMS")
    stages = [channel_stage(email, minutes=3), channel_stage(sms, minutes=3)]
    contacts.update_contact(ContactId=contact, Plan={"Stages": stages})
    second, second_channel = paged_person(server, contacts, "second")
    plan = escalation(
        contacts, "plan", contact_stage(5, (contact, False)), contact_stage(5, (second, True))
    )
    engagement = engage(contacts, plan)
    settle(server)
    advance(server, minutes=1)
    contacts.stop_engagement(EngagementId=engagement, Reason="resolved")
    advance(server, minutes=30)

    assert page_messages(server, sms) == []
    assert page_messages(server, second_channel) == []
    page = page_of(contacts, engagement, contact)
    assert receipt_types(contacts, page) == ["SENT", "STOP"]
    described = contacts.describe_engagement(EngagementId=engagement)
    assert described["StopTime"] == server.clock.now() - timedelta(minutes=30)


def test_unactivated_channel_is_skipped(server: RunningServer, contacts: Any) -> None:
    contact = personal(contacts, "person")
    active = activated_channel(server, contacts, contact, "person@example.com")
    inactive = contacts.create_contact_channel(
        ContactId=contact,
        Name="pager",
        Type="SMS",
        DeliveryAddress={"SimpleAddress": "+15555550199"},
        DeferActivation=True,
    )["ContactChannelArn"]
    contacts.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(active, inactive)]})

    engagement = engage(contacts, contact)
    settle(server)
    assert len(page_messages(server, active)) == 1
    assert page_messages(server, inactive) == []
    page = page_of(contacts, engagement, contact)
    receipts = contacts.list_page_receipts(PageId=page)["Receipts"]
    assert [(r["ReceiptType"], r["ContactChannelArn"]) for r in receipts] == [("SENT", active)]


def test_empty_plans_page_nobody(server: RunningServer, contacts: Any) -> None:
    # A contact with a channel but no stages is engaged and nobody is paged.
    contact = personal(contacts, "spde")
    channel = contacts.create_contact_channel(
        ContactId=contact, Name="sms", Type="SMS", DeliveryAddress={"SimpleAddress": "+15555550100"}
    )["ContactChannelArn"]
    engagement = engage(contacts, contact)
    settle(server)
    assert contacts.list_pages_by_engagement(EngagementId=engagement)["Pages"] == []
    assert page_messages(server, channel) == []
    assert contacts.describe_engagement(EngagementId=engagement)["ContactArn"] == contact

    plan = escalation(contacts, "empty-plan")
    engagement = engage(contacts, plan)
    advance(server, minutes=60)
    assert contacts.list_pages_by_engagement(EngagementId=engagement)["Pages"] == []

    # A stage whose only target pages nobody still lets the next stage start on time.
    second, second_channel = paged_person(server, contacts, "second")
    plan = escalation(
        contacts, "gap-plan", contact_stage(5, (contact, True)), contact_stage(5, (second, True))
    )
    engagement = engage(contacts, plan)
    settle(server)
    assert pages_of(contacts, engagement) == []
    advance(server, minutes=5)
    assert len(page_messages(server, second_channel)) == 1
