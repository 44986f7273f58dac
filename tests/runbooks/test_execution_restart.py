"""Runs survive a server restart: sleeps, approval waits and steps a stopped worker left behind.

Restarts run on SQLite only, because the state they rely on is ordinary rows
that both backends store alike. Job claims behave alike on both too.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_database_url
from tests.runbooks.conftest import OWNER
from tests.runbooks.execution_support import create_document, execution, settle, statuses
from tocsin.engine.clock import FakeClock
from tocsin.engine.worker import Engine
from tocsin.testing import Keys, RunningServer

SLEEPY = """\
schemaVersion: '0.3'
mainSteps:
  - name: Nap
    action: aws:sleep
    inputs:
      Duration: PT10M
  - name: Approve
    action: aws:approve
    inputs:
      Approvers: ['{{ Approver }}']
  - name: Done
    action: aws:sleep
    inputs:
      Duration: PT0S
parameters:
  Approver:
    type: String
"""


def _approver(server: RunningServer, keys: Keys) -> tuple[str, Keys]:
    iam = server.client("iam", keys)
    arn: str = iam.create_user(UserName="approver")["User"]["Arn"]
    policy = {"Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="approver", PolicyName="ssm", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="approver")["AccessKey"]
    return arn, Keys(key["AccessKeyId"], key["SecretAccessKey"], None, OWNER)


def test_sleep_and_approval_survive_restarts(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    home = tmp_path / "home"
    with RunningServer(home, database_url=url) as server:
        keys = server.create_account(account_id=OWNER)
        approver, approver_keys = _approver(server, keys)
        ssm = server.client("ssm", keys)
        create_document(ssm, "Sleepy", SLEEPY)
        execution_id = ssm.start_automation_execution(
            DocumentName="Sleepy", Parameters={"Approver": [approver]}
        )["AutomationExecutionId"]
        settle(server)
        assert statuses(execution(ssm, execution_id)) == [("Nap", "InProgress")]
        started = server.clock.now()

    # The sleep ended while no server ran; its timer is a row in the database.
    later = FakeClock(started + timedelta(minutes=11))
    with RunningServer(home, database_url=url, clock=later) as restarted:
        settle(restarted)
        ssm = restarted.client("ssm", keys)
        waiting = execution(ssm, execution_id)
        assert statuses(waiting) == [("Nap", "Success"), ("Approve", "Waiting")]
        assert waiting["AutomationExecutionStatus"] == "Waiting"

    # The approval wait has no job at all; a new server still takes the decision.
    with RunningServer(home, database_url=url, clock=FakeClock(later.now())) as again:
        again.client("ssm", approver_keys).send_automation_signal(
            AutomationExecutionId=execution_id, SignalType="Approve"
        )
        settle(again)
        done = execution(again.client("ssm", keys), execution_id)
        assert done["AutomationExecutionStatus"] == "Success"
        assert statuses(done)[-1] == ("Done", "Success")


SCRIPT_THEN_WAIT = """\
schemaVersion: '0.3'
mainSteps:
  - name: Change
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: handler
      Script: |-
        def handler(events, context):
            return {}
"""


def test_step_of_stopped_worker_fails(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url, workers=0) as server:
        # No background worker runs, so this engine alone claims the jobs.
        runtime = server.runtime
        engine = Engine(runtime.database, server.clock, runtime.jobs, server.settings, workers=0)
        ssm: Any = server.client("ssm", server.create_account(account_id=OWNER))
        create_document(ssm, "Once", SCRIPT_THEN_WAIT)
        execution_id = ssm.start_automation_execution(DocumentName="Once")["AutomationExecutionId"]
        # The first job prepares the script step and enqueues its call.
        prepare = engine.claim(10)
        assert [claim.kind for claim in prepare] == ["runbooks.run_step"]
        assert engine.execute(prepare[0]) == "done"

        # A worker claims the call and stops before it records anything.
        abandoned = engine.claim(10, owner="stopped-worker")
        assert [claim.kind for claim in abandoned] == ["runbooks.call_step"]
        assert isinstance(server.clock, FakeClock)
        server.clock.advance(timedelta(seconds=engine.lease_seconds + 1))
        engine.run_due()

        found = execution(ssm, execution_id)
        assert statuses(found) == [("Change", "Failed")]
        message = found["StepExecutions"][0]["FailureMessage"]
        assert "worker stopped during step Change" in message
        assert found["AutomationExecutionStatus"] == "Failed"


ASSERTION = """\
schemaVersion: '0.3'
mainSteps:
  - name: Check
    action: aws:assertAwsResourceProperty
    inputs:
      Service: sts
      Api: GetCallerIdentity
      PropertySelector: $.Account
      DesiredValues: ['111111111111']
"""


def test_read_only_step_runs_again(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url, workers=0) as server:
        runtime = server.runtime
        engine = Engine(runtime.database, server.clock, runtime.jobs, server.settings, workers=0)
        ssm: Any = server.client("ssm", server.create_account(account_id=OWNER))
        create_document(ssm, "Assert", ASSERTION)
        execution_id = ssm.start_automation_execution(DocumentName="Assert")[
            "AutomationExecutionId"
        ]
        prepare = engine.claim(10)
        assert engine.execute(prepare[0]) == "done"
        abandoned = engine.claim(10, owner="stopped-worker")
        assert [claim.kind for claim in abandoned] == ["runbooks.call_step"]
        assert isinstance(server.clock, FakeClock)
        server.clock.advance(timedelta(seconds=engine.lease_seconds + 1))
        engine.run_due()

        found = execution(ssm, execution_id)
        assert statuses(found) == [("Check", "Success")]
        assert found["AutomationExecutionStatus"] == "Success"
