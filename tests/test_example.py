"""The ready example of ``tocsin serve --example``, used as the README shows a new user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest

from tests.console.console_http import ConsoleClient
from tests.test_cli import run_tocsin, serve

AWS = Path(sys.executable).with_name("aws")
EXAMPLE_SECONDS = 60.0


def wait_for_profiles(home: Path, log: Path) -> Path:
    profiles = home / "aws-config"
    deadline = time.monotonic() + EXAMPLE_SECONDS
    while time.monotonic() < deadline:
        if (home / "example.json").exists():
            return profiles
        if "--example:" in log.read_text(errors="replace"):
            break
        time.sleep(0.2)
    pytest.fail(f"the example was not created:\n{log.read_text(errors='replace')}")


def test_example_shares_plan_across_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    with serve(tmp_path, "--home", str(home), "--example") as running:
        profiles = wait_for_profiles(home, running.log)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(profiles))
        monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
        management = boto3.Session(profile_name="tocsin-management")
        application = boto3.Session(profile_name="tocsin-app1")

        plans = application.client("ssm-incidents").list_response_plans()
        (plan,) = plans["responsePlanSummaries"]
        started = application.client("ssm-incidents").start_incident(
            responsePlanArn=plan["arn"], title="disk full"
        )
        incident_arn = started["incidentRecordArn"]
        owner = management.client("sts").get_caller_identity()["Account"]
        assert f"::{owner}:incident-record/" in incident_arn

        incidents = management.client("ssm-incidents").list_incident_records()
        assert [item["arn"] for item in incidents["incidentRecordSummaries"]] == [incident_arn]
        engagements = management.client("ssm-contacts").list_engagements()["Engagements"]
        assert [item["IncidentId"] for item in engagements] == [incident_arn]

        cli = subprocess.run(
            [str(AWS), "--profile", "tocsin-app1", "ssm-incidents", "list-incident-records"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "AWS_CONFIG_FILE": str(profiles)},
            check=False,
        )
        assert cli.returncode == 0, cli.stderr
        summaries = json.loads(cli.stdout)["incidentRecordSummaries"]
        assert [item["arn"] for item in summaries] == [incident_arn]
        assert summaries[0]["title"] == "disk full"

        # Each administrator signs in to the console with the password the example wrote.
        sign_in = home / "console-sign-in.txt"
        assert oct(sign_in.stat().st_mode & 0o777) == "0o600"
        account_id = application.client("sts").get_caller_identity()["Account"]
        (line,) = [line for line in sign_in.read_text().splitlines() if account_id in line]
        password = line.rsplit("password ", 1)[1]
        endpoint = json.loads((home / "example.json").read_text())["endpoint"]
        console = ConsoleClient(SimpleNamespace(url=endpoint))  # type: ignore[arg-type]
        try:
            signed_in = console.sign_in(account_id, "Administrator", password)
            assert signed_in.status_code == 303, signed_in.text
            listing = console.get("/console/")
            assert listing.status_code == 200
            assert "disk full" in listing.text
        finally:
            console.close()

    marker = json.loads((home / "example.json").read_text())
    assert "secret_access_key" not in json.dumps(marker)
    assert "console_password" not in json.dumps(marker)
    # The example is the cross-account set-up that the checklist command verifies.
    management_id, *application_ids = [account["account_id"] for account in marker["accounts"]]
    check = run_tocsin(
        "crossaccount",
        "setup",
        "--management",
        management_id,
        "--applications",
        ",".join(application_ids),
        "--check",
        "--home",
        str(home),
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "missing" not in check.stdout
    assert oct(profiles.stat().st_mode & 0o777) == "0o600"

    with serve(tmp_path, "--home", str(home), "--example", name="again") as running:
        time.sleep(0.5)
        log = running.stderr()
    assert "export AWS_CONFIG_FILE=" in log
    assert "Example ready" not in log


def test_demo_resolves_cross_account_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo runs on the real clock, sped up so that the runbook's sleep is short."""
    home = tmp_path / "home"
    with serve(
        tmp_path, "--home", str(home), "--example", env={"TOCSIN_CLOCK_SPEED": "10"}
    ) as running:
        profiles = wait_for_profiles(home, running.log)
        demo = run_tocsin("demo", "--home", str(home), "--wait", "60")
        assert demo.returncode == 0, demo.stdout + demo.stderr
        for headline in (
            "goes into ALARM",
            "incident opened",
            "engages the escalation plan",
            "runbook runs",
            "acknowledges the page",
            "resolves the incident",
        ):
            assert headline in demo.stdout
        arn = demo.stdout.rsplit("Done: incident ", 1)[1].split(" ", 1)[0]

        monkeypatch.setenv("AWS_CONFIG_FILE", str(profiles))
        application = boto3.Session(profile_name="tocsin-app1")
        management = boto3.Session(profile_name="tocsin-management")
        record = application.client("ssm-incidents").get_incident_record(arn=arn)
        source = record["incidentRecord"]["incidentRecordSource"]
        contacts = management.client("ssm-contacts")
        engagements = contacts.list_engagements(IncidentId=arn)["Engagements"]
        pages = contacts.list_pages_by_engagement(EngagementId=engagements[0]["EngagementArn"])
        described = contacts.describe_page(PageId=pages["Pages"][0]["PageArn"])
    assert record["incidentRecord"]["status"] == "RESOLVED"
    assert source["source"] == "aws.events"
    assert "ReadTime" in described
