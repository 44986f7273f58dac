"""The cross-account set-up of the console's incident tests, built through the API.

A management account owns a response plan that engages a responder and runs
a runbook with an aws:approve step in the impacted account. It also has a
role that the application account's users switch to when they acknowledge
the responder's pages. The plan is
shared with an application account by ``tocsin crossaccount setup``, whose
forwarding rule sends the application's alarm state changes to the
management account's bus, where a rule starts incidents with the plan.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from tests.incidents.conftest import settle
from tocsin.engine.jobs import Job, JobStatus
from tocsin.example import alarm_of_sample, cross_account_setup, load_sample, outbox_reader
from tocsin.testing import Keys, RunningServer

REGION = "us-east-1"
PLAN_NAME = "service-outage"
# The management account's role that the application account's users switch
# to in the console to acknowledge the pages of the management account's contacts.
RESPONDER_ROLE = "IncidentResponder"
RUNBOOK_NAME = "Restart-Service"
APPROVE_STEP = "ConfirmRestart"


@dataclass(frozen=True)
class Scenario:
    """The accounts of the incident tests and what was created for them."""

    management: Keys
    application: Keys
    plan_arn: str
    alarm_name: str


def runbook(approver_arn: str) -> dict[str, Any]:
    """Return a runbook that waits for ``approver_arn`` to approve, then finishes."""
    return {
        "schemaVersion": "0.3",
        "description": "Ask for approval, then restart the service.",
        "parameters": {"IncidentRecordArn": {"type": "String"}},
        "mainSteps": [
            {
                "name": APPROVE_STEP,
                "action": "aws:approve",
                "inputs": {
                    "Approvers": [approver_arn],
                    "Message": "Restart the service of {{ IncidentRecordArn }}?",
                },
            },
            {"name": "Restart", "action": "aws:sleep", "inputs": {"Duration": "PT0S"}},
        ],
    }


def run_jobs(server: RunningServer, timeout: float = 30.0) -> None:
    """Run due jobs until none is open. The server's own worker may run some of them."""
    engine = server.runtime.engine
    assert engine is not None
    deadline = time.monotonic() + timeout
    while True:
        engine.run_due(limit=10_000)
        with server.runtime.database.session() as session:
            now = server.clock.now()
            open_jobs = session.scalar(
                select(func.count(Job.id)).where(
                    or_(
                        Job.status == JobStatus.RUNNING.value,
                        (Job.status == JobStatus.PENDING.value) & (Job.due_at <= now),
                    )
                )
            )
        if not open_jobs:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{open_jobs} due jobs still open after {timeout} s")
        time.sleep(0.02)


def _organization(server: RunningServer, management: Keys, application: Keys) -> None:
    organizations = server.client("organizations", management, region=REGION)
    organizations.create_organization(FeatureSet="ALL")
    handshake = organizations.invite_account_to_organization(
        Target={"Id": application.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    server.client("organizations", application, region=REGION).accept_handshake(
        HandshakeId=handshake["Id"]
    )
    server.client("ram", management, region=REGION).enable_sharing_with_aws_organization()


def create_responder(server: RunningServer, keys: Keys, alias: str, display_name: str) -> str:
    """Create a personal contact whose plan pages its activated email channel at once."""
    contacts = server.client("ssm-contacts", keys, region=REGION)
    contact_arn: str = contacts.create_contact(
        Alias=alias, DisplayName=display_name, Type="PERSONAL", Plan={"Stages": []}
    )["ContactArn"]
    channel_arn = contacts.create_contact_channel(
        ContactId=contact_arn,
        Name=f"{alias}-email",
        Type="EMAIL",
        DeliveryAddress={"SimpleAddress": f"{alias}@example.com"},
    )["ContactChannelArn"]
    run_jobs(server)
    code = outbox_reader(server.runtime)(channel_arn)
    contacts.activate_contact_channel(ContactChannelId=channel_arn, ActivationCode=code)
    stage = {
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel_arn}}],
    }
    contacts.update_contact(ContactId=contact_arn, Plan={"Stages": [stage]})
    return contact_arn


def _plan(server: RunningServer, management: Keys, application: Keys, approver: str) -> str:
    incidents = server.client("ssm-incidents", management, region=REGION)
    replication_set = incidents.create_replication_set(regions={REGION: {}})["arn"]
    settle(server, incidents, replication_set)
    contact = create_responder(server, management, "responder", "Responder")

    iam = server.client("iam", management, region=REGION)
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
        RoleName="IncidentRunbooks", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    ssm = server.client("ssm", management, region=REGION)
    ssm.create_document(
        Name=RUNBOOK_NAME,
        DocumentType="Automation",
        DocumentFormat="JSON",
        Content=json.dumps(runbook(approver)),
    )
    ssm.modify_document_permission(
        Name=RUNBOOK_NAME, PermissionType="Share", AccountIdsToAdd=[application.account_id]
    )
    plan_arn: str = incidents.create_response_plan(
        name=PLAN_NAME,
        displayName="Service outage",
        incidentTemplate={
            "title": "Checkout service is down",
            "impact": 2,
            "summary": "The checkout service's load balancer reports errors above the threshold.",
        },
        engagements=[contact],
        actions=[
            {
                "ssmAutomation": {
                    "roleArn": role_arn,
                    "documentName": RUNBOOK_NAME,
                    "targetAccount": "IMPACTED_ACCOUNT",
                    "dynamicParameters": {"IncidentRecordArn": {"variable": "INCIDENT_RECORD_ARN"}},
                }
            }
        ],
    )["arn"]
    return plan_arn


def _responder_role(server: RunningServer, management: Keys, application: Keys) -> None:
    """Create the management account's role that application users may assume to acknowledge.

    The role may read incidents and engagements and acknowledge pages
    (ssm-contacts:AcceptPage), and nothing else.
    """
    iam = server.client("iam", management, region=REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{application.account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=RESPONDER_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    permissions = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ssm-incidents:Get*",
                    "ssm-incidents:List*",
                    "ssm-contacts:Describe*",
                    "ssm-contacts:Get*",
                    "ssm-contacts:List*",
                    "ssm-contacts:AcceptPage",
                ],
                "Resource": "*",
            }
        ],
    }
    iam.put_role_policy(
        RoleName=RESPONDER_ROLE, PolicyName="acknowledge", PolicyDocument=json.dumps(permissions)
    )


def _routing(server: RunningServer, management: Keys, application: Keys, plan_arn: str) -> str:
    events = server.client("events", management, region=REGION)
    events.put_rule(
        Name="alarms-to-incidents",
        EventPattern=json.dumps(
            {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "detail": {"state": {"value": ["ALARM"]}},
            }
        ),
    )
    events.put_targets(Rule="alarms-to-incidents", Targets=[{"Id": "plan", "Arn": plan_arn}])
    alarm = alarm_of_sample(load_sample())
    server.client("cloudwatch", application, region=REGION).put_metric_alarm(**alarm)
    name: str = alarm["AlarmName"]
    return name


def build(server: RunningServer, application: Keys, approver_arn: str) -> Scenario:
    """Create the management account and the cross-account set-up.

    ``application`` is the account whose alarm starts the incident, and
    ``approver_arn`` is the IAM user of that account whom the runbook's
    aws:approve step waits for.
    """
    management = server.create_account(name="management")
    _organization(server, management, application)
    plan_arn = _plan(server, management, application, approver_arn)
    cross_account_setup(server.runtime)(management.account_id, [application.account_id])
    alarm_name = _routing(server, management, application, plan_arn)
    _responder_role(server, management, application)
    return Scenario(management, application, plan_arn, alarm_name)


def fire_alarm(server: RunningServer, scenario: Scenario) -> None:
    """Put the application's alarm into ALARM and let the event reach the management bus."""
    state = load_sample()["detail"]["state"]
    server.client("cloudwatch", scenario.application, region=REGION).set_alarm_state(
        AlarmName=scenario.alarm_name,
        StateValue="ALARM",
        StateReason=state["reason"],
        StateReasonData=state["reasonData"],
    )
    run_jobs(server)
