"""The set-up of the console's schedule, sharing and outbox tests, built through the API.

An account has two PERSONAL contacts with email channels, a weekly rotation
of both in Europe/Berlin and an on-call schedule of that rotation. A second
account owns a resource share that invites the first.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from tests.console.conftest import CONSOLE_PASSWORD, ConsoleUser, policy
from tests.console.console_http import ConsoleClient
from tests.console.incident_scenario import run_jobs
from tocsin.testing import Keys, RunningServer

REGION = "us-east-1"
ROTATION_NAME = "primary"
ZONE = "Europe/Berlin"
SCHEDULE_ALIAS = "payments-oncall"
SHARE_NAME = "plans-for-app"
FLASH = re.compile(r'<p class="flash flash-(\w+)"[^>]*>([^<]*)</p>')


@dataclass(frozen=True)
class Schedules:
    """What the set-up created: contact, rotation and schedule ARNs, and the rotation's start."""

    contacts: dict[str, str]
    channels: dict[str, str]
    rotation_arn: str
    schedule_arn: str
    start: datetime


def monday_nine(now: datetime) -> datetime:
    """Return 09:00 UTC of the Monday of the week before ``now``, so shifts run on both sides."""
    day = (now - timedelta(days=7)).replace(hour=9, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def build_schedules(server: RunningServer, user: ConsoleUser) -> Schedules:
    """Create two contacts with channels, a weekly rotation and an on-call schedule."""
    contacts_client = user.client("ssm-contacts")
    contacts = {}
    channels = {}
    for alias in ("alice", "bob"):
        contacts[alias] = contacts_client.create_contact(
            Alias=alias, DisplayName=alias.title(), Type="PERSONAL", Plan={"Stages": []}
        )["ContactArn"]
        channels[alias] = contacts_client.create_contact_channel(
            ContactId=contacts[alias],
            Name=f"{alias}-email",
            Type="EMAIL",
            DeliveryAddress={"SimpleAddress": f"{alias}@example.com"},
        )["ContactChannelArn"]
    run_jobs(server)
    start = monday_nine(server.clock.now())
    rotation_arn = contacts_client.create_rotation(
        Name=ROTATION_NAME,
        ContactIds=[contacts["alice"], contacts["bob"]],
        StartTime=start,
        TimeZoneId=ZONE,
        Recurrence={
            "WeeklySettings": [
                {"DayOfWeek": "MON", "HandOffTime": {"HourOfDay": 9, "MinuteOfHour": 0}}
            ],
            "NumberOfOnCalls": 1,
            "RecurrenceMultiplier": 1,
        },
    )["RotationArn"]
    schedule_arn = contacts_client.create_contact(
        Alias=SCHEDULE_ALIAS,
        DisplayName="Payments on-call",
        Type="ONCALL_SCHEDULE",
        Plan={"RotationIds": [rotation_arn]},
    )["ContactArn"]
    return Schedules(contacts, channels, rotation_arn, schedule_arn, start)


def invite(server: RunningServer, receiver_account_id: str) -> tuple[Keys, str]:
    """Create an account whose resource share of a contact invites ``receiver_account_id``.

    Returns the owner's keys and the share's ARN.
    """
    owner = server.create_account(name="owner")
    contact_arn = server.client("ssm-contacts", owner, region=REGION).create_contact(
        Alias="shared-responder",
        DisplayName="Shared responder",
        Type="PERSONAL",
        Plan={"Stages": []},
    )["ContactArn"]
    share = server.client("ram", owner, region=REGION).create_resource_share(
        name=SHARE_NAME,
        resourceArns=[contact_arn],
        principals=[receiver_account_id],
        allowExternalPrincipals=True,
    )["resourceShare"]
    share_arn: str = share["resourceShareArn"]
    return owner, share_arn


def reader(
    server: RunningServer, owner: ConsoleUser, *actions: str, resource: str = "*"
) -> ConsoleClient:
    """Sign in a new user of the owner's account whose policy allows only ``actions``."""
    iam = owner.client("iam")
    name = f"reader{len(iam.list_users()['Users'])}"
    iam.create_user(UserName=name)
    if actions:
        iam.put_user_policy(
            UserName=name, PolicyName="read", PolicyDocument=policy(*actions, resource=resource)
        )
    iam.create_login_profile(UserName=name, Password=CONSOLE_PASSWORD)
    client = ConsoleClient(server)
    assert client.sign_in(owner.account_id, name, CONSOLE_PASSWORD).status_code == 303
    return client


def flash_after(visitor: ConsoleClient, response: httpx.Response) -> tuple[str, str]:
    """Follow a form's redirect; return the kind and text of the message that the page shows."""
    assert response.status_code == 303, response.text
    page = visitor.get(response.headers["location"].split("#", 1)[0])
    found = FLASH.search(page.text)
    assert found is not None, page.text
    return found.group(1), html.unescape(found.group(2))
