"""API calls of aws:executeAwsApi, aws:waitForAwsResourceProperty and aws:assertAwsResourceProperty.

A call to an operation that Tocsin implements goes to Tocsin's own endpoint,
signed with the run's credentials, so the run's role decides what it may do.
Any other call goes to the endpoint of the ``automation_aws_endpoint_url``
setting, such as a local moto server in tests. Without that setting the step
fails with a message that names the operation and the setting.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

import tocsin

# Seconds that one call may take to connect, and again to receive its response.
CALL_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Credentials:
    """Credentials that a run's calls are signed with."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


@dataclass(frozen=True)
class Endpoints:
    """Endpoints of calls: Tocsin's own, and the one for other services."""

    own_url: str
    other_url: str | None


class CallFailed(Exception):
    """A call that failed; the message names the service, the operation and the error."""


@functools.cache
def own_operations() -> frozenset[tuple[str, str]]:
    """Return every (service, operation) pair that Tocsin's handler modules implement."""
    pairs: set[tuple[str, str]] = set()
    for module in pkgutil.walk_packages(tocsin.__path__, prefix="tocsin."):
        if not module.name.rsplit(".", 1)[-1].endswith("_handlers"):
            continue
        table = importlib.import_module(module.name).handlers
        pairs.update((table.service, operation) for operation in table.operations)
    return frozenset(pairs)


def _plain(value: Any) -> Any:
    """Return a response with timestamps as ISO 8601 text and bytes as text, for JSON storage."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "read"):
        return value.read().decode("utf-8", "replace")
    return value


def call(
    service: str,
    api: str,
    parameters: dict[str, Any],
    *,
    region: str,
    credentials: Credentials | None,
    endpoints: Endpoints,
) -> dict[str, Any]:
    """Call operation ``api`` of ``service`` and return its response without ResponseMetadata."""
    operation = api[0].upper() + api[1:] if "_" not in api else api
    if (service, operation) in own_operations():
        url: str | None = endpoints.own_url
    else:
        url = endpoints.other_url
        if url is None:
            raise CallFailed(
                f"{service}.{operation} is not an operation of Tocsin, and no endpoint is set "
                "for other services; set TOCSIN_AUTOMATION_AWS_ENDPOINT_URL."
            )
    if credentials is None:
        raise CallFailed(
            f"{service}.{operation} needs credentials, but the run has no role to sign with; "
            "pass an AutomationAssumeRole parameter or set assumeRole in the document."
        )
    try:
        client = boto3.session.Session().client(
            service,
            region_name=region,
            endpoint_url=url,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            config=Config(
                retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=CALL_TIMEOUT_SECONDS,
                read_timeout=CALL_TIMEOUT_SECONDS,
            ),
        )
        method = getattr(client, xform_name(operation), None)
        if method is None:
            raise CallFailed(f"{service} has no operation {operation!r}")
        response = method(**parameters)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CallFailed(
            f"{service}.{operation} failed with {error.get('Code')}: {error.get('Message')}"
        ) from exc
    except (BotoCoreError, ValueError) as exc:
        raise CallFailed(f"{service}.{operation} failed: {exc}") from exc
    plain: dict[str, Any] = _plain(response)
    return plain
