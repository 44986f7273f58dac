"""The response plan and contact pages in Chromium: from a new contact to a response plan.

A user creates a contact with an email channel and activates the channel
with the code from the development outbox. The user then creates an
escalation plan that engages the contact and a response plan that engages
the escalation plan, and finds the plan in the list. Markup in a display name shows as text, and
the pages fit a 390-pixel-wide screen.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import ConsoleUser, make_console_user, sign_in
from tests.console.plan_support import activation_code
from tests.incidents.conftest import settle
from tocsin.testing import RunningServer

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect

MARKUP = "<img src=x onerror=alert(1)> Checkout"


def no_horizontal_scroll(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth"
        )
    )


@pytest.fixture(scope="module")
def planner(console_server: RunningServer) -> ConsoleUser:
    """The Administrator of an account with a replication set, so it can create plans."""
    user = make_console_user(console_server)
    incidents = user.client("ssm-incidents")
    arn = incidents.create_replication_set(regions={"us-east-1": {}})["arn"]
    settle(console_server, incidents, arn)
    return user


def test_contact_to_response_plan(
    console_page: Any, console_server: RunningServer, planner: ConsoleUser
) -> None:
    page = console_page
    dialogs: list[str] = []

    def record(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    sign_in(page, console_server, planner, "/console/contacts")
    main_navigation = page.get_by_role("navigation", name="Main")
    expect(main_navigation.get_by_role("link", name="Contacts")).to_have_attribute(
        "aria-current", "page"
    )

    page.get_by_role("link", name="Create contact").click()
    page.get_by_label("Alias").fill("alice")
    page.get_by_label("Display name").fill("Alice Example")
    page.get_by_role("button", name="Create contact").click()
    expect(page.locator(".flash-success")).to_contain_text("Contact alice was created.")

    page.get_by_label("Channel name").fill("mail")
    page.get_by_label("Type").select_option("EMAIL")
    page.get_by_label("Delivery address").fill("alice@example.com")
    page.get_by_role("button", name="Add channel").click()
    expect(page.locator(".flash-success")).to_contain_text("activation code was sent")
    expect(page.locator(".channel .badge")).to_have_text("Not activated")

    channel_arn = page.locator(".channel").get_attribute("data-channel")
    assert channel_arn is not None
    code = activation_code(console_server, channel_arn)
    page.get_by_label("Activation code for mail").fill(code)
    page.get_by_role("button", name="Activate", exact=True).click()
    expect(page.locator(".flash-success")).to_have_text("The channel is activated.")
    expect(page.locator(".channel .badge")).to_have_text("Activated")

    main_navigation.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Create escalation plan").click()
    page.get_by_label("Alias").fill("escalate")
    page.get_by_label("Display name").fill("Escalate checkout")
    first_stage = page.locator("fieldset.stage").first
    first_stage.get_by_label("Duration in minutes").fill("5")
    first_stage.get_by_label("Alice Example (alice)").check()
    first_stage.get_by_label("Essential").check()
    page.get_by_role("button", name="Create escalation plan").click()
    expect(page.locator(".flash-success")).to_contain_text("Escalation plan escalate was created.")
    expect(page.locator("#stages")).to_contain_text("Alice Example (alice)")
    expect(page.locator("#stages")).to_contain_text("essential")

    main_navigation.get_by_role("link", name="Response plans").click()
    page.get_by_role("link", name="Create response plan").click()
    page.get_by_label("Name", exact=True).fill("checkout")
    page.get_by_label("Display name").fill(MARKUP)
    page.get_by_label("Incident title").fill("Checkout is down")
    page.get_by_label("Impact").select_option("2")
    page.get_by_label("Escalate checkout").check()
    page.get_by_role("button", name="Create response plan").click()
    expect(page.locator(".flash-success")).to_have_text("Response plan checkout was created.")
    expect(page.locator("#plan-title")).to_have_text(MARKUP)
    expect(page.locator("#plan-engagements")).to_contain_text("Escalate checkout (escalate)")

    main_navigation.get_by_role("link", name="Response plans").click()
    row = page.locator("tr[data-arn$=':response-plan/checkout']")
    expect(row).to_contain_text(MARKUP)
    expect(row.get_by_role("link", name="checkout")).to_be_visible()
    assert page.locator("img[src='x']").count() == 0
    assert dialogs == []

    page.set_viewport_size({"width": 390, "height": 844})
    account = planner.account_id
    for path in (
        "/console/response-plans",
        "/console/response-plans/new",
        f"/console/response-plans/{account}/checkout",
        "/console/contacts",
        f"/console/contacts/{account}/alice",
        f"/console/contacts/{account}/escalate/plan",
    ):
        page.goto(f"{console_server.url}{path}")
        assert no_horizontal_scroll(page), path
