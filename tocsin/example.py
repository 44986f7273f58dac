"""The ready example that ``tocsin serve --example`` creates on a server's first start.

A management account and two application accounts form an organization.
The management account owns a replication set, two responders with email
channels (delivered to the development outbox), an on-call rotation and its
schedule, an escalation plan, a runbook and a response plan. A rule of the
management account starts an incident with that plan when an alarm goes
into ALARM, and each application account has an alarm made from a public
CloudWatch sample. The cross-account set-up of ``tocsin crossaccount setup`` then shares the plan
and the contacts through RAM, creates the runbook roles, and forwards the
application accounts' alarm state changes to the management account's bus.

Only the accounts are created directly in the database. Everything else goes
through the server's own API with each account's keys, as a user would do
it, so the example exercises the same paths as any client.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from tocsin.app import Runtime

logger = logging.getLogger(__name__)

REGION = "us-east-1"
PROFILE_FILE = "aws-config"
MARKER_FILE = "example.json"
CONSOLE_FILE = "console-sign-in.txt"
CODE_PATTERN = re.compile(r"\b(\d{6})\b")
CODE_WAIT_SECONDS = 30.0
ACTIVE_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.5

# Roles of the example's accounts: (profile name, account name).
ACCOUNTS = (
    ("tocsin-management", "management"),
    ("tocsin-app1", "application-1"),
    ("tocsin-app2", "application-2"),
)

SAMPLE_FILE = "cloudwatch-alarm-state-change.json"
ALARM_PATTERN = {
    "source": ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm State Change"],
    "detail": {"state": {"value": ["ALARM"]}},
}

RUNBOOK = {
    "schemaVersion": "0.3",
    "description": "Note which incident started the runbook, then give responders time to look.",
    "parameters": {
        "IncidentRecordArn": {"type": "String", "description": "The incident that started this."}
    },
    "mainSteps": [
        {
            "name": "NoteIncident",
            "action": "aws:executeScript",
            "inputs": {
                "Runtime": "python3.11",
                "Handler": "note_incident",
                "Script": (
                    "def note_incident(events, context):\n"
                    "    return {'incident': events['IncidentRecordArn'].rsplit('/', 1)[-1]}\n"
                ),
                "InputPayload": {"IncidentRecordArn": "{{ IncidentRecordArn }}"},
            },
            "outputs": [{"Name": "IncidentId", "Selector": "$.Payload.incident", "Type": "String"}],
        },
        {
            "name": "GiveRespondersTime",
            "action": "aws:sleep",
            "inputs": {"Duration": "PT30S"},
            "isEnd": True,
        },
    ],
}


class ExampleError(Exception):
    """A step of the example failed; the message names the step."""


@dataclass(frozen=True)
class ExampleAccount:
    """One account of the example with its administrator's keys and console password."""

    profile: str
    name: str
    account_id: str
    access_key_id: str
    secret_access_key: str
    console_password: str = ""


@dataclass
class Example:
    """The example's accounts and the ARNs of what it created, as in the marker file."""

    endpoint: str
    region: str
    accounts: list[ExampleAccount]
    resources: dict[str, str] = field(default_factory=dict)

    @property
    def management(self) -> ExampleAccount:
        return self.accounts[0]

    @property
    def applications(self) -> list[ExampleAccount]:
        return self.accounts[1:]


def client(example: Example, account: ExampleAccount, service: str) -> Any:
    """Return a botocore client of ``service`` acting as ``account``'s administrator."""
    session = botocore.session.get_session()
    return session.create_client(
        service,
        region_name=example.region,
        endpoint_url=example.endpoint,
        aws_access_key_id=account.access_key_id,
        aws_secret_access_key=account.secret_access_key,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )


def pause_briefly() -> None:
    """Sleep between two polls of work that the server finishes in the background."""
    time.sleep(POLL_SECONDS)


def build(
    example: Example,
    activation_code: Callable[[str], str],
    cross_account_setup: Callable[[str, list[str]], str],
    pause: Callable[[], None] = pause_briefly,
) -> None:
    """Create the example's organization and preparation through the API.

    ``activation_code`` returns the activation code sent to a contact
    channel ARN, read from wherever the server delivered it.
    ``cross_account_setup`` performs ``tocsin crossaccount setup`` for the
    management account and the application accounts and returns the ARN of
    its resource share. ``pause`` runs between two polls of the replication
    set's status. On a server with a fake clock, it should advance that clock.
    """
    _organization(example)
    _replication_set(example, pause)
    _contacts(example, activation_code)
    _response_plan(example)
    _cross_account(example, cross_account_setup)
    _event_routing(example)


def _step(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        def run(*arguments: Any) -> None:
            logger.info("example: %s", name)
            try:
                function(*arguments)
            except ExampleError:
                raise
            except Exception as exc:
                raise ExampleError(f"example step {name!r} failed: {exc}") from exc

        return run

    return decorate


@_step("organization")
def _organization(example: Example) -> None:
    organizations = client(example, example.management, "organizations")
    organization = organizations.create_organization(FeatureSet="ALL")["Organization"]
    example.resources["OrganizationArn"] = organization["Arn"]
    example.resources["OrganizationId"] = organization["Id"]
    for account in example.applications:
        handshake = organizations.invite_account_to_organization(
            Target={"Id": account.account_id, "Type": "ACCOUNT"},
            Notes="Join the example organization.",
        )["Handshake"]
        client(example, account, "organizations").accept_handshake(HandshakeId=handshake["Id"])
    client(example, example.management, "ram").enable_sharing_with_aws_organization()


@_step("replication set")
def _replication_set(example: Example, pause: Callable[[], None]) -> None:
    incidents = client(example, example.management, "ssm-incidents")
    arn = incidents.create_replication_set(regions={example.region: {}})["arn"]
    example.resources["ReplicationSetArn"] = arn
    deadline = time.monotonic() + ACTIVE_WAIT_SECONDS
    while incidents.get_replication_set(arn=arn)["replicationSet"]["status"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise ExampleError(f"replication set {arn} did not become ACTIVE")
        pause()


@_step("contacts")
def _contacts(example: Example, activation_code: Callable[[str], str]) -> None:
    contacts = client(example, example.management, "ssm-contacts")
    responders = []
    for alias, display_name in (("alice", "Alice Example"), ("bob", "Bob Example")):
        contact_arn = contacts.create_contact(
            Alias=alias, DisplayName=display_name, Type="PERSONAL", Plan={"Stages": []}
        )["ContactArn"]
        channel_arn = contacts.create_contact_channel(
            ContactId=contact_arn,
            Name=f"{alias}-email",
            Type="EMAIL",
            DeliveryAddress={"SimpleAddress": f"{alias}@example.com"},
        )["ContactChannelArn"]
        contacts.activate_contact_channel(
            ContactChannelId=channel_arn, ActivationCode=activation_code(channel_arn)
        )
        contacts.update_contact(
            ContactId=contact_arn,
            Plan={
                "Stages": [
                    {
                        "DurationInMinutes": 0,
                        "Targets": [
                            {
                                "ChannelTargetInfo": {
                                    "ContactChannelId": channel_arn,
                                    "RetryIntervalInMinutes": 1,
                                }
                            }
                        ],
                    }
                ]
            },
        )
        example.resources[f"Contact:{alias}"] = contact_arn
        responders.append(contact_arn)

    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    rotation_arn = contacts.create_rotation(
        Name="primary-rotation",
        ContactIds=responders,
        StartTime=start,
        TimeZoneId="UTC",
        Recurrence={
            "NumberOfOnCalls": 1,
            "RecurrenceMultiplier": 1,
            "DailySettings": [{"HourOfDay": 9, "MinuteOfHour": 0}],
        },
    )["RotationArn"]
    example.resources["Rotation"] = rotation_arn
    schedule_arn = contacts.create_contact(
        Alias="on-call",
        DisplayName="Primary on-call",
        Type="ONCALL_SCHEDULE",
        Plan={"RotationIds": [rotation_arn]},
    )["ContactArn"]
    example.resources["Contact:on-call"] = schedule_arn
    escalation_arn = contacts.create_contact(
        Alias="escalation",
        DisplayName="On-call responder then Bob",
        Type="ESCALATION",
        Plan={
            "Stages": [
                {
                    "DurationInMinutes": 5,
                    "Targets": [
                        {"ContactTargetInfo": {"ContactId": schedule_arn, "IsEssential": True}}
                    ],
                },
                {
                    "DurationInMinutes": 5,
                    "Targets": [
                        {"ContactTargetInfo": {"ContactId": responders[1], "IsEssential": False}}
                    ],
                },
            ]
        },
    )["ContactArn"]
    example.resources["Contact:escalation"] = escalation_arn


@_step("response plan")
def _response_plan(example: Example) -> None:
    management = example.management
    iam = client(example, management, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ssm-incidents.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = iam.create_role(
        RoleName="IncidentRunbookRole", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="IncidentRunbookRole",
        PolicyName="RunRunbooks",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}],
            }
        ),
    )
    client(example, management, "ssm").create_document(
        Name="Example-IncidentTriage",
        DocumentType="Automation",
        DocumentFormat="JSON",
        Content=json.dumps(RUNBOOK),
    )
    topic_arn = client(example, management, "sns").create_topic(Name="incident-updates")["TopicArn"]
    example.resources["NotificationTopic"] = topic_arn
    plan_arn = client(example, management, "ssm-incidents").create_response_plan(
        name="service-outage",
        displayName="Service outage",
        incidentTemplate={
            "title": "Service outage",
            "impact": 2,
            "summary": "An application account's alarm reports that a service is down.",
            "notificationTargets": [{"snsTopicArn": topic_arn}],
        },
        engagements=[example.resources["Contact:escalation"]],
        actions=[
            {
                "ssmAutomation": {
                    "roleArn": role_arn,
                    "documentName": "Example-IncidentTriage",
                    "targetAccount": "RESPONSE_PLAN_OWNER_ACCOUNT",
                    "dynamicParameters": {"IncidentRecordArn": {"variable": "INCIDENT_RECORD_ARN"}},
                }
            }
        ],
    )["arn"]
    example.resources["ResponsePlan"] = plan_arn


@_step("cross-account set-up")
def _cross_account(example: Example, cross_account_setup: Callable[[str, list[str]], str]) -> None:
    applications = [account.account_id for account in example.applications]
    example.resources["ResourceShare"] = cross_account_setup(
        example.management.account_id, applications
    )


@_step("event routing")
def _event_routing(example: Example) -> None:
    management = example.management
    pattern = json.dumps(ALARM_PATTERN)
    management_events = client(example, management, "events")
    rule_arn = management_events.put_rule(
        Name="alarms-to-incidents",
        EventPattern=pattern,
        Description="Start an incident when an alarm of any account goes into ALARM.",
    )["RuleArn"]
    management_events.put_targets(
        Rule="alarms-to-incidents",
        Targets=[{"Id": "service-outage", "Arn": example.resources["ResponsePlan"]}],
    )
    example.resources["IncidentRule"] = rule_arn
    sample = load_sample()
    for account in example.applications:
        client(example, account, "cloudwatch").put_metric_alarm(**alarm_of_sample(sample))
    example.resources["Alarm"] = sample["detail"]["alarmName"]


def load_sample() -> dict[str, Any]:
    """Return the shipped CloudWatch alarm state change event."""
    text = resources.files("tocsin.samples").joinpath(SAMPLE_FILE).read_text(encoding="utf-8")
    sample: dict[str, Any] = json.loads(text)
    return sample


def alarm_of_sample(sample: dict[str, Any]) -> dict[str, Any]:
    """Return PutMetricAlarm's parameters for the alarm that the sample event describes."""
    detail = sample["detail"]
    (metric,) = detail["configuration"]["metrics"]
    stat = metric["metricStat"]
    reason = json.loads(detail["state"]["reasonData"])
    return {
        "AlarmName": detail["alarmName"],
        "AlarmDescription": detail["configuration"]["description"],
        "Namespace": stat["metric"]["namespace"],
        "MetricName": stat["metric"]["name"],
        "Dimensions": [
            {"Name": name, "Value": value} for name, value in stat["metric"]["dimensions"].items()
        ],
        "Statistic": stat["stat"],
        "Period": stat["period"],
        "EvaluationPeriods": 1,
        "Threshold": reason["threshold"],
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def write_profiles(path: Path, example: Example) -> None:
    """Write an AWS config file with one named profile per account of the example.

    The profiles make the AWS CLI print times as ISO 8601. Without that
    setting, version 1 prints the seconds since the epoch that the services send.
    """
    sections = []
    for account in example.accounts:
        sections.append(
            f"[profile {account.profile}]\n"
            f"region = {example.region}\n"
            f"endpoint_url = {example.endpoint}\n"
            "cli_timestamp_format = iso8601\n"
            f"aws_access_key_id = {account.access_key_id}\n"
            f"aws_secret_access_key = {account.secret_access_key}\n"
        )
    path.write_text("\n".join(sections), encoding="utf-8")
    path.chmod(0o600)


def write_marker(path: Path, example: Example) -> None:
    """Record what the example created, without secrets, so later starts can describe it."""
    secret = ("secret_access_key", "console_password")
    accounts = [
        {key: value for key, value in asdict(account).items() if key not in secret}
        for account in example.accounts
    ]
    document = {
        "endpoint": example.endpoint,
        "region": example.region,
        "accounts": accounts,
        "resources": example.resources,
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def code_from_message(body: str) -> str | None:
    """Return the six-digit activation code in a message body, if there is one."""
    found = CODE_PATTERN.search(body)
    return found.group(1) if found else None


def console_password() -> str:
    """Return a new random password that meets the console's password policy."""
    # The fixed tail adds the upper case letter, digit and symbol that the
    # policy requires. The random part alone carries 96 bits.
    return f"{secrets.token_urlsafe(12)}-Tc7"


def create_accounts(runtime: Runtime) -> list[ExampleAccount]:
    """Create the example's three accounts, with a console password for each administrator."""
    from tocsin.iam import login_profiles, users
    from tocsin.iam.accounts import ADMINISTRATOR_NAME, create_account

    accounts = []
    with runtime.database.session() as session:
        for profile, name in ACCOUNTS:
            created = create_account(session, runtime.clock, runtime.secrets, name=name)
            password = console_password()
            administrator = users.get_user(session, created.account_id, ADMINISTRATOR_NAME)
            login_profiles.create_login_profile(session, runtime.clock, administrator, password)
            accounts.append(
                ExampleAccount(
                    profile,
                    name,
                    created.account_id,
                    created.access_key_id,
                    created.secret_access_key,
                    password,
                )
            )
    return accounts


def write_console_sign_in(path: Path, example: Example) -> None:
    """Write the console's address and each account's sign-in, readable by the owner only."""
    from tocsin.iam.accounts import ADMINISTRATOR_NAME

    lines = [f"Console: {example.endpoint}/console/", ""]
    for account in example.accounts:
        lines.append(
            f"{account.profile:18} account {account.account_id}  user {ADMINISTRATOR_NAME}  "
            f"password {account.console_password}"
        )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def outbox_reader(runtime: Runtime) -> Callable[[str], str]:
    """Return a function that waits for a channel's activation code in the development outbox."""
    from tocsin.notify.outbox import list_outbox

    def activation_code(channel_arn: str) -> str:
        deadline = time.monotonic() + CODE_WAIT_SECONDS
        while time.monotonic() < deadline:
            with runtime.database.session() as session:
                for message in list_outbox(session, channel_arn=channel_arn, limit=1):
                    code = code_from_message(message.body)
                    if code is not None:
                        return code
            time.sleep(0.2)
        raise ExampleError(
            f"no activation code for {channel_arn} reached the development outbox in "
            f"{CODE_WAIT_SECONDS:.0f} s; the example needs TOCSIN_SMTP_URL unset"
        )

    return activation_code


def cross_account_setup(runtime: Runtime) -> Callable[[str, list[str]], str]:
    """Return a function that performs the cross-account set-up in the server's database."""
    from tocsin.sharing import setup

    def run(management: str, applications: list[str]) -> str:
        with runtime.database.session() as session:
            items = setup.setup(session, runtime.clock, REGION, management, applications)
            if not setup.complete(items):
                raise ExampleError(setup.as_text(items))
            share: str = next(
                item.detail for item in items if item.item == f"resource share {setup.SHARE_NAME}"
            )
        return share

    return run
