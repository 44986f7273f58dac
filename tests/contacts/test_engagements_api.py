"""Engagement and page operations through boto3: success, input errors and other accounts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.contacts.conftest import OTHER, OWNER, personal
from tests.contacts.engagement_support import (
    accept_code_in,
    advance,
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

MISSING_ENGAGEMENT = (
    f"arn:aws:ssm-contacts:us-east-1:{OWNER}:engagement/person/00000000-0000-4000-8000-000000000000"
)
MISSING_PAGE = (
    f"arn:aws:ssm-contacts:us-east-1:{OWNER}:page/person/00000000-0000-4000-8000-000000000000"
)


def error_of(info: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = info.value.response
    return {**response["Error"], **{k: v for k, v in response.items() if k != "Error"}}


def share(client: Any, contact: str, account: str, *actions: str) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": list(actions),
                "Resource": contact,
            }
        ],
    }
    client.put_contact_policy(ContactArn=contact, Policy=json.dumps(policy))


def test_start_and_describe_engagement(server: RunningServer, contacts: Any) -> None:
    contact, channel = paged_person(server, contacts, "person")
    arn = engage(
        contacts,
        contact,
        PublicSubject="Public subject",
        PublicContent="Public content",
        IncidentId="incident-1",
    )
    assert arn.startswith(f"arn:aws:ssm-contacts:us-east-1:{OWNER}:engagement/person/")

    described = contacts.describe_engagement(EngagementId=arn)
    assert described["EngagementArn"] == arn
    assert described["ContactArn"] == contact
    assert described["Sender"] == "tester"
    assert described["Subject"] == "Checkout down"
    assert described["Content"] == "Orders fail"
    assert described["PublicSubject"] == "Public subject"
    assert described["PublicContent"] == "Public content"
    assert described["IncidentId"] == "incident-1"
    assert described["StartTime"] == server.clock.now()
    assert "StopTime" not in described

    settle(server)
    pages = pages_of(contacts, arn)
    assert len(pages) == 1
    page = pages[0]
    assert page["PageArn"].startswith(f"arn:aws:ssm-contacts:us-east-1:{OWNER}:page/person/")
    assert page["ContactArn"] == contact
    assert page["EngagementArn"] == arn
    assert page["SentTime"] == server.clock.now()
    messages = page_messages(server, channel)
    assert len(messages) == 1
    assert messages[0].subject == "Checkout down"
    assert "Orders fail" in messages[0].body


def test_start_engagement_idempotency_token(server: RunningServer, contacts: Any) -> None:
    contact, _ = paged_person(server, contacts, "person")
    first = engage(contacts, contact, IdempotencyToken="token-1")
    again = engage(contacts, contact, IdempotencyToken="token-1")
    assert again == first
    with pytest.raises(ClientError) as info:
        contacts.start_engagement(
            ContactId=contact,
            Sender="tester",
            Subject="Another subject",
            Content="Orders fail",
            IdempotencyToken="token-1",
        )
    assert error_of(info)["Code"] == "ConflictException"
    settle(server)
    assert len(contacts.list_engagements()["Engagements"]) == 1


@pytest.mark.parametrize(
    ("members", "code"),
    [
        (
            {"ContactId": f"arn:aws:ssm-contacts:us-east-1:{OWNER}:contact/nobody"},
            "ResourceNotFoundException",
        ),
        ({"Sender": "x" * 256}, "ValidationException"),
        ({"Content": "x" * 8193}, "ValidationException"),
        ({"Sender": "bad<sender>"}, "ValidationException"),
        ({"ContactId": "not-an-arn"}, "ValidationException"),
    ],
    ids=["unknown-contact", "long-sender", "long-content", "bad-sender", "bad-arn"],
)
def test_start_engagement_rejects(contacts: Any, members: dict[str, str], code: str) -> None:
    contact = personal(contacts, "person")
    request = {"ContactId": contact, "Sender": "tester", "Subject": "s", "Content": "c"}
    request.update(members)
    with pytest.raises(ClientError) as info:
        contacts.start_engagement(**request)
    error = error_of(info)
    assert error["Code"] == code
    assert error["Message"]


def test_unknown_ids_not_found(contacts: Any) -> None:
    contact = personal(contacts, "person")
    calls = [
        lambda: contacts.describe_engagement(EngagementId=MISSING_ENGAGEMENT),
        lambda: contacts.stop_engagement(EngagementId=MISSING_ENGAGEMENT),
        lambda: contacts.list_pages_by_engagement(EngagementId=MISSING_ENGAGEMENT),
        lambda: contacts.describe_page(PageId=MISSING_PAGE),
        lambda: contacts.list_page_receipts(PageId=MISSING_PAGE),
        lambda: contacts.list_page_resolutions(PageId=MISSING_PAGE),
        lambda: contacts.accept_page(PageId=MISSING_PAGE, AcceptType="READ", AcceptCode="123456"),
        lambda: contacts.describe_page(PageId=contact),
        lambda: contacts.describe_engagement(EngagementId=contact),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        error = error_of(info)
        assert error["Code"] == "ResourceNotFoundException"
        assert error["ResourceType"] in ("ENGAGEMENT", "PAGE")
    with pytest.raises(ClientError) as info:
        contacts.list_pages_by_contact(
            ContactId=f"arn:aws:ssm-contacts:us-east-1:{OWNER}:contact/nobody"
        )
    assert error_of(info)["ResourceType"] == "CONTACT"


def test_other_account_sees_nothing(server: RunningServer, contacts: Any, other: Any) -> None:
    contact, _ = paged_person(server, contacts, "person")
    engagement = engage(contacts, contact)
    settle(server)
    page = pages_of(contacts, engagement)[0]["PageArn"]
    calls = [
        lambda: other.start_engagement(ContactId=contact, Sender="x", Subject="s", Content="c"),
        lambda: other.describe_engagement(EngagementId=engagement),
        lambda: other.stop_engagement(EngagementId=engagement),
        lambda: other.list_pages_by_engagement(EngagementId=engagement),
        lambda: other.list_pages_by_contact(ContactId=contact),
        lambda: other.describe_page(PageId=page),
        lambda: other.list_page_receipts(PageId=page),
        lambda: other.list_page_resolutions(PageId=page),
        lambda: other.accept_page(PageId=page, AcceptType="READ", AcceptCode="123456"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        assert error_of(info)["Code"] == "ResourceNotFoundException"
    assert other.list_engagements()["Engagements"] == []


def test_shared_contact_consumer(server: RunningServer, contacts: Any, other: Any) -> None:
    contact, channel = paged_person(server, contacts, "person")
    share(
        contacts,
        contact,
        OTHER,
        "ssm-contacts:GetContact",
        "ssm-contacts:StartEngagement",
        "ssm-contacts:DescribeEngagement",
        "ssm-contacts:StopEngagement",
        "ssm-contacts:ListPagesByEngagement",
        "ssm-contacts:ListPagesByContact",
    )
    owned = engage(contacts, contact)
    consumed = engage(other, contact)
    # The engagement belongs to the contact's owner, also when a consumer starts it.
    assert consumed.startswith(f"arn:aws:ssm-contacts:us-east-1:{OWNER}:engagement/person/")
    settle(server)
    assert len(page_messages(server, channel)) == 2

    assert other.describe_engagement(EngagementId=owned)["ContactArn"] == contact
    listed = [item["EngagementArn"] for item in other.list_engagements()["Engagements"]]
    assert sorted(listed) == sorted([owned, consumed])
    assert len(other.list_pages_by_contact(ContactId=contact)["Pages"]) == 2
    page = pages_of(other, consumed)[0]["PageArn"]
    # Pages themselves stay with the owner.
    with pytest.raises(ClientError) as info:
        other.describe_page(PageId=page)
    assert error_of(info)["Code"] == "AccessDeniedException"

    other.stop_engagement(EngagementId=consumed, Reason="handled")
    assert "StopTime" in contacts.describe_engagement(EngagementId=consumed)

    # Unsharing removes access at once.
    contacts.put_contact_policy(
        ContactArn=contact,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                        "Action": "ssm-contacts:GetContact",
                        "Resource": contact,
                    }
                ],
            }
        ),
    )
    with pytest.raises(ClientError) as info:
        other.describe_engagement(EngagementId=owned)
    assert error_of(info)["Code"] == "ResourceNotFoundException"
    assert other.list_engagements()["Engagements"] == []


def test_describe_page_and_receipts(server: RunningServer, contacts: Any) -> None:
    contact, channel = paged_person(server, contacts, "person")
    engagement = engage(contacts, contact, IncidentId="incident-7")
    settle(server)
    page = pages_of(contacts, engagement)[0]["PageArn"]

    described = contacts.describe_page(PageId=page)
    assert described["PageArn"] == page
    assert described["EngagementArn"] == engagement
    assert described["ContactArn"] == contact
    assert described["Sender"] == "tester"
    assert described["Subject"] == "Checkout down"
    assert described["Content"] == "Orders fail"
    assert described["IncidentId"] == "incident-7"
    assert described["SentTime"] == server.clock.now()
    assert "DeliveryTime" not in described
    assert "ReadTime" not in described
    assert "AcceptCode" not in json.dumps(described, default=str)

    receipts = contacts.list_page_receipts(PageId=page)["Receipts"]
    assert [r["ReceiptType"] for r in receipts] == ["SENT"]
    assert receipts[0]["ContactChannelArn"] == channel

    resolutions = contacts.list_page_resolutions(PageId=page)["PageResolutions"]
    assert resolutions == [{"ContactArn": contact, "Type": "PERSONAL"}]
    by_contact = contacts.list_pages_by_contact(ContactId=contact)["Pages"]
    assert [item["PageArn"] for item in by_contact] == [page]


def test_accept_page_types_and_codes(server: RunningServer, contacts: Any) -> None:
    contact, channel = paged_person(server, contacts, "person")
    engagement = engage(contacts, contact)
    settle(server)
    page = pages_of(contacts, engagement)[0]["PageArn"]
    code = accept_code_in(page_messages(server, channel)[0].body)
    wrong = "000000" if code != "000000" else "111111"

    advance(server, minutes=1)
    contacts.accept_page(
        PageId=page, ContactChannelId=channel, AcceptType="DELIVERED", AcceptCode=wrong
    )
    assert contacts.describe_page(PageId=page)["DeliveryTime"] == server.clock.now()

    with pytest.raises(ClientError) as info:
        contacts.accept_page(
            PageId=page, AcceptType="READ", AcceptCode=wrong, AcceptCodeValidation="ENFORCE"
        )
    error = error_of(info)
    assert error["Code"] == "ValidationException"
    assert error["Fields"][0]["Name"] == "AcceptCode"
    assert "ReadTime" not in contacts.describe_page(PageId=page)

    other_person = personal(contacts, "other-person")
    foreign_channel = channel.replace("/person/", "/other-person/")
    with pytest.raises(ClientError) as info:
        contacts.accept_page(
            PageId=page, ContactChannelId=foreign_channel, AcceptType="READ", AcceptCode=code
        )
    assert error_of(info)["Fields"][0]["Name"] == "ContactChannelId"
    assert other_person

    advance(server, minutes=1)
    contacts.accept_page(
        PageId=page,
        ContactChannelId=channel,
        AcceptType="READ",
        AcceptCode=code,
        AcceptCodeValidation="ENFORCE",
        Note="on it",
    )
    described = contacts.describe_page(PageId=page)
    assert described["ReadTime"] == server.clock.now()
    assert described["DeliveryTime"] == server.clock.now() - timedelta(minutes=1)
    receipts = contacts.list_page_receipts(PageId=page)["Receipts"]
    assert [r["ReceiptType"] for r in receipts] == ["SENT", "DELIVERED", "READ"]
    assert receipts[2]["ReceiptInfo"] == "on it"
    assert receipts[2]["ContactChannelArn"] == channel

    with pytest.raises(ClientError) as info:
        contacts.accept_page(PageId=page, AcceptType="SEEN", AcceptCode=code)
    assert error_of(info)["Code"] == "ValidationException"
    with pytest.raises(ClientError) as info:
        contacts.accept_page(PageId=page, AcceptType="READ", AcceptCode="12ab56")
    assert error_of(info)["Code"] == "ValidationException"


def test_stop_engagement_twice(server: RunningServer, contacts: Any) -> None:
    contact, _ = paged_person(server, contacts, "person")
    engagement = engage(contacts, contact)
    settle(server)
    page = pages_of(contacts, engagement)[0]["PageArn"]
    advance(server, minutes=2)
    contacts.stop_engagement(EngagementId=engagement, Reason="false alarm")
    stopped_at = server.clock.now()
    advance(server, minutes=2)
    contacts.stop_engagement(EngagementId=engagement, Reason="again")
    assert contacts.describe_engagement(EngagementId=engagement)["StopTime"] == stopped_at
    assert receipt_types(contacts, page) == ["SENT", "STOP"]


def test_list_engagements_filters(server: RunningServer, contacts: Any) -> None:
    contact, _ = paged_person(server, contacts, "person")
    first = engage(contacts, contact, IncidentId="incident-a")
    start = server.clock.now()
    advance(server, minutes=10)
    second = engage(contacts, contact, IncidentId="incident-b")
    advance(server, minutes=10)
    third = engage(contacts, contact, IncidentId="incident-a")

    listed = [e["EngagementArn"] for e in contacts.list_engagements()["Engagements"]]
    assert listed == [third, second, first]
    by_incident = contacts.list_engagements(IncidentId="incident-a")["Engagements"]
    assert [e["EngagementArn"] for e in by_incident] == [third, first]
    window = {"StartTime": start + timedelta(minutes=5), "EndTime": start + timedelta(minutes=15)}
    in_window = contacts.list_engagements(TimeRangeValue=window)["Engagements"]
    assert [e["EngagementArn"] for e in in_window] == [second]

    pages = list(
        contacts.get_paginator("list_engagements").paginate(PaginationConfig={"PageSize": 2})
    )
    assert [len(page["Engagements"]) for page in pages] == [2, 1]

    reversed_window = {"StartTime": start, "EndTime": start - timedelta(minutes=1)}
    with pytest.raises(ClientError) as info:
        contacts.list_engagements(TimeRangeValue=reversed_window)
    assert error_of(info)["Fields"][0]["Name"] == "TimeRangeValue.EndTime"
    with pytest.raises(ClientError) as info:
        contacts.list_engagements(NextToken="forged")
    assert error_of(info)["Code"] == "ValidationException"


def test_list_pages_by_contact_needs_personal(server: RunningServer, contacts: Any) -> None:
    contact, _ = paged_person(server, contacts, "person")
    plan = escalation(contacts, "plan", contact_stage(0, (contact, True)))
    with pytest.raises(ClientError) as info:
        contacts.list_pages_by_contact(ContactId=plan)
    assert error_of(info)["Fields"][0]["Name"] == "ContactId"


def test_nul_character_is_rejected(server: RunningServer, contacts: Any) -> None:
    """PostgreSQL stores no NUL character, so every database rejects one with a 400."""
    person, channel = paged_person(server, contacts, "nul")
    engagement = engage(contacts, person)
    settle(server)
    page = pages_of(contacts, engagement)[0]["PageArn"]
    code = accept_code_in(page_messages(server, channel)[0].body)
    calls = {
        "Subject": lambda: engage(contacts, person, Subject="disk\x00full"),
        "Content": lambda: engage(contacts, person, Content="\x00"),
        "Reason": lambda: contacts.stop_engagement(EngagementId=engagement, Reason="r\x00"),
        "Note": lambda: contacts.accept_page(
            PageId=page, AcceptType="READ", AcceptCode=code, Note="seen\x00"
        ),
    }
    for member, call in calls.items():
        with pytest.raises(ClientError) as excinfo:
            call()
        error = error_of(excinfo)
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["Code"] == "SerializationException"
        assert member in error["Message"]
        assert "NUL character" in error["Message"]
    assert len(contacts.list_engagements()["Engagements"]) == 1
    assert receipt_types(contacts, page) == ["SENT"]
