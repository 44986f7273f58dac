"""Accounts and helpers of the response plan and contact page tests.

``Visitor`` is a console user of a new account, signed in through the
sign-in form, with boto3 clients for setting things up and checking the
result. ``Visitor.outcome`` posts a form, follows its redirect and returns
the message and the page that shows it.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.console.conftest import CONSOLE_PASSWORD, ConsoleUser, make_console_user, policy
from tests.console.console_http import ConsoleClient
from tests.console.incident_scenario import run_jobs
from tests.contacts.conftest import code_in, outbox
from tests.incidents.conftest import settle
from tocsin.testing import RunningServer

FLASH = re.compile(
    r'<p class="flash flash-(success|error)" role="(?:alert|status)">(.*?)</p>', re.S
)
# The actions of a read-only user, who can load every page but change nothing.
READ_ONLY_ACTIONS = (
    "ssm-incidents:List*",
    "ssm-incidents:Get*",
    "ssm-contacts:List*",
    "ssm-contacts:Get*",
)


@dataclass
class Visitor:
    """A signed-in console client of one account and the account's boto3 clients."""

    user: ConsoleUser
    client: ConsoleClient
    csrf: str

    @property
    def account_id(self) -> str:
        return self.user.account_id

    def aws(self, service: str) -> Any:
        return self.user.client(service)

    def submit(self, path: str, data: dict[str, Any] | list[tuple[str, str]]) -> httpx.Response:
        """Post a form with the CSRF token; return the 303 response."""
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        response = self.client.post(
            path,
            content=urlencode([("csrf_token", self.csrf), *fields]),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 303, response.text
        return response

    def outcome(self, path: str, data: dict[str, Any] | list[tuple[str, str]]) -> Outcome:
        """Post a form, follow its redirect and return the message and the page."""
        response = self.submit(path, data)
        location = response.headers["location"]
        page = self.client.get(location)
        assert page.status_code == 200, page.text
        match = FLASH.search(page.text)
        assert match is not None, page.text
        return Outcome(match.group(1), html.unescape(match.group(2)), location, page.text)


@dataclass(frozen=True)
class Outcome:
    """A form's message (kind "success" or "error"), the page it led to and that page's HTML."""

    kind: str
    message: str
    location: str
    page: str


def visitor(server: RunningServer, user: ConsoleUser | None = None) -> Visitor:
    """Sign a new account's Administrator (or ``user``) in and return the visitor."""
    user = user or make_console_user(server)
    client = ConsoleClient(server)
    signed_in = client.sign_in(user.account_id, user.user_name, user.password)
    assert signed_in.status_code == 303, signed_in.text
    return Visitor(user, client, client.csrf_token())


def read_only_visitor(server: RunningServer, owner: Visitor) -> Visitor:
    """Sign in a user of ``owner``'s account whose policy allows only List and Get calls."""
    iam = owner.aws("iam")
    iam.create_user(UserName="reader")
    iam.create_login_profile(UserName="reader", Password=CONSOLE_PASSWORD)
    iam.put_user_policy(
        UserName="reader", PolicyName="read", PolicyDocument=policy(*READ_ONLY_ACTIONS)
    )
    # The visitor's boto3 clients keep the Administrator's access key, for setting things up.
    reader = replace(owner.user, user_name="reader")
    return visitor(server, reader)


def make_usable(server: RunningServer, account: Visitor) -> None:
    """Create the account's replication set, which CreateResponsePlan needs."""
    incidents = account.aws("ssm-incidents")
    arn = incidents.create_replication_set(regions={"us-east-1": {}})["arn"]
    settle(server, incidents, arn)


def activation_code(server: RunningServer, channel_arn: str) -> str:
    """Run the queued deliveries and return the newest activation code of the channel."""
    run_jobs(server)
    messages = outbox(server, channel_arn)
    assert messages, f"no activation code for {channel_arn} in the outbox"
    return code_in(messages[-1].body)


def share_contact(owner: Visitor, contact_arn: str, account_id: str) -> None:
    """Let ``account_id`` see and engage the contact, through the contact's policy."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement"],
        "Resource": contact_arn,
    }
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    owner.aws("ssm-contacts").put_contact_policy(ContactArn=contact_arn, Policy=document)


def share_plan(owner: Visitor, plan_arn: str, account_id: str) -> None:
    """Let ``account_id`` read the plan and start and see its incidents."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": account_id},
        "Action": [
            "ssm-incidents:GetResponsePlan",
            "ssm-incidents:StartIncident",
            "ssm-incidents:GetIncidentRecord",
            "ssm-incidents:ListIncidentRecords",
        ],
        "Resource": [plan_arn, plan_arn.replace("response-plan/", "incident-record/") + "/*"],
    }
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    owner.aws("ssm-incidents").put_resource_policy(resourceArn=plan_arn, policy=document)


def personal_contact(account: Visitor, alias: str, display_name: str = "") -> str:
    """Create a PERSONAL contact with an empty engagement plan through the API."""
    params: dict[str, Any] = {"Alias": alias, "Type": "PERSONAL", "Plan": {"Stages": []}}
    if display_name:
        params["DisplayName"] = display_name
    arn: str = account.aws("ssm-contacts").create_contact(**params)["ContactArn"]
    return arn


def path_of(arn: str, kind: str) -> str:
    """Return the console path of a response plan or contact ARN."""
    account = arn.split(":")[4]
    name = arn.rsplit("/", 1)[1]
    return f"/console/{kind}/{account}/{name}"
