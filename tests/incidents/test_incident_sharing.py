"""Incidents of response plans shared with another account: what the consumer may do."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from tests.incidents.conftest import OTHER, OWNER, TEMPLATE, Tenant, error_of, prepare
from tests.incidents.incident_support import trigger_count
from tocsin.testing import RunningServer

CONSUMER_ACTIONS = [
    f"ssm-incidents:{name}"
    for name in (
        "GetResponsePlan",
        "StartIncident",
        "UpdateIncidentRecord",
        "GetIncidentRecord",
        "CreateTimelineEvent",
        "UpdateTimelineEvent",
        "GetTimelineEvent",
        "ListTimelineEvents",
        "UpdateRelatedItems",
        "ListRelatedItems",
        "DeleteTimelineEvent",
        "DeleteIncidentRecord",
    )
]


def share(owner: Tenant, plan: str) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": CONSUMER_ACTIONS,
        "Resource": [plan, plan.replace("response-plan/", "incident-record/") + "/*"],
    }
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    owner.client.put_resource_policy(resourceArn=plan, policy=document)


@pytest.fixture
def shared_plan(prepared: str, owner: Tenant) -> str:
    plan: str = owner.client.create_response_plan(
        name="shared", incidentTemplate={**TEMPLATE, "incidentTags": {"team": "core"}}
    )["arn"]
    share(owner, plan)
    return plan


def test_consumer_starts_and_works_incident(
    server: RunningServer, owner: Tenant, other: Tenant, shared_plan: str
) -> None:
    arn = other.client.start_incident(responsePlanArn=shared_plan)["incidentRecordArn"]
    assert arn.startswith(f"arn:aws:ssm-incidents::{OWNER}:incident-record/shared/")
    record = other.client.get_incident_record(arn=arn)["incidentRecord"]
    assert record["incidentRecordSource"]["createdBy"].startswith(f"arn:aws:iam::{OTHER}:")
    other.client.update_incident_record(arn=arn, title="From the consumer")
    assert owner.client.get_incident_record(arn=arn)["incidentRecord"]["title"] == (
        "From the consumer"
    )
    event_id = other.client.create_timeline_event(
        incidentRecordArn=arn,
        eventTime=datetime(2025, 1, 1, tzinfo=UTC),
        eventType="Note",
        eventData="seen",
    )["eventId"]
    other.client.update_timeline_event(incidentRecordArn=arn, eventId=event_id, eventData="ok")
    event = other.client.get_timeline_event(incidentRecordArn=arn, eventId=event_id)["event"]
    assert event["eventData"] == "ok"
    assert other.client.list_timeline_events(incidentRecordArn=arn)["eventSummaries"]
    item = {"identifier": {"type": "OTHER", "value": {"url": "https://example.com"}}}
    other.client.update_related_items(incidentRecordArn=arn, relatedItemsUpdate={"itemToAdd": item})
    assert len(other.client.list_related_items(incidentRecordArn=arn)["relatedItems"]) == 1

    # Owner-only operations, even though the policy lists some of them.
    for call in (
        lambda: other.client.delete_timeline_event(incidentRecordArn=arn, eventId=event_id),
        lambda: other.client.list_incident_findings(incidentRecordArn=arn),
        lambda: other.client.delete_incident_record(arn=arn),
        lambda: other.client.list_tags_for_resource(resourceArn=arn),
        lambda: other.client.tag_resource(resourceArn=arn, tags={"a": "b"}),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)["Code"] == "AccessDeniedException"
    assert owner.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "core"}
    assert trigger_count(server, arn) == 1


def test_consumer_lists_shared_incidents(
    server: RunningServer, owner: Tenant, other: Tenant, shared_plan: str
) -> None:
    prepare(server, other)
    own_plan = other.client.create_response_plan(name="own", incidentTemplate=TEMPLATE)["arn"]
    own = other.client.start_incident(responsePlanArn=own_plan)["incidentRecordArn"]
    shared = owner.client.start_incident(responsePlanArn=shared_plan)["incidentRecordArn"]
    private_plan = owner.client.create_response_plan(name="private", incidentTemplate=TEMPLATE)[
        "arn"
    ]
    private = owner.client.start_incident(responsePlanArn=private_plan)["incidentRecordArn"]
    listed = {
        summary["arn"]
        for summary in other.client.list_incident_records()["incidentRecordSummaries"]
    }
    assert listed == {own, shared}
    owner_listed = {
        summary["arn"]
        for summary in owner.client.list_incident_records()["incidentRecordSummaries"]
    }
    assert owner_listed == {shared, private}
    with pytest.raises(ClientError) as excinfo:
        other.client.get_incident_record(arn=private)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
