"""``tocsin sharing audit``: unshared resources, pending invitations and principals to review."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.incidents.conftest import advance
from tests.sharing.conftest import Party, create_contact, create_plan, new_party
from tests.test_cli import clean_env
from tocsin.cli import main
from tocsin.sharing import audit
from tocsin.testing import RunningServer


def sharing_audit(server: RunningServer, *arguments: str) -> Result:
    database = ["--database-url", server.settings.effective_database_url]
    database += ["--home", str(server.settings.home)]
    return CliRunner().invoke(main, ["sharing", "audit", *arguments, *database], env=clean_env())


def policy(resource: str, principal: str, action: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": action}
    statement["Resource"] = resource
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class Estate:
    """A management account with shared and unshared resources, and the accounts around it."""

    def __init__(self, server: RunningServer) -> None:
        self.management = new_party(server, "management")
        self.member = new_party(server, "member")
        self.partner = new_party(server, "partner")
        self.invited = new_party(server, "invited")
        self.vendor = new_party(server, "vendor")

        self.management.org.create_organization(FeatureSet="ALL")
        handshake = self.management.org.invite_account_to_organization(
            Target={"Id": self.member.account_id, "Type": "ACCOUNT"}
        )["Handshake"]
        self.member.org.accept_handshake(HandshakeId=handshake["Id"])
        self.management.ram.enable_sharing_with_aws_organization()

        self.shared_plan = create_plan(self.management, "checkout")
        self.lonely_plan = create_plan(self.management, "lonely")
        self.shared_contact = create_contact(self.management, "lead")
        self.lonely_contact = create_contact(self.management, "lonely-lead")

        ram = self.management.ram
        self.internal = ram.create_resource_share(
            name="internal",
            resourceArns=[self.shared_plan],
            principals=[self.member.account_id],
            allowExternalPrincipals=False,
        )["resourceShare"]["resourceShareArn"]
        self.partners = ram.create_resource_share(
            name="partners",
            resourceArns=[self.shared_contact],
            principals=[self.partner.account_id, self.invited.account_id],
        )["resourceShare"]["resourceShareArn"]
        invitation = self.partner.ram.get_resource_share_invitations()["resourceShareInvitations"][
            0
        ]
        self.partner.ram.accept_resource_share_invitation(
            resourceShareInvitationArn=invitation["resourceShareInvitationArn"]
        )

        # The lonely plan is shared by its resource policy only, with an outside account.
        self.management.incidents.put_resource_policy(
            resourceArn=self.lonely_plan,
            policy=policy(self.lonely_plan, self.vendor.account_id, "ssm-incidents:StartIncident"),
        )
        self.management.contacts.put_contact_policy(
            ContactArn=self.shared_contact,
            Policy=policy(
                self.shared_contact,
                f"arn:aws:iam::{self.member.account_id}:root",
                "ssm-contacts:GetContact",
            ),
        )
        # The vendor shares a contact with the management account, which has not accepted yet.
        vendor_contact = create_contact(self.vendor, "vendor-desk")
        self.received = self.vendor.ram.create_resource_share(
            name="vendor-desk",
            resourceArns=[vendor_contact],
            principals=[self.management.account_id],
        )["resourceShare"]["resourceShareArn"]


@pytest.fixture
def estate(server: RunningServer) -> Estate:
    return Estate(server)


def test_audit_json_lists_findings(server: RunningServer, estate: Estate) -> None:
    result = sharing_audit(server, "--account", estate.management.account_id, "--json")
    assert result.exit_code == 0, result.output
    reports: list[dict[str, Any]] = json.loads(result.stdout)["accounts"]
    assert len(reports) == 1
    report = reports[0]
    assert report["accountId"] == estate.management.account_id

    assert report["unsharedResponsePlans"] == [estate.lonely_plan]
    assert report["unsharedContacts"] == [estate.lonely_contact]

    sent = [(item["receiverAccountId"], item["shareArn"]) for item in report["invitationsSent"]]
    assert sent == [(estate.invited.account_id, estate.partners)]
    received = report["invitationsReceived"]
    assert [(item["senderAccountId"], item["shareArn"]) for item in received] == [
        (estate.vendor.account_id, estate.received)
    ]

    external = [(item["accountId"], item["shareArn"]) for item in report["externalAccounts"]]
    assert external == [(estate.partner.account_id, estate.partners)]
    assert [item["shareArn"] for item in report["externalShares"]] == [estate.partners]

    grants = {item["resourceArn"]: item for item in report["policyGrants"]}
    assert sorted(grants) == sorted([estate.lonely_plan, estate.shared_contact])
    assert grants[estate.lonely_plan]["principal"] == estate.vendor.account_id
    assert grants[estate.lonely_plan]["actions"] == ["ssm-incidents:StartIncident"]
    assert grants[estate.lonely_plan]["outsideOrganization"] is True
    assert grants[estate.shared_contact]["outsideOrganization"] is False

    # Neither account with access has used a shared plan or contact yet.
    inactive = [(item["accountId"], item["lastUsed"]) for item in report["inactiveAccounts"]]
    assert sorted(inactive) == sorted(
        [(estate.member.account_id, None), (estate.partner.account_id, None)]
    )
    assert report["departedAccounts"] == []
    assert report["findings"] == 10


def test_audit_text_names_each_section(server: RunningServer, estate: Estate) -> None:
    result = sharing_audit(server, "--account", estate.management.account_id)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Account {estate.management.account_id} (o-")
    assert lines[0].endswith(": 10 to review")
    assert "  Accounts that used no shared plan or contact lately: 2" in lines
    assert "  Response plans in no resource share: 1" in lines
    assert f"    {estate.lonely_plan}" in lines
    assert "  Contacts in no resource share: 1" in lines
    assert "  Accounts outside the organization with access: 1" in lines
    assert f"    {estate.partner.account_id} through partners ({estate.partners})" in lines
    assert (
        f"    {estate.vendor.account_id} on {estate.lonely_plan}: ssm-incidents:StartIncident "
        "(outside the organization)"
    ) in lines

    everyone = sharing_audit(server)
    assert everyone.exit_code == 0, everyone.output
    headers = [line for line in everyone.stdout.splitlines() if line.startswith("Account ")]
    audited = sorted(line.split()[1] for line in headers)
    assert audited == sorted([estate.management.account_id, estate.vendor.account_id])


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_audit_changes_after_review(server: RunningServer, estate: Estate) -> None:
    """Fixing each finding removes it, and invitations expire by the server's fake clock.

    SQLite alone runs it, because the JSON test already reads every finding on both backends.
    """
    management = estate.management
    management.ram.associate_resource_share(
        resourceShareArn=estate.internal, resourceArns=[estate.lonely_plan, estate.lonely_contact]
    )
    management.ram.disassociate_resource_share(
        resourceShareArn=estate.partners, principals=[estate.partner.account_id]
    )
    management.ram.update_resource_share(
        resourceShareArn=estate.partners, allowExternalPrincipals=False
    )
    policy_id = management.incidents.get_resource_policies(resourceArn=estate.lonely_plan)[
        "resourcePolicies"
    ][0]["policyId"]
    management.incidents.delete_resource_policy(resourceArn=estate.lonely_plan, policyId=policy_id)
    advance(server, timedelta(days=7))

    with server.runtime.database.session() as session:
        reports = audit.audit(session, server.clock.now(), management.account_id)
    report = reports[0]
    assert report.unshared_response_plans == []
    assert report.unshared_contacts == []
    assert report.invitations_sent == []
    assert report.invitations_received == []
    assert report.external_accounts == []
    assert report.external_shares == []
    assert [grant.resource_arn for grant in report.policy_grants] == [estate.shared_contact]
    assert [item.account_id for item in report.inactive_accounts] == [estate.member.account_id]
    assert report.findings == 2


def test_audit_rejects_unknown_account(server: RunningServer) -> None:
    result = sharing_audit(server, "--account", "999999999999")
    assert result.exit_code == 1
    assert "account 999999999999 does not exist" in result.stderr
    malformed = sharing_audit(server, "--account", "12345")
    assert malformed.exit_code == 2
    assert "'12345' is not a 12-digit account id" in malformed.stderr


def test_audit_of_empty_server(server: RunningServer) -> None:
    result = sharing_audit(server)
    assert result.exit_code == 0, result.output
    assert result.stdout == "No account owns response plans, contacts or resource shares.\n"
    assert json.loads(sharing_audit(server, "--json").stdout) == {"accounts": []}


def test_owner_without_organization_reviews_every_account(server: RunningServer) -> None:
    """Without an organization, every account that a share reaches is outside."""
    owner: Party = new_party(server, "owner")
    other = new_party(server, "other")
    contact = create_contact(owner, "lead")
    owner.ram.create_resource_share(
        name="direct", resourceArns=[contact], principals=[other.account_id]
    )
    invitation = other.ram.get_resource_share_invitations()["resourceShareInvitations"][0]
    other.ram.accept_resource_share_invitation(
        resourceShareInvitationArn=invitation["resourceShareInvitationArn"]
    )
    with server.runtime.database.session() as session:
        report = audit.audit(session, server.clock.now(), owner.account_id)[0]
    assert report.organization_id is None
    assert [item.account_id for item in report.external_accounts] == [other.account_id]


def test_audit_lists_inactive_and_departed_accounts(server: RunningServer, estate: Estate) -> None:
    def report(inactive_days: int = 90) -> audit.AccountAudit:
        with server.runtime.database.session() as session:
            (found,) = audit.audit(
                session,
                server.clock.now(),
                estate.management.account_id,
                inactive_days=inactive_days,
            )
        return found

    estate.member.incidents.start_incident(responsePlanArn=estate.shared_plan)
    active = report()
    assert [item.account_id for item in active.inactive_accounts] == [estate.partner.account_id]

    # Three months later the member's use is old enough to be listed again.
    advance(server, timedelta(days=91))
    listed = {item.account_id: item.last_used for item in report().inactive_accounts}
    assert listed[estate.member.account_id] is not None
    longer = report(inactive_days=120).inactive_accounts
    assert estate.member.account_id not in {item.account_id for item in longer}

    # A member that leaves the organization is listed as departed, not as inactive.
    estate.management.org.remove_account_from_organization(AccountId=estate.member.account_id)
    departed = report()
    assert [item.account_id for item in departed.departed_accounts] == [estate.member.account_id]
    assert estate.member.account_id not in {item.account_id for item in departed.inactive_accounts}


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_audit_text_escapes_control_characters(server: RunningServer) -> None:
    owner = new_party(server, "owner")
    outsider = new_party(server, "outsider")
    plan = create_plan(owner, "noisy")
    name = "bell\x07 esc\x1b[2J line\nbreak csi\x9b1m del\x7f end"
    share = owner.ram.create_resource_share(
        name=name, resourceArns=[plan], principals=[outsider.account_id]
    )["resourceShare"]["resourceShareArn"]

    result = sharing_audit(server, "--account", owner.account_id)
    assert result.exit_code == 0, result.output
    escaped = "bell\\x07 esc\\x1b[2J line\\x0abreak csi\\x9b1m del\\x7f end"
    assert f"    {escaped} ({share})" in result.stdout.splitlines()
    for character in ("\x07", "\x1b", "\x9b", "\x7f"):
        assert character not in result.stdout
    assert not any(line.startswith("break") for line in result.stdout.splitlines())

    # The JSON output keeps the stored name, escaped by JSON itself.
    as_json = sharing_audit(server, "--account", owner.account_id, "--json")
    assert as_json.exit_code == 0, as_json.output
    assert "\x07" not in as_json.stdout
    assert json.dumps(name)[1:-1] in as_json.stdout
