"""The public runbooks in tests/runbooks/fixtures run to their expected status.

SQLite only: these runs exercise actions, not the backend.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import fresh_database_url
from tests.runbooks.conftest import OWNER, fixture_text
from tests.runbooks.execution_support import (
    advance,
    create_document,
    execution,
    make_role,
    run,
    settle,
    statuses,
)
from tocsin.testing import Keys, RunningServer


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url) as running:
        yield running


@pytest.fixture
def keys(server: RunningServer) -> Keys:
    return server.create_account(account_id=OWNER)


class _ManagedNodes(BaseHTTPRequestHandler):
    """SSM's DescribeInstanceInformation for an account without managed nodes."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Amz-Target") == "AmazonSSM.DescribeInstanceInformation":
            status, body = 200, {"InstanceInformationList": []}
        else:
            status, body = 400, {"__type": "UnknownOperationException", "message": "unknown"}
        encoded = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def nodes_url() -> Iterator[str]:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _ManagedNodes)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{receiver.server_address[1]}"
    receiver.shutdown()
    receiver.server_close()


def test_branch_default_sleep(
    request: pytest.FixtureRequest, tmp_path: Path, nodes_url: str
) -> None:
    """DescribeInstanceInformation goes to the endpoint for other services, here a receiver
    that plays SSM for an account without managed nodes, because Tocsin hosts none."""
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(
        tmp_path / "home", database_url=url, automation_aws_endpoint_url=nodes_url
    ) as server:
        ssm = server.client("ssm", server.create_account(account_id=OWNER))
        content = fixture_text("ssmdocs-aws-branch-output-variable-default-sleep.yaml")
        create_document(ssm, "BranchDefault", content)
        execution_id = run(server, ssm, "BranchDefault")["AutomationExecutionId"]
        # No managed node exists, so neither choice matches and the branch takes its Default.
        advance(server, seconds=4)
        found = execution(ssm, execution_id)
        assert statuses(found) == [
            ("GetInstance", "Success"),
            ("ChooseOSforCommands", "Success"),
            ("Sleep", "Success"),
        ]
        assert found["AutomationExecutionStatus"] == "Success"


def test_critical_incident_template(server: RunningServer, keys: Keys) -> None:
    ssm = server.client("ssm", keys)
    create_document(
        ssm, "Critical", fixture_text("AWSIncidents-CriticalIncidentRunbookTemplate.yaml")
    )
    parameters = {"Environment": ["prod"], "incidentARN": ["arn"], "resources": ["none"]}
    execution_id = run(server, ssm, "Critical", Parameters=parameters)["AutomationExecutionId"]
    for step in ("Triage", "Diagnosis", "Mitigation", "Recovery"):
        found = execution(ssm, execution_id)
        assert found["CurrentStepName"] == step
        assert found["AutomationExecutionStatus"] == "Waiting"
        ssm.send_automation_signal(AutomationExecutionId=execution_id, SignalType="Resume")
        settle(server)
    assert execution(ssm, execution_id)["AutomationExecutionStatus"] == "Success"


def _role(server: RunningServer, keys: Keys) -> str:
    return make_role(server.client("iam", keys), "ApprovalRole")


def test_approve_example_rejects_foreign_approver(server: RunningServer, keys: Keys) -> None:
    ssm = server.client("ssm", keys)
    create_document(ssm, "ApproveExample", fixture_text("ssmdocs-aws-approve-example.yaml"))
    parameters = {"assumeRole": [_role(server, keys)], "message": ["Go?"]}
    found = run(server, ssm, "ApproveExample", Parameters=parameters)
    # The example's approver is not an ARN of this account, so no approval could arrive.
    assert statuses(found) == [("approve", "Failed")]
    assert "arn:aws:iam::12345678901:user/AWS-User-1" in found["FailureMessage"]
    assert found["AutomationExecutionStatus"] == "Failed"


def test_approve_example_after_approval(server: RunningServer, keys: Keys) -> None:
    ssm = server.client("ssm", keys)
    admin = server.client("sts", keys).get_caller_identity()["Arn"]
    content = fixture_text("ssmdocs-aws-approve-example.yaml").replace(
        "arn:aws:iam::12345678901:user/AWS-User-1", admin
    )
    create_document(ssm, "ApproveExample", content)
    parameters = {"assumeRole": [_role(server, keys)], "message": ["Go?"]}
    execution_id = run(server, ssm, "ApproveExample", Parameters=parameters)[
        "AutomationExecutionId"
    ]
    ssm.send_automation_signal(AutomationExecutionId=execution_id, SignalType="Approve")
    settle(server)
    found = execution(ssm, execution_id)
    # aws:runCommand needs managed nodes, which Tocsin does not host.
    assert statuses(found) == [("approve", "Success"), ("run", "Failed")]
    assert "aws:runCommand" in found["FailureMessage"]
    assert found["AutomationExecutionStatus"] == "Failed"
