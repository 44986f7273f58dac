"""Sign-in through the real page in Chromium: redirect, form, session cookie, layout, sign-out."""

from __future__ import annotations

from typing import Any

from tests.console.conftest import ConsoleUser, sign_in
from tocsin.testing import RunningServer

NARROW = {"width": 390, "height": 844}


def horizontal_overflow(page: Any) -> int:
    """Return how many pixels the page is wider than the viewport."""
    overflow: int = page.evaluate(
        "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )
    return overflow


def test_browser_signs_in_and_out(
    console_page: Any, console_server: RunningServer, console_user: ConsoleUser
) -> None:
    page = console_page
    page.goto(f"{console_server.url}/console/switch-role")
    assert page.url.startswith(f"{console_server.url}/console/signin?next=")
    assert page.get_by_role("heading", name="Sign in as IAM user").is_visible()

    page.get_by_label("Account ID (12 digits)").fill(console_user.account_id)
    page.get_by_label("IAM user name").fill(console_user.user_name)
    page.get_by_label("Password", exact=True).fill("Wrong-Pass-9")
    page.get_by_role("button", name="Sign in").click()
    assert "incorrect" in page.get_by_role("alert").inner_text()

    sign_in(page, console_server, console_user, next_path="/console/switch-role")
    assert page.locator(".account-id").inner_text() == console_user.account_id
    assert page.locator(".identity .principal").inner_text() == console_user.user_name
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    session_cookie = cookies["tocsin-console-session"]
    assert session_cookie["httpOnly"] is True
    assert session_cookie["secure"] is True
    assert session_cookie["sameSite"] == "Lax"
    assert page.evaluate("() => document.cookie").find("tocsin-console-session") == -1

    page.set_viewport_size(NARROW)
    assert horizontal_overflow(page) <= 0
    page.goto(f"{console_server.url}/console/signin")
    assert horizontal_overflow(page) <= 0

    page.goto(f"{console_server.url}/console/switch-role")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{console_server.url}/console/signin")
    page.goto(f"{console_server.url}/console/switch-role")
    assert page.url.startswith(f"{console_server.url}/console/signin?next=")


def test_browser_keyboard_sign_in(
    console_page: Any, console_server: RunningServer, console_user: ConsoleUser
) -> None:
    page = console_page
    page.goto(f"{console_server.url}/console/signin")
    page.get_by_label("Account ID (12 digits)").focus()
    page.keyboard.type(console_user.account_id)
    page.keyboard.press("Tab")
    page.keyboard.type(console_user.user_name)
    page.keyboard.press("Tab")
    page.keyboard.type(console_user.password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console_server.url}/console/")
    page.goto(f"{console_server.url}/console/switch-role")
    assert page.locator(".account-id").inner_text() == console_user.account_id
