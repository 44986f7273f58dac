"""Fixtures of the CloudWatch alarm tests: accounts with clients, the clock and job runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import func, select

from tests.notify.conftest import HttpReceiver
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import OPEN_STATUSES, Job
from tocsin.testing import Keys, RunningServer

REGION = "us-east-1"
MANAGEMENT = "111111111111"
APPLICATION = "222222222222"
NAMESPACE = "Shop"


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
    def cloudwatch(self) -> Any:
        return self.client("cloudwatch")


@pytest.fixture
def alarm_server(server: RunningServer) -> RunningServer:
    """The running server with its fake clock moved to the next whole hour.

    Every period of one hour or less then starts at the clock's time.
    """
    assert isinstance(server.clock, FakeClock)
    now = server.clock.now()
    hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    server.clock.advance(hour - now)
    return server


@pytest.fixture
def app(alarm_server: RunningServer) -> Account:
    """An application account that owns alarms."""
    return Account(alarm_server, alarm_server.create_account(account_id=APPLICATION))


@pytest.fixture
def management(alarm_server: RunningServer) -> Account:
    """A management account that owns response plans."""
    return Account(alarm_server, alarm_server.create_account(account_id=MANAGEMENT))


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    running = HttpReceiver().start()
    yield running
    running.stop()


def advance(server: RunningServer, seconds: float) -> None:
    """Move the fake clock forward and run every job that became due."""
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(timedelta(seconds=seconds))
    run_jobs(server)


def _due_jobs(server: RunningServer) -> int:
    with server.runtime.database.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.status.in_(OPEN_STATUSES), Job.due_at <= server.clock.now())
        )
    return int(count or 0)


def run_jobs(server: RunningServer, timeout: float = 30.0) -> None:
    """Run due jobs until none is left; the background worker may run some of them."""
    engine = server.runtime.engine
    assert engine is not None
    deadline = time.monotonic() + timeout
    while True:
        engine.run_due()
        if _due_jobs(server) == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still due after {timeout} s")
        time.sleep(0.01)


def put_value(account: Account, metric: str, value: float, **extra: Any) -> None:
    account.cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[{"MetricName": metric, "Value": value, **extra}],
    )


def put_alarm(account: Account, name: str, **overrides: Any) -> None:
    """Put a one-minute Maximum alarm on metric Latency > 100, with ``overrides``.

    An override of None removes that member.
    """
    params: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": NAMESPACE,
        "MetricName": "Latency",
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 100.0,
        "ComparisonOperator": "GreaterThanThreshold",
        **overrides,
    }
    account.cloudwatch.put_metric_alarm(
        **{key: value for key, value in params.items() if value is not None}
    )


def state_of(account: Account, name: str) -> str:
    alarms = account.cloudwatch.describe_alarms(
        AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    found = alarms["MetricAlarms"] + alarms["CompositeAlarms"]
    assert len(found) == 1, found
    state: str = found[0]["StateValue"]
    return state


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = excinfo.value.response
    return {**response["Error"], "Status": response["ResponseMetadata"]["HTTPStatusCode"]}


def history(account: Account, name: str, item_type: str, **extra: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = account.cloudwatch.describe_alarm_history(
        AlarmName=name, HistoryItemType=item_type, **extra
    )["AlarmHistoryItems"]
    return items


def jobs_of(server: RunningServer, kind: str) -> list[Job]:
    with server.runtime.database.session() as session:
        found = list(session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))
        session.expunge_all()
    return found


def reason_data(account: Account, name: str) -> dict[str, Any]:
    alarm = account.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    data: dict[str, Any] = json.loads(alarm["StateReasonData"])
    return data
