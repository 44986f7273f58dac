"""Timeline events and related items of incidents through boto3."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.incidents.conftest import OWNER, TEMPLATE, Tenant, error_of

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BUCKET = "arn:aws:s3:::checkout-assets"


@pytest.fixture
def incident(prepared: str, owner: Tenant) -> str:
    plan = owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE)["arn"]
    arn: str = owner.client.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    return arn


def listed_event_ids(owner: Tenant, arn: str, **kwargs: object) -> list[str]:
    summaries = owner.client.list_timeline_events(incidentRecordArn=arn, **kwargs)["eventSummaries"]
    return [summary["eventId"] for summary in summaries]


def test_timeline_event_lifecycle(owner: Tenant, incident: str) -> None:
    created = owner.client.create_timeline_event(
        incidentRecordArn=incident,
        eventTime=T0,
        eventType="Note",
        eventData="Rolled back the deploy",
        eventReferences=[{"resource": incident}],
    )
    assert created["incidentRecordArn"] == incident
    event_id = created["eventId"]
    event = owner.client.get_timeline_event(incidentRecordArn=incident, eventId=event_id)["event"]
    assert event["eventData"] == "Rolled back the deploy"
    assert event["eventType"] == "Note"
    assert event["eventTime"] == T0
    assert event["eventReferences"] == [{"resource": incident}]

    owner.client.update_timeline_event(
        incidentRecordArn=incident,
        eventId=event_id,
        eventType="Custom Event",
        eventData="Rolled back v42",
        eventReferences=[{"relatedItemId": "related-item/OTHER/" + "A" * 32}],
    )
    event = owner.client.get_timeline_event(incidentRecordArn=incident, eventId=event_id)["event"]
    assert event["eventData"] == "Rolled back v42"
    assert event["eventType"] == "Custom Event"
    assert event["eventReferences"] == [{"relatedItemId": "related-item/OTHER/" + "A" * 32}]

    owner.client.delete_timeline_event(incidentRecordArn=incident, eventId=event_id)
    with pytest.raises(ClientError) as excinfo:
        owner.client.get_timeline_event(incidentRecordArn=incident, eventId=event_id)
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFoundException"
    assert error["resourceType"] == "TIMELINE_EVENT"
    # Deleting a missing event succeeds: the operation is idempotent.
    owner.client.delete_timeline_event(incidentRecordArn=incident, eventId=event_id)


def test_timeline_rejects_system_types(owner: Tenant, incident: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        owner.client.create_timeline_event(
            incidentRecordArn=incident,
            eventTime=T0,
            eventType="SSM Incident Trigger",
            eventData="{}",
        )
    assert error_of(excinfo)["Code"] == "ValidationException"
    system_event = listed_event_ids(owner, incident)[0]
    with pytest.raises(ClientError) as excinfo:
        owner.client.update_timeline_event(
            incidentRecordArn=incident, eventId=system_event, eventData="changed"
        )
    assert error_of(excinfo)["Code"] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        owner.client.delete_timeline_event(incidentRecordArn=incident, eventId=system_event)
    assert error_of(excinfo)["Code"] == "ValidationException"


def test_timeline_filters_and_order(owner: Tenant, incident: str) -> None:
    ids = []
    for offset, event_type in enumerate(["Note", "Custom Event", "Note"]):
        ids.append(
            owner.client.create_timeline_event(
                incidentRecordArn=incident,
                eventTime=T0 + timedelta(minutes=offset),
                eventType=event_type,
                eventData=f"event {offset}",
                eventReferences=[{"resource": BUCKET}] if offset == 1 else [],
            )["eventId"]
        )

    notes = [{"key": "eventType", "condition": {"equals": {"stringValues": ["Note"]}}}]
    assert listed_event_ids(owner, incident, filters=notes) == [ids[0], ids[2]]
    assert listed_event_ids(owner, incident, filters=notes, sortOrder="DESCENDING") == [
        ids[2],
        ids[0],
    ]

    window = [
        {"key": "eventTime", "condition": {"after": T0}},
        {"key": "eventTime", "condition": {"before": T0 + timedelta(minutes=5)}},
    ]
    assert listed_event_ids(owner, incident, filters=window, sortBy="EVENT_TIME") == ids[1:]
    references = [{"key": "eventReference", "condition": {"equals": {"stringValues": [BUCKET]}}}]
    assert listed_event_ids(owner, incident, filters=references) == [ids[1]]

    first = owner.client.list_timeline_events(incidentRecordArn=incident, maxResults=2)
    second = owner.client.list_timeline_events(
        incidentRecordArn=incident, maxResults=2, nextToken=first["nextToken"]
    )
    # Two system events (creation and trigger) and the three added here.
    assert len(first["eventSummaries"]) + len(second["eventSummaries"]) == 4

    for bad in (
        [{"key": "severity", "condition": {"equals": {"stringValues": ["x"]}}}],
        [{"key": "eventTime", "condition": {"equals": {"stringValues": ["x"]}}}],
        [{"key": "eventType", "condition": {"before": T0}}],
        [{"key": "eventType", "condition": {"equals": {"integerValues": [1]}}}],
    ):
        with pytest.raises(ClientError) as excinfo:
            owner.client.list_timeline_events(incidentRecordArn=incident, filters=bad)
        assert error_of(excinfo)["Code"] == "ValidationException"


def test_related_items_add_list_remove(owner: Tenant, incident: str) -> None:
    identifiers = [
        {"type": "INVOLVED_RESOURCE", "value": {"arn": BUCKET}},
        {"type": "ATTACHMENT", "value": {"url": "https://example.com/runbook"}},
        {"type": "METRIC", "value": {"metricDefinition": '{"metric": "Errors"}'}},
        {"type": "INCIDENT", "value": {"pagerDutyIncidentDetail": {"id": "PD1"}}},
        {"type": "ANALYSIS", "value": {"url": "https://example.com/analysis"}},
        {"type": "PARENT", "value": {"arn": f"arn:aws:ssm:us-east-1:{OWNER}:opsitem/oi-1"}},
        {"type": "OTHER", "value": {"url": "https://example.com/other"}},
        {"type": "AUTOMATION", "value": {"arn": f"arn:aws:ssm:us-east-1:{OWNER}:automation"}},
        {"type": "TASK", "value": {"url": "https://example.com/task"}},
    ]
    for identifier in identifiers:
        owner.client.update_related_items(
            incidentRecordArn=incident,
            relatedItemsUpdate={"itemToAdd": {"identifier": identifier, "title": "t"}},
        )
    items = owner.client.list_related_items(incidentRecordArn=incident)["relatedItems"]
    assert [item["identifier"] for item in items] == identifiers
    for item in items:
        kind = item["identifier"]["type"]
        assert re.match(rf"^related-item/{kind}/[0-9A-F]{{32}}$", item["generatedId"])
    page = owner.client.list_related_items(incidentRecordArn=incident, maxResults=5)
    rest = owner.client.list_related_items(
        incidentRecordArn=incident, maxResults=5, nextToken=page["nextToken"]
    )
    assert len(page["relatedItems"]) + len(rest["relatedItems"]) == len(identifiers)

    with pytest.raises(ClientError) as excinfo:
        owner.client.update_related_items(
            incidentRecordArn=incident,
            relatedItemsUpdate={"itemToAdd": {"identifier": identifiers[0]}},
        )
    assert error_of(excinfo)["Code"] == "ConflictException"

    owner.client.update_related_items(
        incidentRecordArn=incident, relatedItemsUpdate={"itemToRemove": identifiers[0]}
    )
    remaining = owner.client.list_related_items(incidentRecordArn=incident)["relatedItems"]
    assert len(remaining) == len(identifiers) - 1
    with pytest.raises(ClientError) as excinfo:
        owner.client.update_related_items(
            incidentRecordArn=incident, relatedItemsUpdate={"itemToRemove": identifiers[0]}
        )
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    changes = [
        {"key": "eventType", "condition": {"equals": {"stringValues": ["SSM Related Item Update"]}}}
    ]
    assert len(listed_event_ids(owner, incident, filters=changes)) == len(identifiers) + 1
