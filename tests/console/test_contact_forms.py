"""The contact and escalation plan pages over HTTP on both backends: channels, stages, errors."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, fresh_database_url
from tests.console.plan_support import (
    Outcome,
    Visitor,
    activation_code,
    path_of,
    personal_contact,
    read_only_visitor,
    share_contact,
    visitor,
)
from tocsin.testing import RunningServer

MARKUP = "<img src=x onerror=alert(1)>"


def server_on(
    request: pytest.FixtureRequest, folder: Path, *, lenient: bool = False
) -> RunningServer:
    url = fresh_database_url(request.param, folder, request)
    return RunningServer(folder / "home", database_url=url, allow_cross_account_escalation=lenient)


@pytest.fixture(scope="module", params=BACKENDS)
def contact_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One server per backend for this module; each test uses accounts of its own."""
    with server_on(request, tmp_path_factory.mktemp(f"contacts-{request.param}")) as running:
        yield running


@pytest.fixture(scope="module", params=BACKENDS)
def lenient_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server whose operator lets escalation plans name other accounts' contacts."""
    folder = tmp_path_factory.mktemp(f"lenient-{request.param}")
    with server_on(request, folder, lenient=True) as running:
        yield running


@pytest.fixture
def owner(contact_server: RunningServer) -> Iterator[Visitor]:
    account = visitor(contact_server)
    yield account
    account.client.close()


def contact_path(account: Visitor, alias: str) -> str:
    return f"/console/contacts/{account.account_id}/{alias}"


def test_contact_channel_lifecycle(contact_server: RunningServer, owner: Visitor) -> None:
    created = owner.outcome(
        "/console/contacts?type=PERSONAL",
        {"alias": "alice", "displayName": "Alice", "type": "PERSONAL"},
    )
    assert created.kind == "success", created.message
    path = contact_path(owner, "alice")
    assert created.location == path

    invalid = owner.outcome(
        path + "/channels", {"name": "mail", "type": "EMAIL", "address": "not-an-address"}
    )
    assert invalid.kind == "error"
    assert invalid.message.startswith("ValidationException: ")
    assert "not-an-address" in invalid.message

    added = owner.outcome(
        path + "/channels", {"name": "mail", "type": "EMAIL", "address": "alice@example.com"}
    )
    assert added.kind == "success", added.message
    assert added.location == path + "#channels"
    contacts = owner.aws("ssm-contacts")
    contact_arn = f"arn:aws:ssm-contacts:us-east-1:{owner.account_id}:contact/alice"
    channel = contacts.list_contact_channels(ContactId=contact_arn)["ContactChannels"][0]
    channel_arn = channel["ContactChannelArn"]
    assert channel["ActivationStatus"] == "NOT_ACTIVATED"
    assert "Not activated" in added.page
    code = activation_code(contact_server, channel_arn)

    wrong_code = "000000" if code != "000000" else "111111"
    wrong = owner.outcome(path + "/channels/activate", {"channel": channel_arn, "code": wrong_code})
    assert wrong.kind == "error"
    assert wrong.message.split(":")[0] in ("ValidationException", "ConflictException")
    letters = owner.outcome(path + "/channels/activate", {"channel": channel_arn, "code": "abc"})
    assert letters.kind == "error"
    assert letters.message.startswith("ValidationException: ")

    activated = owner.outcome(path + "/channels/activate", {"channel": channel_arn, "code": code})
    assert activated.kind == "success", activated.message
    assert "Activated" in activated.page
    assert contacts.get_contact_channel(ContactChannelId=channel_arn)["ActivationStatus"] == (
        "ACTIVATED"
    )

    deactivated = owner.outcome(path + "/channels/deactivate", {"channel": channel_arn})
    assert deactivated.kind == "success", deactivated.message
    assert contacts.get_contact_channel(ContactChannelId=channel_arn)["ActivationStatus"] == (
        "NOT_ACTIVATED"
    )
    resent = owner.outcome(path + "/channels/send-code", {"channel": channel_arn})
    assert resent.kind == "success", resent.message

    deleted = owner.outcome(path + "/channels/delete", {"channel": channel_arn})
    assert deleted.kind == "success", deleted.message
    assert contacts.list_contact_channels(ContactId=contact_arn)["ContactChannels"] == []
    missing = owner.outcome(path + "/channels/delete", {"channel": channel_arn})
    assert missing.kind == "error"
    assert missing.message.startswith("ResourceNotFoundException: ")


def test_contact_markup_shows_as_text(owner: Visitor) -> None:
    created = owner.outcome(
        "/console/contacts?type=PERSONAL",
        {"alias": "markup", "displayName": MARKUP, "type": "PERSONAL"},
    )
    # The API's ContactName pattern rejects markup; the console shows its message as text.
    assert created.kind == "error"
    assert created.location == "/console/contacts/new?type=PERSONAL"
    assert html.escape(MARKUP, quote=False) in created.page
    assert MARKUP not in created.page


def test_create_contact_invalid(owner: Visitor) -> None:
    for data, expected in (
        ({"alias": "Bad Alias", "type": "PERSONAL"}, "ValidationException"),
        ({"alias": "", "type": "PERSONAL"}, "The alias is missing"),
        ({"alias": "sched", "type": "ONCALL_SCHEDULE"}, "'ONCALL_SCHEDULE' is invalid"),
    ):
        failed = owner.outcome("/console/contacts", data)
        assert failed.kind == "error", data
        assert expected in failed.message
    personal_contact(owner, "taken")
    conflict = owner.outcome("/console/contacts", {"alias": "taken", "type": "PERSONAL"})
    assert conflict.message.startswith("ConflictException: ")


def test_engagement_plan_stages(contact_server: RunningServer, owner: Visitor) -> None:
    arn = personal_contact(owner, "bob", "Bob")
    contacts = owner.aws("ssm-contacts")
    channels = [
        contacts.create_contact_channel(
            ContactId=arn,
            Name=name,
            Type=kind,
            DeliveryAddress={"SimpleAddress": address},
            DeferActivation=True,
        )["ContactChannelArn"]
        for name, kind, address in (
            ("mail", "EMAIL", "bob@example.com"),
            ("phone", "SMS", "+15555550100"),
        )
    ]
    path = path_of(arn, "contacts")
    editor = owner.client.get(path + "/plan")
    assert editor.status_code == 200
    assert 'name="stage_count" value="1"' in editor.text
    assert "Edit engagement plan of Bob" in editor.text
    saved = owner.outcome(
        path + "/plan",
        [
            ("stage_count", "3"),
            ("stage-0-duration", "0"),
            ("stage-0-target", channels[0]),
            ("stage-1-duration", "5"),
            ("stage-2-duration", "10"),
            ("stage-2-target", channels[0]),
            ("stage-2-target", channels[1]),
            ("stage-2-retry", "2"),
        ],
    )
    assert saved.kind == "success", saved.message
    stages = contacts.get_contact(ContactId=arn)["Plan"]["Stages"]
    assert [stage["DurationInMinutes"] for stage in stages] == [0, 10]
    assert stages[0]["Targets"] == [{"ChannelTargetInfo": {"ContactChannelId": channels[0]}}]
    assert stages[1]["Targets"][1] == {
        "ChannelTargetInfo": {"ContactChannelId": channels[1], "RetryIntervalInMinutes": 2}
    }
    assert "wait 10 minutes" in saved.page
    assert "phone (SMS)" in saved.page

    too_long = owner.outcome(
        path + "/plan",
        [("stage_count", "1"), ("stage-0-duration", "31"), ("stage-0-target", channels[0])],
    )
    assert too_long.kind == "error"
    assert too_long.location == path + "/plan"
    assert too_long.message.startswith("ValidationException: ")
    bad_number = owner.outcome(
        path + "/plan",
        [("stage_count", "1"), ("stage-0-duration", "soon"), ("stage-0-target", channels[0])],
    )
    assert "Stage 1's duration 'soon' is invalid" in bad_number.message
    assert len(contacts.get_contact(ContactId=arn)["Plan"]["Stages"]) == 2


def test_escalation_plan_create_and_edit(owner: Visitor) -> None:
    first = personal_contact(owner, "first", "First")
    second = personal_contact(owner, "second", "Second")
    form = owner.client.get("/console/contacts/new?type=ESCALATION")
    assert form.status_code == 200
    assert first in form.text
    created = owner.outcome(
        "/console/contacts?type=ESCALATION",
        [
            ("alias", "escalate"),
            ("displayName", "Escalate"),
            ("type", "ESCALATION"),
            ("stage_count", "2"),
            ("stage-0-duration", "5"),
            ("stage-0-target", first),
            ("stage-0-essential", first),
            ("stage-1-duration", "0"),
            ("stage-1-target", second),
        ],
    )
    assert created.kind == "success", created.message
    arn = f"arn:aws:ssm-contacts:us-east-1:{owner.account_id}:contact/escalate"
    stages = owner.aws("ssm-contacts").get_contact(ContactId=arn)["Plan"]["Stages"]
    assert stages == [
        {
            "DurationInMinutes": 5,
            "Targets": [{"ContactTargetInfo": {"ContactId": first, "IsEssential": True}}],
        },
        {
            "DurationInMinutes": 0,
            "Targets": [{"ContactTargetInfo": {"ContactId": second, "IsEssential": False}}],
        },
    ]
    assert "First (first)" in created.page
    assert "essential" in created.page
    listed = owner.client.get("/console/contacts?type=ESCALATION")
    assert path_of(arn, "contacts") in listed.text
    assert path_of(first, "contacts") not in listed.text

    itself = owner.outcome(
        path_of(arn, "contacts") + "/plan",
        [("stage_count", "1"), ("stage-0-duration", "1"), ("stage-0-target", arn)],
    )
    assert itself.kind == "error"
    assert itself.message.startswith("ValidationException: ")
    edited = owner.outcome(
        path_of(arn, "contacts") + "/plan",
        [("stage_count", "1"), ("stage-0-duration", "3"), ("stage-0-target", second)],
    )
    assert edited.kind == "success", edited.message
    stages = owner.aws("ssm-contacts").get_contact(ContactId=arn)["Plan"]["Stages"]
    assert stages == [
        {
            "DurationInMinutes": 3,
            "Targets": [{"ContactTargetInfo": {"ContactId": second, "IsEssential": False}}],
        }
    ]


def shared_target_outcome(server: RunningServer) -> tuple[Visitor, str, Outcome]:
    """Try to create an escalation plan that names another account's shared contact."""
    sharer = visitor(server)
    account = visitor(server)
    shared = personal_contact(sharer, "partner", "Partner")
    share_contact(sharer, shared, account.account_id)
    listed = account.client.get("/console/contacts")
    assert path_of(shared, "contacts") in listed.text
    assert "shared, read-only" in listed.text
    outcome = account.outcome(
        "/console/contacts?type=ESCALATION",
        [
            ("alias", "cross"),
            ("type", "ESCALATION"),
            ("stage_count", "1"),
            ("stage-0-duration", "5"),
            ("stage-0-target", shared),
        ],
    )
    sharer.client.close()
    return account, shared, outcome


def test_escalation_shared_target_rejected(contact_server: RunningServer) -> None:
    account, shared, outcome = shared_target_outcome(contact_server)
    assert outcome.kind == "error"
    assert outcome.message.startswith("ValidationException: ")
    assert shared in outcome.message
    assert outcome.location == "/console/contacts/new?type=ESCALATION"
    details = account.client.get(path_of(shared, "contacts"))
    assert details.status_code == 200
    assert "only account" in details.text
    assert "AccessDeniedException" in details.text
    assert "Add a channel" not in details.text
    account.client.close()


def test_escalation_shared_target_allowed(lenient_server: RunningServer) -> None:
    account, shared, outcome = shared_target_outcome(lenient_server)
    assert outcome.kind == "success", outcome.message
    arn = f"arn:aws:ssm-contacts:us-east-1:{account.account_id}:contact/cross"
    stages = account.aws("ssm-contacts").get_contact(ContactId=arn)["Plan"]["Stages"]
    assert stages[0]["Targets"][0]["ContactTargetInfo"]["ContactId"] == shared
    account.client.close()


def test_contact_read_only_user_denied(contact_server: RunningServer, owner: Visitor) -> None:
    arn = personal_contact(owner, "kept", "Kept")
    channel = owner.aws("ssm-contacts").create_contact_channel(
        ContactId=arn,
        Name="mail",
        Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "kept@example.com"},
        DeferActivation=True,
    )["ContactChannelArn"]
    reader = read_only_visitor(contact_server, owner)
    path = path_of(arn, "contacts")
    page = reader.client.get(path)
    assert page.status_code == 200
    assert "kept@example.com" in page.text

    for form_path, data in (
        ("/console/contacts", [("alias", "new"), ("type", "PERSONAL")]),
        (path + "/channels", [("name", "x"), ("type", "EMAIL"), ("address", "x@example.com")]),
        (path + "/channels/send-code", [("channel", channel)]),
        (path + "/channels/activate", [("channel", channel), ("code", "123456")]),
        (path + "/channels/deactivate", [("channel", channel)]),
        (path + "/channels/delete", [("channel", channel)]),
        (path + "/plan", [("stage_count", "0")]),
        (path + "/delete", [("confirm", "kept")]),
    ):
        denied = reader.outcome(form_path, data)
        assert denied.kind == "error", form_path
        assert denied.message.startswith("AccessDeniedException: "), (form_path, denied.message)
    assert owner.aws("ssm-contacts").get_contact(ContactId=arn)["Alias"] == "kept"
    reader.client.close()


def test_contact_delete_needs_confirmation(owner: Visitor) -> None:
    arn = personal_contact(owner, "gone")
    path = path_of(arn, "contacts")
    assert "Type the alias, gone, to confirm" in owner.client.get(path + "/delete").text
    wrong = owner.outcome(path + "/delete", {"confirm": "other"})
    assert wrong.kind == "error"
    assert wrong.location == path + "/delete"
    deleted = owner.outcome(path + "/delete", {"confirm": "gone"})
    assert deleted.kind == "success", deleted.message
    assert deleted.location == "/console/contacts"
    assert owner.client.get(path).status_code == 404


def test_contact_forms_need_csrf(owner: Visitor) -> None:
    arn = personal_contact(owner, "guarded")
    path = path_of(arn, "contacts")
    for suffix in (
        "",
        "/channels",
        "/channels/send-code",
        "/channels/activate",
        "/channels/deactivate",
        "/channels/delete",
        "/plan",
        "/delete",
    ):
        form_path = "/console/contacts" if suffix == "" else path + suffix
        response = owner.client.post(form_path, data={"alias": "x", "confirm": "guarded"})
        assert response.status_code == 403, form_path
    assert owner.client.get(path).status_code == 200
    assert 'aria-current="page">Contacts' in owner.client.get(path).text
