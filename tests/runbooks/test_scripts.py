"""The child interpreter of aws:executeScript: what a script can see of the server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import fresh_database_url
from tests.runbooks.conftest import OTHER, OWNER
from tests.runbooks.execution_support import create_document, execution, settle
from tocsin.runbooks.scripts import run_script
from tocsin.testing import RunningServer

PROBE = """
import os

def probe(events, context):
    return {
        "settings": sorted(name for name in os.environ if name.startswith("TOCSIN_")),
        "folder": os.getcwd(),
        "files": os.listdir("."),
    }
"""


def test_script_sees_no_server_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_SECRET_KEY", "not-for-scripts")
    monkeypatch.setenv("TOCSIN_DATABASE_URL", "postgresql://secret@127.0.0.1/tocsin")
    outcome = run_script(PROBE, "probe", {}, {}, timeout_seconds=30, memory_bytes=256 * 1024 * 1024)
    assert outcome.error is None
    assert outcome.result["settings"] == []
    assert outcome.result["files"] == []
    assert Path(outcome.result["folder"]) != Path(os.getcwd())
    assert not Path(outcome.result["folder"]).exists()


SCRIPT_DOCUMENT = """\
schemaVersion: '0.3'
mainSteps:
  - name: Probe
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: probe
      Script: |
        def probe(events, context):
            return {"ran": True}
    outputs:
      - Name: Ran
        Selector: $.Payload.ran
        Type: Boolean
"""


def test_scripts_limited_to_listed_accounts(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(
        tmp_path / "home", database_url=url, automation_script_accounts=OWNER
    ) as server:
        outcomes = {}
        for account_id in (OWNER, OTHER):
            ssm = server.client("ssm", server.create_account(account_id=account_id))
            create_document(ssm, "Probe", SCRIPT_DOCUMENT)
            started = ssm.start_automation_execution(DocumentName="Probe")
            settle(server)
            outcomes[account_id] = execution(ssm, started["AutomationExecutionId"])
    allowed, rejected = outcomes[OWNER], outcomes[OTHER]
    assert allowed["AutomationExecutionStatus"] == "Success"
    assert [step["StepStatus"] for step in allowed["StepExecutions"]] == ["Success"]
    assert rejected["AutomationExecutionStatus"] == "Failed"
    (step,) = rejected["StepExecutions"]
    assert step["StepStatus"] == "Failed"
    assert f"disabled for account {OTHER}" in step["FailureMessage"]
    assert "TOCSIN_AUTOMATION_SCRIPT_ACCOUNTS" in step["FailureMessage"]
