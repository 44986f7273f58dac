"""The ready example's cross-account incident, end to end on the fake clock.

The test builds the example of ``tocsin serve --example`` on an in-process
server whose clock moves only when the test advances it. Then it drives an
incident the way docs/getting-started.md does. Application account 1's alarm
goes into ALARM, and the management account's rule starts an incident with the
shared response plan. The escalation plan pages the on-call responder, then
the next stage on schedule. One page is acknowledged through the link in its
email and one with ``aws ssm-contacts accept-page``, and the management account
resolves the incident. A second incident, from application account 2, shows
that acknowledging the on-call page keeps the next stage from starting.
Clients are boto3 and the AWS CLI, which runs as a separate process with the
profiles file that the example writes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.contacts.engagement_support import advance, settle
from tests.test_cli import run_tocsin
from tocsin import example
from tocsin.engine.clock import FakeClock
from tocsin.notify.outbox import list_outbox
from tocsin.testing import RunningServer

AWS = Path(sys.executable).with_name("aws")
ACK_LINK = re.compile(r"Acknowledge: (http://\S+/ack/[A-Za-z0-9_-]+)")
ACCEPT_CODE = re.compile(r"Accept code: (\d{6})")
# Environment variables that would make the AWS CLI ignore or override the profiles file.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)


# The example's escalation plan: the on-call schedule, then bob after this many minutes.
STAGE_MINUTES = 5


@dataclass(frozen=True)
class Setting:
    """The built example on the test server, with the profiles file and boto3 sessions."""

    server: RunningServer
    built: example.Example
    profiles: Path
    management: boto3.Session
    # Sessions of application accounts 1 and 2, in the example's order.
    applications: list[boto3.Session]

    def aws(self, profile: str, *arguments: str) -> Any:
        """Run the AWS CLI with ``profile`` of the profiles file and return its JSON output."""
        env = {name: value for name, value in os.environ.items() if name not in AWS_VARIABLES}
        env["AWS_CONFIG_FILE"] = str(self.profiles)
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.profiles.with_name("no-credentials"))
        result = subprocess.run(
            [str(AWS), "--profile", profile, "--output", "json", *arguments],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert result.returncode == 0, f"aws {' '.join(arguments)}: {result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else None

    def outbox(self) -> list[dict[str, str]]:
        """Return the development outbox's messages, newest first, as ``tocsin outbox`` prints."""
        settings = self.server.settings
        assert settings.database_url is not None
        result = run_tocsin(
            "outbox",
            "--json",
            "--limit",
            "100",
            "--database-url",
            settings.database_url,
            "--home",
            str(settings.home),
        )
        assert result.returncode == 0, result.stderr
        messages: list[dict[str, str]] = json.loads(result.stdout)
        return messages

    def resource(self, name: str) -> str:
        return self.built.resources[name]

    def client(self, service: str) -> Any:
        """Return a boto3 client of the management account."""
        return self.management.client(service)


def activation_code_reader(server: RunningServer) -> Callable[[str], str]:
    """Return a reader of a channel's activation code that runs the due jobs first."""

    def read(channel_arn: str) -> str:
        settle(server)
        with server.runtime.database.session() as session:
            messages = list_outbox(session, channel_arn=channel_arn, limit=1)
            body = messages[0].body if messages else ""
        code = example.code_from_message(body)
        assert code is not None, f"no activation code for {channel_arn} in the outbox"
        return code

    return read


@pytest.fixture
def setting(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Setting:
    """The ready example, built through the API on the fake-clock server."""
    built = example.Example(server.url, example.REGION, example.create_accounts(server.runtime))
    example.build(
        built,
        activation_code_reader(server),
        example.cross_account_setup(server.runtime),
        pause=lambda: advance(server, seconds=1),
    )
    profiles = server.settings.home / example.PROFILE_FILE
    example.write_profiles(profiles, built)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(profiles))
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return Setting(
        server,
        built,
        profiles,
        boto3.Session(profile_name="tocsin-management"),
        [boto3.Session(profile_name=account.profile) for account in built.applications],
    )


def page_message(messages: list[dict[str, str]], page_arn: str) -> dict[str, str]:
    """Return the outbox message that delivered the page ``page_arn``."""
    page_id = page_arn.rsplit("/", 1)[-1]
    found = [message for message in messages if page_id in (message["Key"] or "")]
    assert len(found) == 1, f"{len(found)} outbox messages for page {page_arn}"
    return found[0]


def first_match(pattern: re.Pattern[str], body: str) -> str:
    found = pattern.search(body)
    assert found is not None, f"no {pattern.pattern!r} in:\n{body}"
    return found.group(1)


def timeline_data(client: Any, incident_arn: str, event_type: str) -> list[dict[str, Any]]:
    """Return the data of the incident's timeline events of ``event_type``, oldest first."""
    summaries = client.list_timeline_events(
        incidentRecordArn=incident_arn, sortOrder="ASCENDING", maxResults=100
    )["eventSummaries"]
    data = []
    for summary in summaries:
        if summary["eventType"] != event_type:
            continue
        event = client.get_timeline_event(
            incidentRecordArn=incident_arn, eventId=summary["eventId"]
        )["event"]
        data.append(json.loads(event["eventData"]))
    return data


def on_call_contact(setting: Setting) -> str:
    """Return the contact that the example's rotation has on call now, through the API."""
    now = setting.server.clock.now()
    shifts = setting.client("ssm-contacts").list_rotation_shifts(
        RotationId=setting.resource("Rotation"), StartTime=now, EndTime=now + timedelta(minutes=1)
    )["RotationShifts"]
    assert shifts, "the example's rotation has nobody on call"
    contact: str = shifts[0]["ContactIds"][0]
    return contact


def pages_of(setting: Setting, engagement_arn: str) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = setting.client("ssm-contacts").list_pages_by_engagement(
        EngagementId=engagement_arn
    )["Pages"]
    return pages


def raise_alarm(setting: Setting, application: int) -> str:
    """Put the alarm of application account ``application`` (1 or 2) into ALARM.

    Returns the incident that the management account's rule starts for it.
    """
    state = example.load_sample()["detail"]["state"]
    cloudwatch = setting.applications[application - 1].client("cloudwatch")
    cloudwatch.set_alarm_state(
        AlarmName=setting.resource("Alarm"),
        StateValue="ALARM",
        StateReason=state["reason"],
        StateReasonData=state["reasonData"],
    )
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[setting.resource("Alarm")])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    settle(setting.server)

    incidents = setting.client("ssm-incidents")
    open_only = [{"key": "status", "condition": {"equals": {"stringValues": ["OPEN"]}}}]
    summaries = incidents.list_incident_records(filters=open_only)["incidentRecordSummaries"]
    assert len(summaries) == 1, summaries
    (incident,) = summaries
    management_id = setting.built.management.account_id
    assert incident["arn"].startswith(
        f"arn:aws:ssm-incidents::{management_id}:incident-record/service-outage/"
    )
    assert incident["incidentRecordSource"]["createdBy"] == setting.resource("IncidentRule")

    # The management account's rule received the application account's own event.
    (trigger,) = timeline_data(incidents, incident["arn"], "SSM Incident Trigger")
    event = json.loads(trigger["rawData"])
    assert event["account"] == setting.built.applications[application - 1].account_id
    assert event["resources"] == [alarm["AlarmArn"]]
    assert event["detail"]["state"]["value"] == "ALARM"
    arn: str = incident["arn"]
    return arn


def check_visible_from_both(setting: Setting, arn: str) -> None:
    """Check that the management account and application account 1 both see the open incident."""
    for session in (setting.management, setting.applications[0]):
        record = session.client("ssm-incidents").get_incident_record(arn=arn)["incidentRecord"]
        assert record["status"] == "OPEN"
        assert record["title"] == "Service outage"
    for profile in ("tocsin-management", "tocsin-app1"):
        listed = setting.aws(profile, "ssm-incidents", "list-incident-records")
        assert [item["arn"] for item in listed["incidentRecordSummaries"]] == [arn]
    record = setting.aws("tocsin-app1", "ssm-incidents", "get-incident-record", "--arn", arn)
    assert record["incidentRecord"]["status"] == "OPEN"
    assert record["incidentRecord"]["impact"] == 2


def first_page(setting: Setting, arn: str) -> tuple[str, dict[str, Any]]:
    """Check that the incident's engagement paged the on-call responder.

    Returns the engagement's ARN and the page.
    """
    (engagement,) = setting.client("ssm-contacts").list_engagements(IncidentId=arn)["Engagements"]
    assert engagement["ContactArn"] == setting.resource("Contact:escalation")
    engagement_arn: str = engagement["EngagementArn"]
    (page,) = pages_of(setting, engagement_arn)
    assert page["ContactArn"] == on_call_contact(setting)
    return engagement_arn, page


def advance_to_stage_two(setting: Setting, engagement_arn: str, *, before: float = 0) -> None:
    """Advance the clock to ``before`` seconds before the second stage is due."""
    server = setting.server
    started = setting.client("ssm-contacts").describe_engagement(EngagementId=engagement_arn)[
        "StartTime"
    ]
    due = started + timedelta(minutes=STAGE_MINUTES) - timedelta(seconds=before)
    advance(server, seconds=(due - server.clock.now()).total_seconds())


def test_alarm_incident_crosses_accounts(setting: Setting) -> None:
    server = setting.server
    assert isinstance(server.clock, FakeClock)
    contacts = setting.client("ssm-contacts")
    incidents = setting.client("ssm-incidents")
    arn = raise_alarm(setting, 1)
    check_visible_from_both(setting, arn)

    # Stage 1 of the escalation plan pages the on-call responder by email at once.
    engagement_arn, first = first_page(setting, arn)
    shared_view = (
        setting.applications[0]
        .client("ssm-contacts")
        .list_pages_by_engagement(EngagementId=engagement_arn)["Pages"]
    )
    assert [page["PageArn"] for page in shared_view] == [first["PageArn"]]
    email = page_message(setting.outbox(), first["PageArn"])
    alias = first["ContactArn"].rsplit("/", 1)[-1]
    assert email["ChannelType"] == "EMAIL"
    assert email["Address"] == f"{alias}@example.com"
    assert email["Subject"] == "Service outage"
    assert arn in email["Body"]
    link = first_match(ACK_LINK, email["Body"])
    assert link.startswith(f"{server.url}/ack/")

    # While the page is unacknowledged, stage 2 pages bob when stage 1's minutes are over.
    advance_to_stage_two(setting, engagement_arn, before=1)
    assert [page["PageArn"] for page in pages_of(setting, engagement_arn)] == [first["PageArn"]]
    advance(server, seconds=1)
    pages = pages_of(setting, engagement_arn)
    assert len(pages) == 2
    (second,) = [page for page in pages if page["PageArn"] != first["PageArn"]]
    assert second["ContactArn"] == setting.resource("Contact:bob")
    stages = timeline_data(incidents, arn, "Engagement Stage Started")
    assert [stage["stageIndex"] for stage in stages] == [0, 1]
    assert "ReadTime" not in contacts.describe_page(PageId=first["PageArn"])

    # The on-call responder opens the email's link, looks at the page, then confirms.
    confirmation_form = httpx.get(link, timeout=10)
    assert confirmation_form.status_code == 200
    assert first["PageArn"] in confirmation_form.text
    assert "ReadTime" not in contacts.describe_page(PageId=first["PageArn"])
    confirmed = httpx.post(link, timeout=10)
    assert confirmed.status_code == 200
    assert "Page acknowledged" in confirmed.text

    # Bob accepts his page with the accept code from his email, through the AWS CLI.
    code = first_match(ACCEPT_CODE, page_message(setting.outbox(), second["PageArn"])["Body"])
    setting.aws(
        "tocsin-management",
        "ssm-contacts",
        "accept-page",
        "--page-id",
        second["PageArn"],
        "--accept-type",
        "READ",
        "--accept-code",
        code,
        "--accept-code-validation",
        "ENFORCE",
    )
    for page in (first, second):
        assert "ReadTime" in contacts.describe_page(PageId=page["PageArn"])
    acknowledged = timeline_data(incidents, arn, "Page Acknowledged")
    assert [item["pageArn"] for item in acknowledged] == [first["PageArn"], second["PageArn"]]
    assert acknowledged[0]["essential"] is True
    assert acknowledged[0]["escalationEnded"] is True

    # The runbook's steps are on the timeline that the application account reads.
    steps = timeline_data(
        setting.applications[0].client("ssm-incidents"), arn, "SSM Automation Step"
    )
    finished = [
        (step["stepName"], step["status"]) for step in steps if step["status"] != "InProgress"
    ]
    assert finished == [("NoteIncident", "Success"), ("GiveRespondersTime", "Success")]
    assert {step["documentName"] for step in steps} == {"Example-IncidentTriage"}

    # The management account resolves the incident with the AWS CLI.
    setting.aws(
        "tocsin-management",
        "ssm-incidents",
        "update-incident-record",
        "--arn",
        arn,
        "--status",
        "RESOLVED",
    )
    seen = setting.applications[0].client("ssm-incidents").get_incident_record(arn=arn)
    assert seen["incidentRecord"]["status"] == "RESOLVED"
    assert "resolvedTime" in seen["incidentRecord"]
    cli_seen = setting.aws("tocsin-app1", "ssm-incidents", "get-incident-record", "--arn", arn)
    assert cli_seen["incidentRecord"]["status"] == "RESOLVED"
    settle(server)
    assert "StopTime" in contacts.describe_engagement(EngagementId=engagement_arn)
    assert len(pages_of(setting, engagement_arn)) == 2


def test_acknowledged_page_stops_escalation(setting: Setting) -> None:
    arn = raise_alarm(setting, 2)
    engagement_arn, first = first_page(setting, arn)
    application = setting.applications[1].client("ssm-incidents")
    assert application.get_incident_record(arn=arn)["incidentRecord"]["status"] == "OPEN"

    # The on-call responder acknowledges through the email's link before stage 2 is due.
    advance_to_stage_two(setting, engagement_arn, before=60)
    link = first_match(ACK_LINK, page_message(setting.outbox(), first["PageArn"])["Body"])
    assert httpx.post(link, timeout=10).status_code == 200

    # Stage 2 never starts: half an hour later, bob has still not been paged.
    advance(setting.server, minutes=STAGE_MINUTES * 6)
    assert [page["PageArn"] for page in pages_of(setting, engagement_arn)] == [first["PageArn"]]
    stages = timeline_data(application, arn, "Engagement Stage Started")
    assert [stage["stageIndex"] for stage in stages] == [0]
    page_emails = [item for item in setting.outbox() if item["Subject"] == "Service outage"]
    assert len(page_emails) == 1
