"""Helpers of the rotation tests: rotation definitions, shift listings and error checks."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.contacts.conftest import personal


def utc(text: str) -> datetime:
    """Parse an ISO 8601 time, which botocore then sends as epoch seconds."""
    return datetime.fromisoformat(text)


def daily(hour: int, minute: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "NumberOfOnCalls": 1,
        "RecurrenceMultiplier": 1,
        "DailySettings": [{"HourOfDay": hour, "MinuteOfHour": minute}],
        **extra,
    }


def weekly(day: str, hour: int, minute: int = 0) -> dict[str, Any]:
    return {
        "NumberOfOnCalls": 1,
        "RecurrenceMultiplier": 1,
        "WeeklySettings": [
            {"DayOfWeek": day, "HandOffTime": {"HourOfDay": hour, "MinuteOfHour": minute}}
        ],
    }


def coverage(days: list[str], start: tuple[int, int], end: tuple[int, int]) -> dict[str, Any]:
    window = {
        "Start": {"HourOfDay": start[0], "MinuteOfHour": start[1]},
        "End": {"HourOfDay": end[0], "MinuteOfHour": end[1]},
    }
    return {day: [window] for day in days}


def people(client: Any, *aliases: str) -> list[str]:
    return [personal(client, alias) for alias in aliases]


def all_shifts(client: Any, operation: str, **params: Any) -> list[dict[str, Any]]:
    """Return every shift of a listing, following NextToken with botocore's paginator."""
    paginator = client.get_paginator(operation)
    shifts: list[dict[str, Any]] = []
    for page in paginator.paginate(**params, PaginationConfig={"PageSize": 50}):
        shifts.extend(page["RotationShifts"])
    return shifts


def stored_and_preview(
    client: Any,
    name: str,
    contact_ids: list[str],
    time_zone: str,
    start_time: str,
    recurrence: dict[str, Any],
    window: tuple[str, str],
) -> list[dict[str, Any]]:
    """Create a rotation, list its shifts and a preview of the same definition.

    Asserts that the two listings are equal and returns the shifts.
    """
    arn = client.create_rotation(
        Name=name,
        ContactIds=contact_ids,
        TimeZoneId=time_zone,
        StartTime=utc(start_time),
        Recurrence=recurrence,
    )["RotationArn"]
    stored = all_shifts(
        client,
        "list_rotation_shifts",
        RotationId=arn,
        StartTime=utc(window[0]),
        EndTime=utc(window[1]),
    )
    preview = all_shifts(
        client,
        "list_preview_rotation_shifts",
        Members=contact_ids,
        TimeZoneId=time_zone,
        RotationStartTime=utc(start_time),
        Recurrence=recurrence,
        StartTime=utc(window[0]),
        EndTime=utc(window[1]),
    )
    assert stored == preview
    assert stored, "the window has no shifts"
    return stored


def assert_contiguous(shifts: list[dict[str, Any]]) -> None:
    """Each shift ends where the next one starts, and boundaries strictly increase."""
    for shift in shifts:
        assert shift["StartTime"] < shift["EndTime"], shift
    for before, after in pairwise(shifts):
        assert before["EndTime"] == after["StartTime"], (before, after)


def client_error(info: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = info.value.response
    return response


def assert_invalid(info: pytest.ExceptionInfo[ClientError], field: str, text: str = "") -> None:
    """The error is a ValidationException whose Fields name ``field``."""
    error = client_error(info)
    assert error["Error"]["Code"] == "ValidationException", error
    assert text in error["Error"]["Message"]
    assert [item["Name"] for item in error.get("Fields", [])] == [field], error
