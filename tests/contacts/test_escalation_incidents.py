"""Engagements that incidents start from their response plans, and the incident timeline."""

from __future__ import annotations

import json
from typing import Any

from tests.contacts.conftest import OTHER, OWNER
from tests.contacts.engagement_support import (
    advance,
    contact_stage,
    escalation,
    page_messages,
    paged_person,
    pages_of,
    settle,
)
from tests.incidents.conftest import REGION, Tenant, prepare
from tocsin.testing import RunningServer

STARTED = "Engagement Started"
STAGE_STARTED = "Engagement Stage Started"
ACKNOWLEDGED = "Page Acknowledged"
FAILED = "Engagement Failed"


def owner_tenant(server: RunningServer) -> Tenant:
    """Create account OWNER with an ACTIVE replication set and return its ssm-incidents tenant."""
    keys = server.create_account(account_id=OWNER)
    tenant = Tenant(keys, server.client("ssm-incidents", keys, region=REGION))
    prepare(server, tenant)
    return tenant


def events(tenant: Tenant, incident: str, event_type: str) -> list[dict[str, Any]]:
    """Return the eventData of the incident's timeline events of ``event_type``, oldest first."""
    summaries = tenant.client.list_timeline_events(
        incidentRecordArn=incident,
        filters=[{"key": "eventType", "condition": {"equals": {"stringValues": [event_type]}}}],
    )["eventSummaries"]
    found = []
    for summary in summaries:
        event = tenant.client.get_timeline_event(
            incidentRecordArn=incident, eventId=summary["eventId"]
        )["event"]
        found.append(json.loads(event["eventData"]))
    return found


def plan_engaging(tenant: Tenant, *contacts: str) -> str:
    arn: str = tenant.client.create_response_plan(
        name="checkout",
        displayName="Checkout team",
        incidentTemplate={
            "title": "Checkout is failing",
            "impact": 2,
            "summary": "Orders return HTTP 500",
        },
        engagements=list(contacts),
    )["arn"]
    return arn


def test_incident_engages_plan_and_fills_timeline(server: RunningServer) -> None:
    owner = owner_tenant(server)
    contacts = server.client("ssm-contacts", owner.keys)
    first, first_channel = paged_person(server, contacts, "first")
    second, second_channel = paged_person(server, contacts, "second")
    third, third_channel = paged_person(server, contacts, "third")
    plan = escalation(
        contacts,
        "plan",
        contact_stage(5, (first, False), (second, False)),
        contact_stage(5, (third, True)),
    )
    response_plan = plan_engaging(owner, plan)

    incident = owner.client.start_incident(responsePlanArn=response_plan)["incidentRecordArn"]
    settle(server)
    engagements = contacts.list_engagements(IncidentId=incident)["Engagements"]
    assert len(engagements) == 1
    engagement = engagements[0]["EngagementArn"]
    described = contacts.describe_engagement(EngagementId=engagement)
    assert described["ContactArn"] == plan
    assert described["Sender"] == "Checkout team"
    assert described["Subject"] == "Checkout is failing"
    assert "Orders return HTTP 500" in described["Content"]

    # One stage event for the stage, one page for each of its two contacts.
    assert [item["engagementArn"] for item in events(owner, incident, STARTED)] == [engagement]
    stage_events = events(owner, incident, STAGE_STARTED)
    assert len(stage_events) == 1
    assert stage_events[0]["stageIndex"] == 0
    assert sorted(stage_events[0]["pagedContactArns"]) == sorted([first, second])
    assert len(page_messages(server, first_channel)) == 1
    assert len(page_messages(server, second_channel)) == 1
    body = page_messages(server, first_channel)[0].body
    assert incident in body

    page = next(p for p in pages_of(contacts, engagement) if p["ContactArn"] == first)["PageArn"]
    contacts.accept_page(PageId=page, AcceptType="READ", AcceptCode="123456")
    contacts.accept_page(PageId=page, AcceptType="READ", AcceptCode="123456")
    acknowledged = events(owner, incident, ACKNOWLEDGED)
    assert len(acknowledged) == 1
    assert acknowledged[0]["pageArn"] == page
    assert acknowledged[0]["essential"] is False

    advance(server, minutes=5)
    assert len(page_messages(server, third_channel)) == 1
    assert [item["stageIndex"] for item in events(owner, incident, STAGE_STARTED)] == [0, 1]


def test_shared_contact_engaged_until_unshared(server: RunningServer) -> None:
    owner = owner_tenant(server)
    other_keys = server.create_account(account_id=OTHER)
    other_contacts = server.client("ssm-contacts", other_keys)
    person, channel = paged_person(server, other_contacts, "person")
    policy: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
                "Action": ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement"],
                "Resource": person,
            }
        ],
    }
    other_contacts.put_contact_policy(ContactArn=person, Policy=json.dumps(policy))
    response_plan = plan_engaging(owner, person)

    incident = owner.client.start_incident(responsePlanArn=response_plan)["incidentRecordArn"]
    settle(server)
    assert len(page_messages(server, channel)) == 1
    engagement = other_contacts.list_engagements(IncidentId=incident)["Engagements"][0]
    assert engagement["EngagementArn"].startswith(
        f"arn:aws:ssm-contacts:us-east-1:{OTHER}:engagement/person/"
    )
    assert len(events(owner, incident, STAGE_STARTED)) == 1

    # After unsharing, a new incident records the failure instead of paging.
    policy["Statement"][0]["Principal"] = {"AWS": "arn:aws:iam::333333333333:root"}
    other_contacts.put_contact_policy(ContactArn=person, Policy=json.dumps(policy))
    owner.client.update_incident_record(arn=incident, status="RESOLVED")
    later = owner.client.start_incident(responsePlanArn=response_plan, title="Again")[
        "incidentRecordArn"
    ]
    settle(server)
    assert len(page_messages(server, channel)) == 1
    failures = events(owner, later, FAILED)
    assert len(failures) == 1
    assert failures[0]["contactArn"] == person
    assert "not shared" in failures[0]["reason"]
    assert events(owner, later, STARTED) == []


def test_deleted_contact_recorded_as_failure(server: RunningServer) -> None:
    owner = owner_tenant(server)
    contacts = server.client("ssm-contacts", owner.keys)
    person, _ = paged_person(server, contacts, "person")
    response_plan = plan_engaging(owner, person)
    contacts.delete_contact(ContactId=person)

    incident = owner.client.start_incident(responsePlanArn=response_plan)["incidentRecordArn"]
    settle(server)
    failures = events(owner, incident, FAILED)
    assert [item["reason"] for item in failures] == ["The contact does not exist."]
    assert contacts.list_engagements()["Engagements"] == []
