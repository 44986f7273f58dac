"""``tocsin schedule check`` run as a subprocess against a server's database."""

from __future__ import annotations

from typing import Any

from tests.contacts.conftest import OWNER
from tests.contacts.rotation_support import coverage, daily, people, utc
from tests.test_cli import run_tocsin
from tocsin.testing import RunningServer

EVERY_DAY = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]


def check(server: RunningServer, *arguments: str) -> Any:
    return run_tocsin(
        "schedule",
        "check",
        *arguments,
        "--database-url",
        str(server.settings.effective_database_url),
        "--home",
        str(server.settings.home),
    )


def test_schedule_check_reports_overlaps(server: RunningServer, contacts: Any) -> None:
    # Los Angeles and Dublin rotations, 09:00 to 17:00 local each: the check
    # reports the daily one-hour overlap while only the United States has
    # moved its clocks (2025-03-09 to 2025-03-29), and the gap every night.
    a, b = people(contacts, "a", "b")
    recurrence = daily(9, ShiftCoverages=coverage(EVERY_DAY, (9, 0), (17, 0)))
    rotations = [
        contacts.create_rotation(
            Name=name,
            ContactIds=[contact],
            TimeZoneId=zone,
            StartTime=utc("2025-01-01T00:00:00Z"),
            Recurrence=recurrence,
        )["RotationArn"]
        for name, contact, zone in (
            ("dublin", a, "Europe/Dublin"),
            ("angeles", b, "America/Los_Angeles"),
        )
    ]
    contacts.create_contact(
        Alias="follow-the-sun", Type="ONCALL_SCHEDULE", Plan={"RotationIds": rotations}
    )
    result = check(server, "follow-the-sun", "--start", "2025-03-01", "--days", "40")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    overlaps = [line for line in lines if line.startswith("overlap:")]
    assert len(overlaps) == 21
    assert overlaps[0].startswith("overlap: 2025-03-09T16:00:00Z to 2025-03-09T17:00:00Z")
    assert "America/Los_Angeles 2025-03-09 09:00 PDT" in overlaps[0]
    assert "Europe/Dublin 2025-03-09 16:00 GMT" in overlaps[0]
    assert overlaps[-1].startswith("overlap: 2025-03-29T16:00:00Z")
    assert any(line.startswith("gap: ") for line in lines)
    assert lines[-1].endswith("21 overlap(s).")


def test_schedule_check_full_coverage(server: RunningServer, contacts: Any) -> None:
    a, b = people(contacts, "a", "b")
    rotation = contacts.create_rotation(
        Name="all-day",
        ContactIds=[a, b],
        TimeZoneId="UTC",
        StartTime=utc("2025-01-01T00:00:00Z"),
        Recurrence=daily(0),
    )["RotationArn"]
    arn = contacts.create_contact(
        Alias="covered", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [rotation]}
    )["ContactArn"]
    result = check(server, arn, "--start", "2025-02-01T00:00:00", "--days", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "No gaps and no overlaps."

    alias = check(server, "covered", "--account", OWNER, "--start", "2025-02-01")
    assert alias.returncode == 0, alias.stderr
    wrong_type = check(server, a)
    assert wrong_type.returncode == 2
    assert "has type PERSONAL" in wrong_type.stderr
    missing = check(server, "nobody")
    assert missing.returncode == 2
    assert "No contact 'nobody'" in missing.stderr
