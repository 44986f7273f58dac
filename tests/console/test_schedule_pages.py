"""The schedule, sharing and outbox pages in Chromium on a 390-pixel-wide screen.

A user views a rotation's calendar, adds an override and finds it in the
calendar, accepts a resource share invitation and opens the outbox. Every
page fits the screen without horizontal scrolling.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.console.conftest import ConsoleUser, sign_in
from tests.console.schedule_scenario import (
    ROTATION_NAME,
    SHARE_NAME,
    ZONE,
    build_schedules,
    invite,
)
from tocsin.testing import RunningServer

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect


def no_horizontal_scroll(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth"
        )
    )


def test_calendar_override_invitation_outbox(
    browser: Any, console_server: RunningServer, console_user: ConsoleUser
) -> None:
    build_schedules(console_server, console_user)
    invite(console_server, console_user.account_id)
    zone = ZoneInfo(ZONE)
    start = (console_server.clock.now() + timedelta(days=1)).astimezone(zone)
    start = start.replace(hour=10, minute=0, second=0, microsecond=0)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, console_server, console_user, next_path="/console/schedules")
        assert no_horizontal_scroll(page)

        page.get_by_role("link", name=ROTATION_NAME).click()
        page.wait_for_url(f"**/console/rotations/{console_user.account_id}/{ROTATION_NAME}")
        expect(page.locator("#shift-days .shift").first).to_be_visible()
        assert no_horizontal_scroll(page)

        page.get_by_text("Add an override").click()
        form = page.locator("#override-form")
        form.get_by_label("bob").check()
        form.get_by_label(f"Start ({ZONE})").fill(start.strftime("%Y-%m-%dT%H:%M"))
        form.get_by_label(f"End ({ZONE})").fill(
            (start + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")
        )
        form.get_by_role("button", name="Add override").click()
        expect(page.locator(".flash-success")).to_contain_text("Override added from")
        overridden = page.locator("#shift-days .shift-overridden")
        expect(overridden).to_have_count(1)
        expect(overridden.locator(".shift-contacts")).to_contain_text("bob")
        expect(overridden.locator(".shift-time")).to_contain_text(start.strftime("%Y-%m-%d 10:00"))
        expect(page.locator("#override-list li[data-override]")).to_have_count(1)
        assert no_horizontal_scroll(page)

        page.goto(f"{console_server.url}/console/sharing")
        invitation = page.locator("#invitations li", has_text=SHARE_NAME)
        invitation.get_by_role("button", name="Accept").click()
        expect(page.locator(".flash-success")).to_have_text(
            f"Accepted the invitation to resource share {SHARE_NAME}."
        )
        expect(page.locator("#shares-other-accounts")).to_contain_text(SHARE_NAME)
        expect(page.locator("#invitations li[data-invitation]")).to_have_count(0)
        assert no_horizontal_scroll(page)

        page.goto(f"{console_server.url}/console/outbox")
        expect(page.locator(".outbox-message", has_text="alice@example.com")).to_have_count(1)
        expect(page.locator(".outbox-message", has_text="bob@example.com")).to_have_count(1)
        assert no_horizontal_scroll(page)
    finally:
        context.close()
