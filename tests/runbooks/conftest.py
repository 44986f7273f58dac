"""Fixtures for SSM document tests: two accounts with ssm clients, and the fixture documents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tocsin.testing import Keys, RunningServer

OWNER = "111111111111"
OTHER = "222222222222"
THIRD = "333333333333"
FIXTURES = Path(__file__).parent / "fixtures"

MINIMAL = """\
schemaVersion: '0.3'
description: Wait a little.
parameters:
  Delay:
    type: String
    default: PT1S
    description: How long to wait
mainSteps:
  - name: Wait
    action: aws:sleep
    inputs:
      Duration: '{{ Delay }}'
"""


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    """Return the code, message and HTTP status of a failed boto3 call."""
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


@pytest.fixture
def ssm(server: RunningServer) -> Any:
    """The ssm client of the owner account."""
    return server.client("ssm", server.create_account(account_id=OWNER))


@pytest.fixture
def other_ssm(server: RunningServer) -> Any:
    """The ssm client of a second account."""
    return server.client("ssm", server.create_account(account_id=OTHER))


def create(client: Any, name: str, content: str = MINIMAL, **extra: Any) -> dict[str, Any]:
    """Create an Automation document in YAML and return its DocumentDescription."""
    response = client.create_document(
        Name=name, Content=content, DocumentType="Automation", DocumentFormat="YAML", **extra
    )
    description: dict[str, Any] = response["DocumentDescription"]
    return description


@dataclass
class Tenant:
    """The owner account of execution tests, with its ssm and iam clients."""

    keys: Keys
    ssm: Any
    iam: Any


@pytest.fixture
def tenant(server: RunningServer) -> Tenant:
    keys = server.create_account(account_id=OWNER)
    return Tenant(keys, server.client("ssm", keys), server.client("iam", keys))
