"""Calendar feeds fetched over HTTP and compared with ListRotationShifts through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import select

from tests.conftest import BACKENDS, fresh_database_url
from tests.contacts.conftest import OWNER, personal
from tests.contacts.rotation_support import all_shifts, daily, people, utc, weekly
from tocsin.contacts.calendar import create_feed, revoke_feed
from tocsin.contacts.calendar_models import CalendarFeed
from tocsin.engine.clock import FakeClock
from tocsin.testing import RunningServer

# Europe/Berlin moves its clocks forward on 2025-03-30 and America/New_York on
# 2025-03-09, both inside the feed window around this time.
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# The documented window of a feed.
FEED_PAST = timedelta(days=7)
FEED_FUTURE = timedelta(days=90)

Row = tuple[datetime, datetime, str, bool]


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    """A running server whose fake clock starts at START, on each backend in turn."""
    url = fresh_database_url(request.param, tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url, clock=FakeClock(START)) as running:
        yield running


def new_feed(server: RunningServer, arn: str, account_id: str = OWNER) -> str:
    """Create a feed of ``arn`` and return its URL on the test server."""
    with server.runtime.database.session() as session:
        created = create_feed(session, server.clock.now(), account_id, arn)
    return f"{server.url}/calendar/{created.token}.ics"


def fetch(url: str) -> Calendar:
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "private, max-age=300"
    return Calendar.from_ical(response.content)


def events(calendar: Calendar) -> list[Any]:
    return list(calendar.walk("VEVENT"))


def feed_rows(calendar: Calendar) -> list[Row]:
    """Return (start, end, alias, from an override) of each event, in time and alias order."""
    rows = []
    for event in events(calendar):
        summary = str(event.get("summary"))
        assert summary.startswith("On call: "), summary
        alias = summary.removeprefix("On call: ").split(" (")[0]
        overridden = "comes from an override" in str(event.get("description"))
        rows.append((event.decoded("dtstart"), event.decoded("dtend"), alias, overridden))
    return sorted(rows)


def listed_rows(client: Any, rotation: str, now: datetime) -> list[Row]:
    """Return the same tuples from ListRotationShifts over the feed's window."""
    shifts = all_shifts(
        client,
        "list_rotation_shifts",
        RotationId=rotation,
        StartTime=now - FEED_PAST,
        EndTime=now + FEED_FUTURE,
    )
    rows = []
    for shift in shifts:
        for contact in shift["ContactIds"]:
            alias = contact.rsplit("/", 1)[1]
            rows.append(
                (shift["StartTime"], shift["EndTime"], alias, shift["Type"] == "OVERRIDDEN")
            )
    return sorted(rows)


def stored_feed(server: RunningServer) -> CalendarFeed:
    with server.runtime.database.session() as session:
        feed = session.scalars(select(CalendarFeed)).one()
        session.expunge(feed)
    return feed


def test_rotation_feed_matches_shift_listing(server: RunningServer, contacts: Any) -> None:
    alice, bob, carol = people(contacts, "alice", "bob", "carol")
    rotation = contacts.create_rotation(
        Name="berlin-primary",
        ContactIds=[alice, bob],
        TimeZoneId="Europe/Berlin",
        StartTime=utc("2025-01-06T09:00:00+01:00"),
        Recurrence=weekly("MON", 9),
    )["RotationArn"]
    contacts.create_rotation_override(
        RotationId=rotation,
        NewContactIds=[carol],
        StartTime=utc("2025-03-12T08:00:00Z"),
        EndTime=utc("2025-03-13T08:00:00Z"),
    )
    calendar = fetch(new_feed(server, rotation))

    assert str(calendar["prodid"]) == "-//Tocsin//On-call calendar feeds//EN"
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["x-wr-calname"]) == "On call: berlin-primary"
    assert str(calendar["x-wr-timezone"]) == "Europe/Berlin"
    rows = feed_rows(calendar)
    assert rows == listed_rows(contacts, rotation, START)
    # The window reaches from 7 days back to 90 days ahead, with whole shifts.
    assert rows[0][0] <= START - FEED_PAST < rows[0][1]
    assert rows[-1][0] < START + FEED_FUTURE <= rows[-1][1]

    overridden = [row for row in rows if row[3]]
    assert overridden == [(utc("2025-03-12T08:00:00Z"), utc("2025-03-13T08:00:00Z"), "carol", True)]
    override_event = next(e for e in events(calendar) if "carol" in str(e.get("summary")))
    assert str(override_event.get("summary")) == "On call: carol (berlin-primary)"
    description = str(override_event.get("description"))
    assert "Rotation: berlin-primary" in description
    assert "replaces the regular on-call contacts: bob." in description

    for event in events(calendar):
        assert event.decoded("dtstamp") == START
        assert str(event.get("transp")) == "TRANSPARENT"
    uids = [str(event.get("uid")) for event in events(calendar)]
    assert len(set(uids)) == len(uids)


def test_feed_keeps_wall_clock_across_berlin_change(server: RunningServer, contacts: Any) -> None:
    # Clocks in Berlin go from 02:00 CET to 03:00 CEST on Sunday 2025-03-30, so the
    # week that contains it lasts 7 days minus an hour and later handoffs are an
    # hour earlier in UTC.
    alice, bob = people(contacts, "alice", "bob")
    rotation = contacts.create_rotation(
        Name="berlin",
        ContactIds=[alice, bob],
        TimeZoneId="Europe/Berlin",
        StartTime=utc("2025-01-06T09:00:00+01:00"),
        Recurrence=weekly("MON", 9),
    )["RotationArn"]
    response = httpx.get(new_feed(server, rotation))
    # The document writes every time in UTC, without VTIMEZONE definitions.
    assert b"DTSTART:20250324T080000Z" in response.content
    assert b"DTEND:20250331T070000Z" in response.content
    assert b"VTIMEZONE" not in response.content

    rows = feed_rows(Calendar.from_ical(response.content))
    across = [row for row in rows if row[0] == utc("2025-03-24T08:00:00Z")]
    assert len(across) == 1
    assert across[0][1] - across[0][0] == timedelta(days=7, hours=-1)
    berlin = ZoneInfo("Europe/Berlin")
    for start, end, _alias, _overridden in rows:
        assert start.astimezone(berlin).strftime("%a %H:%M") == "Mon 09:00"
        assert end.astimezone(berlin).strftime("%a %H:%M") == "Mon 09:00"
    assert {row[0].hour for row in rows} == {8, 7}


def test_feed_across_new_york_change_two_on_call(server: RunningServer, contacts: Any) -> None:
    # New York moves from EST to EDT on 2025-03-09; daily handoffs stay at 07:30
    # local, and each shift has one event per on-call contact.
    a, b, c = people(contacts, "a", "b", "c")
    rotation = contacts.create_rotation(
        Name="new-york",
        ContactIds=[a, b, c],
        TimeZoneId="America/New_York",
        StartTime=utc("2025-02-01T07:30:00-05:00"),
        Recurrence=daily(7, 30, NumberOfOnCalls=2),
    )["RotationArn"]
    calendar = fetch(new_feed(server, rotation))
    rows = feed_rows(calendar)
    assert rows == listed_rows(contacts, rotation, START)
    starts = sorted({row[0] for row in rows})
    assert all(sum(1 for row in rows if row[0] == start) == 2 for start in starts)
    short = [row for row in rows if row[1] - row[0] == timedelta(hours=23)]
    assert {row[0] for row in short} == {utc("2025-03-08T12:30:00Z")}
    new_york = ZoneInfo("America/New_York")
    assert {row[0].astimezone(new_york).strftime("%H:%M") for row in rows} == {"07:30"}
    assert str(calendar["x-wr-timezone"]) == "America/New_York"


def test_uids_stable_across_fetches(server: RunningServer, contacts: Any) -> None:
    alice, bob, carol = people(contacts, "alice", "bob", "carol")
    rotation = contacts.create_rotation(
        Name="daily",
        ContactIds=[alice, bob],
        TimeZoneId="UTC",
        StartTime=utc("2025-01-01T00:00:00Z"),
        Recurrence=daily(0),
    )["RotationArn"]
    url = new_feed(server, rotation)
    first = {e.decoded("dtstart"): e for e in events(fetch(url))}

    server.clock.advance(days=1)
    # An override in the middle of a shift cuts it: the first piece keeps the
    # shift's start and so its UID, and only its end changes.
    contacts.create_rotation_override(
        RotationId=rotation,
        NewContactIds=[carol],
        StartTime=utc("2025-03-05T12:00:00Z"),
        EndTime=utc("2025-03-06T00:00:00Z"),
    )
    second = {e.decoded("dtstart"): e for e in events(fetch(url))}

    common = set(first) & set(second)
    assert len(common) > 80
    for start in common:
        assert str(first[start].get("uid")) == str(second[start].get("uid"))
        assert second[start].decoded("dtstamp") == START + timedelta(days=1)
    cut = utc("2025-03-05T00:00:00Z")
    assert first[cut].decoded("dtend") == utc("2025-03-06T00:00:00Z")
    assert second[cut].decoded("dtend") == utc("2025-03-05T12:00:00Z")
    piece = second[utc("2025-03-05T12:00:00Z")]
    assert str(piece.get("summary")) == "On call: carol (daily)"


def test_personal_feed_spans_rotations(server: RunningServer, contacts: Any) -> None:
    alice, bob, carol = people(contacts, "alice", "bob", "carol")
    utc_rotation = contacts.create_rotation(
        Name="utc-daily",
        ContactIds=[alice, bob],
        TimeZoneId="UTC",
        StartTime=utc("2025-01-01T00:00:00Z"),
        Recurrence=daily(0),
    )["RotationArn"]
    berlin_rotation = contacts.create_rotation(
        Name="berlin-weekly",
        ContactIds=[bob, alice],
        TimeZoneId="Europe/Berlin",
        StartTime=utc("2025-01-06T09:00:00+01:00"),
        Recurrence=weekly("MON", 9),
    )["RotationArn"]
    # Alice is not a member of this rotation, but an override puts her on call.
    other_rotation = contacts.create_rotation(
        Name="others",
        ContactIds=[bob, carol],
        TimeZoneId="UTC",
        StartTime=utc("2025-01-01T00:00:00Z"),
        Recurrence=daily(0),
    )["RotationArn"]
    contacts.create_rotation_override(
        RotationId=other_rotation,
        NewContactIds=[alice],
        StartTime=utc("2025-03-20T00:00:00Z"),
        EndTime=utc("2025-03-21T00:00:00Z"),
    )
    calendar = fetch(new_feed(server, alice))

    expected = []
    for rotation in (utc_rotation, berlin_rotation, other_rotation):
        expected += [row for row in listed_rows(contacts, rotation, START) if row[2] == "alice"]
    rows = feed_rows(calendar)
    assert rows == sorted(expected)
    summaries = {str(e.get("summary")) for e in events(calendar)}
    assert summaries == {
        "On call: alice (utc-daily)",
        "On call: alice (berlin-weekly)",
        "On call: alice (others)",
    }
    assert [row for row in rows if row[3]] == [
        (utc("2025-03-20T00:00:00Z"), utc("2025-03-21T00:00:00Z"), "alice", True)
    ]
    assert str(calendar["x-wr-calname"]) == "On call: alice"
    # The shifts come from two time zones, so the feed names none.
    assert "x-wr-timezone" not in calendar


def test_schedule_feed_names_each_on_call(server: RunningServer, contacts: Any) -> None:
    alice, bob = people(contacts, "alice", "bob")
    day = contacts.create_rotation(
        Name="day",
        ContactIds=[alice],
        TimeZoneId="America/New_York",
        StartTime=utc("2025-01-01T08:00:00-05:00"),
        Recurrence=daily(8),
    )["RotationArn"]
    week = contacts.create_rotation(
        Name="week",
        ContactIds=[bob],
        TimeZoneId="America/New_York",
        StartTime=utc("2025-01-06T08:00:00-05:00"),
        Recurrence=weekly("MON", 8),
    )["RotationArn"]
    schedule = contacts.create_contact(
        Alias="support",
        DisplayName="Support desk",
        Type="ONCALL_SCHEDULE",
        Plan={"RotationIds": [day, week]},
    )["ContactArn"]

    calendar = fetch(new_feed(server, schedule))
    assert feed_rows(calendar) == sorted(
        listed_rows(contacts, day, START) + listed_rows(contacts, week, START)
    )
    assert str(calendar["x-wr-calname"]) == "On call: Support desk"
    assert str(calendar["x-wr-timezone"]) == "America/New_York"
    # Alice and Bob are on call together at each Monday handoff, as two events.
    monday = [e for e in events(calendar) if e.decoded("dtstart") == utc("2025-03-10T12:00:00Z")]
    assert sorted(str(e.get("summary")) for e in monday) == [
        "On call: alice (day)",
        "On call: bob (week)",
    ]
    assert len({str(e.get("uid")) for e in monday}) == 2


def test_unknown_and_revoked_tokens_404(server: RunningServer, contacts: Any) -> None:
    alice = personal(contacts, "alice")
    rotation = contacts.create_rotation(
        Name="r",
        ContactIds=[alice],
        TimeZoneId="UTC",
        StartTime=utc("2025-01-01T00:00:00Z"),
        Recurrence=daily(0),
    )["RotationArn"]
    url = new_feed(server, rotation)

    head = httpx.head(url)
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/calendar; charset=utf-8"
    assert head.content == b""

    unknown = [
        f"{server.url}/calendar/{'A' * 43}.ics",
        f"{server.url}/calendar/short.ics",
        f"{server.url}/calendar/{'%21' * 43}.ics",
        url.replace(".ics", "x.ics"),
    ]
    for other in unknown:
        response = httpx.get(other)
        assert response.status_code == 404, other
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == "Calendar feed not found.\n"
        assert httpx.head(other).status_code == 404

    feed = stored_feed(server)
    with server.runtime.database.session() as session:
        revoke_feed(session, OWNER, feed.feed_id)
    revoked = httpx.get(url)
    assert revoked.status_code == 404
    assert revoked.text == "Calendar feed not found.\n"
    assert httpx.head(url).status_code == 404

    # A new feed of the same rotation works under a new token.
    again = new_feed(server, rotation)
    assert again != url
    assert httpx.get(again).status_code == 200


def test_token_stored_only_as_digest(server: RunningServer, contacts: Any) -> None:
    alice = personal(contacts, "alice")
    url = new_feed(server, alice)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) == 43
    feed = stored_feed(server)
    assert token not in feed.token_digest
    assert len(feed.token_digest) == 64


def test_deleted_target_404(server: RunningServer, contacts: Any) -> None:
    alice = personal(contacts, "alice")
    rotation = contacts.create_rotation(
        Name="r",
        ContactIds=[alice],
        TimeZoneId="UTC",
        StartTime=utc("2025-01-01T00:00:00Z"),
        Recurrence=daily(0),
    )["RotationArn"]
    rotation_url = new_feed(server, rotation)
    lone = personal(contacts, "lone")
    contact_url = new_feed(server, lone)
    assert httpx.get(rotation_url).status_code == 200
    assert httpx.get(contact_url).status_code == 200

    server.clock.advance(seconds=1)
    contacts.delete_rotation(RotationId=rotation)
    contacts.delete_contact(ContactId=lone)
    assert httpx.get(rotation_url).status_code == 404
    assert httpx.get(contact_url).status_code == 404

    # A rotation created again under the same name is another rotation.
    contacts.create_rotation(
        Name="r",
        ContactIds=[alice],
        TimeZoneId="UTC",
        StartTime=utc("2025-01-01T00:00:00Z"),
        Recurrence=daily(0),
    )
    assert httpx.get(rotation_url).status_code == 404


def test_fetch_time_recorded_once_a_minute(server: RunningServer, contacts: Any) -> None:
    alice = personal(contacts, "alice")
    url = new_feed(server, alice)
    assert stored_feed(server).last_fetched_at is None

    fetch(url)
    assert stored_feed(server).last_fetched_at == START
    server.clock.advance(seconds=30)
    fetch(url)
    assert stored_feed(server).last_fetched_at == START
    server.clock.advance(seconds=31)
    fetch(url)
    assert stored_feed(server).last_fetched_at == START + timedelta(seconds=61)
