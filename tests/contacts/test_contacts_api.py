"""Contacts through boto3: life cycle, plans, listing and the infrastructure-as-code shapes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.contacts.conftest import OWNER, personal
from tocsin.testing import RunningServer

ROTATION = f"arn:aws:ssm-contacts:us-east-1:{OWNER}:rotation/r1"
NOBODY = f"arn:aws:ssm-contacts:us-east-1:{OWNER}:contact/nobody"


def error_of(info: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = info.value.response
    return response


def test_contact_life_cycle(contacts: Any) -> None:
    arn = contacts.create_contact(
        Alias="my-ssm-contact", DisplayName="My_SSM_contact", Type="PERSONAL", Plan={"Stages": []}
    )["ContactArn"]
    assert arn == f"arn:aws:ssm-contacts:us-east-1:{OWNER}:contact/my-ssm-contact"

    got = contacts.get_contact(ContactId=arn)
    assert got["Alias"] == "my-ssm-contact"
    assert got["DisplayName"] == "My_SSM_contact"
    assert got["Type"] == "PERSONAL"
    assert got["Plan"] == {"Stages": []}

    contacts.update_contact(ContactId=arn, DisplayName="Renamed")
    assert contacts.get_contact(ContactId=arn)["DisplayName"] == "Renamed"

    contacts.delete_contact(ContactId=arn)
    with pytest.raises(ClientError) as info:
        contacts.get_contact(ContactId=arn)
    error = error_of(info)
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResourceId"] == arn
    assert error["ResourceType"] == "CONTACT"
    with pytest.raises(contacts.exceptions.ResourceNotFoundException):
        contacts.delete_contact(ContactId=arn)
    with pytest.raises(contacts.exceptions.ResourceNotFoundException):
        contacts.update_contact(ContactId=arn, DisplayName="x")


def test_duplicate_alias_conflicts(contacts: Any) -> None:
    # The Terraform "all fields" plan example creates two contacts with one alias.
    first = personal(contacts, "alias")
    with pytest.raises(ClientError) as info:
        contacts.create_contact(Alias="alias", Type="PERSONAL", Plan={"Stages": []})
    error = error_of(info)
    assert error["Error"]["Code"] == "ConflictException"
    assert error["ResourceId"] == first


def test_escalation_plan_all_fields(contacts: Any) -> None:
    escalation = contacts.create_contact(
        Alias="escalation-plan-alias", Type="ESCALATION", Plan={"Stages": []}
    )["ContactArn"]
    first = personal(contacts, "alias")
    second = personal(contacts, "alias-two")
    plan = {
        "Stages": [
            {
                "DurationInMinutes": 0,
                "Targets": [
                    {"ContactTargetInfo": {"IsEssential": False, "ContactId": first}},
                    {"ContactTargetInfo": {"IsEssential": True, "ContactId": second}},
                ],
            }
        ]
    }
    contacts.update_contact(ContactId=escalation, Plan=plan)
    assert contacts.get_contact(ContactId=escalation)["Plan"] == plan


def test_cloudformation_contacts_template(contacts: Any) -> None:
    person = contacts.create_contact(
        Alias="my-ssm-contact", DisplayName="My_SSM_contact", Type="PERSONAL", Plan={"Stages": []}
    )["ContactArn"]
    escalation = contacts.create_contact(
        Alias="my-escalation-plan",
        DisplayName="My_escalation_plan",
        Type="ESCALATION",
        Plan={"Stages": []},
    )["ContactArn"]
    schedule = contacts.create_contact(
        Alias="my-oncall-schedule",
        DisplayName="My_on-call_schedule",
        Type="ONCALL_SCHEDULE",
        Plan={"RotationIds": []},
    )["ContactArn"]
    channel = contacts.create_contact_channel(
        ContactId=person,
        Name="MyEmailChannel",
        Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "contact-email-channel@example.com"},
    )["ContactChannelArn"]
    engagement_plan = {
        "Stages": [
            {
                "DurationInMinutes": 10,
                "Targets": [
                    {
                        "ChannelTargetInfo": {
                            "ContactChannelId": channel,
                            "RetryIntervalInMinutes": 3,
                        }
                    }
                ],
            }
        ]
    }
    contacts.update_contact(ContactId=person, Plan=engagement_plan)
    escalation_plan = {
        "Stages": [
            {
                "DurationInMinutes": 0,
                "Targets": [{"ContactTargetInfo": {"ContactId": person, "IsEssential": True}}],
            }
        ]
    }
    contacts.update_contact(ContactId=escalation, Plan=escalation_plan)

    assert contacts.get_contact(ContactId=person)["Plan"] == engagement_plan
    assert contacts.get_contact(ContactId=escalation)["Plan"] == escalation_plan
    assert contacts.get_contact(ContactId=schedule)["Plan"] == {"Stages": [], "RotationIds": []}


@pytest.mark.parametrize(
    ("contact_type", "plan", "message"),
    [
        (
            "ONCALL_SCHEDULE",
            {"Stages": [{"DurationInMinutes": 0, "Targets": []}]},
            "ONCALL_SCHEDULE contact cannot have stages",
        ),
        (
            "PERSONAL",
            {"Stages": [], "RotationIds": [ROTATION]},
            "only valid for an ONCALL_SCHEDULE",
        ),
        (
            "ONCALL_SCHEDULE",
            {"RotationIds": ["arn:aws:ssm-contacts:us-east-1:1:x/y"]},
            "not a rotation ARN",
        ),
        ("ONCALL_SCHEDULE", {"RotationIds": [ROTATION + str(i) for i in range(9)]}, "at most 8"),
        ("ONCALL_SCHEDULE", {"RotationIds": [ROTATION, ROTATION]}, "twice"),
        ("PERSONAL", {"Stages": [{"DurationInMinutes": 0, "Targets": []}]}, "can be 0 only"),
        ("PERSONAL", {"Stages": [{"DurationInMinutes": 31, "Targets": []}]}, "durationInMinutes"),
        ("PERSONAL", {"Stages": [{"DurationInMinutes": 5, "Targets": [{}]}]}, "exactly one"),
        (
            "PERSONAL",
            {
                "Stages": [
                    {
                        "DurationInMinutes": 5,
                        "Targets": [
                            {
                                "ChannelTargetInfo": {
                                    "ContactChannelId": f"arn:aws:ssm-contacts:us-east-1:{OWNER}:"
                                    "contact-channel/x/0b5b9b6c-1f1e-4a8e-9d3c-2f4c5a6b7c8d"
                                }
                            }
                        ],
                    }
                ]
            },
            "is not a contact channel of",
        ),
        (
            "ESCALATION",
            {
                "Stages": [
                    {
                        "DurationInMinutes": 5,
                        "Targets": [
                            {
                                "ContactTargetInfo": {
                                    "ContactId": NOBODY,
                                    "IsEssential": False,
                                }
                            }
                        ],
                    }
                ]
            },
            "does not exist",
        ),
    ],
)
def test_invalid_plans_rejected(contacts: Any, contact_type: str, plan: Any, message: str) -> None:
    with pytest.raises(ClientError) as info:
        contacts.create_contact(Alias="c", Type=contact_type, Plan=plan)
    error = error_of(info)
    assert error["Error"]["Code"] == "ValidationException"
    assert message in error["Error"]["Message"]
    assert error["Fields"], error
    assert error["Reason"] == "FIELD_VALIDATION_FAILED"


def test_schedule_rotations_and_wrong_targets(contacts: Any) -> None:
    contacts.create_rotation(
        Name="r1",
        ContactIds=[personal(contacts, "on-call")],
        TimeZoneId="UTC",
        Recurrence={
            "NumberOfOnCalls": 1,
            "RecurrenceMultiplier": 1,
            "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}],
        },
    )
    schedule = contacts.create_contact(
        Alias="me", DisplayName="Me", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [ROTATION]}
    )["ContactArn"]
    assert contacts.get_contact(ContactId=schedule)["Plan"]["RotationIds"] == [ROTATION]
    # An empty stage list is what many clients send with every plan.
    contacts.update_contact(ContactId=schedule, Plan={"Stages": [], "RotationIds": []})

    person = personal(contacts, "person")
    escalation = contacts.create_contact(Alias="esc", Type="ESCALATION", Plan={"Stages": []})[
        "ContactArn"
    ]
    contact_target = {"ContactTargetInfo": {"ContactId": schedule, "IsEssential": False}}
    contacts.update_contact(
        ContactId=escalation,
        Plan={"Stages": [{"DurationInMinutes": 5, "Targets": [contact_target]}]},
    )
    cases = [
        (person, contact_target, "must be a ChannelTargetInfo"),
        (
            escalation,
            {"ContactTargetInfo": {"ContactId": escalation, "IsEssential": True}},
            "itself",
        ),
        (
            escalation,
            {"ChannelTargetInfo": {"ContactChannelId": schedule}},
            "must be a ContactTargetInfo",
        ),
        (escalation, {"ContactTargetInfo": {"IsEssential": True}}, "is required"),
    ]
    for contact, target, message in cases:
        with pytest.raises(ClientError) as info:
            contacts.update_contact(
                ContactId=contact,
                Plan={"Stages": [{"DurationInMinutes": 5, "Targets": [target]}]},
            )
        assert message in info.value.response["Error"]["Message"]


def test_cross_account_escalation_target(server: RunningServer, contacts: Any, other: Any) -> None:
    foreign = personal(other, "foreign")
    target = {"ContactTargetInfo": {"ContactId": foreign, "IsEssential": True}}
    with pytest.raises(ClientError) as info:
        contacts.create_contact(
            Alias="esc",
            Type="ESCALATION",
            Plan={"Stages": [{"DurationInMinutes": 1, "Targets": [target]}]},
        )
    error = error_of(info)
    assert error["Error"]["Code"] == "ValidationException"
    assert "own account" in error["Error"]["Message"]
    assert error["Fields"][0]["Name"] == "Plan.Stages[0].Targets[0].ContactTargetInfo.ContactId"


def test_list_contacts_filters_and_pages(contacts: Any) -> None:
    for index in range(7):
        personal(contacts, f"team-{index}")
    contacts.create_contact(Alias="team_x", Type="ESCALATION", Plan={"Stages": []})
    contacts.create_contact(Alias="teamxy", Type="ESCALATION", Plan={"Stages": []})

    pages = list(contacts.get_paginator("list_contacts").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(page["Contacts"]) for page in pages] == [3, 3, 3]
    assert "NextToken" not in pages[-1]
    aliases = [c["Alias"] for page in pages for c in page["Contacts"]]
    assert len(set(aliases)) == 9

    escalations = contacts.list_contacts(Type="ESCALATION")["Contacts"]
    assert sorted(c["Alias"] for c in escalations) == ["team_x", "teamxy"]
    # "_" is a literal character in the prefix, not a wildcard.
    assert [c["Alias"] for c in contacts.list_contacts(AliasPrefix="team_")["Contacts"]] == [
        "team_x"
    ]
    assert len(contacts.list_contacts(AliasPrefix="team-")["Contacts"]) == 7

    with pytest.raises(ClientError) as info:
        contacts.list_contacts(NextToken="bogus")
    assert info.value.response["Error"]["Code"] == "ValidationException"
