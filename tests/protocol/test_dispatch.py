"""The dispatcher through a real server: idempotency tokens, page tokens and error members.

The operations used here are registered by the tests themselves, on the
server's handler table, so that the pipeline is checked before any real
ssm-incidents or ssm-contacts handler exists.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from sqlalchemy.exc import OperationalError

from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.testing import RunningServer


class StartIncidentStub:
    """A StartIncident handler that counts its calls and numbers its incidents."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            number = self.calls
        plan = params["responsePlanArn"].rsplit("/", 1)[-1]
        arn = f"arn:aws:ssm-incidents::{ctx.account_id}:incident-record/{plan}/{number}"
        return {"incidentRecordArn": arn}


@pytest.fixture
def start_incident(server: RunningServer) -> StartIncidentStub:
    stub = StartIncidentStub()
    service = ServiceHandlers("ssm-incidents")
    service.operation("StartIncident")(stub)
    server.runtime.handlers["ssm-incidents"] = service
    return stub


PLAN = "arn:aws:ssm-incidents::111111111111:response-plan/payments"


def test_same_token_returns_first_result(
    server: RunningServer, start_incident: StartIncidentStub
) -> None:
    client = server.client("ssm-incidents", server.create_account(account_id="111111111111"))
    first = client.start_incident(responsePlanArn=PLAN, clientToken="token-1")
    again = client.start_incident(responsePlanArn=PLAN, clientToken="token-1")
    assert again["incidentRecordArn"] == first["incidentRecordArn"]
    assert start_incident.calls == 1


def test_new_token_runs_again(server: RunningServer, start_incident: StartIncidentStub) -> None:
    client = server.client("ssm-incidents", server.create_account(account_id="111111111111"))
    first = client.start_incident(responsePlanArn=PLAN, clientToken="token-1")
    second = client.start_incident(responsePlanArn=PLAN, clientToken="token-2")
    assert second["incidentRecordArn"] != first["incidentRecordArn"]
    assert start_incident.calls == 2


def test_same_token_other_params_conflicts(
    server: RunningServer, start_incident: StartIncidentStub
) -> None:
    client = server.client("ssm-incidents", server.create_account(account_id="111111111111"))
    client.start_incident(responsePlanArn=PLAN, clientToken="token-1")
    with pytest.raises(ClientError) as excinfo:
        client.start_incident(responsePlanArn=PLAN, clientToken="token-1", impact=1)
    error = excinfo.value.response
    assert error["Error"]["Code"] == "ConflictException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "clientToken" in error["Error"]["Message"]
    assert start_incident.calls == 1


def test_token_is_scoped_to_account(
    server: RunningServer, start_incident: StartIncidentStub
) -> None:
    first = server.client("ssm-incidents", server.create_account(account_id="111111111111"))
    second = server.client("ssm-incidents", server.create_account(account_id="222222222222"))
    first.start_incident(responsePlanArn=PLAN, clientToken="shared-token")
    second.start_incident(responsePlanArn=PLAN, clientToken="shared-token")
    assert start_incident.calls == 2


def test_concurrent_same_token_runs_once(
    server: RunningServer, start_incident: StartIncidentStub
) -> None:
    keys = server.create_account(account_id="111111111111")
    clients = [server.client("ssm-incidents", keys) for _ in range(6)]

    def start(client: Any) -> str:
        response = client.start_incident(responsePlanArn=PLAN, clientToken="raced")
        return str(response["incidentRecordArn"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        arns = list(pool.map(start, clients))
    # Requests that lost the race to store the token rolled back and returned
    # the stored result, so every caller sees the same incident.
    assert len(set(arns)) == 1


def test_invalid_page_token_gets_service_code(server: RunningServer) -> None:
    def list_contacts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        scope = f"{ctx.account_id}:ListContacts"
        ctx.runtime.page_tokens.decode(scope, params["NextToken"])
        return {"Contacts": []}

    service = ServiceHandlers("ssm-contacts")
    service.operation("ListContacts")(list_contacts)
    server.runtime.handlers["ssm-contacts"] = service
    client = server.client("ssm-contacts", server.create_account(account_id="111111111111"))
    with pytest.raises(ClientError) as excinfo:
        client.list_contacts(NextToken="forged")
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    assert excinfo.value.response["Error"]["Message"].startswith(
        "Value 'forged' at 'NextToken' was rejected. The pagination token is invalid"
    )
    with pytest.raises(ClientError) as excinfo:
        client.list_contacts(NextToken="x" * 200)
    assert f"Value '{'x' * 24}...' at 'NextToken'" in excinfo.value.response["Error"]["Message"]


def test_validation_error_carries_fields(server: RunningServer) -> None:
    service = ServiceHandlers("ssm-contacts")
    service.operation("ListContacts")(lambda ctx, params: {"Contacts": []})
    server.runtime.handlers["ssm-contacts"] = service
    client = server.client("ssm-contacts", server.create_account(account_id="111111111111"))
    with pytest.raises(ClientError) as excinfo:
        client.list_contacts(AliasPrefix="x" * 300)
    response = excinfo.value.response
    assert response["Error"]["Code"] == "ValidationException"
    assert "aliasPrefix" in response["Error"]["Message"]
    assert response["Reason"] == "FIELD_VALIDATION_FAILED"
    assert response["Fields"][0]["Name"] == "aliasPrefix"


def test_unimplemented_operation_is_unknown(server: RunningServer) -> None:
    client = server.client("ssm", server.create_account(account_id="111111111111"))
    with pytest.raises(ClientError) as excinfo:
        client.describe_instance_information()
    assert excinfo.value.response["Error"]["Code"] == "UnknownOperationException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_tampered_presigned_action_fails_signature(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    sts = server.client("sts", keys)
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=300, HttpMethod="GET")
    assert httpx.get(url).status_code == 200
    tampered = url.replace("Action=GetCallerIdentity", "Action=ListUsers")
    response = httpx.get(tampered)
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text


def test_access_log_names_account_on_error(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = server.client("ssm", server.create_account(account_id="111111111111"))
    with caplog.at_level(logging.INFO, logger="tocsin.access"), pytest.raises(ClientError):
        client.describe_instance_information()
    lines = [record.getMessage() for record in caplog.records if record.name == "tocsin.access"]
    assert any("account=111111111111" in line and "status=400" in line for line in lines)


class ConflictError(Exception):
    """A driver error that carries PostgreSQL's SQLSTATE, as psycopg's errors do."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def test_transaction_conflicts_are_retried(server: RunningServer) -> None:
    calls: list[int] = []

    def start(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        calls.append(len(calls))
        if len(calls) <= 2:
            raise OperationalError("UPDATE ...", {}, ConflictError("40P01"))
        return {"incidentRecordArn": f"{PLAN}/{len(calls)}"}

    service = ServiceHandlers("ssm-incidents")
    service.operation("StartIncident")(start)
    server.runtime.handlers["ssm-incidents"] = service
    client = server.client("ssm-incidents", server.create_account(account_id="111111111111"))
    assert client.start_incident(responsePlanArn=PLAN)["incidentRecordArn"] == f"{PLAN}/3"
    assert len(calls) == 3


def test_other_database_errors_are_not_retried(server: RunningServer) -> None:
    request_ids: list[str] = []

    def start(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        request_ids.append(ctx.request_id)
        raise OperationalError("UPDATE ...", {}, ConflictError("53300"))

    service = ServiceHandlers("ssm-incidents")
    service.operation("StartIncident")(start)
    server.runtime.handlers["ssm-incidents"] = service
    client = server.client("ssm-incidents", server.create_account(account_id="111111111111"))
    with pytest.raises(ClientError) as info:
        client.start_incident(responsePlanArn=PLAN)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # boto3 may send the request again, but the server runs each request once.
    assert request_ids
    assert len(set(request_ids)) == len(request_ids)
