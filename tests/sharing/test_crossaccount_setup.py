"""``tocsin crossaccount setup``: the cross-account checklist performed, repeated and checked.

The command runs in this process through click's runner, on the server's
database; its effects are read back through boto3 as the accounts see them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result

from tests.sharing.conftest import Party, create_contact, create_plan, error, new_party
from tests.sharing.test_sharing_flows import contact_arns, plan_names
from tests.test_cli import clean_env
from tocsin.cli import main
from tocsin.sharing.setup import (
    ADMINISTRATION_ROLE,
    EXECUTION_ROLE,
    READ_ONLY_ROLE,
    SHARE_NAME,
)
from tocsin.sharing.setup_events import FORWARDING_RULE, FORWARDING_TARGET
from tocsin.testing import Keys, RunningServer


def crossaccount(server: RunningServer, *arguments: str) -> Result:
    database = ["--database-url", server.settings.effective_database_url]
    database += ["--home", str(server.settings.home)]
    return CliRunner().invoke(
        main, ["crossaccount", "setup", *arguments, *database], env=clean_env()
    )


def assume(party: Party, role_arn: str) -> Party:
    credentials = party.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="setup")[
        "Credentials"
    ]
    keys = Keys(
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
        role_arn.split(":")[4],
    )
    return Party(party.server, keys)


def statuses(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines()[:-1]]


def trust_principals(party: Party, role: str) -> dict[str, Any]:
    document = party.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    parsed: dict[str, Any] = json.loads(document) if isinstance(document, str) else document
    statements = parsed["Statement"]
    principals: dict[str, Any] = statements[0]["Principal"]
    return principals


@pytest.fixture
def accounts(server: RunningServer) -> tuple[Party, Party, Party]:
    """A management account with a plan and a contact, one member and one outside account."""
    management = new_party(server, "management")
    member = new_party(server, "member")
    outside = new_party(server, "outside")
    management.org.create_organization(FeatureSet="ALL")
    handshake = management.org.invite_account_to_organization(
        Target={"Id": member.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    member.org.accept_handshake(HandshakeId=handshake["Id"])
    management.ram.enable_sharing_with_aws_organization()
    create_plan(management, "checkout")
    create_contact(management, "lead")
    return management, member, outside


def test_setup_performs_checklist(
    server: RunningServer, accounts: tuple[Party, Party, Party]
) -> None:
    management, member, outside = accounts
    plan = plan_names(management)[0]
    arguments = ["--management", management.account_id]
    arguments += ["--application", member.account_id, "--application", outside.account_id]

    before = crossaccount(server, *arguments, "--check")
    assert before.exit_code == 1, before.stderr
    assert set(statuses(before.stdout)) == {"missing"}
    assert f"share of {plan}" in before.stdout
    assert before.stdout.splitlines()[-1].endswith(" items are missing.")
    assert management.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"] == []

    performed = crossaccount(server, *arguments)
    assert performed.exit_code == 0, performed.stderr
    assert "missing" not in statuses(performed.stdout)
    assert performed.stdout.splitlines()[-1].startswith("Changed ")

    # One share, with the plan and the contact, reaches both application accounts.
    share = management.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"]
    assert [item["name"] for item in share] == [SHARE_NAME]
    principals = management.ram.get_resource_share_associations(
        associationType="PRINCIPAL", resourceShareArns=[share[0]["resourceShareArn"]]
    )["resourceShareAssociations"]
    organization = management.org.describe_organization()["Organization"]["Arn"]
    assert sorted((p["associatedEntity"], p["status"]) for p in principals) == sorted(
        [(organization, "ASSOCIATED"), (outside.account_id, "ASSOCIATED")]
    )
    for application in (member, outside):
        assert len(plan_names(application)) == 1
        assert len(contact_arns(application)) == 1

    # The management account assumes both roles in each application account.
    for application in (member, outside):
        prefix = f"arn:aws:iam::{application.account_id}:role/"
        runner = assume(management, prefix + EXECUTION_ROLE)
        assert runner.client("sts").get_caller_identity()["Account"] == application.account_id
        reader = assume(management, prefix + READ_ONLY_ROLE)
        policy = reader.client("iam")
        with pytest.raises(ClientError) as info:
            policy.create_user(UserName="not-allowed")
        assert error(info)[0] == "AccessDenied"
    # ... and the application accounts assume the read-only role of the management account.
    management_role = f"arn:aws:iam::{management.account_id}:role/{READ_ONLY_ROLE}"
    assert assume(outside, management_role).account_id == management.account_id
    admin = management.client("iam").get_role(RoleName=ADMINISTRATION_ROLE)["Role"]
    assert admin["Arn"].endswith(f":role/{ADMINISTRATION_ROLE}")
    assert trust_principals(member, EXECUTION_ROLE)["AWS"] == [
        f"arn:aws:iam::{management.account_id}:root"
    ]

    # The default bus of the management account accepts events of both accounts.
    bus = management.client("events").describe_event_bus(Name="default")
    policy_text = json.dumps(json.loads(bus["Policy"]))
    assert member.account_id in policy_text
    assert outside.account_id in policy_text

    after = crossaccount(server, *arguments, "--check")
    assert after.exit_code == 0, after.stdout
    assert set(statuses(after.stdout)) == {"ok"}
    assert after.stdout.splitlines()[-1].startswith("All ")

    again = crossaccount(server, *arguments)
    assert again.exit_code == 0, again.stderr
    assert set(statuses(again.stdout)) == {"ok"}
    assert again.stdout.splitlines()[-1].startswith("Nothing changed")
    assert len(management.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"]) == 1


def test_setup_adds_new_resources_and_trust(
    server: RunningServer, accounts: tuple[Party, Party, Party]
) -> None:
    """A later run shares a new plan and widens the management account's read-only role."""
    management, member, outside = accounts
    first = crossaccount(
        server, "--management", management.account_id, "--application", member.account_id
    )
    assert first.exit_code == 0, first.stderr
    plan = create_plan(management, "payments")
    narrowed = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ssm:GetAutomationExecution", "Resource": "*"}],
    }
    member.client("iam").put_role_policy(
        RoleName=READ_ONLY_ROLE,
        PolicyName="ReadAutomationExecutions",
        PolicyDocument=json.dumps(narrowed),
    )

    check = crossaccount(
        server, "--management", management.account_id, "--application", member.account_id, "--check"
    )
    assert check.exit_code == 1
    assert f"missing  {management.account_id}  share of {plan}" in check.stdout
    policy_item = f"role {READ_ONLY_ROLE} policy ReadAutomationExecutions"
    assert f"missing  {member.account_id}  {policy_item}: differs" in check.stdout

    both = ["--application", member.account_id, "--application", outside.account_id]
    result = crossaccount(server, "--management", management.account_id, *both, "--json")
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)
    changed = {(item["accountId"], item["item"]) for item in items if item["status"] != "ok"}
    assert (management.account_id, f"share of {plan}") in changed
    assert (management.account_id, f"role {READ_ONLY_ROLE} trust") in changed
    assert (member.account_id, policy_item) in changed
    restored = member.client("iam").get_role_policy(
        RoleName=READ_ONLY_ROLE, PolicyName="ReadAutomationExecutions"
    )["PolicyDocument"]
    restored_text = restored if isinstance(restored, str) else json.dumps(restored)
    assert "ssm:DescribeAutomationStepExecutions" in restored_text
    assert plan in plan_names(member)
    trusted = trust_principals(management, READ_ONLY_ROLE)["AWS"]
    assert sorted(trusted) == sorted(
        f"arn:aws:iam::{account}:root" for account in (member.account_id, outside.account_id)
    )


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_setup_rejects_bad_accounts(
    server: RunningServer, accounts: tuple[Party, Party, Party]
) -> None:
    """Checks of the account ids do not depend on the backend, so SQLite alone runs them."""
    management, member, _outside = accounts
    cases = [
        (["--application", "123"], "'123' is not a 12-digit account id"),
        (["--application", "999999999999"], "account 999999999999 does not exist"),
        (["--application", management.account_id], "cannot also be an application account"),
        ([], "Missing option '--application'"),
        (
            ["--application", member.account_id, "--region", "moon"],
            "region 'moon' is not a Region name",
        ),
    ]
    for arguments, message in cases:
        result = crossaccount(server, "--management", management.account_id, *arguments)
        assert result.exit_code != 0, arguments
        assert message in result.stderr, result.stderr
    assert management.ram.get_resource_shares(resourceOwner="SELF")["resourceShares"] == []


SLEEPER = json.dumps(
    {
        "schemaVersion": "0.3",
        "mainSteps": [{"name": "Wait", "action": "aws:sleep", "inputs": {"Duration": "PT1H"}}],
    }
)


def start_sleeper(party: Party) -> str:
    ssm = party.client("ssm")
    ssm.create_document(
        Name="Sleeper", DocumentType="Automation", DocumentFormat="JSON", Content=SLEEPER
    )
    execution_id: str = ssm.start_automation_execution(DocumentName="Sleeper")[
        "AutomationExecutionId"
    ]
    return execution_id


def test_read_only_roles_show_executions_across_accounts(
    server: RunningServer, accounts: tuple[Party, Party, Party]
) -> None:
    management, member, _outside = accounts
    member_execution = start_sleeper(member)
    management_execution = start_sleeper(management)
    member_role = f"arn:aws:iam::{member.account_id}:role/{READ_ONLY_ROLE}"
    management_role = f"arn:aws:iam::{management.account_id}:role/{READ_ONLY_ROLE}"

    # Before the set-up, neither account may assume the other's read-only role,
    # and its own credentials do not reach the other account's executions.
    for reader, role in ((management, member_role), (member, management_role)):
        with pytest.raises(ClientError) as info:
            reader.client("sts").assume_role(RoleArn=role, RoleSessionName="read")
        assert error(info)[0] == "AccessDenied"
    with pytest.raises(ClientError) as info:
        management.client("ssm").get_automation_execution(AutomationExecutionId=member_execution)
    assert error(info)[0] == "AutomationExecutionNotFoundException"

    arguments = ["--management", management.account_id, "--application", member.account_id]
    assert crossaccount(server, *arguments).exit_code == 0

    for reader, role, execution_id in (
        (management, member_role, member_execution),
        (member, management_role, management_execution),
    ):
        ssm = assume(reader, role).client("ssm")
        execution = ssm.get_automation_execution(AutomationExecutionId=execution_id)
        assert execution["AutomationExecution"]["DocumentName"] == "Sleeper"
        steps = ssm.describe_automation_step_executions(AutomationExecutionId=execution_id)
        assert [step["StepName"] for step in steps["StepExecutions"]] == ["Wait"]
        listed = ssm.describe_automation_executions()["AutomationExecutionMetadataList"]
        assert execution_id in [item["AutomationExecutionId"] for item in listed]
        with pytest.raises(ClientError) as info:
            ssm.stop_automation_execution(AutomationExecutionId=execution_id)
        assert error(info)[0] == "AccessDeniedException"


def test_check_names_the_one_missing_item(
    server: RunningServer, accounts: tuple[Party, Party, Party]
) -> None:
    management, member, outside = accounts
    arguments = ["--management", management.account_id]
    arguments += ["--applications", f"{member.account_id},{outside.account_id}"]
    assert crossaccount(server, *arguments).exit_code == 0

    # Each application forwards alarm state changes to the management account's bus.
    management_bus = f"arn:aws:events:us-east-1:{management.account_id}:event-bus/default"
    for application in (member, outside):
        events = application.client("events")
        targets = events.list_targets_by_rule(Rule=FORWARDING_RULE)["Targets"]
        assert [target["Arn"] for target in targets] == [management_bus]

    # An operator removes one item by hand; the check names that item and only that one.
    member.client("events").remove_targets(Rule=FORWARDING_RULE, Ids=[FORWARDING_TARGET])
    check = crossaccount(server, *arguments, "--check")
    assert check.exit_code == 1
    missing = [line for line in check.stdout.splitlines()[:-1] if line.startswith("missing")]
    assert len(missing) == 1
    assert member.account_id in missing[0]
    assert f"rule {FORWARDING_RULE}" in missing[0]

    repaired = crossaccount(server, *arguments)
    assert repaired.exit_code == 0
    assert crossaccount(server, *arguments, "--check").exit_code == 0
