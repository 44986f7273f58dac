"""Console sign-in, sessions, CSRF checks and sign-in throttling over HTTP, on both backends."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.routing import Mount, Route

from tests.conftest import BACKENDS, fresh_database_url
from tests.console.conftest import ConsoleUser, make_console_user
from tests.console.console_http import SESSION_COOKIE, ConsoleClient
from tocsin.testing import RunningServer
from tocsin.web.console import console_routes

ACCOUNT = "111111111111"
FAILED_TEXT = "The account ID, user name or password is incorrect."


@pytest.fixture
def user(server: RunningServer) -> ConsoleUser:
    return make_console_user(server, ACCOUNT)


@pytest.fixture
def visitor(server: RunningServer) -> Iterator[ConsoleClient]:
    client = ConsoleClient(server)
    yield client
    client.close()


def signed_in(visitor: ConsoleClient, user: ConsoleUser) -> str:
    response = visitor.sign_in(user.account_id, user.user_name, user.password)
    assert response.status_code == 303, response.text
    return visitor.cookies[SESSION_COOKIE]


def is_signed_in(visitor: ConsoleClient) -> bool:
    response = visitor.get("/console/switch-role")
    if response.status_code == 200:
        return True
    assert response.status_code == 303
    return False


def test_sign_in_success_sets_session_cookie(visitor: ConsoleClient, user: ConsoleUser) -> None:
    response = visitor.sign_in(ACCOUNT, "Administrator", user.password, next_path="/console/x?a=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/x?a=1"
    cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith(SESSION_COOKIE + "=")
    )
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" in attributes
    assert "path=/console" in attributes
    assert "max-age=43200" in attributes

    page = visitor.get("/console/switch-role")
    assert page.status_code == 200
    assert ACCOUNT in page.text
    assert "Administrator" in page.text
    assert "Sign out" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_sign_in_failure_same_message(visitor: ConsoleClient, user: ConsoleUser) -> None:
    cases = [
        (ACCOUNT, "Administrator", "Wrong-Pass-1"),
        (ACCOUNT, "nobody", user.password),
        ("999999999999", "Administrator", user.password),
        ("12345", "Administrator", user.password),
    ]
    for account_id, user_name, password in cases:
        response = visitor.sign_in(account_id, user_name, password)
        assert response.status_code == 401, (account_id, user_name)
        assert FAILED_TEXT in response.text, (account_id, user_name)
        assert SESSION_COOKIE not in visitor.cookies


def test_sign_in_enforces_iam_limits(
    visitor: ConsoleClient, user: ConsoleUser, caplog: pytest.LogCaptureFixture
) -> None:
    long_name = "Administrator" + "x" * 5000
    cases = [
        (ACCOUNT, long_name, user.password),
        (ACCOUNT, "Administrator", "p" * 129),
        (ACCOUNT, "Adm\u00efnistrator", user.password),
        ("\u0661" * 12, "Administrator", user.password),
        ("1" * 13, "Administrator", user.password),
    ]
    caplog.set_level(logging.INFO, logger="tocsin.web.console.signin_pages")
    for account_id, user_name, password in cases:
        response = visitor.sign_in(account_id, user_name, password)
        assert response.status_code == 401, (account_id[:20], user_name[:20])
        assert FAILED_TEXT in response.text, (account_id[:20], user_name[:20])
        assert SESSION_COOKIE not in visitor.cookies

    # The form shows at most the 64 characters that the user name field accepts.
    response = visitor.sign_in(ACCOUNT, long_name, user.password)
    assert long_name[:65] not in response.text
    assert long_name[:64] in response.text

    failures = [r.getMessage() for r in caplog.records if "sign-in failed" in r.getMessage()]
    assert len(failures) == len(cases) + 1
    assert all(len(message) < 300 for message in failures)
    assert any("(5013 characters)" in message for message in failures)


def test_sign_in_name_case_insensitive(visitor: ConsoleClient, user: ConsoleUser) -> None:
    assert visitor.sign_in(ACCOUNT, "administrator", user.password).status_code == 303


def test_sign_in_rejects_foreign_next(visitor: ConsoleClient, user: ConsoleUser) -> None:
    for target in ("https://example.com/", "//example.com/console/", "/other"):
        response = visitor.sign_in(ACCOUNT, "Administrator", user.password, next_path=target)
        assert response.headers["location"] == "/console/", target


def test_sign_in_form_token_required(visitor: ConsoleClient, user: ConsoleUser) -> None:
    data = {"account_id": ACCOUNT, "user_name": "Administrator", "password": user.password}
    response = visitor.post("/console/signin", data={**data, "form_token": "forged"})
    assert response.status_code == 403
    assert "expired or was not sent by this site" in response.text
    assert SESSION_COOKIE not in visitor.cookies


def test_session_fixation_prevented(visitor: ConsoleClient, user: ConsoleUser) -> None:
    visitor.cookies[SESSION_COOKIE] = "planted-by-an-attacker"
    first = signed_in(visitor, user)
    assert first != "planted-by-an-attacker"

    second = signed_in(visitor, user)
    assert second != first
    stale = ConsoleClient(user.server)
    stale.cookies[SESSION_COOKIE] = first
    assert not is_signed_in(stale)
    stale.close()
    assert is_signed_in(visitor)


def test_sign_out_requires_csrf_token(visitor: ConsoleClient, user: ConsoleUser) -> None:
    signed_in(visitor, user)
    token = visitor.csrf_token()

    missing = visitor.post("/console/signout", data={})
    assert missing.status_code == 403
    wrong = visitor.post("/console/signout", data={"csrf_token": "x" + token})
    assert wrong.status_code == 403
    by_header = visitor.post("/console/signout", headers={"x-csrf-token": "wrong"})
    assert by_header.status_code == 403
    assert is_signed_in(visitor)

    cookie = visitor.cookies[SESSION_COOKIE]
    done = visitor.post("/console/signout", data={"csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"] == "/console/signin"
    assert SESSION_COOKIE not in visitor.cookies
    visitor.cookies[SESSION_COOKIE] = cookie
    assert not is_signed_in(visitor)


def test_session_expires_on_fake_clock(
    server: RunningServer, visitor: ConsoleClient, user: ConsoleUser
) -> None:
    signed_in(visitor, user)
    server.clock.advance(hours=11, minutes=59)
    assert is_signed_in(visitor)
    server.clock.advance(minutes=2)
    assert not is_signed_in(visitor)


def test_session_lifetime_from_login_profile(
    server: RunningServer, visitor: ConsoleClient, user: ConsoleUser
) -> None:
    user.client("iam").update_login_profile(UserName="Administrator", MaxSigninSessionDuration=3600)
    response = visitor.sign_in(ACCOUNT, "Administrator", user.password)
    assert "Max-Age=3600" in response.headers["set-cookie"]
    server.clock.advance(minutes=61)
    assert not is_signed_in(visitor)


def test_password_change_ends_sessions(visitor: ConsoleClient, user: ConsoleUser) -> None:
    signed_in(visitor, user)
    iam = user.client("iam")
    iam.update_login_profile(UserName="Administrator", Password="Changed-Pass-2")
    assert not is_signed_in(visitor)

    assert visitor.sign_in(ACCOUNT, "Administrator", "Changed-Pass-2").status_code == 303
    iam.delete_login_profile(UserName="Administrator")
    assert not is_signed_in(visitor)


def test_session_survives_restart(
    server: RunningServer, visitor: ConsoleClient, user: ConsoleUser
) -> None:
    cookie = signed_in(visitor, user)
    settings = server.settings
    with RunningServer(
        settings.home, database_url=settings.database_url, clock=server.clock
    ) as restarted:
        other = ConsoleClient(restarted)
        other.cookies[SESSION_COOKIE] = cookie
        assert is_signed_in(other)
        other.close()


def test_password_reset_required_at_sign_in(server: RunningServer, visitor: ConsoleClient) -> None:
    user = make_console_user(server, ACCOUNT)
    iam = user.client("iam")
    iam.update_login_profile(UserName="Administrator", PasswordResetRequired=True)

    first = visitor.sign_in(ACCOUNT, "Administrator", user.password)
    assert first.status_code == 200
    assert "Choose a new password" in first.text
    assert 'name="new_password"' in first.text
    assert SESSION_COOKIE not in visitor.cookies

    weak = visitor.sign_in(
        ACCOUNT,
        "Administrator",
        user.password,
        extra={"new_password": "weak", "confirm_password": "weak"},
    )
    assert weak.status_code == 200
    assert "minimum length of 8" in weak.text

    new = "Fresh-Pass-3"
    done = visitor.sign_in(
        ACCOUNT,
        "Administrator",
        user.password,
        extra={"new_password": new, "confirm_password": new},
    )
    assert done.status_code == 303
    assert is_signed_in(visitor)
    assert (
        iam.get_login_profile(UserName="Administrator")["LoginProfile"]["PasswordResetRequired"]
        is False
    )


def _console_paths() -> list[tuple[str, str]]:
    """Return (method, path) of every console route, with placeholders for path parameters."""
    found = []
    for route in console_routes():
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "example", route.path)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                found.append((method, path))
    return found


def test_signed_out_requests_reach_nothing(visitor: ConsoleClient, user: ConsoleUser) -> None:
    paths = _console_paths()
    assert ("GET", "/console/switch-role") in paths
    assert ("POST", "/console/signout") in paths
    for method, path in paths:
        if path == "/console/signin":
            continue
        response = visitor.request(method, path)
        if method == "GET" and not path.startswith("/console/api/"):
            if path == "/console":
                assert response.status_code == 307
                continue
            assert response.status_code == 303, (method, path, response.status_code)
            location = urlsplit(response.headers["location"])
            assert location.path == "/console/signin", (method, path)
            assert parse_qs(location.query)["next"] == [path], (method, path)
        else:
            assert response.status_code == 401, (method, path, response.status_code)

    assert visitor.get("/console/signin").status_code == 200
    assert visitor.get("/console/static/console.css").status_code == 200
    assert visitor.get("/console/no/such/page").status_code == 303


def test_signed_in_unknown_page_is_404(visitor: ConsoleClient, user: ConsoleUser) -> None:
    signed_in(visitor, user)
    response = visitor.get("/console/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.text


@pytest.fixture(params=BACKENDS)
def strict_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    """A server that allows 3 failed sign-ins per user name and 6 per client in 15 minutes."""
    url = fresh_database_url(request.param, tmp_path, request)
    with RunningServer(
        tmp_path / "home",
        database_url=url,
        console_sign_in_max_failures=3,
        console_sign_in_max_failures_per_client=6,
    ) as running:
        yield running


def test_sign_in_throttled_per_user(strict_server: RunningServer) -> None:
    user = make_console_user(strict_server, ACCOUNT)
    visitor = ConsoleClient(strict_server)
    for _ in range(3):
        assert visitor.sign_in(ACCOUNT, "Administrator", "Wrong-Pass-1").status_code == 401

    blocked = visitor.sign_in(ACCOUNT, "Administrator", user.password)
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text
    assert SESSION_COOKIE not in visitor.cookies
    unknown = visitor.sign_in(ACCOUNT, "ADMINISTRATOR", "Wrong-Pass-1")
    assert unknown.status_code == 429

    strict_server.clock.advance(minutes=16)
    assert visitor.sign_in(ACCOUNT, "Administrator", user.password).status_code == 303
    visitor.close()


def test_sign_in_throttled_per_client(strict_server: RunningServer) -> None:
    user = make_console_user(strict_server, ACCOUNT)
    visitor = ConsoleClient(strict_server)
    for index in range(6):
        response = visitor.sign_in(ACCOUNT, f"guess{index}", "Wrong-Pass-1")
        assert response.status_code == 401

    blocked = visitor.sign_in(ACCOUNT, "Administrator", user.password)
    assert blocked.status_code == 429
    strict_server.clock.advance(timedelta(minutes=16))
    assert visitor.sign_in(ACCOUNT, "Administrator", user.password).status_code == 303
    visitor.close()
