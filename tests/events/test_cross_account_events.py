"""Events that cross accounts: bus-to-bus delivery by bus policy, and plans shared through RAM.

These run on both backends because they exercise the sharing and policy
queries that differ between SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import select

from tests.events.events_support import (
    ALARM_EVENT_FILE,
    ALARM_PATTERN,
    REGION,
    Account,
    application,
    create_plan,
    drain,
    incident_records,
    load_case,
    management,
)
from tocsin.engine.jobs import Job
from tocsin.events.ingest import put_event
from tocsin.testing import Keys, RunningServer

__all__ = ["application", "management"]


def alarm_event(account_id: str) -> dict[str, Any]:
    event: dict[str, Any] = load_case(ALARM_EVENT_FILE)
    event["account"] = account_id
    event["resources"] = [f"arn:aws:cloudwatch:us-east-1:{account_id}:alarm:ServerCpuTooHigh"]
    return event


def fire_alarm(server: RunningServer, account: Account) -> dict[str, Any]:
    """Put one alarm state change event on the account's default bus, as its alarms do."""
    event = alarm_event(account.account_id)
    with server.runtime.database.session() as session:
        put_event(session, server.clock, account_id=account.account_id, region=REGION, event=event)
    drain(server)
    return event


def bus_arn(account: Account) -> str:
    return f"arn:aws:events:{REGION}:{account.account_id}:event-bus/default"


def forward_alarms(source: Account, target: Account) -> None:
    source.events.put_rule(Name="to-management", EventPattern=json.dumps(ALARM_PATTERN))
    source.events.put_targets(
        Rule="to-management", Targets=[{"Id": "management-bus", "Arn": bus_arn(target)}]
    )


def route_to_plan(account: Account, plan: str) -> str:
    rule: str = account.events.put_rule(Name="alarms", EventPattern=json.dumps(ALARM_PATTERN))[
        "RuleArn"
    ]
    account.events.put_targets(Rule="alarms", Targets=[{"Id": "plan", "Arn": plan}])
    return rule


def given_up(kind: str) -> float:
    value = REGISTRY.get_sample_value(
        "tocsin_event_deliveries_total", {"target_kind": kind, "outcome": "given_up"}
    )
    return value or 0.0


def raw_data_of(account: Account, incident_arn: str) -> dict[str, Any]:
    for item in account.incidents.list_timeline_events(incidentRecordArn=incident_arn)[
        "eventSummaries"
    ]:
        event = account.incidents.get_timeline_event(
            incidentRecordArn=incident_arn, eventId=item["eventId"]
        )["event"]
        data = json.loads(event["eventData"])
        if "rawData" in data:
            result: dict[str, Any] = json.loads(data["rawData"])
            return result
    raise AssertionError(f"no trigger event with raw data in {incident_arn}")


def test_bus_policy_lets_application_forward_to_management(
    server: RunningServer, application: Account, management: Account
) -> None:
    plan = create_plan(management)
    rule = route_to_plan(management, plan)
    forward_alarms(application, management)

    # Without a bus policy the management bus refuses the application's events.
    before = given_up("event-bus")
    fire_alarm(server, application)
    assert incident_records(management) == []
    assert given_up("event-bus") == before + 1

    management.events.put_permission(
        Action="events:PutEvents", Principal=application.account_id, StatementId="application"
    )
    event = fire_alarm(server, application)
    (summary,) = incident_records(management)
    assert summary["arn"].startswith(
        f"arn:aws:ssm-incidents::{management.account_id}:incident-record/checkout/"
    )
    assert summary["incidentRecordSource"]["resourceArn"] == rule
    # The event keeps the application account and its source, as EventBridge delivers it.
    raw = raw_data_of(management, summary["arn"])
    assert raw["account"] == application.account_id
    assert raw["source"] == "aws.cloudwatch"
    assert raw["id"] == event["id"]
    # The incident belongs to the management account's plan, not shared with the application.
    assert incident_records(application) == []


def member_of_organization(management: Account) -> Account:
    """Create an organization and a member account; return the member reached by role."""
    organizations = management.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    status = organizations.create_account(Email="app@example.com", AccountName="app")[
        "CreateAccountStatus"
    ]
    credentials = management.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{status['AccountId']}:role/OrganizationAccountAccessRole",
        RoleSessionName="setup",
    )["Credentials"]
    keys = Keys(
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
        status["AccountId"],
    )
    return Account(management.server, keys)


def test_organization_condition_on_bus_policy(
    server: RunningServer, application: Account, management: Account
) -> None:
    member = member_of_organization(management)
    organization = management.client("organizations").describe_organization()["Organization"]
    management.events.put_permission(
        Action="events:PutEvents",
        Principal="*",
        StatementId="organization",
        Condition={
            "Type": "StringEquals",
            "Key": "aws:PrincipalOrgID",
            "Value": organization["Id"],
        },
    )
    plan = create_plan(management)
    route_to_plan(management, plan)
    forward_alarms(member, management)
    forward_alarms(application, management)

    # The application account is outside the organization, so its event is given up.
    before = given_up("event-bus")
    fire_alarm(server, application)
    assert incident_records(management) == []
    assert given_up("event-bus") == before + 1

    fire_alarm(server, member)
    (summary,) = incident_records(management)
    assert raw_data_of(management, summary["arn"])["account"] == member.account_id


def share_plan(management: Account, application: Account, plan: str) -> str:
    ram = management.client("ram")
    invitation_share = ram.create_resource_share(
        name="incident-response", resourceArns=[plan], principals=[application.account_id]
    )["resourceShare"]
    invitations = application.client("ram").get_resource_share_invitations()[
        "resourceShareInvitations"
    ]
    application.client("ram").accept_resource_share_invitation(
        resourceShareInvitationArn=invitations[0]["resourceShareInvitationArn"]
    )
    share: str = invitation_share["resourceShareArn"]
    return share


def test_application_rule_targets_shared_plan(
    server: RunningServer, application: Account, management: Account
) -> None:
    plan = create_plan(management)
    share = share_plan(management, application, plan)
    rule = route_to_plan(application, plan)

    event = fire_alarm(server, application)
    (summary,) = incident_records(management)
    assert summary["arn"].startswith(f"arn:aws:ssm-incidents::{management.account_id}:")
    assert summary["incidentRecordSource"]["resourceArn"] == rule
    assert summary["incidentRecordSource"]["createdBy"] == rule
    assert [item["arn"] for item in incident_records(application)] == [summary["arn"]]
    record = application.incidents.get_incident_record(arn=summary["arn"])["incidentRecord"]
    assert record["status"] == "OPEN"
    assert raw_data_of(application, summary["arn"])["id"] == event["id"]

    # A repeat joins the open incident.
    fire_alarm(server, application)
    assert len(incident_records(management)) == 1

    # Unsharing stops new incidents at once; the event is given up, not retried.
    management.client("ram").delete_resource_share(resourceShareArn=share)
    management.incidents.update_incident_record(arn=summary["arn"], status="RESOLVED")
    before = given_up("response-plan")
    fire_alarm(server, application)
    assert len(incident_records(management)) == 1
    assert given_up("response-plan") == before + 1


def test_put_events_on_another_accounts_bus(
    server: RunningServer, application: Account, management: Account
) -> None:
    management.events.put_rule(Name="orders", EventPattern='{"source": ["com.example.shop"]}')
    plan = create_plan(management)
    management.events.put_targets(Rule="orders", Targets=[{"Id": "plan", "Arn": plan}])
    entry = {
        "Source": "com.example.shop",
        "DetailType": "Order Failed",
        "Detail": json.dumps({"orderId": "o-1"}),
        "EventBusName": bus_arn(management),
    }
    refused = application.events.put_events(Entries=[entry])
    assert refused["FailedEntryCount"] == 1
    assert refused["Entries"][0]["ErrorCode"] == "AccessDeniedException"
    assert application.account_id in refused["Entries"][0]["ErrorMessage"]

    management.events.put_permission(
        Action="events:PutEvents", Principal=application.account_id, StatementId="application"
    )
    accepted = application.events.put_events(Entries=[entry])
    assert accepted["FailedEntryCount"] == 0
    drain(server)
    (summary,) = incident_records(management)
    raw = raw_data_of(management, summary["arn"])
    assert raw["account"] == application.account_id
    assert raw["id"] == accepted["Entries"][0]["EventId"]


def test_forwarded_events_are_not_forwarded_again(
    server: RunningServer, application: Account, management: Account
) -> None:
    """Two buses that forward to each other pass an event on once, then stop."""
    management.events.put_permission(
        Action="events:PutEvents", Principal=application.account_id, StatementId="application"
    )
    application.events.put_permission(
        Action="events:PutEvents", Principal=management.account_id, StatementId="management"
    )
    forward_alarms(application, management)
    forward_alarms(management, application)

    fire_alarm(server, application)
    with server.runtime.database.session() as session:
        buses = [
            job.payload["account"]
            for job in session.scalars(
                select(Job).where(Job.kind == "events.match").order_by(Job.id)
            )
        ]
    assert buses == [application.account_id, management.account_id]


def test_forwarded_event_impacts_its_own_account(
    server: RunningServer, application: Account, management: Account
) -> None:
    """A runbook for the impacted account runs where the event came from, not at the bus."""
    create_plan(management)
    plan = management.incidents.create_response_plan(
        name="impacted",
        incidentTemplate={"title": "Checkout is failing", "impact": 2},
        actions=[
            {
                "ssmAutomation": {
                    "roleArn": f"arn:aws:iam::{management.account_id}:role/Runbooks",
                    "documentName": "Restart",
                    "targetAccount": "IMPACTED_ACCOUNT",
                }
            }
        ],
    )["arn"]
    route_to_plan(management, plan)
    forward_alarms(application, management)
    management.events.put_permission(
        Action="events:PutEvents", Principal=application.account_id, StatementId="application"
    )
    fire_alarm(server, application)
    (summary,) = incident_records(management)
    with server.runtime.database.session() as session:
        payloads = session.scalars(
            select(Job.payload).where(Job.kind == "incidents.start_runbook")
        ).all()
    assert [payload["incidentRecordArn"] for payload in payloads] == [summary["arn"]]
    assert payloads[0]["impactedAccount"] == application.account_id
