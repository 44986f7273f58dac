"""The console's incident pages in Chromium: a cross-account incident from alarm to resolution.

An application account's user watches the incident that its alarm starts in
the management account appear in the list, and opens it. The user approves
the runbook's aws:approve step, engages and acknowledges the account's own
on-call contact, adds a note and resolves the incident. The live parts
change without a reload. With TOCSIN_SCREENSHOTS=1 the tests also write the
screenshots of docs/console.md.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import (
    CONSOLE_PASSWORD,
    ConsoleUser,
    make_console_user,
    policy,
    sign_in,
)
from tests.console.console_http import SESSION_COOKIE, ConsoleClient
from tests.console.incident_scenario import (
    APPROVE_STEP,
    PLAN_NAME,
    REGION,
    RESPONDER_ROLE,
    RUNBOOK_NAME,
    Scenario,
    build,
    create_responder,
    fire_alarm,
    run_jobs,
)
from tocsin.testing import RunningServer
from tocsin.web.console import sessions

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
ALARM_TITLE = "Checkout service is down"
MARKUP_TITLE = "<img src=x onerror=alert(1)> Payment API"
# Long enough for a few polls of the event streams at the default interval.
LIVE_TIMEOUT_MS = 15_000


def screenshot(page: Any, name: str) -> None:
    """Write a documentation screenshot when TOCSIN_SCREENSHOTS is 1."""
    if os.environ.get("TOCSIN_SCREENSHOTS") != "1":
        return
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / name), full_page=True)


def no_horizontal_scroll(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth"
        )
    )


@pytest.fixture(scope="module")
def operator(console_server: RunningServer) -> ConsoleUser:
    """The Administrator of the application account, with a console password."""
    return make_console_user(console_server)


@pytest.fixture(scope="module")
def scenario(console_server: RunningServer, operator: ConsoleUser) -> Scenario:
    approver = f"arn:aws:iam::{operator.account_id}:user/{operator.user_name}"
    built = build(console_server, operator.keys, approver)
    create_responder(console_server, operator.keys, "app-oncall", "Application on-call")
    return built


@pytest.fixture
def dialogs(console_page: Any) -> Iterator[list[str]]:
    """Messages of every JavaScript dialog the page opens. Incident markup must open none."""
    opened: list[str] = []

    def record(dialog: Any) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    console_page.on("dialog", record)
    yield opened


def incident_arn(server: RunningServer, scenario: Scenario) -> str:
    """Return the ARN of the alarm's incident, firing the alarm first when no test has yet."""
    incidents = server.client("ssm-incidents", scenario.application, region=REGION)
    for _ in range(2):
        for summary in incidents.list_incident_records()["incidentRecordSummaries"]:
            if summary["title"] == ALARM_TITLE:
                arn: str = summary["arn"]
                return arn
        fire_alarm(server, scenario)
    raise AssertionError(f"the alarm started no incident titled {ALARM_TITLE!r}")


def incident_path(server: RunningServer, scenario: Scenario) -> str:
    account, _, rest = (
        incident_arn(server, scenario).split(":", 4)[4].partition(":incident-record/")
    )
    return f"/console/incidents/{account}/{rest}"


def test_application_account_incident_flow(
    console_page: Any,
    console_server: RunningServer,
    operator: ConsoleUser,
    scenario: Scenario,
    dialogs: list[str],
) -> None:
    page = console_page
    sign_in(page, console_server, operator)
    expect(page.locator("#empty-list")).to_be_visible()
    page.evaluate("window.loadedOnce = true")

    # The alarm in the application account starts the incident in the management account.
    fire_alarm(console_server, scenario)
    row = page.locator("#incident-rows tr", has_text=ALARM_TITLE)
    expect(row).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(row.locator(".badge.shared")).to_have_text(f"account {scenario.management.account_id}")
    expect(row.locator(".badge.status")).to_have_text("OPEN")
    expect(page.locator("#empty-list")).to_be_hidden()
    assert page.evaluate("window.loadedOnce") is True
    screenshot(page, "console-incidents.png")

    row.get_by_role("link").click()
    page.wait_for_url("**/console/incidents/**")
    overview = page.locator('[data-section="overview"]')
    expect(overview.locator('[data-field="status"]')).to_have_text("OPEN")
    expect(overview.locator('[data-field="plan"]')).to_have_text(PLAN_NAME)
    expect(overview.locator('[data-field="owner"]')).to_contain_text(scenario.management.account_id)
    expect(overview.locator('[data-field="trigger"]')).to_contain_text("aws.events")
    page.evaluate("window.loadedOnce = true")

    # The plan's runbook acts in the application account and waits for its user.
    page.get_by_role("link", name="Runbook").click()
    step = page.locator(".step", has_text=APPROVE_STEP)
    expect(step.locator(".badge")).to_have_text("Waiting")
    screenshot(page, "console-incident-details.png")
    step.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash-success")).to_have_text("Approved the waiting step.")
    page.evaluate("window.loadedOnce = true")
    run_jobs(console_server)
    expect(page.locator(".runbook h3 .badge")).to_have_text("Success", timeout=LIVE_TIMEOUT_MS)
    expect(step.locator(".badge")).to_have_text("Success")
    expect(step.get_by_role("button", name="Approve")).to_have_count(0)
    assert page.evaluate("window.loadedOnce") is True

    # The management account's responder was paged, and only that account may acknowledge.
    page.get_by_role("link", name="Engagements").click()
    managed = page.locator(".engagement", has_text="responder")
    expect(managed.locator(".pages li")).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(managed.locator(".badge")).to_have_text("not acknowledged")
    expect(managed.get_by_role("button", name="Acknowledge")).to_have_count(0)

    page.get_by_text("Engage a contact").click()
    page.get_by_label("Contact").select_option(label="Application on-call (app-oncall)")
    page.get_by_role("button", name="Engage").click()
    expect(page.locator(".flash-success")).to_contain_text("started")
    run_jobs(console_server)
    own = page.locator(".engagement", has_text="app-oncall")
    acknowledge = own.get_by_role("button", name="Acknowledge")
    expect(acknowledge).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    acknowledge.click()
    expect(page.locator(".flash-success")).to_have_text("The page is acknowledged.")
    expect(own.locator(".badge.acknowledged")).to_have_count(1)

    page.get_by_role("link", name="Timeline").click()
    page.get_by_label("Note").fill("Restarted the checkout pool.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".timeline")).to_contain_text("Restarted the checkout pool.")

    page.get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="Resolve incident").click()
    expect(page.locator(".flash-success")).to_have_text("The incident is resolved.")
    expect(overview.locator('[data-field="status"]')).to_have_text("RESOLVED")
    expect(overview.locator('[data-field="resolved"]')).not_to_be_empty()
    expect(page.get_by_role("button", name="Resolve incident")).to_be_hidden()

    page.get_by_role("link", name="Incidents").first.click()
    resolved = page.locator("#incident-rows tr", has_text=ALARM_TITLE)
    expect(resolved.locator(".badge.status")).to_have_text("RESOLVED")
    assert dialogs == []


def test_markup_title_renders_as_text(
    console_page: Any,
    console_server: RunningServer,
    operator: ConsoleUser,
    scenario: Scenario,
    dialogs: list[str],
) -> None:
    page = console_page
    sign_in(page, console_server, operator)
    incidents = console_server.client("ssm-incidents", scenario.application, region=REGION)
    incidents.start_incident(responsePlanArn=scenario.plan_arn, title=MARKUP_TITLE)

    # First through the event stream and textContent, then as the server renders it.
    row = page.locator("#incident-rows tr", has_text="Payment API")
    expect(row.get_by_role("link")).to_have_text(MARKUP_TITLE, timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("main img")).to_have_count(0)
    page.reload()
    expect(row.get_by_role("link")).to_have_text(MARKUP_TITLE)
    expect(page.locator("main img")).to_have_count(0)

    row.get_by_role("link").click()
    expect(page.locator("#incident-title")).to_have_text(MARKUP_TITLE)
    expect(page.locator("main img")).to_have_count(0)
    assert dialogs == []


def test_account_without_share_sees_nothing(
    console_page: Any, console_server: RunningServer, scenario: Scenario
) -> None:
    page = console_page
    outsider = make_console_user(console_server)
    sign_in(page, console_server, outsider)
    expect(page.locator("#empty-list")).to_be_visible()
    expect(page.locator("#incident-rows tr")).to_have_count(0)
    owner_filter = page.get_by_label("Owner account")
    expect(owner_filter.locator("option", has_text=scenario.management.account_id)).to_have_count(0)

    path = incident_path(console_server, scenario)
    response = page.goto(f"{console_server.url}{path}")
    assert response is not None
    assert response.status == 404
    expect(page.locator(".flash-error")).to_contain_text("ResourceNotFoundException")
    expect(page.locator("main")).not_to_contain_text(ALARM_TITLE)


def test_pages_fit_narrow_screen(
    browser: Any, console_server: RunningServer, operator: ConsoleUser, scenario: Scenario
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, console_server, operator)
        expect(page.locator("#incident-rows tr").first).to_be_visible()
        assert no_horizontal_scroll(page)
        page.goto(console_server.url + incident_path(console_server, scenario))
        for tab in ("Overview", "Timeline", "Related items", "Engagements", "Runbook"):
            page.get_by_role("link", name=tab).click()
            assert no_horizontal_scroll(page), tab
    finally:
        context.close()


def read_events(lines: Iterator[str], expected: str) -> list[str]:
    """Read server-sent event names from ``lines`` until the event ``expected`` arrives."""
    names = []
    for line in lines:
        if line.startswith("event: "):
            names.append(line.removeprefix("event: "))
            if names[-1] == expected:
                return names
    raise AssertionError(f"the stream closed before a {expected!r} event; got {names}")


def test_stream_ends_with_session(
    console_server: RunningServer, operator: ConsoleUser, scenario: Scenario
) -> None:
    visitor = ConsoleClient(console_server)
    try:
        signed_in = visitor.sign_in(operator.account_id, operator.user_name, operator.password)
        assert signed_in.status_code == 303
        cookie = "; ".join(f"{name}={value}" for name, value in visitor.cookies.items())
        with visitor.http.stream(
            "GET", "/console/api/incidents/stream", headers={"cookie": cookie}
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert read_events(lines, "incidents") == ["incidents"]
            with console_server.runtime.database.session() as session:
                sessions.delete_session_of_cookie(session, visitor.cookies[SESSION_COOKIE])
            assert read_events(lines, "end") == ["end"]
    finally:
        visitor.close()


def test_streams_and_forms_need_auth(
    console_server: RunningServer, operator: ConsoleUser, scenario: Scenario
) -> None:
    path = incident_path(console_server, scenario)
    visitor = ConsoleClient(console_server)
    try:
        assert visitor.get("/console/api/incidents/stream").status_code == 401
        assert visitor.get(f"/console/api{path.removeprefix('/console')}/stream").status_code == 401
        assert visitor.post(f"{path}/notes", data={"note": "x"}).status_code == 401

        visitor.sign_in(operator.account_id, operator.user_name, operator.password)
        missing = visitor.post(f"{path}/notes", data={"note": "no token"})
        wrong = visitor.post(f"{path}/notes", data={"note": "bad token", "csrf_token": "x"})
        assert missing.status_code == 403
        assert wrong.status_code == 403
        token = visitor.csrf_token()
        accepted = visitor.post(f"{path}/notes", data={"note": "with token", "csrf_token": token})
        assert accepted.status_code == 303
        assert accepted.headers["location"] == f"{path}#timeline"
    finally:
        visitor.close()

    incidents = console_server.client("ssm-incidents", scenario.application, region=REGION)
    arn = incident_arn(console_server, scenario)
    notes = incidents.list_timeline_events(
        incidentRecordArn=arn,
        filters=[{"key": "eventType", "condition": {"equals": {"stringValues": ["Note"]}}}],
    )["eventSummaries"]
    texts = [
        incidents.get_timeline_event(incidentRecordArn=arn, eventId=note["eventId"])["event"][
            "eventData"
        ]
        for note in notes
    ]
    assert '"with token"' in texts
    assert '"no token"' not in texts
    assert '"bad token"' not in texts


def flash_of(visitor: ConsoleClient, response: Any) -> str:
    """Follow a form's redirect and return the text of the message the page shows."""
    assert response.status_code == 303
    page = visitor.get(response.headers["location"].split("#", 1)[0])
    assert page.status_code == 200
    found = re.search(r'<p class="flash flash-(\w+)"[^>]*>([^<]*)</p>', page.text)
    assert found is not None, page.text
    return f"{found.group(1)}: {html.unescape(found.group(2))}"


def test_forms_show_outcome_and_errors(
    console_server: RunningServer, operator: ConsoleUser, scenario: Scenario
) -> None:
    path = incident_path(console_server, scenario)
    visitor = ConsoleClient(console_server)
    try:
        visitor.sign_in(operator.account_id, operator.user_name, operator.password)
        token = visitor.csrf_token()
        updated = visitor.post(
            f"{path}/update",
            data={
                "csrf_token": token,
                "title": "Checkout errors",
                "original_title": ALARM_TITLE,
                "impact": "3",
                "original_impact": "2",
            },
        )
        assert flash_of(visitor, updated) == "success: Updated impact, title."
        invalid = visitor.post(
            f"{path}/update", data={"csrf_token": token, "impact": "9", "original_impact": "3"}
        )
        assert flash_of(visitor, invalid) == (
            "error: The impact '9' is invalid: choose a value from 1 to 5."
        )
        restored = visitor.post(
            f"{path}/update",
            data={"csrf_token": token, "title": ALARM_TITLE, "original_title": "Checkout errors"},
        )
        assert flash_of(visitor, restored) == "success: Updated title."

        missing = visitor.post(
            f"{path}/runbooks", data={"csrf_token": token, "document": "No-Such-Runbook"}
        )
        assert flash_of(visitor, missing) == (
            "error: AutomationDefinitionNotFoundException: Document No-Such-Runbook does not "
            "exist or is not shared with your account."
        )
        document = f"arn:aws:ssm:{REGION}:{scenario.management.account_id}:document/{RUNBOOK_NAME}"
        started = visitor.post(
            f"{path}/runbooks",
            data={
                "csrf_token": token,
                "document": document,
                "parameters": f"IncidentRecordArn={incident_arn(console_server, scenario)}",
            },
        )
        assert flash_of(visitor, started).startswith(f"success: Runbook {document} started")
    finally:
        visitor.close()

    incidents = console_server.client("ssm-incidents", scenario.application, region=REGION)
    arn = incident_arn(console_server, scenario)
    record = incidents.get_incident_record(arn=arn)["incidentRecord"]
    assert record["impact"] == 3
    assert record["title"] == ALARM_TITLE
    related = incidents.list_related_items(incidentRecordArn=arn)["relatedItems"]
    runs = [item["identifier"]["value"]["arn"] for item in related]
    prefix = f"arn:aws:ssm:{REGION}:{operator.account_id}:automation-execution/"
    assert any(run.startswith(prefix) for run in runs), runs


def test_stream_reports_hidden_incident(console_server: RunningServer, scenario: Scenario) -> None:
    path = incident_path(console_server, scenario)
    outsider = make_console_user(console_server)
    visitor = ConsoleClient(console_server)
    try:
        signed_in = visitor.sign_in(outsider.account_id, outsider.user_name, outsider.password)
        assert signed_in.status_code == 303
        cookie = "; ".join(f"{name}={value}" for name, value in visitor.cookies.items())
        stream_path = f"/console/api{path.removeprefix('/console')}/stream"
        with visitor.http.stream("GET", stream_path, headers={"cookie": cookie}) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert read_events(lines, "problem") == ["problem"]
            data = next(line for line in lines if line.startswith("data: "))
    finally:
        visitor.close()
    assert "ResourceNotFoundException" in data
    assert ALARM_TITLE not in data


def test_switched_role_acknowledges_plan_page(
    console_page: Any, console_server: RunningServer, operator: ConsoleUser, scenario: Scenario
) -> None:
    path = incident_path(console_server, scenario)
    page = console_page
    sign_in(page, console_server, operator)

    # Only the contact's owner may acknowledge, so the application user switches
    # to the management account's role, as AWS users do in the AWS console.
    page.get_by_role("link", name="Switch role").click()
    page.get_by_label("Account ID (12 digits)").fill(scenario.management.account_id)
    page.get_by_label("Role name").fill(RESPONDER_ROLE)
    page.get_by_label("Display name (optional)").fill("Management responder")
    page.get_by_role("button", name="Switch role").click()
    identity = page.locator(".identity")
    expect(identity.locator(".account-id")).to_have_text(scenario.management.account_id)
    expect(identity.locator(".principal")).to_have_text("Management responder")

    page.goto(f"{console_server.url}{path}")
    page.get_by_role("link", name="Engagements").click()
    plan_pages = page.locator(".engagement", has_text="responder")
    acknowledge = plan_pages.get_by_role("button", name="Acknowledge")
    expect(acknowledge).to_have_count(1)
    acknowledge.click()
    expect(page.locator(".flash-success")).to_have_text("The page is acknowledged.")
    expect(plan_pages.locator(".badge.acknowledged")).to_have_count(1)

    contacts = console_server.client("ssm-contacts", scenario.management, region=REGION)
    page_arn = plan_pages.locator("li[data-page]").get_attribute("data-page")
    described = contacts.describe_page(PageId=page_arn)
    assert "ReadTime" in described
    # The receipt's note names the role session that acknowledged the page.
    receipts = contacts.list_page_receipts(PageId=page_arn)["Receipts"]
    read_notes = [item.get("ReceiptInfo", "") for item in receipts if item["ReceiptType"] == "READ"]
    role_session = f"arn:aws:sts::{scenario.management.account_id}:assumed-role/{RESPONDER_ROLE}/"
    assert len(read_notes) == 1
    assert role_session in read_notes[0]

    page.get_by_role("button", name=f"Back to {operator.user_name}").click()
    expect(identity.locator(".account-id")).to_have_text(operator.account_id)
    expect(identity.locator(".principal")).to_have_text(operator.user_name)
    page.goto(f"{console_server.url}{path}")
    page.get_by_role("link", name="Engagements").click()
    expect(plan_pages.locator(".badge.acknowledged")).to_have_count(1)
    expect(plan_pages.get_by_role("button", name="Acknowledge")).to_have_count(0)


def test_read_only_user_gets_access_errors(
    console_server: RunningServer, operator: ConsoleUser, scenario: Scenario
) -> None:
    iam = operator.client("iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader",
        PolicyName="ReadIncidents",
        PolicyDocument=policy("ssm-incidents:Get*", "ssm-incidents:List*"),
    )
    iam.create_login_profile(UserName="reader", Password=CONSOLE_PASSWORD)
    path = incident_path(console_server, scenario)
    visitor = ConsoleClient(console_server)
    try:
        signed_in = visitor.sign_in(operator.account_id, "reader", CONSOLE_PASSWORD)
        assert signed_in.status_code == 303
        listed = visitor.get("/console/")
        details = visitor.get(path)
        token = visitor.csrf_token()
        note = visitor.post(f"{path}/notes", data={"note": "read only", "csrf_token": token})
        note_flash = flash_of(visitor, note)
    finally:
        visitor.close()
    assert listed.status_code == 200
    assert ALARM_TITLE in listed.text
    assert details.status_code == 200
    assert ALARM_TITLE in details.text
    # ssm-contacts is not allowed, so the engagements section shows the error instead.
    engagements = details.text.split('data-section="engagements"', 1)[1].split("</section>", 1)[0]
    assert "AccessDeniedException" in engagements
    assert note_flash.startswith("error: AccessDeniedException: ")


def test_runbook_of_other_account_explained(
    console_server: RunningServer, operator: ConsoleUser, scenario: Scenario
) -> None:
    # An incident that the management account starts runs the plan's runbook
    # there, so the application account cannot read that automation execution.
    incidents = console_server.client("ssm-incidents", scenario.management, region=REGION)
    arn = incidents.start_incident(
        responsePlanArn=scenario.plan_arn, title="Runbook in the management account"
    )["incidentRecordArn"]
    run_jobs(console_server)
    executions = incidents.get_incident_record(arn=arn)["incidentRecord"]["automationExecutions"]
    management = scenario.management.account_id
    assert f":{management}:automation-execution/" in executions[0]["ssmExecutionArn"]

    account, _, rest = arn.split(":", 4)[4].partition(":incident-record/")
    visitor = ConsoleClient(console_server)
    try:
        visitor.sign_in(operator.account_id, operator.user_name, operator.password)
        details = visitor.get(f"/console/incidents/{account}/{rest}")
    finally:
        visitor.close()
        incidents.update_incident_record(arn=arn, status="RESOLVED")
        run_jobs(console_server)

    assert details.status_code == 200
    runbooks = details.text.split('data-section="runbooks"', 1)[1].split("</section>", 1)[0]
    assert f"This runbook ran in account {management}" in runbooks
    assert "AWS-SystemsManager-AutomationReadOnlyRole" in runbooks
    assert 'href="/console/switch-role"' in runbooks
    assert "AutomationExecutionNotFoundException" not in runbooks
    assert '<span class="badge"></span>' not in runbooks
    assert "flash-error" not in runbooks


def test_list_reports_invalid_filter(
    console_server: RunningServer, operator: ConsoleUser, scenario: Scenario
) -> None:
    incident_arn(console_server, scenario)
    visitor = ConsoleClient(console_server)
    try:
        visitor.sign_in(operator.account_id, operator.user_name, operator.password)
        listed = visitor.get("/console/", params={"status": "BOGUS"})
    finally:
        visitor.close()
    assert listed.status_code == 200
    problems = re.findall(r'<p class="flash flash-error filter-problem">([^<]*)</p>', listed.text)
    assert [html.unescape(text) for text in problems] == [
        "The status filter 'BOGUS' is invalid: use OPEN or RESOLVED. The list ignores this filter."
    ]
    # The incident is listed whatever its status.
    assert ALARM_TITLE in listed.text
