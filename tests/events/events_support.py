"""Fixtures of the EventBridge tests: accounts with clients, response plans and job draining."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import func, select

import tocsin.incidents
from tests.incidents.conftest import settle
from tocsin.engine.jobs import OPEN_STATUSES, Job
from tocsin.testing import Keys, RunningServer

REGION = "us-east-1"
CASES = Path(__file__).parent / "fixtures"
ALARM_EVENT_FILE = "eb-state-change-single-metric-alarm.json"
ALARM_PATTERN = {
    "source": ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm State Change"],
    "detail": {"state": {"value": ["ALARM"]}},
}


def load_case(name: str) -> Any:
    return json.loads((CASES / name).read_text())


@dataclass
class Account:
    """One account of the test server and its boto3 clients."""

    server: RunningServer
    keys: Keys
    clients: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.keys.account_id

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = self.server.client(service, self.keys, region=REGION)
        return self.clients[service]

    @property
    def events(self) -> Any:
        return self.client("events")

    @property
    def incidents(self) -> Any:
        return self.client("ssm-incidents")


def new_account(server: RunningServer, account_id: str | None = None) -> Account:
    tocsin.incidents.register(server.runtime.jobs)
    return Account(server, server.create_account(account_id=account_id))


@pytest.fixture
def application(server: RunningServer) -> Account:
    return new_account(server, "222233334444")


@pytest.fixture
def management(server: RunningServer) -> Account:
    return new_account(server, "111122223333")


def create_plan(account: Account, name: str = "checkout") -> str:
    """Create an ACTIVE replication set (once) and a response plan; return the plan ARN."""
    if not account.incidents.list_replication_sets()["replicationSetArns"]:
        arn = account.incidents.create_replication_set(regions={REGION: {}})["arn"]
        settle(account.server, account.incidents, arn)
    plan: str = account.incidents.create_response_plan(
        name=name, incidentTemplate={"title": "Checkout is failing", "impact": 2}
    )["arn"]
    return plan


def open_event_jobs(server: RunningServer) -> int:
    with server.runtime.database.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.kind.like("events.%"), Job.status.in_(OPEN_STATUSES))
        )
    return int(count or 0)


def drain(server: RunningServer, timeout: float = 60.0) -> None:
    """Run due jobs until no event job is open; the background worker may run some of them."""
    engine = server.runtime.engine
    assert engine is not None
    deadline = time.monotonic() + timeout
    while True:
        engine.run_due(limit=100_000)
        if open_event_jobs(server) == 0:
            engine.run_due(limit=100_000)
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"event jobs still open after {timeout} s")
        time.sleep(0.01)


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    """Return the code, HTTP status and message of a failed boto3 call."""
    response: dict[str, Any] = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def incident_records(account: Account) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = account.incidents.list_incident_records()[
        "incidentRecordSummaries"
    ]
    return summaries


def alarm_entry(event: dict[str, Any]) -> dict[str, Any]:
    """Return a PutEvents entry with the fields of ``event`` (a full EventBridge event)."""
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event["resources"],
    }
