"""The sharing and outbox pages and their forms over HTTP, on both backends."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from tests.console.conftest import ConsoleUser, make_console_user
from tests.console.console_http import ConsoleClient
from tests.console.incident_scenario import create_responder, run_jobs
from tests.console.schedule_scenario import (
    SHARE_NAME,
    Schedules,
    build_schedules,
    flash_after,
    invite,
    reader,
)
from tocsin.testing import RunningServer

REGION = "us-east-1"


@pytest.fixture
def owner(server: RunningServer) -> ConsoleUser:
    return make_console_user(server)


@pytest.fixture
def visitor(server: RunningServer, owner: ConsoleUser) -> Iterator[ConsoleClient]:
    client = ConsoleClient(server)
    signed_in = client.sign_in(owner.account_id, owner.user_name, owner.password)
    assert signed_in.status_code == 303
    yield client
    client.close()


def invitation_arns(page: str) -> list[str]:
    return re.findall(r'<li data-invitation="([^"]+)">', page)


def section(page: str, section_id: str) -> str:
    return page.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


def test_accept_and_reject_invitations(
    server: RunningServer, visitor: ConsoleClient, owner: ConsoleUser
) -> None:
    sharer, share_arn = invite(server, owner.account_id)
    ram = server.client("ram", sharer, region=REGION)
    rejected_share = ram.create_resource_share(
        name="second-share", principals=[owner.account_id], allowExternalPrincipals=True
    )["resourceShare"]["resourceShareArn"]

    page = visitor.get("/console/sharing")
    assert page.status_code == 200
    pending = invitation_arns(page.text)
    assert len(pending) == 2
    assert SHARE_NAME in section(page.text, "invitations")
    token = visitor.csrf_token()
    by_share = {
        item["resourceShareArn"]: item["resourceShareInvitationArn"]
        for item in owner.client("ram").get_resource_share_invitations()["resourceShareInvitations"]
    }

    assert (
        visitor.post(
            "/console/sharing/invitations/accept", data={"invitation": by_share[share_arn]}
        ).status_code
        == 403
    )
    assert (
        visitor.post(
            "/console/sharing/invitations/reject", data={"invitation": by_share[rejected_share]}
        ).status_code
        == 403
    )
    read_only = reader(server, owner, "ram:Get*", "ram:List*")
    try:
        outcomes = [
            flash_after(
                read_only,
                read_only.post(
                    f"/console/sharing/invitations/{action}",
                    data={"invitation": by_share[share_arn], "csrf_token": read_only.csrf_token()},
                ),
            )
            for action in ("accept", "reject")
        ]
    finally:
        read_only.close()
    for kind, text in outcomes:
        assert kind == "error"
        assert text.startswith("AccessDeniedException: ")

    accepted = visitor.post(
        "/console/sharing/invitations/accept",
        data={"invitation": by_share[share_arn], "csrf_token": token},
    )
    assert flash_after(visitor, accepted) == (
        "success",
        f"Accepted the invitation to resource share {SHARE_NAME}.",
    )
    rejected = visitor.post(
        "/console/sharing/invitations/reject",
        data={"invitation": by_share[rejected_share], "csrf_token": token},
    )
    assert flash_after(visitor, rejected) == (
        "success",
        "Rejected the invitation to resource share second-share.",
    )
    again = visitor.post(
        "/console/sharing/invitations/accept",
        data={"invitation": by_share[rejected_share], "csrf_token": token},
    )
    kind, text = flash_after(visitor, again)
    assert kind == "error"
    assert text.startswith("ResourceShareInvitationAlreadyRejectedException: ")
    malformed = visitor.post(
        "/console/sharing/invitations/accept", data={"invitation": "x", "csrf_token": token}
    )
    assert flash_after(visitor, malformed) == (
        "error",
        "The invitation 'x' is invalid: expected a RAM invitation ARN.",
    )

    after = visitor.get("/console/sharing")
    assert invitation_arns(after.text) == []
    shared_with = section(after.text, "shares-other-accounts")
    assert SHARE_NAME in shared_with
    assert f"from account {sharer.account_id}" in shared_with
    assert ":contact/shared-responder" in shared_with
    assert "second-share" not in shared_with


def test_create_share_and_errors(
    server: RunningServer, visitor: ConsoleClient, owner: ConsoleUser
) -> None:
    schedules: Schedules = build_schedules(server, owner)
    partner = server.create_account(name="partner")
    page = visitor.get("/console/sharing")
    assert f'value="{schedules.schedule_arn}"' in section(page.text, "create-share")
    token = visitor.csrf_token()
    form = {
        "csrf_token": token,
        "name": "schedule-share",
        "resource": schedules.schedule_arn,
        "principals": partner.account_id,
        "allow_external": "on",
    }
    created = visitor.post("/console/sharing/shares", data=form)
    kind, text = flash_after(visitor, created)
    assert kind == "success"
    assert text.startswith("Resource share schedule-share was created: arn:aws:ram:")
    mine = section(visitor.get("/console/sharing").text, "shares-self")
    assert schedules.schedule_arn in mine
    assert partner.account_id in mine

    bad_principal = visitor.post("/console/sharing/shares", data={**form, "principals": "12345"})
    assert flash_after(visitor, bad_principal) == (
        "error",
        "Principal line 1 '12345' is invalid: enter a 12-digit account ID, or the ARN of an "
        "organization, organizational unit, role or user.",
    )
    no_resource = visitor.post("/console/sharing/shares", data={**form, "resource": ""})
    assert flash_after(visitor, no_resource) == (
        "error",
        "The resources are missing: choose a response plan or contact to share.",
    )
    internal_only = visitor.post(
        "/console/sharing/shares", data={**form, "name": "internal", "allow_external": ""}
    )
    kind, text = flash_after(visitor, internal_only)
    assert kind == "error"
    assert partner.account_id in text
    assert (
        visitor.post(
            "/console/sharing/shares", data={k: v for k, v in form.items() if k != "csrf_token"}
        ).status_code
        == 403
    )

    read_only = reader(server, owner, "ram:Get*", "ram:List*", "ssm-contacts:List*")
    try:
        denied = read_only.post(
            "/console/sharing/shares",
            data={**form, "name": "reader-share", "csrf_token": read_only.csrf_token()},
        )
        kind, text = flash_after(read_only, denied)
    finally:
        read_only.close()
    assert kind == "error"
    assert text.startswith("AccessDeniedException: ")
    names = [
        share["name"]
        for share in owner.client("ram").get_resource_shares(resourceOwner="SELF")["resourceShares"]
    ]
    assert names == ["schedule-share"]


def test_audit_needs_ram_permission(
    server: RunningServer, visitor: ConsoleClient, owner: ConsoleUser
) -> None:
    build_schedules(server, owner)
    page = visitor.get("/console/sharing")
    audit = section(page.text, "audit")
    assert f"Account {owner.account_id} (no organization): " in audit
    assert "Contacts in no resource share" in audit

    outsider = reader(server, owner, "ssm-contacts:List*")
    try:
        denied = outsider.get("/console/sharing")
    finally:
        outsider.close()
    assert denied.status_code == 200
    hidden = section(denied.text, "audit")
    assert "AccessDeniedException" in hidden
    assert "Contacts in no resource share" not in hidden
    assert f"Account {owner.account_id}" not in hidden


def test_outbox_shows_readable_contacts(
    server: RunningServer, visitor: ConsoleClient, owner: ConsoleUser
) -> None:
    schedules = build_schedules(server, owner)
    responder = create_responder(server, owner.keys, "responder", "Responder")
    owner.client("ssm-contacts").start_engagement(
        ContactId=responder, Sender="tests", Subject="Checkout is down", Content="Look at it."
    )
    run_jobs(server)

    page = visitor.get("/console/outbox")
    assert page.status_code == 200
    messages = page.text.split('id="outbox-messages"', 1)[1]
    assert "alice@example.com" in messages
    assert "bob@example.com" in messages
    assert "Checkout is down" in messages
    links = re.findall(r'<a href="([^"]+)" rel="noopener noreferrer">', messages)
    assert any("/ack/" in link for link in links), links
    # Newest first: the page was sent after the activation codes.
    assert messages.index("Checkout is down") < messages.index("alice@example.com")

    limited = reader(server, owner, "ssm-contacts:GetContact", resource=schedules.contacts["alice"])
    try:
        partial = limited.get("/console/outbox")
    finally:
        limited.close()
    readable = html.unescape(partial.text.split('id="outbox-messages"', 1)[1])
    assert "alice@example.com" in readable
    assert "bob@example.com" not in readable
    assert "Checkout is down" not in readable
    assert re.search(r"\d+ message\(s\) to contacts that you may not read", partial.text)
