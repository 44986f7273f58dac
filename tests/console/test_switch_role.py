"""Switching the console to an IAM role through STS AssumeRole, and back, on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.console.conftest import ConsoleUser, make_console_user, policy
from tests.console.console_http import ConsoleClient
from tocsin.testing import RunningServer

HOME = "111111111111"
TARGET = "222222222222"


def trust(principal: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def accounts(server: RunningServer) -> tuple[ConsoleUser, ConsoleUser]:
    """A home account's Administrator and a target account with two roles."""
    home = make_console_user(server, HOME)
    target = make_console_user(server, TARGET)
    iam = target.client("iam")
    iam.create_role(RoleName="Responder", AssumeRolePolicyDocument=trust(HOME))
    iam.put_role_policy(
        RoleName="Responder", PolicyName="read", PolicyDocument=policy("ssm-incidents:List*")
    )
    iam.create_role(RoleName="Locked", Path="/team/", AssumeRolePolicyDocument=trust(TARGET))
    return home, target


@pytest.fixture
def visitor(server: RunningServer) -> Iterator[ConsoleClient]:
    client = ConsoleClient(server)
    yield client
    client.close()


def test_switch_role_and_back(
    visitor: ConsoleClient, accounts: tuple[ConsoleUser, ConsoleUser]
) -> None:
    home, _target = accounts
    visitor.sign_in(HOME, "Administrator", home.password)
    token = visitor.csrf_token()

    response = visitor.post(
        "/console/switch-role",
        data={
            "csrf_token": token,
            "account_id": TARGET,
            "role_name": "Responder",
            "display_name": "<b>On call</b>",
        },
    )
    assert response.status_code == 303
    page = visitor.get("/console/switch-role")
    assert f'<dd class="account-id">{TARGET}</dd>' in page.text
    assert "&lt;b&gt;On call&lt;/b&gt;" in page.text
    assert "<b>On call</b>" not in page.text
    assert f"arn:aws:sts::{TARGET}:assumed-role/Responder/Administrator" in page.text
    assert "Back to Administrator" in page.text

    back = visitor.post("/console/switch-back", data={"csrf_token": token})
    assert back.status_code == 303
    page = visitor.get("/console/switch-role")
    assert f'<dd class="account-id">{HOME}</dd>' in page.text
    assert "Back to Administrator" not in page.text


def test_switch_role_default_display_name(
    visitor: ConsoleClient, accounts: tuple[ConsoleUser, ConsoleUser]
) -> None:
    home, _target = accounts
    visitor.sign_in(HOME, "Administrator", home.password)
    token = visitor.csrf_token()
    response = visitor.post(
        "/console/switch-role",
        data={"csrf_token": token, "account_id": TARGET, "role_name": "Responder"},
    )
    assert response.status_code == 303
    assert f"Responder @ {TARGET}" in visitor.get("/console/switch-role").text


def test_switch_role_denied_by_trust_policy(
    visitor: ConsoleClient, accounts: tuple[ConsoleUser, ConsoleUser]
) -> None:
    home, _target = accounts
    visitor.sign_in(HOME, "Administrator", home.password)
    token = visitor.csrf_token()
    for role_name in ("team/Locked", "Missing"):
        response = visitor.post(
            "/console/switch-role",
            data={"csrf_token": token, "account_id": TARGET, "role_name": role_name},
        )
        assert response.status_code == 403, role_name
        assert "is not authorized to perform: sts:AssumeRole" in response.text
    page = visitor.get("/console/switch-role")
    assert f'<dd class="account-id">{HOME}</dd>' in page.text


def test_switch_role_denied_by_user_policy(
    visitor: ConsoleClient, accounts: tuple[ConsoleUser, ConsoleUser]
) -> None:
    home, _target = accounts
    iam = home.client("iam")
    iam.create_user(UserName="viewer")
    iam.put_user_policy(
        UserName="viewer", PolicyName="read", PolicyDocument=policy("ssm-incidents:List*")
    )
    iam.create_login_profile(UserName="viewer", Password="Viewer-Pass-1")
    visitor.sign_in(HOME, "viewer", "Viewer-Pass-1")
    token = visitor.csrf_token()

    denied = visitor.post(
        "/console/switch-role",
        data={"csrf_token": token, "account_id": TARGET, "role_name": "Responder"},
    )
    assert denied.status_code == 403
    assert "sts:AssumeRole" in denied.text

    iam.put_user_policy(
        UserName="viewer",
        PolicyName="switch",
        PolicyDocument=policy("sts:AssumeRole", resource=f"arn:aws:iam::{TARGET}:role/*"),
    )
    allowed = visitor.post(
        "/console/switch-role",
        data={"csrf_token": token, "account_id": TARGET, "role_name": "Responder"},
    )
    assert allowed.status_code == 303


def test_switch_role_requires_csrf_token(
    visitor: ConsoleClient, accounts: tuple[ConsoleUser, ConsoleUser]
) -> None:
    home, _target = accounts
    visitor.sign_in(HOME, "Administrator", home.password)
    token = visitor.csrf_token()
    fields = {"account_id": TARGET, "role_name": "Responder"}

    assert visitor.post("/console/switch-role", data=fields).status_code == 403
    wrong = {**fields, "csrf_token": token[::-1]}
    assert visitor.post("/console/switch-role", data=wrong).status_code == 403
    assert visitor.post("/console/switch-back", data={}).status_code == 403
    page = visitor.get("/console/switch-role")
    assert f'<dd class="account-id">{HOME}</dd>' in page.text


def test_switch_role_rejects_bad_input(
    visitor: ConsoleClient, accounts: tuple[ConsoleUser, ConsoleUser]
) -> None:
    home, _target = accounts
    visitor.sign_in(HOME, "Administrator", home.password)
    token = visitor.csrf_token()
    cases = [
        (
            {"account_id": "12345", "role_name": "Responder"},
            "Account ID &#39;12345&#39; is invalid",
        ),
        (
            {"account_id": TARGET, "role_name": "bad role"},
            "Role name &#39;bad role&#39; is invalid",
        ),
        ({"account_id": TARGET, "role_name": "Responder", "display_name": "a\tb"}, "Display name"),
    ]
    for fields, expected in cases:
        response = visitor.post("/console/switch-role", data={"csrf_token": token, **fields})
        assert response.status_code == 400, fields
        assert expected in response.text, fields


def test_expired_role_falls_back_to_user(
    server: RunningServer, visitor: ConsoleClient, accounts: tuple[ConsoleUser, ConsoleUser]
) -> None:
    home, _target = accounts
    visitor.sign_in(HOME, "Administrator", home.password)
    token = visitor.csrf_token()
    visitor.post(
        "/console/switch-role",
        data={"csrf_token": token, "account_id": TARGET, "role_name": "Responder"},
    )
    assert f'<dd class="account-id">{TARGET}</dd>' in visitor.get("/console/switch-role").text
    server.clock.advance(minutes=61)
    page = visitor.get("/console/switch-role")
    assert page.status_code == 200
    assert f'<dd class="account-id">{HOME}</dd>' in page.text
