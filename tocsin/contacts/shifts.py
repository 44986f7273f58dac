"""On-call shifts of a rotation, computed from its recurrence without a database.

Handoff times and coverage windows are wall-clock times in the rotation's IANA
time zone, and `_to_utc` turns each one into an instant. A wall time that clocks
skip happens at the first instant after the gap. A wall time that clocks repeat
happens at its first occurrence. Because every handoff is placed by its wall time,
a weekly shift runs from a handoff to the same wall-clock handoff a week later
(unless one of them falls in a skipped hour), and its UTC length is 7 days plus or
minus the offset change.

Handoffs are numbered by an ordinal (`unit * K + rank`, where a unit is one day,
ISO week or month and K is the number of handoffs per unit). The ordinal counts
recurrences from a fixed origin, so the contacts of any shift follow from
arithmetic, without walking from the rotation's StartTime.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal, NamedTuple, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS_OF_WEEK = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
MAX_CONTACTS = 30
MAX_MULTIPLIER = 100
MIN_COVERAGE_MINUTES = 30
# Upper bound on recurrences, coverage days and shifts that one call enumerates,
# so that a huge window or a dense recurrence fails fast in place of running on.
MAX_STEPS = 100_000

Frequency = Literal["DAILY", "WEEKLY", "MONTHLY"]
ShiftType = Literal["REGULAR", "OVERRIDDEN"]
Interval = tuple[datetime, datetime]


def _show(value: object) -> str:
    """Return ``value`` as a caller wrote it: times in ISO 8601 rather than Python's form."""
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


class InvalidRotationError(ValueError):
    """Invalid rotation, recurrence or override input, naming the wire member."""

    def __init__(self, member: str, value: object, reason: str) -> None:
        super().__init__(f"{member} is invalid: {_show(value)}: {reason}")
        self.member = member
        self.value = value


class Handoff(NamedTuple):
    """Handoff point: `day` is 0 for daily, 0 (MON) to 6 (SUN) weekly, 1 to 31 monthly."""

    day: int
    at: time


class CoverageWindow(NamedTuple):
    """Wall-clock window of a weekday (0 is MON). An `end` at or before `start` is next day."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class Recurrence:
    """RecurrenceSettings of a rotation: when handoffs happen and who is covered when."""

    frequency: Frequency
    handoffs: tuple[Handoff, ...]
    number_of_on_calls: int = 1
    multiplier: int = 1
    # An empty tuple means the rotation covers every hour of every day.
    coverage: tuple[CoverageWindow, ...] = ()

    def __post_init__(self) -> None:
        # Every loop over handoffs relies on these checks, so they also guard direct use.
        _parse_int(self.multiplier, "Recurrence.RecurrenceMultiplier", 1, MAX_MULTIPLIER)
        _parse_int(self.number_of_on_calls, "Recurrence.NumberOfOnCalls", 1, MAX_CONTACTS)
        if not self.handoffs:
            raise InvalidRotationError(
                "Recurrence", self.handoffs, "missing: at least one handoff is required"
            )
        object.__setattr__(self, "handoffs", tuple(sorted(self.handoffs)))

    @classmethod
    def from_wire(cls, shape: Mapping[str, Any]) -> Recurrence:
        """Parse a RecurrenceSettings shape, raising InvalidRotationError on bad input."""
        kinds: dict[str, Frequency] = {
            "DailySettings": "DAILY",
            "WeeklySettings": "WEEKLY",
            "MonthlySettings": "MONTHLY",
        }
        present = [name for name in kinds if shape.get(name)]
        if len(present) != 1:
            reason = "set exactly one of DailySettings, WeeklySettings and MonthlySettings"
            raise InvalidRotationError("Recurrence", present, reason)
        name = present[0]
        items = _parse_list(shape[name], f"Recurrence.{name}")
        handoffs = []
        for index, item in enumerate(items):
            path = f"Recurrence.{name}[{index}]"
            if name == "DailySettings":
                handoffs.append(Handoff(0, _parse_time(item, path)))
                continue
            at = _parse_time(_field(item, "HandOffTime", path), f"{path}.HandOffTime")
            if name == "WeeklySettings":
                day = _parse_weekday(_field(item, "DayOfWeek", path), f"{path}.DayOfWeek")
            else:
                day = _parse_int(_field(item, "DayOfMonth", path), f"{path}.DayOfMonth", 1, 31)
            handoffs.append(Handoff(day, at))
        if len(set(handoffs)) != len(handoffs):
            raise InvalidRotationError(
                f"Recurrence.{name}", items, "duplicate handoff, list each once"
            )
        return cls(
            frequency=kinds[name],
            handoffs=tuple(handoffs),
            number_of_on_calls=shape.get("NumberOfOnCalls"),  # type: ignore[arg-type]
            multiplier=shape.get("RecurrenceMultiplier"),  # type: ignore[arg-type]
            coverage=_parse_coverages(shape.get("ShiftCoverages") or {}),
        )


@dataclass(frozen=True)
class Rotation:
    """Rotation input: contacts in shift order, first shift start, IANA zone, recurrence."""

    contact_ids: tuple[str, ...]
    start_time: datetime
    time_zone: str
    recurrence: Recurrence

    def __post_init__(self) -> None:
        if not 1 <= len(self.contact_ids) <= MAX_CONTACTS:
            reason = f"expected 1 to {MAX_CONTACTS} contacts"
            raise InvalidRotationError("ContactIds", self.contact_ids, reason)
        for index, contact in enumerate(self.contact_ids):
            if not isinstance(contact, str) or not contact:
                raise InvalidRotationError(f"ContactIds[{index}]", contact, "expected an id")
        if self.recurrence.number_of_on_calls > len(self.contact_ids):
            reason = f"more contacts on call than the {len(self.contact_ids)} in ContactIds"
            raise InvalidRotationError(
                "Recurrence.NumberOfOnCalls", self.recurrence.number_of_on_calls, reason
            )
        object.__setattr__(self, "start_time", _utc(self.start_time, "StartTime"))
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError, TypeError) as exc:
            reason = "expected an IANA time zone name such as America/Los_Angeles or UTC"
            raise InvalidRotationError("TimeZoneId", self.time_zone, reason) from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def from_wire(
        cls, shape: Mapping[str, Any], *, default_start_time: datetime | None = None
    ) -> Rotation:
        """Parse CreateRotation or ListPreviewRotationShifts input (ContactIds or Members).

        StartTime (RotationStartTime in a preview) falls back to `default_start_time`.
        """
        # A preview carries StartTime too, but there it filters shifts.
        preview = "Members" in shape
        contacts_member = "Members" if preview else "ContactIds"
        start_member = "RotationStartTime" if preview else "StartTime"
        recurrence = shape.get("Recurrence")
        if not isinstance(recurrence, Mapping):
            raise InvalidRotationError("Recurrence", recurrence, "expected a RecurrenceSettings")
        return cls(
            contact_ids=tuple(_parse_list(shape.get(contacts_member), contacts_member)),
            start_time=_parse_instant(shape.get(start_member, default_start_time), start_member),
            time_zone=shape.get("TimeZoneId"),  # type: ignore[arg-type]
            recurrence=Recurrence.from_wire(recurrence),
        )


@dataclass(frozen=True)
class Override:
    """Rotation override: `contact_ids` replace the on-call contacts in [start, end)."""

    start: datetime
    end: datetime
    contact_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start, "StartTime"))
        object.__setattr__(self, "end", _utc(self.end, "EndTime"))
        if self.end <= self.start:
            raise InvalidRotationError("EndTime", self.end, "EndTime must be after StartTime")

    @classmethod
    def from_wire(cls, shape: Mapping[str, Any]) -> Override:
        """Parse CreateRotationOverride input or a PreviewOverride (NewMembers)."""
        member = "NewContactIds" if "NewContactIds" in shape else "NewMembers"
        return cls(
            start=_parse_instant(shape.get("StartTime"), "StartTime"),
            end=_parse_instant(shape.get("EndTime"), "EndTime"),
            contact_ids=tuple(str(item) for item in _parse_list(shape.get(member, []), member)),
        )


@dataclass(frozen=True)
class Shift:
    """RotationShift: who is on call in [start, end), both aware UTC datetimes."""

    start: datetime
    end: datetime
    contact_ids: tuple[str, ...]
    type: ShiftType = "REGULAR"
    overridden_contact_ids: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "ContactIds": list(self.contact_ids),
            "StartTime": self.start,
            "EndTime": self.end,
            "Type": self.type,
        }
        if self.type == "OVERRIDDEN":
            wire["ShiftDetails"] = {"OverriddenContactIds": list(self.overridden_contact_ids)}
        return wire


@dataclass(frozen=True)
class CoverageReport:
    """Intervals of a schedule with no rotation on call, and with two or more."""

    gaps: tuple[Interval, ...]
    overlaps: tuple[Interval, ...]


def shifts_between(
    rotation: Rotation, start: datetime, end: datetime, overrides: Sequence[Override] = ()
) -> list[Shift]:
    """Compute the shifts that overlap [start, end), whole and in time order.

    A shift is one contact turn, cut to the coverage windows and split where
    overrides apply. When overrides overlap, the one listed last wins. Raises
    ValueError when the window needs more than MAX_STEPS recurrences or shifts.
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    timeline = _Timeline(rotation)
    shifts = timeline.regular_shifts(start, end)
    if overrides:
        shifts = _apply_overrides(shifts, overrides)
    return [shift for shift in shifts if shift.end > start and shift.start < end]


def on_call_at(
    rotation: Rotation, instant: datetime, overrides: Sequence[Override] = ()
) -> tuple[str, ...]:
    """Return the contact ids on call at `instant`, or () when no contact is on call."""
    instant = _utc(instant, "instant")
    window_end = instant + timedelta(microseconds=1)
    for shift in shifts_between(rotation, instant, window_end, overrides):
        if shift.start <= instant < shift.end:
            return shift.contact_ids
    return ()


def coverage_gaps_and_overlaps(
    rotations: Iterable[Rotation], start: datetime, end: datetime
) -> CoverageReport:
    """Report where an on-call schedule's rotations leave [start, end) uncovered or overlap.

    Only regular shifts count (overrides are not applied), and a shift without
    contacts covers nothing.
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    changes: defaultdict[datetime, int] = defaultdict(int)
    changes[start] += 0
    changes[end] += 0
    for rotation in rotations:
        for shift in shifts_between(rotation, start, end):
            if shift.contact_ids:
                changes[max(shift.start, start)] += 1
                changes[min(shift.end, end)] -= 1
    gaps: list[Interval] = []
    overlaps: list[Interval] = []
    on_call = 0
    for low, high in pairwise(sorted(changes)):
        on_call += changes[low]
        if on_call == 0:
            _append_merged(gaps, low, high)
        elif on_call >= 2:
            _append_merged(overlaps, low, high)
    return CoverageReport(tuple(gaps), tuple(overlaps))


class _Timeline:
    """Handoff instants and coverage of one rotation, cached for one call."""

    def __init__(self, rotation: Rotation) -> None:
        self.rotation = rotation
        self.recurrence = rotation.recurrence
        self.zone = rotation.zone
        self.per_unit = len(self.recurrence.handoffs)
        self._walls: dict[int, list[datetime]] = {}

    def unit_of(self, day: date) -> int:
        if self.recurrence.frequency == "DAILY":
            return day.toordinal()
        if self.recurrence.frequency == "WEEKLY":
            return (day.toordinal() - 1) // 7  # date.fromordinal(1) is a Monday
        return day.year * 12 + day.month - 1

    def unit_walls(self, unit: int) -> list[datetime]:
        """Return the naive wall-clock handoffs of one day, week or month, in order."""
        walls = self._walls.get(unit)
        if walls is not None:
            return walls
        if self.recurrence.frequency != "MONTHLY":
            # A daily handoff has day 0, and a weekly one counts days from Monday.
            first = date.fromordinal(unit if self.recurrence.frequency == "DAILY" else unit * 7 + 1)
            walls = [
                datetime.combine(first + timedelta(days=h.day), h.at)
                for h in self.recurrence.handoffs
            ]
        else:
            year, month = divmod(unit, 12)
            last_day = calendar.monthrange(year, month + 1)[1]
            # A handoff on day 29, 30 or 31 of a month that lacks that day happens on the
            # month's last day, so every month has all its handoffs and the turn count
            # stays fixed. Sorting keeps the order when such a handoff lands before
            # another one on that last day.
            walls = sorted(
                datetime.combine(date(year, month + 1, min(h.day, last_day)), h.at)
                for h in self.recurrence.handoffs
            )
        self._walls[unit] = walls
        return walls

    def boundary(self, ordinal: int) -> datetime:
        unit, rank = divmod(ordinal, self.per_unit)
        return _to_utc(self.unit_walls(unit)[rank], self.zone)

    def ordinal_at_or_before(self, instant: datetime) -> int:
        """Return the ordinal of the last handoff at or before `instant`."""
        unit = self.unit_of(instant.astimezone(self.zone).date())
        # Each unit contains every handoff, and _to_utc moves a wall time forward by
        # the length of a gap at most, so for gaps up to a day (Pacific/Apia skipped
        # 2011-12-30) the answer lies within three units of the instant's own.
        low, high = (unit - 3) * self.per_unit, (unit + 4) * self.per_unit
        index = bisect.bisect_right(range(low, high), instant, key=self.boundary)
        if not 0 < index < high - low:
            raise RuntimeError(f"no handoff found near {instant.isoformat()}")
        return low + index - 1

    def contacts_for_turn(self, turn: int) -> tuple[str, ...]:
        # Each turn hands over to the next NumberOfOnCalls contacts in ContactIds order.
        contacts = self.rotation.contact_ids
        count = self.recurrence.number_of_on_calls
        return tuple(contacts[(turn * count + i) % len(contacts)] for i in range(count))

    def turns(self, start: datetime, end: datetime) -> list[tuple[int, datetime, datetime]]:
        """List (turn, start, end) of the turns that overlap [start, end).

        Turn 0 starts at StartTime and ends at the first handoff after it, so a
        StartTime between handoffs gives a short first turn. Turn n starts at the
        handoff `first - 1 + n * multiplier`. Turns advance with every handoff,
        including handoffs on days without coverage.
        """
        rotation_start = self.rotation.start_time
        multiplier = self.recurrence.multiplier
        first = self.ordinal_at_or_before(rotation_start) + 1
        begin = max(start, rotation_start)
        turn = max(0, self.ordinal_at_or_before(begin) - first + 1) // multiplier
        turn_start = rotation_start if turn == 0 else self.boundary(first - 1 + turn * multiplier)
        turns: list[tuple[int, datetime, datetime]] = []
        for _ in range(MAX_STEPS):
            if turn_start >= end:
                return turns
            turn_end = self.boundary(first - 1 + (turn + 1) * multiplier)
            # Handoffs that resolve to the same instant (two wall times inside one
            # skipped hour) leave an empty turn: that contact misses the turn that
            # night, and everyone keeps their wall-clock turns afterwards.
            if turn_end > turn_start:
                turns.append((turn, turn_start, turn_end))
            turn, turn_start = turn + 1, max(turn_start, turn_end)
        raise ValueError(f"window needs more than {MAX_STEPS} turns, request a shorter one")

    def covered(self, low: datetime, high: datetime) -> list[Interval]:
        """Return the merged coverage windows that overlap [low, high), in order."""
        by_weekday: dict[int, list[CoverageWindow]] = defaultdict(list)
        for window in self.recurrence.coverage:
            by_weekday[window.weekday].append(window)
        day = low.astimezone(self.zone).date() - timedelta(days=1)
        last_day = high.astimezone(self.zone).date()
        if (last_day - day).days > MAX_STEPS:
            raise ValueError(f"window spans more than {MAX_STEPS} days, request a shorter one")
        intervals: list[Interval] = []
        while day <= last_day:
            for window in by_weekday[day.weekday()]:
                end_day = day if window.end > window.start else day + timedelta(days=1)
                # Both ends follow the handoff rules: an end in a skipped hour moves to
                # the end of the gap, and an ambiguous end takes its first occurrence.
                window_start = _to_utc(datetime.combine(day, window.start), self.zone)
                window_end = _to_utc(datetime.combine(end_day, window.end), self.zone)
                if window_end > window_start:
                    intervals.append((window_start, window_end))
            day += timedelta(days=1)
        merged: list[Interval] = []
        for interval_start, interval_end in sorted(intervals):
            _append_merged(merged, interval_start, interval_end)
        return merged

    def regular_shifts(self, start: datetime, end: datetime) -> list[Shift]:
        turns = self.turns(start, end)
        if not turns:
            return []
        if not self.recurrence.coverage:
            return [Shift(low, high, self.contacts_for_turn(turn)) for turn, low, high in turns]
        covered = self.covered(turns[0][1], turns[-1][2])
        shifts = []
        first_window = 0
        for turn, turn_start, turn_end in turns:
            contacts = self.contacts_for_turn(turn)
            while first_window < len(covered) and covered[first_window][1] <= turn_start:
                first_window += 1
            index = first_window
            while index < len(covered) and covered[index][0] < turn_end:
                low, high = max(turn_start, covered[index][0]), min(turn_end, covered[index][1])
                shifts.append(Shift(low, high, contacts))
                index += 1
        if len(shifts) > MAX_STEPS:
            raise ValueError(f"window has more than {MAX_STEPS} shifts, request a shorter one")
        return shifts


def _to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """Convert a naive wall-clock time in `zone` to an aware UTC instant."""
    # Clocks go back: a repeated wall time takes its first occurrence, which is
    # what fold=0 selects.
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    local = first.astimezone(zone)
    if local.replace(tzinfo=None) == wall:
        return first
    # Clocks go forward: the wall time does not exist, and the handoff happens at
    # the first instant after the gap, which is the transition itself. fold=1 reads
    # the wall time with the offset after the transition and lands before it, and
    # fold=0 lands after it. A binary search over whole seconds between the two
    # finds the transition, because zoneinfo transitions fall on whole seconds.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == local.utcoffset():
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _apply_overrides(shifts: list[Shift], overrides: Sequence[Override]) -> list[Shift]:
    result: list[Shift] = []
    for shift in shifts:
        active = [o for o in overrides if o.start < shift.end and o.end > shift.start]
        if not active:
            result.append(shift)
            continue
        cuts = {shift.start, shift.end}
        cuts.update(t for o in active for t in (o.start, o.end) if shift.start < t < shift.end)
        pieces: list[Shift] = []
        for low, high in pairwise(sorted(cuts)):
            winner = None
            for override in active:
                if override.start <= low and high <= override.end:
                    winner = override
            piece = Shift(low, high, shift.contact_ids)
            if winner is not None:
                piece = Shift(low, high, winner.contact_ids, "OVERRIDDEN", shift.contact_ids)
            if pieces and replace(pieces[-1], start=low, end=high) == piece:
                pieces[-1] = replace(pieces[-1], end=high)
            else:
                pieces.append(piece)
        result.extend(pieces)
    return result


def _append_merged(intervals: list[Interval], low: datetime, high: datetime) -> None:
    """Append [low, high) to sorted `intervals`, joining it to a last one it touches."""
    if intervals and low <= intervals[-1][1]:
        intervals[-1] = (intervals[-1][0], max(intervals[-1][1], high))
    else:
        intervals.append((low, high))


def _utc(value: datetime, member: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRotationError(member, value, "expected a timezone-aware datetime")
    return value.astimezone(UTC)


def _field(item: object, name: str, member: str) -> object:
    if not isinstance(item, Mapping) or name not in item:
        raise InvalidRotationError(f"{member}.{name}", item, "missing")
    return item[name]


def _parse_list(value: object, member: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise InvalidRotationError(member, value, "expected a list")
    return list(value)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_int(value: object, member: str, low: int, high: int) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise InvalidRotationError(member, value, f"expected an integer from {low} to {high}")
    return value


def _parse_weekday(value: object, member: str) -> int:
    if value not in DAYS_OF_WEEK:
        raise InvalidRotationError(member, value, f"expected one of {', '.join(DAYS_OF_WEEK)}")
    return DAYS_OF_WEEK.index(str(value))


def _parse_time(value: object, member: str) -> time:
    """Parse a HandOffTime shape, or the "HH:MM" string that CloudFormation uses."""
    hour: object = None
    minute: object = None
    if isinstance(value, str) and re.fullmatch(r"\d\d:\d\d", value):
        hour, minute = int(value[:2]), int(value[3:])
    elif isinstance(value, Mapping):
        hour, minute = value.get("HourOfDay"), value.get("MinuteOfHour")
    if _is_int(hour) and _is_int(minute) and 0 <= hour <= 23 and 0 <= minute <= 59:
        return time(hour, minute)
    reason = "expected HH:MM, with HourOfDay 0 to 23 and MinuteOfHour 0 to 59"
    raise InvalidRotationError(member, value, reason)


def _parse_coverages(value: object) -> tuple[CoverageWindow, ...]:
    member = "Recurrence.ShiftCoverages"
    if not isinstance(value, Mapping):
        raise InvalidRotationError(member, value, "expected a map from day of week to windows")
    windows = []
    for key, items in value.items():
        weekday = _parse_weekday(key, f"{member} key")
        for index, item in enumerate(_parse_list(items, f"{member}.{key}")):
            path = f"{member}.{key}[{index}]"
            start = _parse_time(_field(item, "Start", path), f"{path}.Start")
            end = _parse_time(_field(item, "End", path), f"{path}.End")
            # An End at or before Start ends on the next day, so End == Start is 24 hours.
            minutes = (end.hour * 60 + end.minute - start.hour * 60 - start.minute) % 1440
            if 0 < minutes < MIN_COVERAGE_MINUTES:
                reason = f"coverage window shorter than {MIN_COVERAGE_MINUTES} minutes"
                raise InvalidRotationError(path, item, reason)
            windows.append(CoverageWindow(weekday, start, end))
    return tuple(windows)


def _parse_instant(value: object, member: str) -> datetime:
    """Parse a timestamp as a datetime, epoch seconds (the JSON wire form) or ISO 8601."""
    # Like botocore, read a timestamp without an offset as UTC.
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            if isinstance(value, str):
                parsed = datetime.fromisoformat(value)
            else:
                parsed = datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError) as exc:
            reason = "expected ISO 8601 or epoch seconds within years 1 to 9999"
            raise InvalidRotationError(member, value, reason) from exc
    else:
        raise InvalidRotationError(member, value, "missing or not a timestamp")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
