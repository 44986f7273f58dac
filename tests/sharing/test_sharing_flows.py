"""Sharing response plans and contacts through RAM, inside and outside an organization."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from tests.incidents.conftest import advance
from tests.sharing.conftest import (
    Party,
    create_contact,
    create_plan,
    error,
    new_party,
)
from tocsin.testing import Keys, RunningServer


def assume_member_role(management: Party, account_id: str) -> Party:
    """Return the member account as reached through OrganizationAccountAccessRole."""
    credentials = management.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="setup",
    )["Credentials"]
    keys = Keys(
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
        account_id,
    )
    return Party(management.server, keys)


def plan_names(party: Party) -> list[str]:
    summaries = party.incidents.list_response_plans()["responsePlanSummaries"]
    return [summary["arn"] for summary in summaries]


def incident_arns(party: Party) -> list[str]:
    summaries = party.incidents.list_incident_records()["incidentRecordSummaries"]
    return [summary["arn"] for summary in summaries]


def contact_arns(party: Party) -> list[str]:
    return [contact["ContactArn"] for contact in party.contacts.list_contacts()["Contacts"]]


def test_organization_share_end_to_end(server: RunningServer, management: Party) -> None:
    management.org.create_organization(FeatureSet="ALL")
    status = management.org.create_account(Email="app@example.com", AccountName="app")[
        "CreateAccountStatus"
    ]
    assert status["State"] == "SUCCEEDED"
    application = assume_member_role(management, status["AccountId"])
    assert application.client("sts").get_caller_identity()["Account"] == status["AccountId"]

    plan = create_plan(management)
    contact = create_contact(management)
    assert management.ram.enable_sharing_with_aws_organization()["returnValue"] is True
    share = management.ram.create_resource_share(
        name="incident-response",
        resourceArns=[plan, contact],
        principals=[application.account_id],
    )["resourceShare"]
    principals = management.ram.get_resource_share_associations(
        associationType="PRINCIPAL", resourceShareArns=[share["resourceShareArn"]]
    )["resourceShareAssociations"]
    assert [(p["associatedEntity"], p["status"]) for p in principals] == [
        (application.account_id, "ASSOCIATED")
    ]
    assert principals[0]["external"] is False
    # Inside the organization no invitation is needed.
    assert application.ram.get_resource_share_invitations()["resourceShareInvitations"] == []

    # The application account lists the plan and starts an incident with it.
    assert plan_names(application) == [plan]
    incident = application.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    assert incident.startswith(f"arn:aws:ssm-incidents::{management.account_id}:incident-record/")
    assert incident in incident_arns(management)
    assert incident in incident_arns(application)
    record = management.incidents.get_incident_record(arn=incident)["incidentRecord"]
    assert record["incidentRecordSource"]["createdBy"].startswith(
        f"arn:aws:sts::{application.account_id}:assumed-role/OrganizationAccountAccessRole/"
    )

    # It can read and list the contact too.
    assert application.contacts.get_contact(ContactId=contact)["DisplayName"] == "On-call lead"
    assert contact_arns(application) == [contact]

    # Consumers use and view only.
    with pytest.raises(ClientError) as info:
        application.contacts.update_contact(ContactId=contact, DisplayName="changed")
    assert error(info)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as info:
        application.incidents.update_response_plan(arn=plan, displayName="changed")
    assert error(info)[0] == "AccessDeniedException"

    # Disassociating the account ends its access at once.
    management.ram.disassociate_resource_share(
        resourceShareArn=share["resourceShareArn"], principals=[application.account_id]
    )
    with pytest.raises(ClientError) as info:
        application.incidents.get_response_plan(arn=plan)
    assert error(info)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        application.incidents.start_incident(responsePlanArn=plan)
    assert error(info)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        application.incidents.get_incident_record(arn=incident)
    assert error(info)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        application.contacts.get_contact(ContactId=contact)
    assert error(info)[0] == "ResourceNotFoundException"
    assert plan_names(application) == []
    assert incident_arns(application) == []
    assert contact_arns(application) == []
    assert incident in incident_arns(management)


@pytest.mark.parametrize("departure", ["removed", "left"])
def test_invited_account_shares_through_organization(
    server: RunningServer, management: Party, application: Party, departure: str
) -> None:
    organization = management.org.create_organization()["Organization"]
    handshake = management.org.invite_account_to_organization(
        Target={"Id": application.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    application.org.accept_handshake(HandshakeId=handshake["Id"])
    management.ram.enable_sharing_with_aws_organization()
    plan = create_plan(management)
    share_arn = management.ram.create_resource_share(
        name="whole-organization", resourceArns=[plan], principals=[organization["Arn"]]
    )["resourceShare"]["resourceShareArn"]
    assert plan_names(application) == [plan]
    application.incidents.start_incident(responsePlanArn=plan)

    # Leaving the organization ends access through it at once.
    if departure == "removed":
        management.org.remove_account_from_organization(AccountId=application.account_id)
    else:
        application.org.leave_organization()
    assert plan_names(application) == []
    with pytest.raises(ClientError) as info:
        application.incidents.start_incident(responsePlanArn=plan)
    assert error(info)[0] == "ResourceNotFoundException"
    assert (
        management.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"][0][
            "resourceShareArn"
        ]
        == share_arn
    )


def test_organizational_unit_share(server: RunningServer, management: Party) -> None:
    management.org.create_organization()
    root = management.org.list_roots()["Roots"][0]["Id"]
    unit = management.org.create_organizational_unit(ParentId=root, Name="apps")[
        "OrganizationalUnit"
    ]
    inner = management.org.create_organizational_unit(ParentId=unit["Id"], Name="payments")[
        "OrganizationalUnit"
    ]
    created = management.org.create_account(Email="pay@example.com", AccountName="pay")
    member = assume_member_role(management, created["CreateAccountStatus"]["AccountId"])
    management.ram.enable_sharing_with_aws_organization()
    contact = create_contact(management)
    management.ram.create_resource_share(
        name="apps", resourceArns=[contact], principals=[unit["Arn"]]
    )
    # The account is still under the root, outside the unit.
    assert contact_arns(member) == []
    management.org.move_account(
        AccountId=member.account_id, SourceParentId=root, DestinationParentId=inner["Id"]
    )
    assert contact_arns(member) == [contact]
    assert member.contacts.get_contact(ContactId=contact)["ContactArn"] == contact
    listed = member.ram.list_resources(resourceOwner="OTHER-ACCOUNTS")["resources"]
    assert [(r["arn"], r["type"]) for r in listed] == [(contact, "ssm-contacts:Contact")]


def invite_outside(management: Party, application: Party) -> tuple[str, str, str, str]:
    plan = create_plan(management)
    contact = create_contact(management)
    share_arn = management.ram.create_resource_share(
        name="outside", resourceArns=[plan, contact], principals=[application.account_id]
    )["resourceShare"]["resourceShareArn"]
    invitations = application.ram.get_resource_share_invitations()["resourceShareInvitations"]
    assert len(invitations) == 1
    assert invitations[0]["status"] == "PENDING"
    assert invitations[0]["senderAccountId"] == management.account_id
    assert invitations[0]["resourceShareArn"] == share_arn
    return plan, contact, share_arn, invitations[0]["resourceShareInvitationArn"]


def test_invitation_accepted_grants_access(management: Party, application: Party) -> None:
    plan, contact, share_arn, invitation = invite_outside(management, application)
    association = management.ram.get_resource_share_associations(
        associationType="PRINCIPAL", resourceShareArns=[share_arn]
    )["resourceShareAssociations"][0]
    assert association["status"] == "ASSOCIATING"
    assert association["external"] is True

    # Before acceptance: no access.
    assert plan_names(application) == []
    assert contact_arns(application) == []
    with pytest.raises(ClientError) as info:
        application.incidents.start_incident(responsePlanArn=plan)
    assert error(info)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        application.contacts.get_contact(ContactId=contact)
    assert error(info)[0] == "ResourceNotFoundException"

    accepted = application.ram.accept_resource_share_invitation(
        resourceShareInvitationArn=invitation, clientToken="accept-1"
    )
    assert accepted["resourceShareInvitation"]["status"] == "ACCEPTED"
    assert accepted["clientToken"] == "accept-1"
    assert plan_names(application) == [plan]
    assert contact_arns(application) == [contact]
    incident = application.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    assert incident in incident_arns(management)
    shares = application.ram.get_resource_shares(resourceOwner="OTHER-ACCOUNTS")["resourceShares"]
    assert [s["resourceShareArn"] for s in shares] == [share_arn]

    with pytest.raises(ClientError) as info:
        application.ram.accept_resource_share_invitation(resourceShareInvitationArn=invitation)
    assert error(info)[:2] == ("ResourceShareInvitationAlreadyAcceptedException", 400)

    # Deleting the share ends access at once.
    assert management.ram.delete_resource_share(resourceShareArn=share_arn)["returnValue"] is True
    assert plan_names(application) == []
    with pytest.raises(ClientError) as info:
        application.incidents.get_incident_record(arn=incident)
    assert error(info)[0] == "ResourceNotFoundException"
    deleted = management.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"][0]
    assert deleted["status"] == "DELETED"


def test_invitation_rejected_grants_nothing(management: Party, application: Party) -> None:
    plan, contact, share_arn, invitation = invite_outside(management, application)
    rejected = application.ram.reject_resource_share_invitation(
        resourceShareInvitationArn=invitation
    )
    assert rejected["resourceShareInvitation"]["status"] == "REJECTED"
    assert plan_names(application) == []
    assert contact_arns(application) == []
    with pytest.raises(ClientError) as info:
        application.contacts.get_contact(ContactId=contact)
    assert error(info)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        application.incidents.start_incident(responsePlanArn=plan)
    assert error(info)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        application.ram.accept_resource_share_invitation(resourceShareInvitationArn=invitation)
    assert error(info)[:2] == ("ResourceShareInvitationAlreadyRejectedException", 400)
    association = management.ram.get_resource_share_associations(
        associationType="PRINCIPAL", resourceShareArns=[share_arn]
    )["resourceShareAssociations"][0]
    assert association["status"] == "DISASSOCIATED"
    assert "rejected" in association["statusMessage"]


def test_invitation_expires_after_seven_days(
    server: RunningServer, management: Party, application: Party
) -> None:
    plan, _contact, _share_arn, invitation = invite_outside(management, application)
    advance(server, timedelta(days=7))
    listed = application.ram.get_resource_share_invitations()["resourceShareInvitations"]
    assert listed[0]["status"] == "EXPIRED"
    with pytest.raises(ClientError) as info:
        application.ram.accept_resource_share_invitation(resourceShareInvitationArn=invitation)
    assert error(info)[:2] == ("ResourceShareInvitationExpiredException", 400)
    assert plan_names(application) == []
    with pytest.raises(ClientError) as info:
        application.incidents.start_incident(responsePlanArn=plan)
    assert error(info)[0] == "ResourceNotFoundException"


def test_invitation_of_other_account_is_not_found(
    server: RunningServer, management: Party, application: Party
) -> None:
    _plan, _contact, _share_arn, invitation = invite_outside(management, application)
    stranger = new_party(server, "stranger")
    with pytest.raises(ClientError) as info:
        stranger.ram.accept_resource_share_invitation(resourceShareInvitationArn=invitation)
    assert error(info)[:2] == ("ResourceShareInvitationArnNotFoundException", 400)
    with pytest.raises(ClientError) as info:
        stranger.ram.accept_resource_share_invitation(resourceShareInvitationArn="not-an-arn")
    assert error(info)[0] == "MalformedArnException"


def test_external_principals_can_be_refused(management: Party, application: Party) -> None:
    plan = create_plan(management)
    with pytest.raises(ClientError) as info:
        management.ram.create_resource_share(
            name="internal",
            resourceArns=[plan],
            principals=[application.account_id],
            allowExternalPrincipals=False,
        )
    code, status, message = error(info)
    assert (code, status) == ("OperationNotPermittedException", 400)
    assert application.account_id in message
    assert management.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"] == []


def test_shared_contact_can_be_engaged_by_plan(management: Party, application: Party) -> None:
    contact = create_contact(management)
    create_plan(application, "before")
    with pytest.raises(ClientError) as info:
        application.incidents.create_response_plan(
            name="engaging", incidentTemplate={"title": "t", "impact": 3}, engagements=[contact]
        )
    assert error(info)[0] == "ValidationException"
    management.ram.create_resource_share(
        name="contacts", resourceArns=[contact], principals=[application.account_id]
    )
    invitation = application.ram.get_resource_share_invitations()["resourceShareInvitations"][0]
    application.ram.accept_resource_share_invitation(
        resourceShareInvitationArn=invitation["resourceShareInvitationArn"]
    )
    plan = application.incidents.create_response_plan(
        name="engaging", incidentTemplate={"title": "t", "impact": 3}, engagements=[contact]
    )["arn"]
    assert application.incidents.get_response_plan(arn=plan)["engagements"] == [contact]


def test_retained_share_survives_leaving(
    server: RunningServer, management: Party, application: Party
) -> None:
    management.org.create_organization()
    handshake = management.org.invite_account_to_organization(
        Target={"Id": application.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    application.org.accept_handshake(HandshakeId=handshake["Id"])
    management.ram.enable_sharing_with_aws_organization()
    plan = create_plan(management)
    contact = create_contact(management)
    management.ram.create_resource_share(
        name="plans", resourceArns=[plan], principals=[application.account_id]
    )
    management.ram.create_resource_share(
        name="contacts",
        resourceArns=[contact],
        principals=[application.account_id],
        resourceShareConfiguration={"retainSharingOnAccountLeaveOrganization": True},
    )
    assert plan_names(application) == [plan]
    assert contact_arns(application) == [contact]

    application.org.leave_organization()
    assert plan_names(application) == []
    assert contact_arns(application) == [contact]
