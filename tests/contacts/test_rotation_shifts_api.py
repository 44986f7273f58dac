"""Shifts through boto3: stored rotations and previews agree across clock changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError

from tests.contacts.rotation_support import (
    all_shifts,
    assert_contiguous,
    assert_invalid,
    coverage,
    daily,
    people,
    stored_and_preview,
    utc,
    weekly,
)

EVERY_DAY = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]


def local(shift: dict[str, Any], member: str, zone: str) -> str:
    return shift[member].astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %a %H:%M")


def test_weekly_chicago_across_both_changes(contacts: Any) -> None:
    # Clocks go back on 2024-11-03 and forward on 2025-03-09 in America/Chicago.
    a, b = people(contacts, "a", "b")
    shifts = stored_and_preview(
        contacts,
        "chicago",
        [a, b],
        "America/Chicago",
        "2024-10-01T09:00:00-05:00",
        weekly("TUE", 9),
        ("2024-10-01T00:00:00Z", "2025-04-01T00:00:00Z"),
    )
    assert_contiguous(shifts)
    assert shifts[0]["StartTime"] == utc("2024-10-01T14:00:00+00:00")
    for shift in shifts[:-1]:
        assert local(shift, "StartTime", "America/Chicago").endswith("Tue 09:00")
        assert local(shift, "EndTime", "America/Chicago").endswith("Tue 09:00")
    lengths = {s["EndTime"] - s["StartTime"] for s in shifts}
    week = timedelta(days=7)
    assert lengths == {week, week + timedelta(hours=1), week - timedelta(hours=1)}
    assert [s["ContactIds"] for s in shifts[:3]] == [[a], [b], [a]]


def test_london_coverage_keeps_wall_clock(contacts: Any) -> None:
    # The rotation starts in summer time, and after 2023-10-29 the shifts still read
    # 08:30 to 17:30.
    a, b = people(contacts, "a", "b")
    recurrence = daily(8, 30, ShiftCoverages=coverage(EVERY_DAY, (8, 30), (17, 30)))
    shifts = stored_and_preview(
        contacts,
        "uk",
        [a, b],
        "Europe/London",
        "2023-10-01T08:30:00+01:00",
        recurrence,
        ("2023-10-23T00:00:00Z", "2023-11-07T00:00:00Z"),
    )
    assert len(shifts) == 15
    for shift in shifts:
        assert local(shift, "StartTime", "Europe/London").endswith("08:30")
        assert local(shift, "EndTime", "Europe/London").endswith("17:30")
        expected_hour = 7 if shift["StartTime"] < utc("2023-10-29T00:00:00+00:00") else 8
        assert shift["StartTime"].hour == expected_hour
        assert shift["StartTime"].minute == 30


def test_london_monday_coverage_fault(contacts: Any) -> None:
    # A Monday-only coverage of 08:30 to 17:30 keeps its local hours after the change.
    a, b = people(contacts, "a", "b")
    recurrence = daily(8, 30, ShiftCoverages=coverage(["MON"], (8, 30), (17, 30)))
    shifts = stored_and_preview(
        contacts,
        "uk",
        [a, b],
        "Europe/London",
        "2023-10-01T08:30:00+01:00",
        recurrence,
        ("2023-10-23T00:00:00Z", "2023-11-07T00:00:00Z"),
    )
    starts = [s["StartTime"].isoformat() for s in shifts]
    assert starts == [
        "2023-10-23T07:30:00+00:00",
        "2023-10-30T08:30:00+00:00",
        "2023-11-06T08:30:00+00:00",
    ]


@pytest.mark.parametrize(
    "zone",
    ["UTC", "America/Chicago", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe"],
)
def test_week_is_seven_wall_clock_days(contacts: Any, zone: str) -> None:
    # A weekly shift ends seven calendar days after it starts at the same local
    # time, so a shift is never cut short by the clock change it spans.
    a, b = people(contacts, "a", "b")
    shifts = stored_and_preview(
        contacts,
        "weekly",
        [a, b],
        zone,
        "2024-01-01T12:00:00Z",
        weekly("MON", 10),
        ("2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z"),
    )
    assert_contiguous(shifts)
    zone_info = ZoneInfo(zone)
    for shift in shifts[1:-1]:
        start = shift["StartTime"].astimezone(zone_info)
        end = shift["EndTime"].astimezone(zone_info)
        assert end.date() - start.date() == timedelta(days=7)
        assert (start.hour, start.minute) == (end.hour, end.minute) == (10, 0)
        length = shift["EndTime"] - shift["StartTime"]
        assert abs(length - timedelta(days=7)) <= timedelta(hours=1)


def test_paris_weekdays_alternate(contacts: Any) -> None:
    a, b = people(contacts, "a", "b")
    recurrence = daily(8, ShiftCoverages=coverage(EVERY_DAY[:5], (8, 0), (18, 0)))
    shifts = stored_and_preview(
        contacts,
        "paris",
        [a, b],
        "Europe/Paris",
        "2025-01-06T08:00:00+01:00",
        recurrence,
        ("2025-01-06T00:00:00Z", "2025-01-13T00:00:00Z"),
    )
    days = [(local(s, "StartTime", "Europe/Paris"), s["ContactIds"]) for s in shifts]
    assert days[:3] == [
        ("2025-01-06 Mon 08:00", [a]),
        ("2025-01-07 Tue 08:00", [b]),
        ("2025-01-08 Wed 08:00", [a]),
    ]
    assert len(shifts) == 5
    assert all(s["EndTime"] - s["StartTime"] == timedelta(hours=10) for s in shifts)


def test_new_york_handoffs_in_changed_hours(contacts: Any) -> None:
    a, b = people(contacts, "a", "b")
    # 02:30 does not exist on 2025-03-09, so that handoff happens at 03:00 EDT.
    spring = stored_and_preview(
        contacts,
        "spring",
        [a, b],
        "America/New_York",
        "2025-02-23T02:30:00-05:00",
        weekly("SUN", 2, 30),
        ("2025-02-23T00:00:00Z", "2025-03-30T00:00:00Z"),
    )
    assert_contiguous(spring)
    assert utc("2025-03-09T07:00:00+00:00") in [s["StartTime"] for s in spring]
    # 01:30 happens twice on 2025-11-02, and the handoff takes the first one (EDT).
    autumn = stored_and_preview(
        contacts,
        "autumn",
        [a, b],
        "America/New_York",
        "2025-10-19T01:30:00-04:00",
        weekly("SUN", 1, 30),
        ("2025-10-19T00:00:00Z", "2025-11-23T00:00:00Z"),
    )
    assert_contiguous(autumn)
    assert utc("2025-11-02T05:30:00+00:00") in [s["StartTime"] for s in autumn]


@pytest.mark.parametrize(
    ("zone", "window"),
    [
        ("Europe/London", ("2025-03-29T00:00:00Z", "2025-04-01T00:00:00Z")),
        ("Europe/London", ("2025-10-25T00:00:00Z", "2025-10-28T00:00:00Z")),
        ("America/New_York", ("2025-03-08T00:00:00Z", "2025-03-11T00:00:00Z")),
        ("America/New_York", ("2025-11-01T00:00:00Z", "2025-11-04T00:00:00Z")),
    ],
)
def test_two_hour_handoffs_stay_even(contacts: Any, zone: str, window: tuple[str, str]) -> None:
    a, b, c = people(contacts, "a", "b", "c")
    recurrence = {
        "NumberOfOnCalls": 1,
        "RecurrenceMultiplier": 1,
        "DailySettings": [{"HourOfDay": hour, "MinuteOfHour": 0} for hour in range(0, 24, 2)],
    }
    shifts = stored_and_preview(
        contacts, "even", [a, b, c], zone, "2025-01-01T00:00:00Z", recurrence, window
    )
    assert_contiguous(shifts)
    zone_info = ZoneInfo(zone)
    for shift in shifts:
        start = shift["StartTime"].astimezone(zone_info)
        before = (shift["StartTime"] - timedelta(seconds=1)).astimezone(zone_info)
        # New York skips 02:00 in spring, so that handoff happens at the change, 03:00.
        at_change = before.utcoffset() != start.utcoffset()
        assert start.minute == 0
        assert start.hour % 2 == 0 or (zone == "America/New_York" and at_change), start


@pytest.mark.parametrize(
    ("zone", "hour", "minute", "window"),
    [
        ("Pacific/Apia", 9, 0, ("2011-12-25T00:00:00Z", "2012-01-05T00:00:00Z")),
        ("Australia/Lord_Howe", 2, 15, ("2024-10-03T00:00:00Z", "2024-10-09T00:00:00Z")),
        ("Australia/Lord_Howe", 1, 45, ("2024-04-04T00:00:00Z", "2024-04-10T00:00:00Z")),
    ],
)
def test_unusual_zone_changes(
    contacts: Any, zone: str, hour: int, minute: int, window: tuple[str, str]
) -> None:
    # Apia skipped 2011-12-30 entirely, and Lord Howe moves its clocks by 30 minutes.
    a, b = people(contacts, "a", "b")
    shifts = stored_and_preview(
        contacts, "odd", [a, b], zone, "2011-01-01T00:00:00Z", daily(hour, minute), window
    )
    assert_contiguous(shifts)
    starts = [s["StartTime"] for s in shifts]
    assert len(set(starts)) == len(starts)
    assert starts == sorted(starts)


def test_schedule_zones_overlap_when_one_changed(contacts: Any) -> None:
    # Los Angeles and Dublin cover 09:00 to 17:00 local time each. In the three
    # weeks when only the United States has moved its clocks, Los Angeles starts
    # an hour before Dublin ends. Before and after them, one starts when the other ends.
    a, b = people(contacts, "a", "b")
    recurrence = daily(9, ShiftCoverages=coverage(EVERY_DAY, (9, 0), (17, 0)))
    window = ("2025-03-01T00:00:00Z", "2025-04-06T00:00:00Z")
    dublin = stored_and_preview(
        contacts, "dublin", [a], "Europe/Dublin", "2025-01-01T09:00:00Z", recurrence, window
    )
    angeles = stored_and_preview(
        contacts, "angeles", [b], "America/Los_Angeles", "2025-01-01T17:00:00Z", recurrence, window
    )
    ends = {s["EndTime"].date(): s["EndTime"] for s in dublin}
    overlap_days = []
    for shift in angeles:
        day = shift["StartTime"].date()
        if day not in ends:
            continue
        difference = ends[day] - shift["StartTime"]
        assert difference in (timedelta(0), timedelta(hours=1))
        if difference:
            overlap_days.append(day.isoformat())
    assert overlap_days[0] == "2025-03-09"
    assert overlap_days[-1] == "2025-03-29"
    assert len(overlap_days) == 21


def test_shift_pages_and_tokens(contacts: Any) -> None:
    a, b = people(contacts, "a", "b")
    arn = contacts.create_rotation(
        Name="hourly",
        ContactIds=[a, b],
        TimeZoneId="UTC",
        StartTime=utc("2025-01-01T00:00:00Z"),
        Recurrence={
            "NumberOfOnCalls": 1,
            "RecurrenceMultiplier": 1,
            "DailySettings": [{"HourOfDay": h, "MinuteOfHour": 0} for h in range(24)],
        },
    )["RotationArn"]
    params = {
        "RotationId": arn,
        "StartTime": utc("2025-01-01T00:00:00Z"),
        "EndTime": utc("2025-01-03T00:00:00Z"),
    }
    first = contacts.list_rotation_shifts(**params, MaxResults=10)
    assert len(first["RotationShifts"]) == 10
    second = contacts.list_rotation_shifts(**params, MaxResults=10, NextToken=first["NextToken"])
    assert second["RotationShifts"][0]["StartTime"] == utc("2025-01-01T10:00:00Z")
    assert len(all_shifts(contacts, "list_rotation_shifts", **params)) == 48
    # A token is bound to its window.
    with pytest.raises(contacts.exceptions.ValidationException):
        contacts.list_rotation_shifts(
            RotationId=arn,
            StartTime=utc("2025-01-01T00:00:00Z"),
            EndTime=utc("2025-01-04T00:00:00Z"),
            NextToken=first["NextToken"],
        )


def test_shift_window_rejections(contacts: Any) -> None:
    a = people(contacts, "a")
    arn = contacts.create_rotation(Name="r", ContactIds=a, TimeZoneId="UTC", Recurrence=daily(9))[
        "RotationArn"
    ]
    cases = [
        ("2025-01-02T00:00:00Z", "2025-01-01T00:00:00Z", "must be after"),
        ("2025-01-01T00:00:00Z", "2026-01-03T00:00:00Z", "maximum of 366 days"),
    ]
    for start, end, text in cases:
        with pytest.raises(ClientError) as info:
            contacts.list_rotation_shifts(RotationId=arn, StartTime=utc(start), EndTime=utc(end))
        assert_invalid(info, "EndTime", text)
        with pytest.raises(ClientError) as info:
            contacts.list_preview_rotation_shifts(
                Members=["x"],
                TimeZoneId="UTC",
                Recurrence=daily(9),
                StartTime=utc(start),
                EndTime=utc(end),
            )
        assert_invalid(info, "EndTime", text)


def test_preview_overrides_and_errors(contacts: Any) -> None:
    # Preview members are free text, not contact ARNs.
    params: dict[str, Any] = {
        "Members": ["alice", "bob"],
        "TimeZoneId": "UTC",
        "RotationStartTime": utc("2025-01-01T09:00:00Z"),
        "Recurrence": daily(9),
        "StartTime": utc("2025-01-01T00:00:00Z"),
        "EndTime": utc("2025-01-03T09:00:00Z"),
    }
    overrides = [
        {
            "NewMembers": ["carol"],
            "StartTime": utc("2025-01-02T12:00:00Z"),
            "EndTime": utc("2025-01-02T15:00:00Z"),
        }
    ]
    shifts = contacts.list_preview_rotation_shifts(**params, Overrides=overrides)["RotationShifts"]
    summary = [(s["StartTime"].hour, s["ContactIds"], s["Type"]) for s in shifts]
    assert summary == [
        (9, ["alice"], "REGULAR"),
        (9, ["bob"], "REGULAR"),
        (12, ["carol"], "OVERRIDDEN"),
        (15, ["bob"], "REGULAR"),
    ]
    assert shifts[2]["ShiftDetails"] == {"OverriddenContactIds": ["bob"]}
    bad_override = [{"NewMembers": ["x"], "StartTime": utc("2025-01-02T12:00:00Z")}]
    with pytest.raises(ClientError) as info:
        contacts.list_preview_rotation_shifts(**params, Overrides=bad_override)
    assert_invalid(info, "Overrides[0].EndTime")
    with pytest.raises(ClientError) as info:
        contacts.list_preview_rotation_shifts(**{**params, "TimeZoneId": "Nowhere/Land"})
    assert_invalid(info, "TimeZoneId", "IANA")
