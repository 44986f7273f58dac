"""``tocsin demo``: one cross-account incident of the ready example, narrated as it happens.

An application account's CloudWatch alarm goes into ALARM. Its state change
event travels from that account's default event bus to the management
account's bus, where a rule starts an incident with the shared response plan.
The demo then shows the incident from both accounts, the engagement and its
pages, the runbook's steps, acknowledges the page through the link in its
message, and resolves the incident. Every step goes through the public API
or the acknowledgement link, and prints the AWS CLI command that shows the
same thing.
"""

from __future__ import annotations

import configparser
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import httpx
from botocore.config import Config

from tocsin.example import MARKER_FILE, PROFILE_FILE

ACK_LINK = re.compile(r"Acknowledge: (\S+/ack/\S+)")
POLL_SECONDS = 0.5


class DemoError(Exception):
    """The demo cannot continue. The message names what is missing or what failed."""


@dataclass(frozen=True)
class Profile:
    """One account's named profile from the example's AWS config file."""

    name: str
    account_id: str
    endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str

    def client(self, service: str) -> Any:
        return botocore.session.get_session().create_client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )


@dataclass(frozen=True)
class DemoSetting:
    """The example's accounts and resources, read from the files in the home folder."""

    management: Profile
    application: Profile
    resources: dict[str, str]
    profiles_path: Path


def load(home: Path) -> DemoSetting:
    """Read the example's marker and profiles from ``home``, or raise DemoError."""
    marker_path = home / MARKER_FILE
    profiles_path = home / PROFILE_FILE
    if not marker_path.exists() or not profiles_path.exists():
        raise DemoError(
            f"no ready example in {home}: start the server with ./scripts/start.sh "
            "(or tocsin serve --example) on a new home folder first"
        )
    marker = json.loads(marker_path.read_text(encoding="utf-8"))
    parser = configparser.ConfigParser()
    parser.read(profiles_path, encoding="utf-8")
    profiles = []
    for account in marker["accounts"][:2]:
        section = parser[f"profile {account['profile']}"]
        profiles.append(
            Profile(
                account["profile"],
                account["account_id"],
                section["endpoint_url"],
                section["region"],
                section["aws_access_key_id"],
                section["aws_secret_access_key"],
            )
        )
    return DemoSetting(profiles[0], profiles[1], marker["resources"], profiles_path)


def wait_for(
    description: str,
    probe: Callable[[], Any],
    seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Call ``probe`` until it returns something truthy, or raise DemoError after ``seconds``."""
    deadline = clock() + seconds
    while True:
        found = probe()
        if found:
            return found
        if clock() > deadline:
            raise DemoError(f"gave up after {seconds:.0f} s waiting for {description}")
        time.sleep(POLL_SECONDS)


def acknowledge_link(body: str) -> str | None:
    """Return the acknowledgement link of a page message, if it has one."""
    found = ACK_LINK.search(body)
    return found.group(1) if found else None


def acknowledge(link: str) -> None:
    """Open the acknowledgement link as a responder does: look at the page, then confirm."""
    page = httpx.get(link, timeout=10)
    if page.status_code != 200:
        raise DemoError(f"the acknowledgement link returned HTTP {page.status_code}")
    confirmed = httpx.post(link, timeout=10)
    if confirmed.status_code != 200:
        raise DemoError(f"acknowledging through the link returned HTTP {confirmed.status_code}")


def timestamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%H:%M:%S")


def cli_hint(profile: Profile, command: str) -> str:
    return f"    $ aws --profile {profile.name} {command}"


@dataclass
class Narrator:
    """Printer of the demo's numbered steps, with the time of each."""

    echo: Callable[[str], None]
    step: int = 0

    def headline(self, text: str) -> None:
        self.step += 1
        self.echo(f"\n[{timestamp()}] {self.step}. {text}")

    def say(self, text: str) -> None:
        self.echo(f"    {text}")


def run(
    setting: DemoSetting,
    outbox_message: Callable[[str, str], str | None],
    echo: Callable[[str], None],
    *,
    wait_seconds: float = 120.0,
) -> str:
    """Run the demo and return the ARN of the incident it resolved.

    ``outbox_message(account_id, page_id)`` returns the body of the message
    that delivered a page, as the development outbox stored it.
    """
    from tocsin.example import load_sample

    narrator = Narrator(echo)
    management, application = setting.management, setting.application
    started = datetime.now(UTC)

    sample = load_sample()
    alarm_name = sample["detail"]["alarmName"]
    state = sample["detail"]["state"]
    narrator.headline(
        f"Application account {application.account_id}: alarm {alarm_name} goes into ALARM"
    )
    application.client("cloudwatch").set_alarm_state(
        AlarmName=alarm_name,
        StateValue="ALARM",
        StateReason=state["reason"],
        StateReasonData=state["reasonData"],
    )
    narrator.say(f"Reason: {state['reason']}")
    narrator.say("CloudWatch puts the state change event on the account's default bus, and the")
    narrator.say("IncidentManagerForwarding rule sends it to the management account's bus.")
    narrator.say(
        cli_hint(application, f"cloudwatch describe-alarm-history --alarm-name {alarm_name}")
    )

    incident = _incident(setting, started, wait_seconds)
    arn: str = incident["arn"]
    source = incident["incidentRecordSource"]
    narrator.headline(f"Management account {management.account_id}: incident opened")
    narrator.say(f"{incident['title']} (impact {incident['impact']}): {arn}")
    narrator.say(f"Started by {source['createdBy']} through {source.get('invokedBy', '-')}")
    seen = application.client("ssm-incidents").get_incident_record(arn=arn)["incidentRecord"]
    narrator.say(
        f"The application account sees it too, through the shared plan: status {seen['status']}"
    )
    narrator.say(cli_hint(management, "ssm-incidents list-incident-records"))
    narrator.say(cli_hint(application, f"ssm-incidents get-incident-record --arn {arn}"))

    pages = _pages(setting, arn, narrator, wait_seconds)
    _runbook(setting, arn, narrator, wait_seconds)
    _acknowledge(setting, pages[0], outbox_message, narrator, wait_seconds)
    _resolve(setting, arn, narrator)
    return arn


def _incident(setting: DemoSetting, started: datetime, wait_seconds: float) -> dict[str, Any]:
    incidents = setting.management.client("ssm-incidents")
    filters = [
        {"key": "creationTime", "condition": {"after": started.replace(microsecond=0)}},
        {"key": "status", "condition": {"equals": {"stringValues": ["OPEN"]}}},
    ]

    def probe() -> dict[str, Any] | None:
        summaries = incidents.list_incident_records(filters=filters)["incidentRecordSummaries"]
        return summaries[0] if summaries else None

    found: dict[str, Any] = wait_for("the incident", probe, wait_seconds)
    return found


def _pages(
    setting: DemoSetting, arn: str, narrator: Narrator, wait_seconds: float
) -> list[dict[str, Any]]:
    contacts = setting.management.client("ssm-contacts")
    engagement = wait_for(
        "the engagement",
        lambda: contacts.list_engagements(IncidentId=arn)["Engagements"],
        wait_seconds,
    )[0]
    narrator.headline("The response plan engages the escalation plan")
    narrator.say(f"Engagement {engagement['EngagementArn']}")
    pages: list[dict[str, Any]] = wait_for(
        "the first page",
        lambda: contacts.list_pages_by_engagement(EngagementId=engagement["EngagementArn"])[
            "Pages"
        ],
        wait_seconds,
    )
    for page in pages:
        narrator.say(f"Paged {page['ContactArn'].rsplit('/', 1)[-1]}: {page['PageArn']}")
    narrator.say(
        cli_hint(
            setting.application,
            f"ssm-contacts list-pages-by-engagement --engagement-id {engagement['EngagementArn']}",
        )
    )
    return pages


def _runbook(setting: DemoSetting, arn: str, narrator: Narrator, wait_seconds: float) -> None:
    incidents = setting.management.client("ssm-incidents")
    ssm = setting.management.client("ssm")

    def execution_arn() -> str | None:
        record = incidents.get_incident_record(arn=arn)["incidentRecord"]
        executions = record.get("automationExecutions") or []
        if not executions:
            return None
        found: str = executions[0]["ssmExecutionArn"]
        return found

    execution = wait_for("the runbook to start", execution_arn, wait_seconds)
    execution_id = execution.rsplit("/", 1)[-1]
    narrator.headline("The response plan's runbook runs")
    narrator.say(f"Execution {execution_id}")
    reported: dict[str, str] = {}

    def finished() -> bool:
        details = ssm.get_automation_execution(AutomationExecutionId=execution_id)
        run = details["AutomationExecution"]
        for step in run.get("StepExecutions", []):
            status = step["StepStatus"]
            if reported.get(step["StepName"]) != status:
                reported[step["StepName"]] = status
                narrator.say(f"[{timestamp()}] step {step['StepName']}: {status}")
        return run["AutomationExecutionStatus"] not in ("Pending", "InProgress", "Waiting")

    wait_for("the runbook to finish", finished, wait_seconds)
    narrator.say("Each step is also on the incident's timeline, for both accounts.")
    narrator.say(
        cli_hint(
            setting.management,
            f"ssm describe-automation-step-executions --automation-execution-id {execution_id}",
        )
    )


def _acknowledge(
    setting: DemoSetting,
    page: dict[str, Any],
    outbox_message: Callable[[str, str], str | None],
    narrator: Narrator,
    wait_seconds: float,
) -> None:
    page_id = page["PageArn"].rsplit("/", 1)[-1]
    body = wait_for(
        "the page's message in the development outbox",
        lambda: outbox_message(setting.management.account_id, page_id),
        wait_seconds,
    )
    link = acknowledge_link(body)
    if link is None:
        raise DemoError(f"the message of page {page['PageArn']} carries no acknowledgement link")
    narrator.headline("The responder acknowledges the page with the link in the email")
    narrator.say(link)
    acknowledge(link)
    contacts = setting.management.client("ssm-contacts")
    described = contacts.describe_page(PageId=page["PageArn"])
    narrator.say(f"Page read at {described['ReadTime']:%H:%M:%S}: escalation stops for it.")
    narrator.say(
        cli_hint(setting.management, f"ssm-contacts list-page-receipts --page-id {page['PageArn']}")
    )


def _resolve(setting: DemoSetting, arn: str, narrator: Narrator) -> None:
    narrator.headline("The management account resolves the incident")
    setting.management.client("ssm-incidents").update_incident_record(arn=arn, status="RESOLVED")
    incidents = setting.application.client("ssm-incidents")
    record = incidents.get_incident_record(arn=arn)["incidentRecord"]
    narrator.say(f"Seen from the application account: {record['status']}")
    events = incidents.list_timeline_events(incidentRecordArn=arn, sortOrder="ASCENDING")
    narrator.say("Timeline:")
    for event in events["eventSummaries"]:
        narrator.say(f"  {event['eventTime']:%H:%M:%S}  {event['eventType']}")
    narrator.say(
        cli_hint(
            setting.application, f"ssm-incidents list-timeline-events --incident-record-arn {arn}"
        )
    )
