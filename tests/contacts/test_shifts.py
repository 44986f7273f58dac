"""Shift computation of rotations: time zones, daylight saving, turns, overrides."""

from __future__ import annotations

import time as timer
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.contacts.shifts import (
    InvalidRotationError,
    Override,
    Rotation,
    Shift,
    coverage_gaps_and_overlaps,
    on_call_at,
    shifts_between,
)

A, B, C = "arn:aws:ssm-contacts:us-east-1:111122223333:contact/a", "b", "c"


def hand_off(hour: int, minute: int = 0) -> dict[str, int]:
    return {"HourOfDay": hour, "MinuteOfHour": minute}


def rotation(
    zone: str,
    start: str,
    contacts: Sequence[str] = (A, B),
    **recurrence: Any,
) -> Rotation:
    recurrence.setdefault("NumberOfOnCalls", 1)
    recurrence.setdefault("RecurrenceMultiplier", 1)
    return Rotation.from_wire(
        {
            "ContactIds": list(contacts),
            "TimeZoneId": zone,
            "StartTime": datetime.fromisoformat(start),
            "Recurrence": recurrence,
        }
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(instant: datetime, zone: str) -> datetime:
    """Return the naive wall-clock reading of `instant` in `zone`."""
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def assert_contiguous(shifts: Sequence[Shift]) -> None:
    assert shifts
    for shift in shifts:
        assert shift.start < shift.end, shift
    for before, after in pairwise(shifts):
        assert before.end == after.start, (before, after)


# Rotations and time zones


def test_weekly_chicago_across_both_changes() -> None:
    zone = "America/Chicago"
    weekly = [{"DayOfWeek": "TUE", "HandOffTime": hand_off(9)}]
    chicago = rotation(zone, "2024-10-01T09:00:00-05:00", WeeklySettings=weekly)
    shifts = shifts_between(chicago, utc("2024-10-01T00:00"), utc("2025-04-01T00:00"))

    assert_contiguous(shifts)
    assert shifts[0].start == utc("2024-10-01T14:00")
    for shift in shifts:
        assert local(shift.start, zone).time() == time(9)
        assert local(shift.start, zone).weekday() == 1
    across_fall_back = next(s for s in shifts if s.start == utc("2024-10-29T14:00"))
    assert across_fall_back.end == utc("2024-11-05T15:00")
    across_spring_forward = next(s for s in shifts if s.start == utc("2025-03-04T15:00"))
    assert across_spring_forward.end == utc("2025-03-11T14:00")


def test_daily_coverage_london_keeps_wall_clock() -> None:
    zone = "Europe/London"
    window = [{"Start": hand_off(8, 30), "End": hand_off(17, 30)}]
    coverages = {day: window for day in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")}
    london = rotation(
        zone, "2023-10-01T08:30:00+01:00", DailySettings=[hand_off(8, 30)], ShiftCoverages=coverages
    )
    shifts = shifts_between(london, utc("2023-10-23T00:00"), utc("2023-11-07T00:00"))

    assert len(shifts) == 15
    for shift in shifts:
        assert local(shift.start, zone).time() == time(8, 30)
        assert local(shift.end, zone).time() == time(17, 30)
        expected_hour = 7 if shift.start < utc("2023-10-29T01:00") else 8
        assert shift.start.hour == expected_hour
        assert shift.start.minute == 30


def test_monday_only_coverage_london() -> None:
    # A daily rotation whose only coverage window is on Mondays.
    window = [{"Start": hand_off(8, 30), "End": hand_off(17, 30)}]
    london = rotation(
        "Europe/London",
        "2023-10-01T08:30:00+01:00",
        DailySettings=[hand_off(8, 30)],
        ShiftCoverages={"MON": window},
    )
    shifts = shifts_between(london, utc("2023-10-23T00:00"), utc("2023-11-07T00:00"))

    assert [s.start for s in shifts] == [
        utc("2023-10-23T07:30"),
        utc("2023-10-30T08:30"),
        utc("2023-11-06T08:30"),
    ]
    assert [s.end for s in shifts] == [
        utc("2023-10-23T16:30"),
        utc("2023-10-30T17:30"),
        utc("2023-11-06T17:30"),
    ]


@pytest.mark.parametrize(
    "zone",
    ["America/Chicago", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe", "UTC"],
)
def test_weekly_shift_is_seven_wall_days(zone: str) -> None:
    weekly = [{"DayOfWeek": "SUN", "HandOffTime": hand_off(9)}]
    start = datetime(2023, 1, 1, 9, tzinfo=ZoneInfo(zone)).isoformat()
    shifts = shifts_between(
        rotation(zone, start, WeeklySettings=weekly), utc("2023-01-01T00:00"), utc("2025-01-01")
    )

    assert_contiguous(shifts)
    utc_lengths = set()
    for shift in shifts:
        assert local(shift.end, zone) - local(shift.start, zone) == timedelta(days=7)
        utc_lengths.add(shift.end - shift.start)
    if zone != "UTC":
        assert min(utc_lengths) < timedelta(days=7) < max(utc_lengths)


def test_weekdays_only_paris_alternates() -> None:
    zone = "Europe/Paris"
    window = [{"Start": hand_off(8), "End": hand_off(18)}]
    paris = rotation(
        zone,
        "2024-06-03T08:00:00+02:00",
        DailySettings=[hand_off(8)],
        ShiftCoverages={day: window for day in ("MON", "TUE", "WED", "THU", "FRI")},
    )
    shifts = shifts_between(paris, utc("2024-06-03T00:00"), utc("2024-06-10T00:00"))

    assert [local(s.start, zone).date() for s in shifts] == [
        date(2024, 6, day) for day in (3, 4, 5, 6, 7)
    ]
    assert [s.contact_ids for s in shifts[:3]] == [(A,), (B,), (A,)]
    for shift in shifts:
        assert shift.end - shift.start == timedelta(hours=10)
    assert on_call_at(paris, utc("2024-06-08T10:00")) == ()
    assert on_call_at(paris, utc("2024-06-09T10:00")) == ()


def test_new_york_skipped_and_repeated_handoffs() -> None:
    zone = "America/New_York"
    spring = rotation(
        zone,
        "2025-03-02T02:30:00-05:00",
        WeeklySettings=[{"DayOfWeek": "SUN", "HandOffTime": hand_off(2, 30)}],
    )
    shifts = shifts_between(spring, utc("2025-03-02T00:00"), utc("2025-03-24T00:00"))
    assert_contiguous(shifts)
    # 02:30 does not exist on 2025-03-09: the handoff is at 03:00 EDT (07:00Z).
    assert shifts[0].end == utc("2025-03-09T07:00")
    assert shifts[1].end == utc("2025-03-16T06:30")

    fall = rotation(
        zone,
        "2025-10-26T01:30:00-04:00",
        WeeklySettings=[{"DayOfWeek": "SUN", "HandOffTime": hand_off(1, 30)}],
    )
    shifts = shifts_between(fall, utc("2025-10-26T00:00"), utc("2025-11-17T00:00"))
    assert_contiguous(shifts)
    # 01:30 happens twice on 2025-11-02: the handoff is at the first, 01:30 EDT (05:30Z).
    assert shifts[0].end == utc("2025-11-02T05:30")
    assert shifts[1].end == utc("2025-11-09T06:30")


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London"])
def test_two_hour_handoffs_stay_on_even_hours(zone: str) -> None:
    every_two_hours = [hand_off(hour) for hour in range(0, 24, 2)]
    start = datetime(2025, 3, 1, tzinfo=ZoneInfo(zone)).isoformat()
    shifts = shifts_between(
        rotation(zone, start, DailySettings=every_two_hours),
        utc("2025-03-01T00:00"),
        utc("2025-11-10T00:00"),
    )

    assert_contiguous(shifts)
    # In New York 02:00 does not exist on 2025-03-09, so that handoff happens at 03:00.
    skipped = utc("2025-03-09T07:00")
    for shift in shifts:
        wall = local(shift.start, zone)
        assert wall.minute == 0
        assert wall.hour % 2 == 0 or (zone == "America/New_York" and shift.start == skipped)


def test_hourly_handoff_in_gap_is_dropped() -> None:
    zone = "America/New_York"
    hourly = [hand_off(hour) for hour in range(24)]
    new_york = rotation(zone, "2025-03-09T00:00:00-05:00", (A, B, C), DailySettings=hourly)
    shifts = shifts_between(new_york, utc("2025-03-09T05:00"), utc("2025-03-09T09:00"))

    # 02:00 and 03:00 both resolve to 03:00 EDT. The 02:00 turn (C) is empty and is
    # left out, and the 03:00 turn keeps its contact (A).
    assert [(local(s.start, zone).hour, s.contact_ids) for s in shifts] == [
        (0, (A,)),
        (1, (B,)),
        (3, (A,)),
        (4, (B,)),
    ]
    assert_contiguous(shifts)


@pytest.mark.parametrize(
    ("zone", "start", "end", "handoffs"),
    [
        ("Pacific/Apia", "2011-12-20T00:00", "2012-01-10T00:00", [hand_off(0), hand_off(9)]),
        (
            "Australia/Lord_Howe",
            "2023-09-25T00:00",
            "2024-04-15T00:00",
            [hand_off(hour, minute) for hour in range(24) for minute in (0, 30)],
        ),
    ],
)
def test_unusual_zone_changes_keep_order(
    zone: str, start: str, end: str, handoffs: list[dict[str, int]]
) -> None:
    rotation_start = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(zone)).isoformat()
    shifts = shifts_between(
        rotation(zone, rotation_start, (A, B, C), DailySettings=handoffs), utc(start), utc(end)
    )

    assert_contiguous(shifts)
    assert len({(s.start, s.end) for s in shifts}) == len(shifts)
    if zone == "Pacific/Apia":
        # 2011-12-30 did not exist in Apia: its 00:00 and 09:00 handoffs both happen
        # at 2011-12-31 00:00, and one shift runs from 2011-12-29 09:00 until then.
        last_before = next(s for s in shifts if local(s.start, zone) == datetime(2011, 12, 29, 9))
        assert local(last_before.end, zone) == datetime(2011, 12, 31)
        assert last_before.end - last_before.start == timedelta(hours=15)


def test_schedule_check_dublin_los_angeles() -> None:
    window = [{"Start": hand_off(9), "End": hand_off(17)}]
    coverages = {day: window for day in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")}
    schedule = [
        rotation(zone, start, DailySettings=[hand_off(9)], ShiftCoverages=coverages)
        for zone, start in [
            ("America/Los_Angeles", "2024-01-01T09:00:00-08:00"),
            ("Europe/Dublin", "2024-01-01T09:00:00+00:00"),
        ]
    ]
    report = coverage_gaps_and_overlaps(schedule, utc("2024-01-01T00:00"), utc("2025-01-01T00:00"))

    # Los Angeles changes clocks on 2024-03-10 and 2024-11-03, Dublin on 2024-03-31
    # and 2024-10-27. In between, Los Angeles starts at 16:00Z while Dublin ends at 17:00Z.
    overlap_days = _days("2024-03-10", "2024-03-30") + _days("2024-10-27", "2024-11-02")
    assert [(o[0].date(), o[0].hour, o[1] - o[0]) for o in report.overlaps] == [
        (day, 16, timedelta(hours=1)) for day in overlap_days
    ]
    # The nightly gap from the end in Los Angeles to the start in Dublin is 8 hours,
    # and 9 hours in the weeks when only one zone has changed.
    gap_lengths = {gap[1] - gap[0] for gap in report.gaps[1:-1]}
    assert gap_lengths == {timedelta(hours=8), timedelta(hours=9)}
    spring_gap = next(g for g in report.gaps if g[1] == utc("2024-03-20T09:00"))
    assert spring_gap[0] == utc("2024-03-20T00:00")


def _days(first: str, last: str) -> list[date]:
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    return [day + timedelta(days=n) for n in range((end - day).days + 1)]


def test_new_york_daily_across_spring_forward() -> None:
    new_york = rotation(
        "America/New_York", "2025-03-01T09:00:00-05:00", DailySettings=[hand_off(9)]
    )
    first_days = shifts_between(new_york, utc("2025-03-01T00:00"), utc("2025-03-04T00:00"))
    assert [s.start for s in first_days] == [utc(f"2025-03-0{day}T14:00") for day in (1, 2, 3)]
    assert [s.contact_ids for s in first_days] == [(A,), (B,), (A,)]

    shifts = shifts_between(new_york, utc("2025-03-01T00:00"), utc("2025-03-15T00:00"))
    assert_contiguous(shifts)
    across = next(s for s in shifts if s.start == utc("2025-03-08T14:00"))
    assert across.end == utc("2025-03-09T13:00")
    assert across.end - across.start == timedelta(hours=23)


# Recurrences, turns and overrides


def test_monthly_day_31_uses_last_day() -> None:
    monthly = [{"DayOfMonth": 31, "HandOffTime": hand_off(9)}]
    shifts = shifts_between(
        rotation("UTC", "2024-01-31T09:00:00+00:00", MonthlySettings=monthly),
        utc("2024-01-01T00:00"),
        utc("2024-06-01T00:00"),
    )

    assert [s.start.date() for s in shifts] == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]
    assert [s.contact_ids for s in shifts] == [(A,), (B,), (A,), (B,), (A,)]
    assert_contiguous(shifts)


def test_two_on_call_of_three_contacts() -> None:
    team = rotation(
        "UTC",
        "2024-01-01T00:00:00+00:00",
        (A, B, C),
        DailySettings=[hand_off(0)],
        NumberOfOnCalls=2,
    )
    shifts = shifts_between(team, utc("2024-01-01T00:00"), utc("2024-01-05T00:00"))

    assert [s.contact_ids for s in shifts] == [(A, B), (C, A), (B, C), (A, B)]


def test_multiplier_two_doubles_turns() -> None:
    pair = rotation(
        "Europe/Berlin",
        "2024-01-01T08:00:00+01:00",
        DailySettings=[hand_off(8)],
        RecurrenceMultiplier=2,
    )
    shifts = shifts_between(pair, utc("2024-01-01T00:00"), utc("2024-01-07T00:00"))

    assert [s.contact_ids for s in shifts] == [(A,), (B,), (A,)]
    for shift in shifts:
        assert shift.end - shift.start == timedelta(days=2)
    assert on_call_at(pair, utc("2024-01-03T06:59")) == (A,)
    assert on_call_at(pair, utc("2024-01-03T07:00")) == (B,)


def test_start_between_handoffs_gives_short_first_turn() -> None:
    cloudformation_like = rotation(
        "America/Los_Angeles", "2025-03-03T20:20:39+00:00", DailySettings=["13:00"]
    )
    shifts = shifts_between(cloudformation_like, utc("2025-03-01"), utc("2025-03-06"))

    assert shifts[0].start == utc("2025-03-03T20:20:39")
    assert shifts[0].end == utc("2025-03-03T21:00")
    assert [s.contact_ids for s in shifts] == [(A,), (B,), (A,), (B,)]
    assert on_call_at(cloudformation_like, utc("2025-03-03T20:00")) == ()


def test_override_splits_shift() -> None:
    daily = rotation("UTC", "2024-01-01T09:00:00+00:00", (A, B, C), DailySettings=[hand_off(9)])
    cover = Override.from_wire(
        {
            "NewContactIds": [C],
            "StartTime": utc("2024-01-01T12:00"),
            "EndTime": utc("2024-01-02T12:00"),
        }
    )
    shifts = shifts_between(daily, utc("2024-01-01T00:00"), utc("2024-01-03T09:00"), [cover])

    assert [(s.start.day, s.start.hour, s.type, s.contact_ids) for s in shifts] == [
        (1, 9, "REGULAR", (A,)),
        (1, 12, "OVERRIDDEN", (C,)),
        (2, 9, "OVERRIDDEN", (C,)),
        (2, 12, "REGULAR", (B,)),
    ]
    assert shifts[1].overridden_contact_ids == (A,)
    assert shifts[2].overridden_contact_ids == (B,)
    assert shifts[1].to_wire()["ShiftDetails"] == {"OverriddenContactIds": [A]}
    assert "ShiftDetails" not in shifts[0].to_wire()
    assert_contiguous(shifts)
    assert on_call_at(daily, utc("2024-01-02T10:00"), [cover]) == (C,)
    assert on_call_at(daily, utc("2024-01-02T10:00")) == (B,)


def test_later_override_wins_and_empty_override() -> None:
    daily = rotation("UTC", "2024-01-01T00:00:00+00:00", DailySettings=[hand_off(0)])
    overrides = [
        Override(utc("2024-01-01T06:00"), utc("2024-01-01T18:00"), (B,)),
        Override(utc("2024-01-01T10:00"), utc("2024-01-01T12:00"), ()),
    ]
    shifts = shifts_between(daily, utc("2024-01-01T00:00"), utc("2024-01-02T00:00"), overrides)

    assert [(s.start.hour, s.end.hour, s.contact_ids) for s in shifts] == [
        (0, 6, (A,)),
        (6, 10, (B,)),
        (10, 12, ()),
        (12, 18, (B,)),
        (18, 0, (A,)),
    ]
    assert on_call_at(daily, utc("2024-01-01T11:00"), overrides) == ()


def test_shifts_before_start_time_empty() -> None:
    daily = rotation("UTC", "2024-06-01T00:00:00+00:00", DailySettings=[hand_off(0)])

    assert shifts_between(daily, utc("2024-01-01T00:00"), utc("2024-06-01T00:00")) == []
    assert on_call_at(daily, utc("2024-05-31T23:59")) == ()


def test_hourly_ninety_days_is_fast() -> None:
    hourly = rotation(
        "America/New_York",
        "2025-01-01T00:00:00-05:00",
        DailySettings=[hand_off(h) for h in range(24)],
    )
    began = timer.perf_counter()
    shifts = shifts_between(hourly, utc("2025-01-01T05:00"), utc("2025-04-01T05:00"))
    elapsed = timer.perf_counter() - began

    # The window ends at 01:00 EDT, one wall hour past 90 days, and 02:00 on
    # 2025-03-09 does not exist, so the two cancel out.
    assert len(shifts) == 90 * 24
    assert elapsed < 0.5


def test_huge_window_raises() -> None:
    minutes = [hand_off(h, m) for h in range(24) for m in range(0, 60, 5)]
    dense = rotation("UTC", "2000-01-01T00:00:00+00:00", DailySettings=minutes)

    with pytest.raises(ValueError, match="shorter"):
        shifts_between(dense, utc("2000-01-01T00:00"), utc("2100-01-01T00:00"))


# Wire input


def _wire(**recurrence: Any) -> dict[str, Any]:
    return {
        "ContactIds": [A, B],
        "TimeZoneId": recurrence.pop("TimeZoneId", "UTC"),
        "StartTime": 1_700_000_000,
        "Recurrence": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1, **recurrence},
    }


@pytest.mark.parametrize(
    ("shape", "member"),
    [
        (
            _wire(DailySettings=[hand_off(9)], WeeklySettings=[{"DayOfWeek": "MON"}]),
            "Recurrence",
        ),
        (_wire(), "Recurrence"),
        (_wire(DailySettings=[hand_off(24)]), "Recurrence.DailySettings[0]"),
        (_wire(DailySettings=["9:00"]), "Recurrence.DailySettings[0]"),
        (
            _wire(DailySettings=[{"HourOfDay": True, "MinuteOfHour": 0}]),
            "Recurrence.DailySettings[0]",
        ),
        (_wire(DailySettings=[hand_off(9), hand_off(9)]), "Recurrence.DailySettings"),
        (
            _wire(WeeklySettings=[{"DayOfWeek": "MONDAY", "HandOffTime": hand_off(9)}]),
            "Recurrence.WeeklySettings[0].DayOfWeek",
        ),
        (
            _wire(MonthlySettings=[{"DayOfMonth": 32, "HandOffTime": hand_off(9)}]),
            "Recurrence.MonthlySettings[0].DayOfMonth",
        ),
        (
            _wire(
                DailySettings=[hand_off(9)],
                ShiftCoverages={"MON": [{"Start": hand_off(9), "End": hand_off(9, 20)}]},
            ),
            "Recurrence.ShiftCoverages.MON[0]",
        ),
        (
            _wire(DailySettings=[hand_off(9)], ShiftCoverages={"MONDAY": []}),
            "Recurrence.ShiftCoverages key",
        ),
        (
            _wire(DailySettings=[hand_off(9)], RecurrenceMultiplier=101),
            "Recurrence.RecurrenceMultiplier",
        ),
        (_wire(DailySettings=[hand_off(9)], NumberOfOnCalls=3), "Recurrence.NumberOfOnCalls"),
        (_wire(DailySettings=[hand_off(9)], TimeZoneId="PST"), "TimeZoneId"),
        ({**_wire(DailySettings=[hand_off(9)]), "StartTime": None}, "StartTime"),
        ({**_wire(DailySettings=[hand_off(9)]), "ContactIds": []}, "ContactIds"),
    ],
)
def test_from_wire_rejects_invalid(shape: dict[str, Any], member: str) -> None:
    with pytest.raises(InvalidRotationError) as caught:
        Rotation.from_wire(shape)

    assert caught.value.member == member
    assert member in str(caught.value)


def test_from_wire_accepts_preview_and_strings() -> None:
    preview = Rotation.from_wire(
        {
            "Members": ["alice", "bob"],
            "RotationStartTime": "2024-01-01T09:00:00",
            "StartTime": "2024-01-05T00:00:00Z",
            "TimeZoneId": "Asia/Seoul",
            "Recurrence": {
                "NumberOfOnCalls": 1,
                "RecurrenceMultiplier": 1,
                "WeeklySettings": [{"DayOfWeek": "MON", "HandOffTime": "09:00"}],
                "ShiftCoverages": {"MON": [{"Start": "22:00", "End": "06:00"}]},
            },
        }
    )

    assert preview.start_time == utc("2024-01-01T09:00")
    assert preview.contact_ids == ("alice", "bob")
    shifts = shifts_between(preview, utc("2024-01-01T00:00"), utc("2024-01-15T00:00"))
    # The Monday window runs overnight, 22:00 Monday to 06:00 Tuesday in Seoul.
    assert [(s.start, s.end) for s in shifts] == [
        (utc("2024-01-01T13:00"), utc("2024-01-01T21:00")),
        (utc("2024-01-08T13:00"), utc("2024-01-08T21:00")),
    ]


# Properties

ZONES = [
    "UTC",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Asia/Kolkata",
    "Pacific/Chatham",
]
times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@st.composite
def recurrences(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["DailySettings", "WeeklySettings", "MonthlySettings"]))
    handoffs = draw(st.lists(times, min_size=1, max_size=4, unique=True))
    wire_times = [hand_off(t.hour, t.minute) for t in handoffs]
    settings_list: list[Any] = wire_times
    if kind == "WeeklySettings":
        days = draw(
            st.lists(
                st.sampled_from(["MON", "WED", "SAT", "SUN"]),
                min_size=len(handoffs),
                max_size=len(handoffs),
            )
        )
        settings_list = [
            {"DayOfWeek": d, "HandOffTime": t} for d, t in zip(days, wire_times, strict=True)
        ]
    elif kind == "MonthlySettings":
        days_of_month = draw(
            st.lists(st.integers(1, 31), min_size=len(handoffs), max_size=len(handoffs))
        )
        settings_list = [
            {"DayOfMonth": d, "HandOffTime": t}
            for d, t in zip(days_of_month, wire_times, strict=True)
        ]
    recurrence: dict[str, Any] = {
        kind: settings_list,
        "NumberOfOnCalls": draw(st.integers(1, 2)),
        "RecurrenceMultiplier": draw(st.integers(1, 3)),
    }
    if draw(st.booleans()):
        coverages: dict[str, list[dict[str, Any]]] = {}
        for day in draw(
            st.lists(st.sampled_from(["MON", "TUE", "FRI", "SUN"]), unique=True, min_size=1)
        ):
            start = draw(times)
            length = draw(st.integers(30, 1440))
            end = (datetime.combine(date(2000, 1, 1), start) + timedelta(minutes=length)).time()
            coverages[day] = [
                {"Start": hand_off(start.hour, start.minute), "End": hand_off(end.hour, end.minute)}
            ]
        recurrence["ShiftCoverages"] = coverages
    return recurrence


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Rotation, datetime, datetime, list[datetime]]:
    recurrence = draw(recurrences())
    start = draw(st.datetimes(datetime(2010, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)))
    window_start = start + timedelta(minutes=draw(st.integers(-20_000, 60_000)))
    window_end = window_start + timedelta(minutes=draw(st.integers(1, 60 * 24 * 40)))
    built = Rotation(
        contact_ids=(A, B, C),
        start_time=start,
        time_zone=draw(st.sampled_from(ZONES)),
        recurrence=Rotation.from_wire(
            {
                "ContactIds": [A, B, C],
                "TimeZoneId": "UTC",
                "StartTime": start,
                "Recurrence": recurrence,
            }
        ).recurrence,
    )
    span = int((window_end - window_start).total_seconds())
    instants = [window_start + timedelta(seconds=draw(st.integers(0, span - 1))) for _ in range(5)]
    return built, window_start, window_end, instants


def _in_coverage_far_from_change(subject: Rotation, instant: datetime) -> bool | None:
    """Return whether the wall reading of `instant` is inside a coverage window.

    Returns None within 27 hours of a UTC offset change, where the wall reading
    alone cannot decide it.
    """
    zone = subject.zone
    offsets = {(instant + timedelta(hours=h)).astimezone(zone).utcoffset() for h in (-27, 0, 27)}
    if len(offsets) > 1:
        return None
    wall = instant.astimezone(zone).replace(tzinfo=None)
    for window in subject.recurrence.coverage:
        for day_shift in (0, 1):
            day = wall.date() - timedelta(days=day_shift)
            if day.weekday() != window.weekday:
                continue
            low = datetime.combine(day, window.start)
            end_day = day if window.end > window.start else day + timedelta(days=1)
            if low <= wall < datetime.combine(end_day, window.end):
                return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_properties_of_random_rotations(
    scenario: tuple[Rotation, datetime, datetime, list[datetime]],
) -> None:
    built, window_start, window_end, instants = scenario
    shifts = shifts_between(built, window_start, window_end)

    for shift in shifts:
        assert shift.start < shift.end
        assert shift.start >= built.start_time
        assert shift.end > window_start
        assert shift.start < window_end
        assert len(shift.contact_ids) == built.recurrence.number_of_on_calls
    for before, after in pairwise(shifts):
        assert before.end <= after.start
        if not built.recurrence.coverage:
            assert before.end == after.start
    if not built.recurrence.coverage and built.start_time < window_end:
        assert shifts[0].start <= max(window_start, built.start_time)
        assert shifts[-1].end >= window_end

    for instant in instants:
        containing = [s for s in shifts if s.start <= instant < s.end]
        assert len(containing) <= 1
        expected = containing[0].contact_ids if containing else ()
        assert on_call_at(built, instant) == expected
        if instant < built.start_time:
            assert expected == ()
            continue
        if not built.recurrence.coverage:
            assert expected != ()
            continue
        covered = _in_coverage_far_from_change(built, instant)
        if covered is not None:
            assert (expected != ()) == covered

    # A sub-window returns the same whole shifts as the larger window.
    middle = window_start + (window_end - window_start) / 2
    later = shifts_between(built, middle, window_end)
    assert later == [s for s in shifts if s.end > middle]


def test_override_error_shows_iso_times() -> None:
    with pytest.raises(InvalidRotationError) as caught:
        Override.from_wire(
            {
                "NewContactIds": [C],
                "StartTime": utc("2024-01-02T12:00"),
                "EndTime": utc("2024-01-01T12:00"),
            }
        )
    message = str(caught.value)
    assert message.startswith("EndTime is invalid: 2024-01-01T12:00:00+00:00: ")
    assert "datetime.datetime" not in message
