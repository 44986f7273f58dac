"""``tocsin calendar create``, ``list`` and ``revoke`` run as subprocesses against a server."""

from __future__ import annotations

import subprocess
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.contacts.conftest import OTHER, OWNER, personal
from tests.contacts.rotation_support import daily
from tests.test_cli import run_tocsin
from tocsin.contacts.calendar_models import CalendarFeed
from tocsin.testing import RunningServer


def calendar(
    server: RunningServer, *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tocsin calendar`` on the server's database, with its address as the default URL."""
    return run_tocsin(
        "calendar",
        *arguments,
        "--database-url",
        str(server.settings.effective_database_url),
        "--home",
        str(server.settings.home),
        env={"TOCSIN_HOST": "127.0.0.1", "TOCSIN_PORT": str(server.port), **(env or {})},
    )


def rotation(client: Any, name: str, contact: str, server: RunningServer) -> str:
    arn: str = client.create_rotation(
        Name=name,
        ContactIds=[contact],
        TimeZoneId="UTC",
        StartTime=server.clock.now(),
        Recurrence=daily(0),
    )["RotationArn"]
    return arn


def feed_count(server: RunningServer) -> int:
    with server.runtime.database.session() as session:
        return session.scalar(select(func.count()).select_from(CalendarFeed)) or 0


def table(output: str) -> list[list[str]]:
    """Split ``calendar list`` output into rows of cells, without the header."""
    lines = output.splitlines()
    assert lines[0].split() == ["FEED", "ID", "TARGET", "CREATED", "LAST", "FETCHED", "STATUS"]
    return [line.split(maxsplit=4) for line in lines[1:]]


def test_calendar_create_list_revoke(server: RunningServer, contacts: Any) -> None:
    alice = personal(contacts, "alice")
    primary = rotation(contacts, "primary", alice, server)

    created = calendar(server, "create", "--account-id", OWNER, primary)
    assert created.returncode == 0, created.stderr
    url = created.stdout.strip()
    assert url.startswith(f"{server.url}/calendar/")
    assert url.endswith(".ics")
    assert f"of {primary}" in created.stderr
    response = httpx.get(url)
    assert response.status_code == 200
    assert b"SUMMARY:On call: alice (primary)" in response.content

    second = calendar(
        server, "create", "--account-id", OWNER, alice, "--base-url", "https://oncall.example/"
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("https://oncall.example/calendar/")
    assert second.stdout.strip() != url.replace(server.url, "https://oncall.example")

    public = calendar(
        server,
        "create",
        "--account-id",
        OWNER,
        primary,
        env={"TOCSIN_PUBLIC_URL": "https://tocsin.example/"},
    )
    assert public.returncode == 0, public.stderr
    assert public.stdout.startswith("https://tocsin.example/calendar/")

    listed = calendar(server, "list", "--account-id", OWNER)
    assert listed.returncode == 0, listed.stderr
    rows = table(listed.stdout)
    assert [row[1] for row in rows] == [primary, alice, primary]
    assert rows[0][3].endswith("Z")
    assert rows[0][4] == "active"
    assert rows[1][3:] == ["never", "active"]
    assert url.rsplit("/", 1)[1].removesuffix(".ics") not in listed.stdout

    revoked = calendar(server, "revoke", "--account-id", OWNER, rows[0][0])
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"Revoked calendar feed {rows[0][0]} of {primary}."
    assert httpx.get(url).status_code == 404
    remaining = table(calendar(server, "list", "--account-id", OWNER).stdout)
    assert [row[0] for row in remaining] == [rows[1][0], rows[2][0]]

    again = calendar(server, "revoke", "--account-id", OWNER, rows[0][0])
    assert again.returncode == 1
    assert f"No calendar feed '{rows[0][0]}' exists in account {OWNER}" in again.stderr


def test_calendar_list_shows_deleted_target(server: RunningServer, contacts: Any) -> None:
    lone = personal(contacts, "lone")
    assert calendar(server, "create", "--account-id", OWNER, lone).returncode == 0
    contacts.delete_contact(ContactId=lone)
    rows = table(calendar(server, "list", "--account-id", OWNER).stdout)
    assert [row[4] for row in rows] == ["target deleted"]


def test_calendar_create_rejections(server: RunningServer, contacts: Any, other: Any) -> None:
    alice = personal(contacts, "alice")
    theirs = rotation(other, "theirs", personal(other, "bob"), server)
    escalation = contacts.create_contact(
        Alias="escalate",
        Type="ESCALATION",
        Plan={
            "Stages": [
                {
                    "DurationInMinutes": 5,
                    "Targets": [{"ContactTargetInfo": {"ContactId": alice, "IsEssential": True}}],
                }
            ]
        },
    )["ContactArn"]
    missing = theirs.replace(OTHER, OWNER).replace("theirs", "missing")
    cases = [
        (missing, f"No rotation {missing} exists in account {OWNER}."),
        (alice.replace("alice", "nobody"), "No contact "),
        (theirs, f"belongs to account {OTHER}, not {OWNER}"),
        ("primary", "'primary' is not a rotation or contact ARN"),
        (f"{alice}/channel", "is not a rotation or contact ARN"),
        (escalation, "is an ESCALATION contact, which has no on-call shifts"),
    ]
    for arn, message in cases:
        result = calendar(server, "create", "--account-id", OWNER, arn)
        assert result.returncode == 1, arn
        assert message in result.stderr, result.stderr
        assert result.stdout == ""

    unknown_account = calendar(server, "create", "--account-id", "333333333333", alice)
    assert unknown_account.returncode == 1
    assert "No account 333333333333 exists" in unknown_account.stderr
    short_id = calendar(server, "list", "--account-id", "1234")
    assert short_id.returncode == 2
    assert "'1234' is not a 12-digit account id" in short_id.stderr
    bad_base = calendar(server, "create", "--account-id", OWNER, alice, "--base-url", "oncall")
    assert bad_base.returncode == 2
    assert "is not an http:// or https:// URL" in bad_base.stderr
    assert feed_count(server) == 0

    empty = calendar(server, "list", "--account-id", OTHER)
    assert empty.returncode == 0
    assert empty.stdout.strip() == f"No calendar feeds in account {OTHER}."
