"""Engagements of on-call schedules: who is on shift at each stage's start, overrides included."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.contacts.engagement_support import (
    advance,
    contact_stage,
    engage,
    escalation,
    page_messages,
    paged_person,
    pages_of,
    settle,
)
from tocsin.contacts.stage_starts import StageStarter, lock_engagements
from tocsin.engine.clock import FakeClock
from tocsin.testing import RunningServer


def daily_rotation(client: Any, members: list[str], handoff: datetime) -> str:
    arn: str = client.create_rotation(
        Name="daily",
        ContactIds=members,
        StartTime=handoff - timedelta(days=3),
        TimeZoneId="UTC",
        Recurrence={
            "NumberOfOnCalls": 1,
            "RecurrenceMultiplier": 1,
            "DailySettings": [{"HourOfDay": handoff.hour, "MinuteOfHour": handoff.minute}],
        },
    )["RotationArn"]
    return arn


def on_call(client: Any, rotation: str, at: datetime) -> str:
    shifts = client.list_rotation_shifts(
        RotationId=rotation, StartTime=at, EndTime=at + timedelta(minutes=1)
    )["RotationShifts"]
    contact_ids: list[str] = shifts[0]["ContactIds"]
    assert len(contact_ids) == 1
    return contact_ids[0]


def schedule(client: Any, rotation: str) -> str:
    arn: str = client.create_contact(
        Alias="schedule", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [rotation]}
    )["ContactArn"]
    return arn


def test_schedule_pages_whoever_is_on_shift(server: RunningServer, contacts: Any) -> None:
    people = dict([paged_person(server, contacts, alias) for alias in ("ann", "bob")])
    now = server.clock.now()
    handoff = (now + timedelta(minutes=20)).replace(second=0, microsecond=0)
    rotation = daily_rotation(contacts, list(people), handoff)
    before = on_call(contacts, rotation, now)
    after = on_call(contacts, rotation, handoff + timedelta(minutes=1))
    assert before != after
    oncall = schedule(contacts, rotation)

    # Engaged directly, the schedule pages the contact on shift now, and only that one.
    direct = engage(contacts, oncall)
    settle(server)
    assert [p["ContactArn"] for p in pages_of(contacts, direct)] == [before]
    assert len(page_messages(server, people[before])) == 1
    assert page_messages(server, people[after]) == []
    page = pages_of(contacts, direct)[0]["PageArn"]
    assert contacts.list_page_resolutions(PageId=page)["PageResolutions"] == [
        {"ContactArn": oncall, "Type": "ONCALL_SCHEDULE"},
        {"ContactArn": before, "Type": "PERSONAL"},
    ]

    # An escalation plan resolves the schedule again at each stage's start, after the handoff.
    plan = escalation(
        contacts, "plan", contact_stage(30, (oncall, False)), contact_stage(30, (oncall, False))
    )
    engagement = engage(contacts, plan)
    settle(server)
    assert [p["ContactArn"] for p in pages_of(contacts, engagement)] == [before]
    advance(server, minutes=30)
    assert [p["ContactArn"] for p in pages_of(contacts, engagement)] == [before, after]
    assert len(page_messages(server, people[after])) == 1
    second_page = pages_of(contacts, engagement)[1]["PageArn"]
    assert contacts.list_page_resolutions(PageId=second_page)["PageResolutions"] == [
        {"ContactArn": plan, "Type": "ESCALATION", "StageIndex": 1},
        {"ContactArn": oncall, "Type": "ONCALL_SCHEDULE"},
        {"ContactArn": after, "Type": "PERSONAL"},
    ]


def test_override_decides_who_is_paged(server: RunningServer, contacts: Any) -> None:
    people = dict([paged_person(server, contacts, alias) for alias in ("ann", "bob", "cat")])
    ann, bob, cat = list(people)
    now = server.clock.now()
    rotation = daily_rotation(contacts, [ann, bob], now + timedelta(hours=2))
    contacts.create_rotation_override(
        RotationId=rotation,
        NewContactIds=[cat],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=30),
    )
    oncall = schedule(contacts, rotation)
    engagement = engage(contacts, oncall)
    settle(server)
    assert [p["ContactArn"] for p in pages_of(contacts, engagement)] == [cat]
    assert len(page_messages(server, people[cat])) == 1


def test_schedule_with_nobody_on_shift(server: RunningServer, contacts: Any) -> None:
    people = dict([paged_person(server, contacts, alias) for alias in ("ann", "bob")])
    now = server.clock.now()
    rotation = daily_rotation(contacts, list(people), now + timedelta(hours=1))
    contacts.create_rotation_override(
        RotationId=rotation,
        NewContactIds=[],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=10),
    )
    oncall = schedule(contacts, rotation)
    plan = escalation(
        contacts, "plan", contact_stage(10, (oncall, True)), contact_stage(10, (oncall, True))
    )
    engagement = engage(contacts, plan)
    settle(server)
    assert pages_of(contacts, engagement) == []
    advance(server, minutes=10)
    assert len(pages_of(contacts, engagement)) == 1


def test_one_batch_resolves_schedule_at_each_stage_start(
    server: RunningServer, contacts: Any
) -> None:
    """Stage starts of one batch reuse a resolution only when no on-call schedule is in it."""
    people = dict([paged_person(server, contacts, alias) for alias in ("ann", "bob")])
    now = server.clock.now()
    handoff = (now + timedelta(minutes=20)).replace(second=0, microsecond=0)
    rotation = daily_rotation(contacts, list(people), handoff)
    before = on_call(contacts, rotation, now)
    after = on_call(contacts, rotation, handoff + timedelta(minutes=1))
    oncall = schedule(contacts, rotation)
    plan = escalation(
        contacts, "plan", contact_stage(30, (oncall, False)), contact_stage(0, (oncall, False))
    )
    first, second = engage(contacts, plan), engage(contacts, plan)
    settle(server)

    assert isinstance(server.clock, FakeClock)
    with server.runtime.database.session() as session:
        engagements = lock_engagements(session, [first, second])
        starter = StageStarter(session, server.clock)
        early = starter.start_stage(engagements[first], 1)
        server.clock.advance(handoff + timedelta(minutes=1) - server.clock.now())
        late = starter.start_stage(engagements[second], 1)
        starter.write()
    assert [page.contact_arn for page in early] == [before]
    assert [page.contact_arn for page in late] == [after]
    assert [p["ContactArn"] for p in pages_of(contacts, second)] == [before, after]
