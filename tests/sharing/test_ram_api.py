"""RAM operations through boto3: shares, associations, listings, permissions and tags."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.sharing.conftest import Party, create_contact, create_plan, error, new_party
from tocsin.testing import RunningServer

PLAN_PERMISSION = "arn:aws:ram::aws:permission/AWSRAMDefaultPermissionSSMIncidentsResponsePlan"
CONTACT_PERMISSION = "arn:aws:ram::aws:permission/AWSRAMDefaultPermissionSSMContactsContact"


def failure(call: Any, **params: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**params)
    return error(info)


def accept_all(party: Party) -> None:
    for invitation in party.ram.get_resource_share_invitations()["resourceShareInvitations"]:
        if invitation["status"] == "PENDING":
            party.ram.accept_resource_share_invitation(
                resourceShareInvitationArn=invitation["resourceShareInvitationArn"]
            )


def test_create_share_describes_it(management: Party, application: Party) -> None:
    plan = create_plan(management)
    output = management.ram.create_resource_share(
        name="responders",
        resourceArns=[plan],
        principals=[application.account_id],
        tags=[{"key": "team", "value": "sre"}],
        clientToken="create-1",
    )
    share = output["resourceShare"]
    assert output["clientToken"] == "create-1"
    assert share["resourceShareArn"].startswith(
        f"arn:aws:ram:us-east-1:{management.account_id}:resource-share/"
    )
    assert share["name"] == "responders"
    assert share["owningAccountId"] == management.account_id
    assert share["allowExternalPrincipals"] is True
    assert share["status"] == "ACTIVE"
    assert share["featureSet"] == "STANDARD"
    assert share["tags"] == [{"key": "team", "value": "sre"}]
    again = management.ram.create_resource_share(
        name="responders",
        resourceArns=[plan],
        principals=[application.account_id],
        tags=[{"key": "team", "value": "sre"}],
        clientToken="create-1",
    )
    assert again["resourceShare"]["resourceShareArn"] == share["resourceShareArn"]
    code, _status, _message = failure(
        management.ram.create_resource_share, name="other", clientToken="create-1"
    )
    assert code == "IdempotentParameterMismatchException"
    permissions = management.ram.list_resource_share_permissions(
        resourceShareArn=share["resourceShareArn"]
    )["permissions"]
    assert [p["arn"] for p in permissions] == [PLAN_PERMISSION]


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("not-an-arn", "MalformedArnException"),
        ("arn:aws:sns:us-east-1:111122223333:topic", "InvalidParameterException"),
        (
            "arn:aws:ssm-incidents::111122223333:response-plan/theirs",
            "OperationNotPermittedException",
        ),
    ],
)
def test_create_share_rejects_resources(management: Party, resource: str, expected: str) -> None:
    code, status, message = failure(
        management.ram.create_resource_share, name="bad", resourceArns=[resource]
    )
    assert (code, status) == (expected, 400)
    assert resource in message


def test_missing_resource_is_unknown(management: Party) -> None:
    create_plan(management)
    missing = f"arn:aws:ssm-incidents::{management.account_id}:response-plan/missing"
    code, _status, message = failure(
        management.ram.create_resource_share, name="bad", resourceArns=[missing]
    )
    assert code == "UnknownResourceException"
    assert missing in message


def test_consumer_cannot_share_again(management: Party, application: Party) -> None:
    plan = create_plan(management)
    management.ram.create_resource_share(
        name="s", resourceArns=[plan], principals=[application.account_id]
    )
    accept_all(application)
    code, _status, message = failure(
        application.ram.create_resource_share, name="again", resourceArns=[plan]
    )
    assert code == "OperationNotPermittedException"
    assert management.account_id in message


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ("999999999999", "UnknownResourceException"),
        ("arn:aws:iam::999999999999:role/x", "InvalidParameterException"),
        (
            "arn:aws:organizations::111122223333:organization/o-abcdefghij",
            "OperationNotPermittedException",
        ),
        ("arn:aws:sqs:us-east-1:111122223333:queue", "MalformedArnException"),
    ],
)
def test_create_share_rejects_principals(management: Party, principal: str, expected: str) -> None:
    plan = create_plan(management)
    code, _status, message = failure(
        management.ram.create_resource_share,
        name="bad",
        resourceArns=[plan],
        principals=[principal],
    )
    assert code == expected
    assert principal in message or "organization" in message


def test_owner_is_not_a_principal(management: Party) -> None:
    code, _status, _message = failure(
        management.ram.create_resource_share, name="self", principals=[management.account_id]
    )
    assert code == "InvalidParameterException"


def test_other_organization_principal_is_unknown(server: RunningServer, management: Party) -> None:
    management.org.create_organization()
    management.ram.enable_sharing_with_aws_organization()
    foreign = new_party(server, "foreign")
    foreign_org = foreign.org.create_organization()["Organization"]["Arn"]
    code, _status, message = failure(
        management.ram.create_resource_share, name="bad", principals=[foreign_org]
    )
    assert code == "UnknownResourceException"
    assert foreign_org in message


def test_permissions_and_tags_are_checked(management: Party) -> None:
    code, _status, _message = failure(
        management.ram.create_resource_share,
        name="p",
        permissionArns=[PLAN_PERMISSION, PLAN_PERMISSION.replace("Plan", "Plan")],
    )
    assert code == "InvalidParameterException"
    code, _status, _message = failure(
        management.ram.create_resource_share,
        name="p",
        permissionArns=["arn:aws:ram::aws:permission/AWSRAMDefaultPermissionNothing"],
    )
    assert code == "UnknownResourceException"
    code, _status, _message = failure(
        management.ram.create_resource_share, name="p", permissionArns=["nope"]
    )
    assert code == "MalformedArnException"
    tags = [{"key": f"k{index}", "value": "v"} for index in range(51)]
    code, _status, _message = failure(management.ram.create_resource_share, name="t", tags=tags)
    assert code == "TagLimitExceededException"
    code, _status, _message = failure(
        management.ram.create_resource_share, name="t", tags=[{"key": "aws:x", "value": "v"}]
    )
    assert code == "InvalidParameterException"


def test_update_delete_and_state(management: Party) -> None:
    arn = management.ram.create_resource_share(name="old")["resourceShare"]["resourceShareArn"]
    updated = management.ram.update_resource_share(
        resourceShareArn=arn, name="new", allowExternalPrincipals=False
    )["resourceShare"]
    assert updated["name"] == "new"
    assert updated["allowExternalPrincipals"] is False
    assert management.ram.delete_resource_share(resourceShareArn=arn)["returnValue"] is True
    for call, params in (
        (management.ram.delete_resource_share, {"resourceShareArn": arn}),
        (management.ram.update_resource_share, {"resourceShareArn": arn, "name": "x"}),
        (management.ram.associate_resource_share, {"resourceShareArn": arn, "principals": []}),
    ):
        code, _status, _message = failure(call, **params)
        assert code == "InvalidStateTransitionException"
    listed = management.ram.get_resource_shares(resourceOwner="SELF", resourceShareStatus="ACTIVE")
    assert listed["resourceShares"] == []


def test_share_of_other_account_is_unknown(management: Party, application: Party) -> None:
    arn = management.ram.create_resource_share(name="mine")["resourceShare"]["resourceShareArn"]
    code, _status, _message = failure(application.ram.delete_resource_share, resourceShareArn=arn)
    assert code == "UnknownResourceException"
    code, _status, _message = failure(
        application.ram.update_resource_share, resourceShareArn="arn:aws:ram:bad", name="x"
    )
    assert code == "MalformedArnException"


def test_associate_and_disassociate_resources(management: Party, application: Party) -> None:
    plan = create_plan(management)
    contact = create_contact(management)
    arn = management.ram.create_resource_share(name="s", principals=[application.account_id])[
        "resourceShare"
    ]["resourceShareArn"]
    accept_all(application)
    with pytest.raises(ClientError):
        application.incidents.get_response_plan(arn=plan)

    associations = management.ram.associate_resource_share(
        resourceShareArn=arn, resourceArns=[plan, contact], clientToken="assoc-1"
    )
    assert [
        (a["associatedEntity"], a["status"]) for a in associations["resourceShareAssociations"]
    ] == [
        (plan, "ASSOCIATED"),
        (contact, "ASSOCIATED"),
    ]
    assert associations["clientToken"] == "assoc-1"
    assert application.incidents.get_response_plan(arn=plan)["arn"] == plan
    permissions = management.ram.list_resource_share_permissions(resourceShareArn=arn)
    assert sorted(p["arn"] for p in permissions["permissions"]) == [
        CONTACT_PERMISSION,
        PLAN_PERMISSION,
    ]

    removed = management.ram.disassociate_resource_share(resourceShareArn=arn, resourceArns=[plan])
    assert removed["resourceShareAssociations"][0]["status"] == "DISASSOCIATED"
    code, _status, _message = failure(application.incidents.get_response_plan, arn=plan)
    assert code == "ResourceNotFoundException"
    assert application.contacts.get_contact(ContactId=contact)["ContactArn"] == contact

    code, _status, _message = failure(
        management.ram.disassociate_resource_share,
        resourceShareArn=arn,
        principals=["123456789012"],
    )
    assert code == "UnknownResourceException"
    resources = management.ram.get_resource_share_associations(
        associationType="RESOURCE", resourceShareArns=[arn]
    )["resourceShareAssociations"]
    assert {(r["associatedEntity"], r["status"]) for r in resources} == {
        (plan, "DISASSOCIATED"),
        (contact, "ASSOCIATED"),
    }
    only_associated = management.ram.get_resource_share_associations(
        associationType="RESOURCE", associationStatus="ASSOCIATED"
    )["resourceShareAssociations"]
    assert [r["associatedEntity"] for r in only_associated] == [contact]


def test_association_filters_must_match_type(management: Party) -> None:
    code, _status, _message = failure(
        management.ram.get_resource_share_associations,
        associationType="PRINCIPAL",
        resourceArn="arn:aws:ssm-contacts:us-east-1:111122223333:contact/x",
    )
    assert code == "InvalidParameterException"
    code, _status, _message = failure(
        management.ram.get_resource_share_associations,
        associationType="RESOURCE",
        principal="111122223333",
    )
    assert code == "InvalidParameterException"


def test_get_resource_shares_filters(management: Party, application: Party) -> None:
    tagged = management.ram.create_resource_share(
        name="tagged", tags=[{"key": "env", "value": "prod"}]
    )["resourceShare"]["resourceShareArn"]
    plain = management.ram.create_resource_share(name="plain")["resourceShare"]["resourceShareArn"]

    def names(**filters: Any) -> list[str]:
        shares = management.ram.get_resource_shares(resourceOwner="SELF", **filters)
        return sorted(share["name"] for share in shares["resourceShares"])

    assert names() == ["plain", "tagged"]
    assert names(name="plain") == ["plain"]
    assert names(resourceShareArns=[tagged]) == ["tagged"]
    assert names(tagFilters=[{"tagKey": "env", "tagValues": ["prod"]}]) == ["tagged"]
    assert names(tagFilters=[{"tagKey": "env", "tagValues": ["dev"]}]) == []
    assert names(permissionArn=PLAN_PERMISSION) == []
    assert application.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"] == []
    assert (
        application.ram.get_resource_shares(resourceOwner="OTHER-ACCOUNTS")["resourceShares"] == []
    )
    code, _status, _message = failure(
        management.ram.get_resource_shares, resourceOwner="SELF", resourceShareArns=["bad"]
    )
    assert code == "MalformedArnException"
    first = management.ram.get_resource_shares(resourceOwner="SELF", maxResults=1)
    second = management.ram.get_resource_shares(
        resourceOwner="SELF", maxResults=1, nextToken=first["nextToken"]
    )
    assert {s["resourceShareArn"] for s in first["resourceShares"] + second["resourceShares"]} == {
        tagged,
        plain,
    }
    code, _status, _message = failure(
        management.ram.get_resource_shares, resourceOwner="SELF", nextToken="forged"
    )
    assert code == "InvalidNextTokenException"


def test_list_resources_and_principals(management: Party, application: Party) -> None:
    plan = create_plan(management)
    contact = create_contact(management)
    arn = management.ram.create_resource_share(
        name="s", resourceArns=[plan, contact], principals=[application.account_id]
    )["resourceShare"]["resourceShareArn"]

    own = management.ram.list_resources(resourceOwner="SELF")["resources"]
    assert [(r["arn"], r["type"], r["resourceRegionScope"]) for r in own] == sorted(
        [
            (plan, "ssm-incidents:ResponsePlan", "GLOBAL"),
            (contact, "ssm-contacts:Contact", "REGIONAL"),
        ]
    )
    assert all(r["resourceShareArn"] == arn and r["status"] == "AVAILABLE" for r in own)
    filtered = management.ram.list_resources(
        resourceOwner="SELF", resourceType="ssm-contacts:Contact"
    )["resources"]
    assert [r["arn"] for r in filtered] == [contact]
    code, _status, _message = failure(
        management.ram.list_resources, resourceOwner="SELF", resourceType="ec2:Subnet"
    )
    assert code == "InvalidResourceTypeException"
    # Pending invitations give the consumer nothing to list yet.
    assert application.ram.list_resources(resourceOwner="OTHER-ACCOUNTS")["resources"] == []

    principals = management.ram.list_principals(resourceOwner="SELF")["principals"]
    assert [(p["id"], p["external"]) for p in principals] == [(application.account_id, True)]
    accept_all(application)
    shared = application.ram.list_resources(resourceOwner="OTHER-ACCOUNTS")["resources"]
    assert sorted(r["arn"] for r in shared) == sorted([plan, contact])
    owners = application.ram.list_principals(resourceOwner="OTHER-ACCOUNTS")["principals"]
    assert [(p["id"], p["resourceShareArn"]) for p in owners] == [(management.account_id, arn)]
    by_resource = management.ram.list_principals(resourceOwner="SELF", resourceArn=plan)
    assert [p["id"] for p in by_resource["principals"]] == [application.account_id]
    code, _status, _message = failure(
        application.ram.list_resources, resourceOwner="OTHER-ACCOUNTS", principal="123456789012"
    )
    assert code == "InvalidParameterException"


def test_resource_types_and_permissions(management: Party) -> None:
    types = management.ram.list_resource_types()["resourceTypes"]
    assert types == [
        {
            "resourceType": "ssm-contacts:Contact",
            "serviceName": "ssm-contacts",
            "resourceRegionScope": "REGIONAL",
        },
        {
            "resourceType": "ssm-incidents:ResponsePlan",
            "serviceName": "ssm-incidents",
            "resourceRegionScope": "GLOBAL",
        },
    ]
    assert (
        len(management.ram.list_resource_types(resourceRegionScope="GLOBAL")["resourceTypes"]) == 1
    )

    listed = management.ram.list_permissions()["permissions"]
    assert sorted(p["arn"] for p in listed) == [CONTACT_PERMISSION, PLAN_PERMISSION]
    assert all(p["permissionType"] == "AWS_MANAGED" and p["isResourceTypeDefault"] for p in listed)
    only_plans = management.ram.list_permissions(resourceType="ssm-incidents:ResponsePlan")
    assert [p["arn"] for p in only_plans["permissions"]] == [PLAN_PERMISSION]
    assert management.ram.list_permissions(permissionType="CUSTOMER_MANAGED")["permissions"] == []

    plan_permission = management.ram.get_permission(permissionArn=PLAN_PERMISSION)["permission"]
    assert plan_permission["name"] == "AWSRAMDefaultPermissionSSMIncidentsResponsePlan"
    assert plan_permission["resourceType"] == "ssm-incidents:ResponsePlan"
    assert "ssm-incidents:StartIncident" in plan_permission["permission"]
    assert "ssm-incidents:DeleteTimelineEvent" not in plan_permission["permission"]
    contact_permission = management.ram.get_permission(permissionArn=CONTACT_PERMISSION)
    assert "ssm-contacts:StartEngagement" in contact_permission["permission"]["permission"]
    code, _status, _message = failure(
        management.ram.get_permission, permissionArn=PLAN_PERMISSION, permissionVersion=2
    )
    assert code == "InvalidParameterException"
    code, _status, _message = failure(management.ram.get_permission, permissionArn="bad")
    assert code == "MalformedArnException"


def test_share_permissions(server: RunningServer, management: Party, application: Party) -> None:
    arn = management.ram.create_resource_share(name="s", principals=[application.account_id])[
        "resourceShare"
    ]["resourceShareArn"]
    assert management.ram.list_resource_share_permissions(resourceShareArn=arn)["permissions"] == []
    output = management.ram.associate_resource_share_permission(
        resourceShareArn=arn, permissionArn=CONTACT_PERMISSION
    )
    assert output["returnValue"] is True
    listed = management.ram.list_resource_share_permissions(resourceShareArn=arn)["permissions"]
    assert [p["arn"] for p in listed] == [CONTACT_PERMISSION]

    stranger = new_party(server, "stranger")
    code, _status, _message = failure(
        stranger.ram.list_resource_share_permissions, resourceShareArn=arn
    )
    assert code == "UnknownResourceException"
    accept_all(application)
    consumer_view = application.ram.list_resource_share_permissions(resourceShareArn=arn)
    assert [p["arn"] for p in consumer_view["permissions"]] == [CONTACT_PERMISSION]


def test_enable_sharing_needs_management_account(server: RunningServer, management: Party) -> None:
    code, _status, _message = failure(management.ram.enable_sharing_with_aws_organization)
    assert code == "OperationNotPermittedException"
    management.org.create_organization()
    member = new_party(server, "member")
    handshake = management.org.invite_account_to_organization(
        Target={"Id": member.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    member.org.accept_handshake(HandshakeId=handshake["Id"])
    code, _status, _message = failure(member.ram.enable_sharing_with_aws_organization)
    assert code == "OperationNotPermittedException"
    assert management.ram.enable_sharing_with_aws_organization()["returnValue"] is True


def test_member_without_enabled_sharing_gets_invitation(
    server: RunningServer, management: Party
) -> None:
    management.org.create_organization()
    member = new_party(server, "member")
    handshake = management.org.invite_account_to_organization(
        Target={"Id": member.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    member.org.accept_handshake(HandshakeId=handshake["Id"])
    plan = create_plan(management)
    arn = management.ram.create_resource_share(
        name="s", resourceArns=[plan], principals=[member.account_id]
    )["resourceShare"]["resourceShareArn"]
    association = management.ram.get_resource_share_associations(
        associationType="PRINCIPAL", resourceShareArns=[arn]
    )["resourceShareAssociations"][0]
    assert association["status"] == "ASSOCIATING"
    assert association["external"] is False
    assert len(member.ram.get_resource_share_invitations()["resourceShareInvitations"]) == 1


def test_tag_and_untag_share(management: Party) -> None:
    arn = management.ram.create_resource_share(name="s")["resourceShare"]["resourceShareArn"]
    management.ram.tag_resource(resourceShareArn=arn, tags=[{"key": "a", "value": "1"}])
    management.ram.tag_resource(resourceArn=arn, tags=[{"key": "b", "value": "2"}])
    share = management.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"][0]
    assert share["tags"] == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    management.ram.untag_resource(resourceShareArn=arn, tagKeys=["a"])
    share = management.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"][0]
    assert share["tags"] == [{"key": "b", "value": "2"}]
    code, _status, _message = failure(
        management.ram.tag_resource, resourceArn=PLAN_PERMISSION, tags=[{"key": "a", "value": "1"}]
    )
    assert code == "OperationNotPermittedException"
    code, _status, _message = failure(
        management.ram.tag_resource, tags=[{"key": "a", "value": "1"}]
    )
    assert code == "InvalidParameterException"
    many = [{"key": f"k{index}", "value": "v"} for index in range(50)]
    code, _status, _message = failure(management.ram.tag_resource, resourceShareArn=arn, tags=many)
    assert code == "TagLimitExceededException"


def test_unimplemented_ram_operation_is_unknown(management: Party) -> None:
    code, status, _message = failure(
        management.ram.list_permission_versions, permissionArn=PLAN_PERMISSION
    )
    assert (code, status) == ("UnknownOperationException", 400)
