"""Shared fixtures of the console tests: a Chromium browser, a server and a console user.

Fixture names are stable for every console test module:

- ``browser``: one headless Chromium per test session, driven by Playwright.
  It is Debian's /usr/bin/chromium, installed with apt-get when missing and
  the tests run as root. Without it the browser tests skip, except under
  CI=true, where they fail.
- ``console_server``: one running Tocsin server per test module, on SQLite,
  with a fake clock (``console_server.clock.advance(...)``).
- ``console_user``: a ``ConsoleUser`` of that server: account id, IAM user
  name, password and the user's access key, with a boto3 session and a
  ``client(service)`` helper.

``make_console_user`` creates further accounts or users with passwords, and
``sign_in(page, server, user)`` signs a Playwright page in through the real
sign-in form.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tocsin.testing import Keys, RunningServer

CHROMIUM = Path("/usr/bin/chromium")
CONSOLE_PASSWORD = "Console-Pass-1"
REGION = "us-east-1"


@dataclass(frozen=True)
class ConsoleUser:
    """An IAM user with a console password, and its access key for setting things up."""

    account_id: str
    user_name: str
    password: str
    keys: Keys
    session: boto3.Session
    server: RunningServer

    def client(self, service: str) -> Any:
        """Return a boto3 client of ``service`` that signs with the user's access key."""
        return self.server.client(service, self.keys, region=REGION)


def make_console_user(
    server: RunningServer,
    account_id: str | None = None,
    user_name: str = "Administrator",
    password: str = CONSOLE_PASSWORD,
) -> ConsoleUser:
    """Create an account and give its Administrator (or a new user of it) a console password.

    With ``user_name`` other than Administrator, the user is created in the
    account with no policies, so the test grants what it needs.
    """
    administrator = server.create_account(account_id=account_id)
    iam = server.client("iam", administrator, region=REGION)
    keys = administrator
    if user_name != "Administrator":
        iam.create_user(UserName=user_name)
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        keys = Keys(key["AccessKeyId"], key["SecretAccessKey"], None, administrator.account_id)
    iam.create_login_profile(UserName=user_name, Password=password)
    session = boto3.Session(
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        region_name=REGION,
    )
    return ConsoleUser(administrator.account_id, user_name, password, keys, session, server)


def sign_in(
    page: Any, server: RunningServer, user: ConsoleUser, next_path: str = "/console/"
) -> None:
    """Sign ``page`` in to the console through the sign-in form, as a person would."""
    page.goto(f"{server.url}/console/signin?next={next_path}")
    page.get_by_label("Account ID (12 digits)").fill(user.account_id)
    page.get_by_label("IAM user name").fill(user.user_name)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}{next_path}*")


def _chromium_problem() -> str | None:
    """Return why Chromium cannot run here, after trying to install it; None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install -e '.[dev]'"
    if CHROMIUM.exists():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing; install it with: apt-get install -y chromium"
    installed = subprocess.run(
        ["apt-get", "install", "-y", "chromium"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if installed.returncode != 0 or not CHROMIUM.exists():
        return f"apt-get install -y chromium failed: {installed.stderr.strip()[-500:]}"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium for the whole test session (Playwright ``Browser``)."""
    problem = _chromium_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def console_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context, so that no cookie leaks between tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def console_server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[RunningServer]:
    """A running Tocsin server on SQLite with a fake clock, shared by one test module."""
    folder = tmp_path_factory.mktemp("console")
    database = folder / "tocsin.db"
    shutil.copyfile(sqlite_template, database)
    with RunningServer(folder / "home", database_url=f"sqlite:///{database}") as running:
        yield running


@pytest.fixture(scope="module")
def console_user(console_server: RunningServer) -> ConsoleUser:
    """The Administrator of a new account, with the console password ``CONSOLE_PASSWORD``."""
    return make_console_user(console_server)


def policy(*actions: str, resource: str = "*") -> str:
    """Return an identity policy document that allows ``actions`` on ``resource``."""
    statement = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
