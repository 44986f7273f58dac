"""The response plan pages over HTTP on both backends: forms, AWS errors, sharing and CSRF."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, fresh_database_url
from tests.console.console_http import ConsoleClient
from tests.console.plan_support import (
    Visitor,
    make_usable,
    path_of,
    personal_contact,
    read_only_visitor,
    share_contact,
    share_plan,
    visitor,
)
from tocsin.testing import RunningServer

MARKUP = "<b>Checkout</b> down"
ROLE = "arn:aws:iam::{account}:role/IncidentRunbooks"


@pytest.fixture(scope="module", params=BACKENDS)
def plan_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One server per backend for this module; each test uses accounts of its own."""
    folder: Path = tmp_path_factory.mktemp(f"plans-{request.param}")
    url = fresh_database_url(request.param, folder, request)
    with RunningServer(folder / "home", database_url=url) as running:
        yield running


@pytest.fixture
def owner(plan_server: RunningServer) -> Iterator[Visitor]:
    account = visitor(plan_server)
    make_usable(plan_server, account)
    yield account
    account.client.close()


def plan_form(account: str, **changes: str) -> list[tuple[str, str]]:
    fields = {
        "name": "checkout",
        "displayName": "Checkout",
        "title": MARKUP,
        "impact": "2",
        "summary": "Orders fail.",
        "dedupeString": "checkout-down",
        "notificationTargets": f"arn:aws:sns:us-east-1:{account}:incidents",
        "chatChannel": f"arn:aws:sns:us-east-1:{account}:chat",
        "documentName": "RestartCheckout",
        "documentVersion": "$LATEST",
        "roleArn": ROLE.format(account=account),
        "targetAccount": "IMPACTED_ACCOUNT",
        "parameters": "Service=checkout\nService=payments\nDelay=5",
        "tags": "team=payments",
        **changes,
    }
    return list(fields.items())


def test_plan_create_edit_delete(owner: Visitor) -> None:
    contact = personal_contact(owner, "oncall", "On call")
    created = owner.outcome(
        "/console/response-plans", [*plan_form(owner.account_id), ("engagements", contact)]
    )
    assert created.kind == "success", created.message
    arn = f"arn:aws:ssm-incidents::{owner.account_id}:response-plan/checkout"
    assert created.location == path_of(arn, "response-plans")
    assert html.escape(MARKUP) in created.page
    assert MARKUP not in created.page
    assert "On call (oncall)" in created.page
    assert "Service=payments" in created.page
    assert "team=payments" in created.page
    assert "No resource policies." in created.page

    stored = owner.aws("ssm-incidents").get_response_plan(arn=arn)
    assert stored["incidentTemplate"]["impact"] == 2
    assert stored["incidentTemplate"]["dedupeString"] == "checkout-down"
    assert stored["engagements"] == [contact]
    assert stored["chatChannel"] == {
        "chatbotSns": [f"arn:aws:sns:us-east-1:{owner.account_id}:chat"]
    }
    automation = stored["actions"][0]["ssmAutomation"]
    assert automation["parameters"] == {"Service": ["checkout", "payments"], "Delay": ["5"]}
    assert automation["targetAccount"] == "IMPACTED_ACCOUNT"
    assert automation["documentVersion"] == "$LATEST"

    edit_page = owner.client.get(created.location + "/edit")
    assert edit_page.status_code == 200
    assert 'value="RestartCheckout"' in edit_page.text
    edited = owner.outcome(
        created.location + "/edit",
        plan_form(owner.account_id, title="Checkout degraded", chatChannel=""),
    )
    assert edited.kind == "success", edited.message
    stored = owner.aws("ssm-incidents").get_response_plan(arn=arn)
    assert stored["incidentTemplate"]["title"] == "Checkout degraded"
    assert "chatChannel" not in stored
    assert "engagements" not in stored
    assert stored["actions"] == [{"ssmAutomation": automation}]
    assert "No chat channel." in edited.page


def test_plan_edit_clears_runbook(owner: Visitor) -> None:
    owner.outcome("/console/response-plans", plan_form(owner.account_id, name="clear"))
    path = f"/console/response-plans/{owner.account_id}/clear"
    emptied = [
        (
            name,
            "" if name in ("documentName", "documentVersion", "roleArn", "parameters") else value,
        )
        for name, value in plan_form(owner.account_id, name="clear")
    ]
    edited = owner.outcome(path + "/edit", emptied)
    assert edited.kind == "success", edited.message
    arn = f"arn:aws:ssm-incidents::{owner.account_id}:response-plan/clear"
    assert "actions" not in owner.aws("ssm-incidents").get_response_plan(arn=arn)
    assert "The plan starts no runbook." in edited.page


def test_plan_delete_needs_confirmation(owner: Visitor) -> None:
    owner.outcome("/console/response-plans", plan_form(owner.account_id, name="doomed"))
    path = f"/console/response-plans/{owner.account_id}/doomed"
    confirm_page = owner.client.get(path + "/delete")
    assert confirm_page.status_code == 200
    assert "Type the plan's name, doomed, to confirm" in confirm_page.text

    wrong = owner.outcome(path + "/delete", {"confirm": "other"})
    assert wrong.kind == "error"
    assert wrong.location == path + "/delete"
    assert "'other' does not match" in wrong.message
    assert owner.client.get(path).status_code == 200

    deleted = owner.outcome(path + "/delete", {"confirm": "doomed"})
    assert deleted.kind == "success", deleted.message
    assert deleted.location == "/console/response-plans"
    assert path not in deleted.page
    assert owner.client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"roleArn": "not-a-role"}, "ValidationException"),
        ({"name": "bad name"}, "ValidationException"),
        ({"notificationTargets": "arn:aws:sns:us-east-1:999999999999:elsewhere"}, "999999999999"),
        ({"impact": "9"}, "The impact '9' is invalid"),
        ({"title": ""}, "The incident title is missing"),
        ({"parameters": "no separator"}, "Parameters line 1"),
    ],
)
def test_plan_create_invalid_shows_error(
    owner: Visitor, changes: dict[str, str], expected: str
) -> None:
    failed = owner.outcome("/console/response-plans", plan_form(owner.account_id, **changes))
    assert failed.kind == "error"
    assert failed.location == "/console/response-plans/new"
    assert expected in failed.message
    assert owner.aws("ssm-incidents").list_response_plans()["responsePlanSummaries"] == []


def test_plan_engagement_of_unknown_contact(owner: Visitor) -> None:
    missing = f"arn:aws:ssm-contacts:us-east-1:{owner.account_id}:contact/nobody"
    failed = owner.outcome(
        "/console/response-plans", [*plan_form(owner.account_id), ("engagements", missing)]
    )
    assert failed.kind == "error"
    assert failed.message.startswith("ValidationException: ")
    assert missing in failed.message


def test_read_only_user_denied(plan_server: RunningServer, owner: Visitor) -> None:
    owner.outcome("/console/response-plans", plan_form(owner.account_id, name="kept"))
    reader = read_only_visitor(plan_server, owner)
    path = f"/console/response-plans/{owner.account_id}/kept"
    listed = reader.client.get("/console/response-plans")
    assert listed.status_code == 200
    assert path in listed.text

    for form_path, data in (
        ("/console/response-plans", plan_form(owner.account_id, name="another")),
        (path + "/edit", plan_form(owner.account_id, name="kept", title="Changed")),
        (path + "/delete", [("confirm", "kept")]),
    ):
        denied = reader.outcome(form_path, data)
        assert denied.kind == "error", form_path
        assert denied.message.startswith("AccessDeniedException: "), denied.message
    arn = f"arn:aws:ssm-incidents::{owner.account_id}:response-plan/kept"
    stored = owner.aws("ssm-incidents").get_response_plan(arn=arn)
    assert stored["incidentTemplate"]["title"] == MARKUP
    reader.client.close()


def test_shared_plan_read_only(plan_server: RunningServer, owner: Visitor) -> None:
    consumer = visitor(plan_server)
    contact = personal_contact(owner, "shared-person", "Shared person")
    share_contact(owner, contact, consumer.account_id)
    owner.outcome(
        "/console/response-plans",
        [*plan_form(owner.account_id, name="shared"), ("engagements", contact)],
    )
    arn = f"arn:aws:ssm-incidents::{owner.account_id}:response-plan/shared"
    share_plan(owner, arn, consumer.account_id)
    path = path_of(arn, "response-plans")

    listed = consumer.client.get("/console/response-plans")
    assert path in listed.text
    assert "shared, read-only" in listed.text
    assert f"<td>{owner.account_id}</td>" in listed.text
    details = consumer.client.get(path)
    assert details.status_code == 200
    assert f"Account {owner.account_id} shares this response plan" in details.text
    assert f'href="{path}/edit"' not in details.text
    assert "Resource policies" not in details.text
    owner_details = owner.client.get(path)
    assert "ssm-incidents:StartIncident" in owner_details.text

    denied = consumer.outcome(path + "/edit", plan_form(owner.account_id, name="shared"))
    assert denied.kind == "error"
    assert denied.message.split(":")[0] in ("AccessDeniedException", "ResourceNotFoundException")

    # The consumer's own plan may engage the contact that the owner shares.
    make_usable(plan_server, consumer)
    created = consumer.outcome(
        "/console/response-plans",
        [*plan_form(consumer.account_id, name="uses-shared"), ("engagements", contact)],
    )
    assert created.kind == "success", created.message
    assert f"Shared person (shared-person), account {owner.account_id}" in created.page
    consumer.client.close()


def test_plan_forms_need_csrf(owner: Visitor) -> None:
    owner.outcome("/console/response-plans", plan_form(owner.account_id, name="guarded"))
    path = f"/console/response-plans/{owner.account_id}/guarded"
    for form_path in ("/console/response-plans", path + "/edit", path + "/delete"):
        response = owner.client.post(form_path, data={"confirm": "guarded", "title": "x"})
        assert response.status_code == 403, form_path
        forged = owner.client.post(form_path, data={"csrf_token": "forged", "confirm": "guarded"})
        assert forged.status_code == 403, form_path
    assert owner.client.get(path).status_code == 200


def test_plan_pages_missing_and_signed_out(plan_server: RunningServer, owner: Visitor) -> None:
    missing = owner.client.get(f"/console/response-plans/{owner.account_id}/absent")
    assert missing.status_code == 404
    assert "ResourceNotFoundException" in missing.text
    assert owner.client.get("/console/response-plans/123/x").status_code == 404
    form = owner.client.get("/console/response-plans/new")
    assert form.status_code == 200
    assert 'aria-current="page">Response plans' in form.text

    signed_out = ConsoleClient(plan_server)
    redirected = signed_out.get("/console/response-plans")
    assert redirected.status_code == 303
    assert redirected.headers["location"].startswith("/console/signin?next=")
    assert signed_out.post("/console/response-plans", data={}).status_code == 401
    signed_out.close()
