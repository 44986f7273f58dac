"""AWS Organizations through boto3: the organization, its tree, accounts and invitations."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.incidents.conftest import advance
from tests.sharing.conftest import Party, error, new_party
from tocsin.testing import RunningServer


@pytest.fixture
def management(server: RunningServer) -> Party:
    party = new_party(server, "management")
    party.org.create_organization(FeatureSet="ALL")
    return party


def root_id(party: Party) -> str:
    root: str = party.org.list_roots()["Roots"][0]["Id"]
    return root


def failure(call: Any, **params: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**params)
    return error(info)


def test_create_organization_makes_management_account(server: RunningServer) -> None:
    party = new_party(server, "management")
    organization = party.org.create_organization(FeatureSet="ALL")["Organization"]
    assert re.fullmatch(r"o-[a-z0-9]{10}", organization["Id"])
    assert organization["Arn"] == (
        f"arn:aws:organizations::{party.account_id}:organization/{organization['Id']}"
    )
    assert organization["MasterAccountId"] == party.account_id
    assert organization["FeatureSet"] == "ALL"
    assert party.org.describe_organization()["Organization"] == organization

    code, _status, message = failure(party.org.create_organization, FeatureSet="ALL")
    assert code == "AlreadyInOrganizationException"
    assert party.account_id in message


def test_consolidated_billing_is_rejected(server: RunningServer) -> None:
    party = new_party(server, "management")
    code, _status, message = failure(
        party.org.create_organization, FeatureSet="CONSOLIDATED_BILLING"
    )
    assert code == "ConstraintViolationException"
    assert "ALL" in message


def test_outside_organization_is_not_in_use(server: RunningServer) -> None:
    party = new_party(server, "loner")
    for call, params in (
        (party.org.describe_organization, {}),
        (party.org.list_accounts, {}),
        (party.org.create_account, {"Email": "x@example.com", "AccountName": "x"}),
        (party.org.list_roots, {}),
    ):
        code, status, _message = failure(call, **params)
        assert (code, status) == ("AWSOrganizationsNotInUseException", 400)


def test_create_account_and_describe_status(management: Party) -> None:
    status = management.org.create_account(Email="app@example.com", AccountName="app")[
        "CreateAccountStatus"
    ]
    assert re.fullmatch(r"car-[a-z0-9]{32}", status["Id"])
    assert status["State"] == "SUCCEEDED"
    assert status["AccountName"] == "app"
    assert re.fullmatch(r"\d{12}", status["AccountId"])
    described = management.org.describe_create_account_status(CreateAccountRequestId=status["Id"])
    assert described["CreateAccountStatus"] == status

    account = management.org.describe_account(AccountId=status["AccountId"])["Account"]
    assert account["Name"] == "app"
    assert account["Email"] == "app@example.com"
    assert account["JoinedMethod"] == "CREATED"
    assert account["Status"] == "ACTIVE"
    organization = management.org.describe_organization()["Organization"]
    assert account["Arn"] == (
        f"arn:aws:organizations::{management.account_id}:account/"
        f"{organization['Id']}/{status['AccountId']}"
    )
    listed = management.org.list_accounts()["Accounts"]
    assert sorted(a["Id"] for a in listed) == sorted([management.account_id, status["AccountId"]])

    code, _status, _message = failure(
        management.org.describe_create_account_status, CreateAccountRequestId="car-" + "a" * 32
    )
    assert code == "CreateAccountStatusNotFoundException"


def test_create_account_with_used_email_fails(management: Party) -> None:
    management.org.create_account(Email="dup@example.com", AccountName="first")
    status = management.org.create_account(Email="dup@example.com", AccountName="second")[
        "CreateAccountStatus"
    ]
    assert status["State"] == "FAILED"
    assert status["FailureReason"] == "EMAIL_ALREADY_EXISTS"
    assert "AccountId" not in status
    assert len(management.org.list_accounts()["Accounts"]) == 2


def test_created_account_role_trusts_management(server: RunningServer, management: Party) -> None:
    status = management.org.create_account(
        Email="app@example.com", AccountName="app", RoleName="AdminFromManagement"
    )["CreateAccountStatus"]
    sts = management.client("sts")
    role = f"arn:aws:iam::{status['AccountId']}:role/AdminFromManagement"
    identity = sts.assume_role(RoleArn=role, RoleSessionName="check")["AssumedRoleUser"]
    assert identity["Arn"].startswith(f"arn:aws:sts::{status['AccountId']}:assumed-role/")

    stranger = new_party(server, "stranger")
    with pytest.raises(ClientError) as info:
        stranger.client("sts").assume_role(RoleArn=role, RoleSessionName="check")
    assert error(info)[0] == "AccessDenied"


def test_member_account_cannot_manage(server: RunningServer, management: Party) -> None:
    member = new_party(server, "member")
    handshake = management.org.invite_account_to_organization(
        Target={"Id": member.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    member.org.accept_handshake(HandshakeId=handshake["Id"])
    organization = member.org.describe_organization()["Organization"]
    assert organization["MasterAccountId"] == management.account_id
    for call, params in (
        (member.org.list_accounts, {}),
        (member.org.create_account, {"Email": "x@example.com", "AccountName": "x"}),
        (member.org.describe_account, {"AccountId": management.account_id}),
        (member.org.list_roots, {}),
        (member.org.remove_account_from_organization, {"AccountId": member.account_id}),
    ):
        code, _status, message = failure(call, **params)
        assert code == "AccessDeniedException"
        assert management.account_id in message


def test_organizational_units_and_moves(management: Party) -> None:
    root = root_id(management)
    assert re.fullmatch(r"r-[a-z0-9]{4}", root)
    unit = management.org.create_organizational_unit(ParentId=root, Name="apps")[
        "OrganizationalUnit"
    ]
    assert re.fullmatch(rf"ou-{root[2:]}-[a-z0-9]{{8}}", unit["Id"])
    organization = management.org.describe_organization()["Organization"]
    assert unit["Path"] == f"{organization['Id']}/{root}/{unit['Id']}/"
    child = management.org.create_organizational_unit(ParentId=unit["Id"], Name="payments")[
        "OrganizationalUnit"
    ]
    assert child["Path"] == f"{organization['Id']}/{root}/{unit['Id']}/{child['Id']}/"
    listed = management.org.list_organizational_units_for_parent(ParentId=root)
    assert [u["Id"] for u in listed["OrganizationalUnits"]] == [unit["Id"]]
    assert management.org.list_parents(ChildId=child["Id"])["Parents"] == [
        {"Id": unit["Id"], "Type": "ORGANIZATIONAL_UNIT"}
    ]

    code, _status, _message = failure(
        management.org.create_organizational_unit, ParentId=root, Name="apps"
    )
    assert code == "DuplicateOrganizationalUnitException"
    code, _status, _message = failure(
        management.org.create_organizational_unit, ParentId=f"ou-{root[2:]}-zzzzzzzz", Name="x"
    )
    assert code == "ParentNotFoundException"

    account = management.org.create_account(Email="a@example.com", AccountName="a")[
        "CreateAccountStatus"
    ]["AccountId"]
    assert management.org.list_parents(ChildId=account)["Parents"] == [{"Id": root, "Type": "ROOT"}]
    management.org.move_account(
        AccountId=account, SourceParentId=root, DestinationParentId=child["Id"]
    )
    assert [
        a["Id"] for a in management.org.list_accounts_for_parent(ParentId=child["Id"])["Accounts"]
    ] == [account]
    assert account not in [
        a["Id"] for a in management.org.list_accounts_for_parent(ParentId=root)["Accounts"]
    ]
    move_errors = {
        "SourceParentNotFoundException": (root, unit["Id"]),
        "DuplicateAccountException": (child["Id"], child["Id"]),
        "DestinationParentNotFoundException": (child["Id"], f"ou-{root[2:]}-zzzzzzzz"),
    }
    for expected, (source, destination) in move_errors.items():
        code, _status, _message = failure(
            management.org.move_account,
            AccountId=account,
            SourceParentId=source,
            DestinationParentId=destination,
        )
        assert code == expected
    code, _status, _message = failure(management.org.list_parents, ChildId="999999999999")
    assert code == "ChildNotFoundException"


def test_ou_depth_is_limited(management: Party) -> None:
    parent = root_id(management)
    for level in range(5):
        parent = management.org.create_organizational_unit(ParentId=parent, Name=f"l{level}")[
            "OrganizationalUnit"
        ]["Id"]
    with pytest.raises(ClientError) as info:
        management.org.create_organizational_unit(ParentId=parent, Name="too-deep")
    assert error(info)[0] == "ConstraintViolationException"
    assert info.value.response["Reason"] == "OU_DEPTH_LIMIT_EXCEEDED"


def test_invitation_accept_and_remove(server: RunningServer, management: Party) -> None:
    invited = new_party(server, "invited")
    handshake = management.org.invite_account_to_organization(
        Target={"Id": invited.account_id, "Type": "ACCOUNT"}, Notes="Join us"
    )["Handshake"]
    assert re.fullmatch(r"h-[a-z0-9]{10}", handshake["Id"])
    assert handshake["State"] == "OPEN"
    assert handshake["Action"] == "INVITE"
    assert {"Type": "NOTES", "Value": "Join us"} in handshake["Resources"]
    assert handshake["ExpirationTimestamp"] - handshake["RequestedTimestamp"] == timedelta(days=15)
    pending = invited.org.list_handshakes_for_account()["Handshakes"]
    assert [h["Id"] for h in pending] == [handshake["Id"]]

    code, _status, _message = failure(
        management.org.invite_account_to_organization,
        Target={"Id": invited.account_id, "Type": "ACCOUNT"},
    )
    assert code == "DuplicateHandshakeException"
    # Only the invited account may accept.
    code, _status, _message = failure(management.org.accept_handshake, HandshakeId=handshake["Id"])
    assert code == "HandshakeNotFoundException"

    accepted = invited.org.accept_handshake(HandshakeId=handshake["Id"])["Handshake"]
    assert accepted["State"] == "ACCEPTED"
    code, _status, _message = failure(invited.org.accept_handshake, HandshakeId=handshake["Id"])
    assert code == "HandshakeAlreadyInStateException"
    code, _status, _message = failure(invited.org.decline_handshake, HandshakeId=handshake["Id"])
    assert code == "InvalidHandshakeTransitionException"
    member = management.org.describe_account(AccountId=invited.account_id)["Account"]
    assert member["JoinedMethod"] == "INVITED"

    code, _status, _message = failure(
        management.org.invite_account_to_organization,
        Target={"Id": invited.account_id, "Type": "ACCOUNT"},
    )
    assert code == "HandshakeConstraintViolationException"

    management.org.remove_account_from_organization(AccountId=invited.account_id)
    code, _status, _message = failure(invited.org.describe_organization)
    assert code == "AWSOrganizationsNotInUseException"
    code, _status, _message = failure(management.org.describe_account, AccountId=invited.account_id)
    assert code == "AccountNotFoundException"
    code, _status, _message = failure(
        management.org.remove_account_from_organization, AccountId=management.account_id
    )
    assert code == "MasterCannotLeaveOrganizationException"


def test_invitation_decline_and_expiry(server: RunningServer, management: Party) -> None:
    invited = new_party(server, "invited")
    first = management.org.invite_account_to_organization(
        Target={"Id": invited.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    declined = invited.org.decline_handshake(HandshakeId=first["Id"])["Handshake"]
    assert declined["State"] == "DECLINED"
    code, _status, _message = failure(invited.org.describe_organization)
    assert code == "AWSOrganizationsNotInUseException"

    second = management.org.invite_account_to_organization(
        Target={"Id": invited.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    advance(server, timedelta(days=15))
    states = {h["Id"]: h["State"] for h in invited.org.list_handshakes_for_account()["Handshakes"]}
    assert states == {first["Id"]: "DECLINED", second["Id"]: "EXPIRED"}
    code, _status, _message = failure(invited.org.accept_handshake, HandshakeId=second["Id"])
    assert code == "InvalidHandshakeTransitionException"


def test_invite_target_errors(server: RunningServer, management: Party) -> None:
    code, _status, _message = failure(
        management.org.invite_account_to_organization,
        Target={"Id": "999999999999", "Type": "ACCOUNT"},
    )
    assert code == "AccountNotFoundException"
    code, _status, message = failure(
        management.org.invite_account_to_organization,
        Target={"Id": "o-abcdefghij", "Type": "ORGANIZATION"},
    )
    assert code == "InvalidInputException"
    assert "ORGANIZATION" in message


def test_list_accounts_pages(management: Party) -> None:
    for index in range(3):
        management.org.create_account(Email=f"a{index}@example.com", AccountName=f"a{index}")
    first = management.org.list_accounts(MaxResults=2)
    assert len(first["Accounts"]) == 2
    second = management.org.list_accounts(MaxResults=2, NextToken=first["NextToken"])
    assert len(second["Accounts"]) == 2
    assert "NextToken" not in second
    ids = [a["Id"] for a in first["Accounts"] + second["Accounts"]]
    assert len(set(ids)) == 4
    code, _status, _message = failure(management.org.list_accounts, NextToken="bogus")
    assert code == "InvalidInputException"


def test_unimplemented_operation_is_unknown(management: Party) -> None:
    code, _status, _message = failure(management.org.list_policies, Filter="SERVICE_CONTROL_POLICY")
    assert code == "UnknownOperationException"


def test_member_leaves_organization(server: RunningServer, management: Party) -> None:
    member = new_party(server, "member")
    handshake = management.org.invite_account_to_organization(
        Target={"Id": member.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    member.org.accept_handshake(HandshakeId=handshake["Id"])
    member.org.leave_organization()
    code, _status, _message = failure(member.org.describe_organization)
    assert code == "AWSOrganizationsNotInUseException"
    listed = [a["Id"] for a in management.org.list_accounts()["Accounts"]]
    assert listed == [management.account_id]
    code, _status, _message = failure(management.org.leave_organization)
    assert code == "MasterCannotLeaveOrganizationException"
    code, _status, _message = failure(member.org.leave_organization)
    assert code == "AWSOrganizationsNotInUseException"
