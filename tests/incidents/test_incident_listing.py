"""ListIncidentRecords: filters and keyset pagination over 250 incidents."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from tests.incidents.conftest import OWNER, TEMPLATE, Tenant, advance, error_of
from tests.incidents.incident_support import start_directly
from tocsin.testing import RunningServer

COUNT = 250
ALICE = f"arn:aws:iam::{OWNER}:user/alice"
BOB = f"arn:aws:iam::{OWNER}:user/bob"


def test_list_filters_and_pages(server: RunningServer, prepared: str, owner: Tenant) -> None:
    owner.client.create_response_plan(name="bulk", incidentTemplate=TEMPLATE)
    start = server.clock.now()
    arns = []
    for index in range(COUNT):
        advance(server, timedelta(minutes=1))
        arns.append(
            start_directly(server, OWNER, "bulk", ALICE if index % 2 else BOB, impact=index % 5 + 1)
        )
    for arn in arns[:10]:
        owner.client.update_incident_record(arn=arn, status="RESOLVED")

    listed: list[str] = []
    token = None
    for _page in range(COUNT // 100 + 2):
        kwargs = {"nextToken": token} if token else {}
        page = owner.client.list_incident_records(maxResults=100, **kwargs)
        listed += [summary["arn"] for summary in page["incidentRecordSummaries"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert token is None
    assert listed == arns[::-1]

    def listed_arns(*filters: dict[str, object]) -> list[str]:
        summaries = owner.client.list_incident_records(filters=list(filters))[
            "incidentRecordSummaries"
        ]
        return [summary["arn"] for summary in summaries]

    resolved = {"key": "status", "condition": {"equals": {"stringValues": ["RESOLVED"]}}}
    assert listed_arns(resolved) == arns[:10][::-1]
    critical = {"key": "impact", "condition": {"equals": {"integerValues": [1, 2]}}}
    by_bob = {"key": "createdBy", "condition": {"equals": {"stringValues": [BOB]}}}
    expected = [arn for index, arn in enumerate(arns) if index % 5 + 1 in (1, 2) and index % 2 == 0]
    assert listed_arns(critical, by_bob) == expected[::-1]
    after = {"key": "creationTime", "condition": {"after": start + timedelta(minutes=245)}}
    before = {"key": "creationTime", "condition": {"before": start + timedelta(minutes=3)}}
    assert listed_arns(after) == arns[245:][::-1]
    assert listed_arns(before) == arns[:2][::-1]


def test_list_rejects_bad_filters(prepared: str, owner: Tenant) -> None:
    for bad in (
        {"key": "title", "condition": {"equals": {"stringValues": ["x"]}}},
        {"key": "creationTime", "condition": {"equals": {"integerValues": [1]}}},
        {"key": "impact", "condition": {"equals": {"stringValues": ["1"]}}},
        {"key": "status", "condition": {"after": "2025-01-01T00:00:00Z"}},
    ):
        with pytest.raises(ClientError) as excinfo:
            owner.client.list_incident_records(filters=[bad])
        assert error_of(excinfo)["Code"] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        owner.client.list_incident_records(nextToken="not-a-token")
    assert error_of(excinfo)["Code"] == "ValidationException"


def test_list_runs_beside_a_writer(server: RunningServer, prepared: str, owner: Tenant) -> None:
    plan = owner.client.create_response_plan(name="reads", incidentTemplate=TEMPLATE)["arn"]
    arn = owner.client.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    database = server.runtime.database
    with database.engine.connect() as writer:
        # An open write transaction keeps SQLite's write lock until it ends. The
        # reads must not wait for it, or they would block for the busy timeout.
        writer.begin()
        if not database.is_postgresql:
            writer.exec_driver_sql("DELETE FROM idempotency_records WHERE 0")
        started = time.monotonic()
        summaries = owner.client.list_incident_records()["incidentRecordSummaries"]
        record = owner.client.get_incident_record(arn=arn)["incidentRecord"]
        elapsed = time.monotonic() - started
        writer.rollback()
    assert [summary["arn"] for summary in summaries] == [arn]
    assert record["arn"] == arn
    assert elapsed < 5
