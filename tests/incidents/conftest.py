"""Fixtures for Incident Manager tests: accounts, their boto3 clients and replication sets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

import tocsin.incidents
from tocsin.engine.clock import FakeClock
from tocsin.incidents.replication import SETTLE_DELAY
from tocsin.testing import Keys, RunningServer

OWNER = "111111111111"
OTHER = "222222222222"
REGION = "us-east-1"


@dataclass
class Tenant:
    """One account of the test server with its ssm-incidents client."""

    keys: Keys
    client: Any

    @property
    def account_id(self) -> str:
        return self.keys.account_id


def advance(server: RunningServer, delta: timedelta) -> None:
    """Move the server's fake clock forward by ``delta``."""
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(delta)


def settle(server: RunningServer, client: Any, arn: str) -> None:
    """Let the pending replication set change finish, then wait until the set is ACTIVE."""
    advance(server, SETTLE_DELAY)
    assert server.runtime.engine is not None
    server.runtime.engine.run_due()
    waiter = client.get_waiter("wait_for_replication_set_active")
    waiter.wait(arn=arn, WaiterConfig={"Delay": 0.02, "MaxAttempts": 250})


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    """Return the parsed error body of a failed boto3 call."""
    response: dict[str, Any] = excinfo.value.response
    return {**response["Error"], **{k: v for k, v in response.items() if k != "Error"}}


# Contacts that the tests' response plans engage; plans may only name existing contacts.
ENGAGED_ALIASES = ("primary", "secondary", "oncall", "test1", "default-schedule")


@pytest.fixture
def owner(server: RunningServer) -> Tenant:
    tocsin.incidents.register(server.runtime.jobs)
    keys = server.create_account(account_id=OWNER)
    contacts = server.client("ssm-contacts", keys, region=REGION)
    for alias in ENGAGED_ALIASES:
        contacts.create_contact(Alias=alias, Type="PERSONAL", Plan={"Stages": []})
    return Tenant(keys, server.client("ssm-incidents", keys, region=REGION))


@pytest.fixture
def other(server: RunningServer) -> Tenant:
    tocsin.incidents.register(server.runtime.jobs)
    keys = server.create_account(account_id=OTHER)
    return Tenant(keys, server.client("ssm-incidents", keys, region=REGION))


def prepare(server: RunningServer, tenant: Tenant, *regions: str) -> str:
    """Create an ACTIVE replication set for ``tenant`` and return its ARN."""
    names = regions or (REGION,)
    arn: str = tenant.client.create_replication_set(regions={name: {} for name in names})["arn"]
    settle(server, tenant.client, arn)
    return arn


@pytest.fixture
def prepared(server: RunningServer, owner: Tenant) -> str:
    """ARN of the owner's ACTIVE replication set in REGION."""
    return prepare(server, owner)


TEMPLATE: dict[str, Any] = {"title": "Checkout is failing", "impact": 2}
