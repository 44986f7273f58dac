"""Contact policies, tags and what another account may see and do."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.contacts.conftest import OTHER, personal


def share_policy(contact: str, account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement"],
                    "Resource": contact,
                }
            ],
        }
    )


def code_of(info: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = info.value.response["Error"]["Code"]
    return code


def test_other_account_cannot_see_contact(contacts: Any, other: Any) -> None:
    contact = personal(contacts, "person")
    calls: list[Callable[[], Any]] = [
        lambda: other.get_contact(ContactId=contact),
        lambda: other.update_contact(ContactId=contact, DisplayName="x"),
        lambda: other.delete_contact(ContactId=contact),
        lambda: other.get_contact_policy(ContactArn=contact),
        lambda: other.list_contact_channels(ContactId=contact),
        lambda: other.list_tags_for_resource(ResourceARN=contact),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        assert code_of(info) == "ResourceNotFoundException"
    assert other.list_contacts()["Contacts"] == []
    # The same alias in another account is a different contact.
    assert personal(other, "person") != contact


def test_policy_shares_contact_for_use_only(contacts: Any, other: Any) -> None:
    contact = personal(contacts, "person", DisplayName="Person")
    policy = share_policy(contact, OTHER)
    contacts.put_contact_policy(ContactArn=contact, Policy=policy)
    stored = contacts.get_contact_policy(ContactArn=contact)
    assert stored["ContactArn"] == contact
    assert stored["Policy"] == policy

    assert other.get_contact(ContactId=contact)["DisplayName"] == "Person"
    assert [c["ContactArn"] for c in other.list_contacts()["Contacts"]] == [contact]
    owner_only: list[Callable[[], Any]] = [
        lambda: other.update_contact(ContactId=contact, DisplayName="x"),
        lambda: other.delete_contact(ContactId=contact),
        lambda: other.put_contact_policy(ContactArn=contact, Policy=policy),
        lambda: other.tag_resource(ResourceARN=contact, Tags=[{"Key": "k", "Value": "v"}]),
        lambda: other.list_tags_for_resource(ResourceARN=contact),
    ]
    for call in owner_only:
        with pytest.raises(ClientError) as info:
            call()
        assert code_of(info) == "AccessDeniedException"

    # A contact shared with this account still cannot join its escalation plans.
    target = {"ContactTargetInfo": {"ContactId": contact, "IsEssential": True}}
    with pytest.raises(ClientError) as info:
        other.create_contact(
            Alias="esc",
            Type="ESCALATION",
            Plan={"Stages": [{"DurationInMinutes": 1, "Targets": [target]}]},
        )
    assert code_of(info) == "ValidationException"


@pytest.mark.parametrize(
    "policy",
    [
        "not json",
        '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
    ],
)
def test_invalid_policy_rejected(contacts: Any, policy: str) -> None:
    contact = personal(contacts, "person")
    with pytest.raises(ClientError) as info:
        contacts.put_contact_policy(ContactArn=contact, Policy=policy)
    assert code_of(info) == "ValidationException"
    assert info.value.response["Fields"][0]["Name"] == "Policy"
    assert "Policy" not in contacts.get_contact_policy(ContactArn=contact)


def test_tags_life_cycle(contacts: Any) -> None:
    contact = personal(contacts, "person", Tags=[{"Key": "team", "Value": "core"}])
    contacts.tag_resource(
        ResourceARN=contact, Tags=[{"Key": "team", "Value": "edge"}, {"Key": "tier", "Value": "1"}]
    )
    assert contacts.list_tags_for_resource(ResourceARN=contact)["Tags"] == [
        {"Key": "team", "Value": "edge"},
        {"Key": "tier", "Value": "1"},
    ]
    contacts.untag_resource(ResourceARN=contact, TagKeys=["team", "absent"])
    assert contacts.list_tags_for_resource(ResourceARN=contact)["Tags"] == [
        {"Key": "tier", "Value": "1"}
    ]

    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    with pytest.raises(ClientError) as info:
        contacts.tag_resource(ResourceARN=contact, Tags=many)
    assert code_of(info) == "ServiceQuotaExceededException"
    with pytest.raises(ClientError) as info:
        contacts.tag_resource(ResourceARN=contact, Tags=[{"Key": "a", "Value": "1"}] * 2)
    assert code_of(info) == "ValidationException"

    # Deleting the contact drops its tags, so a new contact with the alias starts bare.
    contacts.delete_contact(ContactId=contact)
    with pytest.raises(ClientError) as info:
        contacts.list_tags_for_resource(ResourceARN=contact)
    assert code_of(info) == "ResourceNotFoundException"
    personal(contacts, "person")
    assert contacts.list_tags_for_resource(ResourceARN=contact)["Tags"] == []

    with pytest.raises(ClientError) as info:
        contacts.list_tags_for_resource(ResourceARN="arn:aws:ssm-contacts:us-east-1:1:page/x/y")
    assert code_of(info) == "ResourceNotFoundException"


class LiftedSettings:
    """The server's settings with cross-account escalation allowed."""

    allow_cross_account_escalation = True

    def __init__(self, settings: Any) -> None:
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._settings, name)


def test_setting_allows_shared_escalation_target(server: Any, contacts: Any, other: Any) -> None:
    server.runtime.settings = LiftedSettings(server.runtime.settings)
    hidden = personal(contacts, "hidden")
    shared = personal(contacts, "shared")
    contacts.put_contact_policy(ContactArn=shared, Policy=share_policy(shared, OTHER))

    def stage(contact: str) -> dict[str, Any]:
        target = {"ContactTargetInfo": {"ContactId": contact, "IsEssential": True}}
        return {"Stages": [{"DurationInMinutes": 1, "Targets": [target]}]}

    other.create_contact(Alias="esc", Type="ESCALATION", Plan=stage(shared))
    with pytest.raises(ClientError) as info:
        other.create_contact(Alias="esc2", Type="ESCALATION", Plan=stage(hidden))
    assert "does not exist" in info.value.response["Error"]["Message"]
