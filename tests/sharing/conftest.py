"""Fixtures of the Organizations and RAM tests: accounts with their clients, plans and contacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

import tocsin.incidents
from tests.incidents.conftest import settle
from tocsin.testing import Keys, RunningServer

REGION = "us-east-1"


@dataclass
class Party:
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
    def org(self) -> Any:
        return self.client("organizations")

    @property
    def ram(self) -> Any:
        return self.client("ram")

    @property
    def incidents(self) -> Any:
        return self.client("ssm-incidents")

    @property
    def contacts(self) -> Any:
        return self.client("ssm-contacts")


def new_party(server: RunningServer, name: str) -> Party:
    tocsin.incidents.register(server.runtime.jobs)
    return Party(server, server.create_account(name=name))


def error(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    """Return the code, HTTP status and message of a failed boto3 call."""
    response: dict[str, Any] = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def create_plan(party: Party, name: str = "checkout") -> str:
    """Create an ACTIVE replication set (once) and a response plan; return the plan ARN."""
    if not party.incidents.list_replication_sets()["replicationSetArns"]:
        arn = party.incidents.create_replication_set(regions={REGION: {}})["arn"]
        settle(party.server, party.incidents, arn)
    plan: str = party.incidents.create_response_plan(
        name=name, incidentTemplate={"title": "Checkout is failing", "impact": 2}
    )["arn"]
    return plan


def create_contact(party: Party, alias: str = "oncall-lead") -> str:
    arn: str = party.contacts.create_contact(
        Alias=alias, Type="PERSONAL", Plan={"Stages": []}, DisplayName="On-call lead"
    )["ContactArn"]
    return arn


@pytest.fixture
def management(server: RunningServer) -> Party:
    return new_party(server, "management")


@pytest.fixture
def application(server: RunningServer) -> Party:
    return new_party(server, "application")
