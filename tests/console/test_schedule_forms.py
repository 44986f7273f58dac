"""The on-call schedule and rotation pages and forms over HTTP, on both backends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.console.conftest import ConsoleUser, make_console_user
from tests.console.console_http import ConsoleClient
from tests.console.schedule_scenario import (
    ROTATION_NAME,
    SCHEDULE_ALIAS,
    ZONE,
    Schedules,
    build_schedules,
    flash_after,
    reader,
)
from tocsin.testing import RunningServer


@pytest.fixture
def owner(server: RunningServer) -> ConsoleUser:
    return make_console_user(server)


@pytest.fixture
def schedules(server: RunningServer, owner: ConsoleUser) -> Schedules:
    return build_schedules(server, owner)


@pytest.fixture
def visitor(server: RunningServer, owner: ConsoleUser) -> Iterator[ConsoleClient]:
    client = ConsoleClient(server)
    signed_in = client.sign_in(owner.account_id, owner.user_name, owner.password)
    assert signed_in.status_code == 303
    yield client
    client.close()


def rotation_path(schedules: Schedules) -> str:
    account = schedules.rotation_arn.split(":")[4]
    return f"/console/rotations/{account}/{ROTATION_NAME}"


def rotation_form(**changes: str) -> dict[str, str]:
    fields = {
        "name": "secondary",
        "members": "alice\nbob",
        "time_zone": "America/New_York",
        "start_time": "2026-01-05T08:30",
        "frequency": "DAILY",
        "multiplier": "1",
        "on_calls": "1",
        "handoffs": "08:30",
        "coverages": "",
    }
    fields.update(changes)
    return fields


def test_schedule_list_and_check(
    visitor: ConsoleClient, schedules: Schedules, owner: ConsoleUser
) -> None:
    listed = visitor.get("/console/schedules")
    assert listed.status_code == 200
    listed_schedules = listed.text.split('id="schedules"', 1)[1].split("</section>", 1)[0]
    assert "Payments on-call" in listed_schedules
    assert "Alice" not in listed_schedules
    assert f'href="{rotation_path(schedules)}"' in listed.text
    assert "every week, 1 on call, hand-off MON 09:00" in listed.text

    page = visitor.get(f"/console/schedules/{owner.account_id}/{SCHEDULE_ALIAS}")
    assert page.status_code == 200
    assert 'id="coverage-ok"' in page.text
    assert "No gaps and no overlaps." in page.text

    missing = visitor.get(f"/console/schedules/{owner.account_id}/no-such-schedule")
    assert missing.status_code == 404, missing.text


def test_schedule_check_reports_gaps(
    server: RunningServer, visitor: ConsoleClient, schedules: Schedules, owner: ConsoleUser
) -> None:
    owner.client("ssm-contacts").update_rotation(
        RotationId=schedules.rotation_arn,
        Recurrence={
            "WeeklySettings": [
                {"DayOfWeek": "MON", "HandOffTime": {"HourOfDay": 9, "MinuteOfHour": 0}}
            ],
            "NumberOfOnCalls": 1,
            "RecurrenceMultiplier": 1,
            "ShiftCoverages": {
                day: [
                    {
                        "Start": {"HourOfDay": 9, "MinuteOfHour": 0},
                        "End": {"HourOfDay": 17, "MinuteOfHour": 0},
                    }
                ]
                for day in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
            },
        },
    )
    page = visitor.get(f"/console/schedules/{owner.account_id}/{SCHEDULE_ALIAS}")
    assert page.status_code == 200
    summary = re.search(r'<p id="coverage-summary">([^<]*)</p>', page.text)
    assert summary is not None, page.text
    assert re.fullmatch(r"9[01] gap\(s\) and 0 overlap\(s\)\.", summary.group(1))
    assert "CET" in page.text or "CEST" in page.text


def test_schedule_check_needs_rotation_permission(
    server: RunningServer, schedules: Schedules, owner: ConsoleUser
) -> None:
    contact_only = reader(server, owner, "ssm-contacts:GetContact")
    nothing = reader(server, owner)
    try:
        path = f"/console/schedules/{owner.account_id}/{SCHEDULE_ALIAS}"
        partial = contact_only.get(path)
        denied = nothing.get(path)
    finally:
        contact_only.close()
        nothing.close()
    assert partial.status_code == 200
    coverage = partial.text.split('id="coverage"', 1)[1]
    assert "AccessDeniedException" in coverage
    assert "No gaps" not in coverage
    assert denied.status_code == 400
    assert "AccessDeniedException" in denied.text
    assert "Payments on-call" not in denied.text


def test_rotation_calendar_in_zone_and_utc(
    server: RunningServer, visitor: ConsoleClient, schedules: Schedules
) -> None:
    # The rotation's second week: the first shift ends at 09:00 Berlin time on its Monday.
    second = (schedules.start + timedelta(days=7)).astimezone(ZoneInfo(ZONE)).replace(hour=9)
    day = second.astimezone(ZoneInfo(ZONE)).date()
    week = visitor.get(f"{rotation_path(schedules)}?period=week&date={day.isoformat()}")
    assert week.status_code == 200
    local = second.astimezone(ZoneInfo(ZONE)).strftime("%a %Y-%m-%d %H:%M %Z")
    assert local in week.text
    assert second.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") in week.text
    assert week.text.count('class="shift shift-regular"') == 2
    first = visitor.get(f"{rotation_path(schedules)}?period=week&date={day - timedelta(days=7)}")
    assert first.text.count('class="shift shift-regular"') == 1

    # A later month: one shift runs into it, and one starts on each of its Mondays.
    month_day = (schedules.start + timedelta(days=35)).astimezone(ZoneInfo(ZONE)).date()
    month = visitor.get(f"{rotation_path(schedules)}?period=month&date={month_day.isoformat()}")
    assert month.status_code == 200
    first_day = month_day.replace(day=1)
    mondays = sum(
        1
        for offset in range(31)
        if (first_day + timedelta(days=offset)).month == first_day.month
        and (first_day + timedelta(days=offset)).weekday() == 0
    )
    assert month.text.count('class="shift shift-regular"') == mondays + 1
    assert month_day.strftime("%B %Y") in month.text


def test_create_rotation_and_errors(
    server: RunningServer, visitor: ConsoleClient, schedules: Schedules, owner: ConsoleUser
) -> None:
    token = visitor.csrf_token()
    created = visitor.post("/console/rotations", data={**rotation_form(), "csrf_token": token})
    assert created.headers["location"] == f"/console/rotations/{owner.account_id}/secondary"
    assert flash_after(visitor, created) == ("success", "Rotation secondary was created.")
    rotation = owner.client("ssm-contacts").get_rotation(
        RotationId=schedules.rotation_arn.replace(ROTATION_NAME, "secondary")
    )
    assert rotation["TimeZoneId"] == "America/New_York"
    assert rotation["Recurrence"]["DailySettings"] == [{"HourOfDay": 8, "MinuteOfHour": 30}]
    assert rotation["StartTime"].astimezone(ZoneInfo("America/New_York")).hour == 8

    invalid = visitor.post(
        "/console/rotations",
        data={**rotation_form(name="third", handoffs="MON 8:30"), "csrf_token": token},
    )
    assert invalid.headers["location"] == "/console/rotations/new"
    assert flash_after(visitor, invalid) == (
        "error",
        "Hand-off line 1 'MON 8:30' is invalid: a daily hand-off is HH:MM.",
    )
    unknown = visitor.post(
        "/console/rotations",
        data={**rotation_form(name="third", members="alice\nnobody"), "csrf_token": token},
    )
    kind, text = flash_after(visitor, unknown)
    assert kind == "error"
    assert text.startswith("ValidationException: ContactIds[1] names the contact")
    assert "nobody" in text

    no_token = visitor.post("/console/rotations", data=rotation_form(name="fourth"))
    assert no_token.status_code == 403
    names = [item["Name"] for item in owner.client("ssm-contacts").list_rotations()["Rotations"]]
    assert sorted(names) == ["primary", "secondary"]

    read_only = reader(server, owner, "ssm-contacts:Get*", "ssm-contacts:List*")
    try:
        denied = read_only.post(
            "/console/rotations",
            data={**rotation_form(name="fifth"), "csrf_token": read_only.csrf_token()},
        )
        kind, text = flash_after(read_only, denied)
    finally:
        read_only.close()
    assert kind == "error"
    assert text.startswith("AccessDeniedException: ")


def test_edit_rotation(visitor: ConsoleClient, schedules: Schedules, owner: ConsoleUser) -> None:
    path = rotation_path(schedules)
    form = visitor.get(f"{path}/edit")
    assert form.status_code == 200
    assert ">alice\nbob</textarea>" in form.text
    assert 'value="Europe/Berlin"' in form.text
    assert ">MON 09:00</textarea>" in form.text

    token = visitor.csrf_token()
    changed = rotation_form(
        name=ROTATION_NAME,
        members="bob\nalice",
        time_zone=ZONE,
        frequency="WEEKLY",
        handoffs="MON 09:00\nTHU 09:00",
        coverages="MON 08:00-18:00\nthu 08:00-18:00",
    )
    updated = visitor.post(f"{path}/edit", data={**changed, "csrf_token": token})
    assert flash_after(visitor, updated) == ("success", "The rotation was updated.")
    rotation = owner.client("ssm-contacts").get_rotation(RotationId=schedules.rotation_arn)
    assert rotation["ContactIds"] == [schedules.contacts["bob"], schedules.contacts["alice"]]
    assert len(rotation["Recurrence"]["WeeklySettings"]) == 2
    assert sorted(rotation["Recurrence"]["ShiftCoverages"]) == ["MON", "THU"]

    bad_zone = visitor.post(
        f"{path}/edit", data={**changed, "time_zone": "Mars/Olympus", "csrf_token": token}
    )
    assert bad_zone.headers["location"] == f"{path}/edit"
    assert flash_after(visitor, bad_zone) == (
        "error",
        "The time zone 'Mars/Olympus' is invalid: enter an IANA name such as Europe/Berlin or UTC.",
    )
    too_many = visitor.post(f"{path}/edit", data={**changed, "on_calls": "3", "csrf_token": token})
    kind, text = flash_after(visitor, too_many)
    assert kind == "error"
    assert text.startswith("ValidationException: ")
    assert "NumberOfOnCalls" in text
    assert visitor.post(f"{path}/edit", data=changed).status_code == 403


def test_override_create_and_delete(
    server: RunningServer, visitor: ConsoleClient, schedules: Schedules, owner: ConsoleUser
) -> None:
    path = rotation_path(schedules)
    zone = ZoneInfo(ZONE)
    start = (
        (server.clock.now() + timedelta(days=1))
        .astimezone(zone)
        .replace(hour=10, minute=0, second=0, microsecond=0)
    )
    end = start + timedelta(hours=6)
    fields = {
        "contact": schedules.contacts["bob"],
        "start_time": start.strftime("%Y-%m-%dT%H:%M"),
        "end_time": end.strftime("%Y-%m-%dT%H:%M"),
    }
    token = visitor.csrf_token()
    created = visitor.post(f"{path}/overrides", data={**fields, "csrf_token": token})
    kind, text = flash_after(visitor, created)
    assert kind == "success"
    assert text.startswith("Override added from ")
    week = visitor.get(created.headers["location"])
    assert 'class="shift shift-overridden"' in week.text
    assert start.strftime("%a %Y-%m-%d %H:%M %Z") in week.text
    match = re.search(r'<li data-override="([0-9a-f-]+)">', week.text)
    assert match is not None, week.text
    override_id = match.group(1)

    backwards = visitor.post(
        f"{path}/overrides",
        data={
            **fields,
            "end_time": fields["start_time"],
            "start_time": fields["end_time"],
            "csrf_token": token,
        },
    )
    kind, text = flash_after(visitor, backwards)
    assert kind == "error"
    assert text.startswith("ValidationException: ")
    missing = visitor.post(f"{path}/overrides", data={"csrf_token": token, **fields, "contact": ""})
    assert flash_after(visitor, missing) == (
        "error",
        "The contacts of the override are missing: choose at least one.",
    )
    assert visitor.post(f"{path}/overrides", data=fields).status_code == 403

    delete_path = f"{path}/overrides/{override_id}/delete"
    confirm = visitor.get(delete_path)
    assert confirm.status_code == 200
    assert "Delete the override that puts" in confirm.text
    assert visitor.post(delete_path, data={}).status_code == 403
    read_only = reader(server, owner, "ssm-contacts:Get*", "ssm-contacts:List*")
    try:
        denied = read_only.post(delete_path, data={"csrf_token": read_only.csrf_token()})
        kind, text = flash_after(read_only, denied)
    finally:
        read_only.close()
    assert kind == "error"
    assert text.startswith("AccessDeniedException: ")

    deleted = visitor.post(delete_path, data={"csrf_token": token})
    assert flash_after(visitor, deleted) == ("success", f"Override {override_id} was deleted.")
    overrides = owner.client("ssm-contacts").list_rotation_overrides(
        RotationId=schedules.rotation_arn, StartTime=start - timedelta(days=1), EndTime=end
    )["RotationOverrides"]
    assert overrides == []


def test_preview_rotation(visitor: ConsoleClient, schedules: Schedules) -> None:
    empty = visitor.get("/console/rotations/preview")
    assert empty.status_code == 200
    assert 'id="preview"' not in empty.text

    previewed = visitor.get("/console/rotations/preview", params={**rotation_form(), "days": "3"})
    assert previewed.status_code == 200
    assert previewed.text.count('class="shift shift-regular"') == 3
    assert "Mon 2026-01-05 08:30 EST to Tue 2026-01-06 08:30 EST" in previewed.text
    assert "2026-01-05 13:30 UTC to 2026-01-06 13:30 UTC" in previewed.text

    invalid = visitor.get("/console/rotations/preview", params={**rotation_form(), "days": "400"})
    assert "The number of days &#39;400&#39; is invalid" in invalid.text
    posted = visitor.post(
        "/console/rotations/preview",
        data={**rotation_form(), "days": "2", "csrf_token": visitor.csrf_token()},
    )
    assert posted.status_code == 200
    assert posted.text.count('class="shift shift-regular"') == 2
    assert visitor.post("/console/rotations/preview", data=rotation_form()).status_code == 403
    unknown_frequency = visitor.get(
        "/console/rotations/preview", params={**rotation_form(frequency="HOURLY")}
    )
    assert "The recurrence &#39;HOURLY&#39; is invalid" in unknown_frequency.text


def test_read_only_user_denied_rotation_forms(
    server: RunningServer, schedules: Schedules, owner: ConsoleUser
) -> None:
    path = rotation_path(schedules)
    start = (server.clock.now() + timedelta(days=1)).astimezone(ZoneInfo(ZONE))
    forms = {
        f"{path}/edit": rotation_form(name=ROTATION_NAME, time_zone=ZONE),
        f"{path}/overrides": {
            "contact": schedules.contacts["bob"],
            "start_time": start.strftime("%Y-%m-%dT%H:%M"),
            "end_time": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        },
    }
    read_only = reader(server, owner, "ssm-contacts:Get*", "ssm-contacts:List*")
    try:
        token = read_only.csrf_token()
        outcomes = {
            action: flash_after(
                read_only, read_only.post(action, data={**form, "csrf_token": token})
            )
            for action, form in forms.items()
        }
    finally:
        read_only.close()
    for action, (kind, text) in outcomes.items():
        assert kind == "error", action
        assert text.startswith("AccessDeniedException: "), (action, text)
    rotation = owner.client("ssm-contacts").get_rotation(RotationId=schedules.rotation_arn)
    assert rotation["TimeZoneId"] == ZONE
    assert rotation["Recurrence"].get("WeeklySettings")


def test_delete_unknown_override(visitor: ConsoleClient, schedules: Schedules) -> None:
    path = f"{rotation_path(schedules)}/overrides/00000000-0000-4000-8000-000000000000/delete"
    confirm = visitor.get(path)
    assert confirm.status_code == 404
    assert "ResourceNotFoundException" in confirm.text
    deleted = visitor.post(path, data={"csrf_token": visitor.csrf_token()})
    kind, text = flash_after(visitor, deleted)
    assert kind == "error"
    assert text.startswith("ResourceNotFoundException: ")
