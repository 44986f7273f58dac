"""The rotation form of the console: its fields to CreateRotation input and back.

The form writes hand-offs and shift coverages as text lines, one per line:

- hand-offs: ``HH:MM`` (daily), ``MON HH:MM`` (weekly) or ``15 HH:MM``
  (monthly, the day of the month);
- shift coverages: ``MON 09:00-17:00``, the hours of a weekday when the
  rotation has someone on call. No line means every hour of every day.

Times of the form are wall-clock times in the rotation's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.web.console.incident_forms import FormError

FREQUENCIES = {"DAILY": "DailySettings", "WEEKLY": "WeeklySettings", "MONTHLY": "MonthlySettings"}
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
COVERAGE = re.compile(r"^([A-Za-z]{3})\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$")
CONTACT_ALIAS = re.compile(r"^[a-z0-9_\-]{1,255}$")
# The form's date and time fields: <input type="datetime-local"> sends minutes, or seconds.
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def zone_of(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name``; raise FormError naming the value when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FormError(
            f"The time zone {name!r} is invalid: enter an IANA name such as Europe/Berlin or UTC."
        ) from exc


def local_instant(text: str, zone: ZoneInfo, label: str) -> datetime:
    """Return the UTC instant of a wall-clock ``YYYY-MM-DDTHH:MM`` in ``zone``."""
    for layout in LOCAL_FORMATS:
        try:
            wall = datetime.strptime(text, layout)
        except ValueError:
            continue
        return wall.replace(tzinfo=zone).astimezone(UTC)
    raise FormError(f"{label} {text!r} is invalid: enter a date and time as YYYY-MM-DDTHH:MM.")


def local_text(instant: datetime, zone: ZoneInfo) -> str:
    """Return ``instant`` as the value of a datetime-local field in ``zone``."""
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def contact_arn(text: str, region: str, account_id: str, label: str) -> str:
    """Return the ARN of a contact given by its ARN or by an alias of ``account_id``."""
    if text.startswith("arn:"):
        return text
    if not CONTACT_ALIAS.match(text):
        raise FormError(
            f"{label} {text!r} is invalid: enter a contact alias (lowercase letters, digits, "
            "'_' and '-') or a contact ARN."
        )
    return f"arn:aws:ssm-contacts:{region}:{account_id}:contact/{text}"


def contact_label(arn: str, account_id: str) -> str:
    """Return the alias of a contact ARN, with its account when that is another account."""
    alias = arn.rsplit("/", 1)[-1]
    owner = arn.split(":")[4] if arn.count(":") >= 5 else ""
    return alias if owner in ("", account_id) else f"{alias} (account {owner})"


def _clock(text: str, label: str) -> dict[str, int]:
    match = CLOCK.match(text)
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise FormError(f"{label} {text!r} is invalid: enter a time as HH:MM, from 00:00 to 23:59.")
    return {"HourOfDay": int(match.group(1)), "MinuteOfHour": int(match.group(2))}


def _clock_text(value: Mapping[str, Any]) -> str:
    return f"{int(value.get('HourOfDay', 0)):02d}:{int(value.get('MinuteOfHour', 0)):02d}"


def _weekday(text: str, label: str) -> str:
    day = text.upper()
    if day not in WEEKDAYS:
        raise FormError(f"{label} {text!r} is invalid: enter one of {', '.join(WEEKDAYS)}.")
    return day


def _number(text: str, label: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise FormError(f"{label} {text!r} is invalid: enter a whole number from {low} to {high}.")
    return int(text)


def handoff_settings(frequency: str, lines: list[str]) -> tuple[str, list[Any]]:
    """Return the settings member and its list for the hand-off lines of ``frequency``."""
    if frequency not in FREQUENCIES:
        raise FormError(
            f"The recurrence {frequency!r} is invalid: choose {', '.join(FREQUENCIES)}."
        )
    if not lines:
        raise FormError("Hand-off times are missing: enter at least one line.")
    settings: list[Any] = []
    for number, line in enumerate(lines, start=1):
        label = f"Hand-off line {number}"
        parts = line.split()
        if frequency == "DAILY":
            if len(parts) != 1:
                raise FormError(f"{label} {line!r} is invalid: a daily hand-off is HH:MM.")
            settings.append(_clock(parts[0], label))
        elif frequency == "WEEKLY":
            if len(parts) != 2:
                raise FormError(f"{label} {line!r} is invalid: a weekly hand-off is DAY HH:MM.")
            settings.append(
                {"DayOfWeek": _weekday(parts[0], label), "HandOffTime": _clock(parts[1], label)}
            )
        else:
            if len(parts) != 2:
                raise FormError(
                    f"{label} {line!r} is invalid: a monthly hand-off is DAY_OF_MONTH HH:MM."
                )
            settings.append(
                {
                    "DayOfMonth": _number(parts[0], f"{label} day of month", 1, 31),
                    "HandOffTime": _clock(parts[1], label),
                }
            )
    return FREQUENCIES[frequency], settings


def shift_coverages(lines: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Return ShiftCoverages from ``DAY HH:MM-HH:MM`` lines."""
    coverages: dict[str, list[dict[str, Any]]] = {}
    for number, line in enumerate(lines, start=1):
        label = f"Shift coverage line {number}"
        match = COVERAGE.match(line)
        if match is None:
            raise FormError(
                f"{label} {line!r} is invalid: write DAY HH:MM-HH:MM, e.g. MON 09:00-17:00."
            )
        day = _weekday(match.group(1), label)
        window = {"Start": _clock(match.group(2), label), "End": _clock(match.group(3), label)}
        coverages.setdefault(day, []).append(window)
    return coverages


def rotation_input(form: Mapping[str, Any], region: str, account_id: str) -> dict[str, Any]:
    """Return ContactIds, StartTime, TimeZoneId and Recurrence from the form's text fields.

    ``form`` maps field names to stripped text. Raises FormError naming the
    field and its value when one is missing or malformed; the API checks the
    rest, such as whether each contact exists.
    """
    members = []
    for number, line in enumerate(form.get("members", "").splitlines(), start=1):
        if line.strip():
            members.append(contact_arn(line.strip(), region, account_id, f"Member line {number}"))
    if not members:
        raise FormError("Members are missing: enter at least one contact, one per line.")
    zone_name = form.get("time_zone", "")
    if not zone_name:
        raise FormError("The time zone is missing: enter an IANA name such as Europe/Berlin.")
    zone = zone_of(zone_name)
    start_text = form.get("start_time", "")
    if not start_text:
        raise FormError("The start time is missing: enter the date and time of the first shift.")
    start = local_instant(start_text, zone, "The start time")
    handoff_lines = [line.strip() for line in form.get("handoffs", "").splitlines() if line.strip()]
    member, settings = handoff_settings(form.get("frequency", ""), handoff_lines)
    recurrence: dict[str, Any] = {
        member: settings,
        "NumberOfOnCalls": _number(form.get("on_calls", "1"), "The number of on-calls", 1, 30),
        "RecurrenceMultiplier": _number(
            form.get("multiplier", "1"), "The recurrence multiplier", 1, 100
        ),
    }
    coverage_lines = [
        line.strip() for line in form.get("coverages", "").splitlines() if line.strip()
    ]
    if coverage_lines:
        recurrence["ShiftCoverages"] = shift_coverages(coverage_lines)
    return {
        "ContactIds": members,
        "StartTime": start,
        "TimeZoneId": zone_name,
        "Recurrence": recurrence,
    }


def _frequency(recurrence: Mapping[str, Any]) -> str | None:
    return next((name for name, member in FREQUENCIES.items() if recurrence.get(member)), None)


def _handoff_lines(recurrence: Mapping[str, Any], frequency: str) -> list[str]:
    handoffs = []
    for item in recurrence.get(FREQUENCIES[frequency]) or []:
        if frequency == "DAILY":
            handoffs.append(_clock_text(item))
        elif frequency == "WEEKLY":
            handoffs.append(f"{item['DayOfWeek']} {_clock_text(item['HandOffTime'])}")
        else:
            handoffs.append(f"{item['DayOfMonth']} {_clock_text(item['HandOffTime'])}")
    return handoffs


def _coverage_lines(recurrence: Mapping[str, Any]) -> list[str]:
    coverages = []
    for day in WEEKDAYS:
        for window in (recurrence.get("ShiftCoverages") or {}).get(day, []):
            coverages.append(f"{day} {_clock_text(window['Start'])}-{_clock_text(window['End'])}")
    return coverages


def form_values(rotation: Mapping[str, Any], account_id: str) -> dict[str, str]:
    """Return the form's field values for a rotation as GetRotation returns it."""
    zone = zone_of(rotation["TimeZoneId"])
    recurrence: Mapping[str, Any] = rotation.get("Recurrence") or {}
    frequency = _frequency(recurrence) or "WEEKLY"
    members = [
        arn.rsplit("/", 1)[-1] if arn.split(":")[4] == account_id else arn
        for arn in rotation.get("ContactIds", [])
    ]
    return {
        "name": rotation.get("Name", ""),
        "members": "\n".join(members),
        "time_zone": rotation["TimeZoneId"],
        "start_time": local_text(rotation["StartTime"], zone),
        "frequency": frequency,
        "multiplier": str(recurrence.get("RecurrenceMultiplier", 1)),
        "on_calls": str(recurrence.get("NumberOfOnCalls", 1)),
        "handoffs": "\n".join(_handoff_lines(recurrence, frequency)),
        "coverages": "\n".join(_coverage_lines(recurrence)),
    }


def recurrence_text(recurrence: Mapping[str, Any]) -> str:
    """Return a one-line description of RecurrenceSettings, such as ``every week, ...``."""
    frequency = _frequency(recurrence)
    if frequency is None:
        return "no hand-offs"
    unit = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month"}[frequency]
    multiplier = int(recurrence.get("RecurrenceMultiplier", 1))
    every = f"every {unit}" if multiplier == 1 else f"every {multiplier} {unit}s"
    on_calls = int(recurrence.get("NumberOfOnCalls", 1))
    handoffs = ", ".join(_handoff_lines(recurrence, frequency))
    text = f"{every}, {on_calls} on call, hand-off {handoffs}"
    coverages = _coverage_lines(recurrence)
    if coverages:
        text += "; covered " + ", ".join(coverages)
    return text
