"""Rotations and overrides through boto3: life cycle, checks, listing, tags and schedules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.contacts.conftest import OWNER, personal
from tests.contacts.rotation_support import (
    assert_invalid,
    client_error,
    coverage,
    daily,
    people,
    utc,
    weekly,
)
from tocsin.testing import RunningServer

PREFIX = f"arn:aws:ssm-contacts:us-east-1:{OWNER}"


def create(client: Any, name: str, contact_ids: list[str], **extra: Any) -> str:
    params: dict[str, Any] = {"TimeZoneId": "UTC", "Recurrence": daily(9), **extra}
    arn: str = client.create_rotation(Name=name, ContactIds=contact_ids, **params)["RotationArn"]
    return arn


def test_rotation_life_cycle(contacts: Any) -> None:
    a, b = people(contacts, "a", "b")
    recurrence = weekly("MON", 9, 30)
    arn = contacts.create_rotation(
        Name="primary",
        ContactIds=[a, b],
        StartTime=utc("2025-01-06T09:30:00+00:00"),
        TimeZoneId="Europe/Paris",
        Recurrence=recurrence,
    )["RotationArn"]
    assert arn == f"{PREFIX}:rotation/primary"

    got = contacts.get_rotation(RotationId=arn)
    assert got["RotationArn"] == arn
    assert got["Name"] == "primary"
    assert got["ContactIds"] == [a, b]
    assert got["StartTime"] == utc("2025-01-06T09:30:00+00:00")
    assert got["TimeZoneId"] == "Europe/Paris"
    assert got["Recurrence"] == recurrence

    # UpdateRotation changes only the members it carries, and Recurrence is required.
    contacts.update_rotation(RotationId=arn, ContactIds=[b, a], Recurrence=daily(8))
    got = contacts.get_rotation(RotationId=arn)
    assert got["ContactIds"] == [b, a]
    assert got["TimeZoneId"] == "Europe/Paris"
    assert got["StartTime"] == utc("2025-01-06T09:30:00+00:00")
    assert got["Recurrence"] == daily(8)
    contacts.update_rotation(
        RotationId=arn,
        TimeZoneId="Asia/Seoul",
        StartTime=utc("2025-02-01T00:00:00+00:00"),
        Recurrence=daily(8),
    )
    got = contacts.get_rotation(RotationId=arn)
    assert got["TimeZoneId"] == "Asia/Seoul"
    assert got["StartTime"] == utc("2025-02-01T00:00:00+00:00")

    contacts.delete_rotation(RotationId=arn)
    for call in (contacts.get_rotation, contacts.delete_rotation):
        with pytest.raises(ClientError) as info:
            call(RotationId=arn)
        error = client_error(info)
        assert error["Error"]["Code"] == "ResourceNotFoundException"
        assert error["ResourceType"] == "ROTATION"
        assert error["ResourceId"] == arn
    with pytest.raises(contacts.exceptions.ResourceNotFoundException):
        contacts.update_rotation(RotationId=arn, Recurrence=daily(8))


def test_start_time_defaults_to_now(server: RunningServer, contacts: Any) -> None:
    arn = create(contacts, "now", people(contacts, "a"))
    assert contacts.get_rotation(RotationId=arn)["StartTime"] == server.clock.now()


def test_duplicate_name_conflicts(contacts: Any) -> None:
    a = personal(contacts, "a")
    first = create(contacts, "dup", [a])
    with pytest.raises(ClientError) as info:
        create(contacts, "dup", [a])
    error = client_error(info)
    assert error["Error"]["Code"] == "ConflictException"
    assert error["ResourceId"] == first


def test_invalid_rotations_rejected(contacts: Any) -> None:
    a, b = people(contacts, "a", "b")
    escalation = contacts.create_contact(Alias="esc", Type="ESCALATION", Plan={"Stages": []})[
        "ContactArn"
    ]
    missing = f"{PREFIX}:contact/nobody"
    foreign = "arn:aws:ssm-contacts:us-east-1:222222222222:contact/a"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"ContactIds": [escalation]}, "ContactIds[0]", "PERSONAL"),
        ({"ContactIds": [a, missing]}, "ContactIds[1]", "does not exist"),
        ({"ContactIds": [foreign]}, "ContactIds[0]", "own account"),
        ({"ContactIds": [a, a]}, "ContactIds[1]", "twice"),
        ({"ContactIds": [f"{PREFIX}:rotation/x"]}, "ContactIds[0]", "not a contact ARN"),
        ({"TimeZoneId": "PST"}, "TimeZoneId", "IANA"),
        ({"TimeZoneId": "Mars/Olympus"}, "TimeZoneId", "IANA"),
        ({"Name": "with space"}, "Name", "whitespace"),
        (
            {"Recurrence": {"NumberOfOnCalls": 1, "RecurrenceMultiplier": 1}},
            "Recurrence",
            "exactly one",
        ),
        (
            {"Recurrence": {**daily(9), **weekly("MON", 9)}},
            "Recurrence",
            "exactly one",
        ),
        (
            {"Recurrence": {**daily(9), "NumberOfOnCalls": 3}},
            "Recurrence.NumberOfOnCalls",
            "more contacts on call",
        ),
        (
            {"Recurrence": daily(9, ShiftCoverages=coverage(["MON"], (9, 0), (9, 10)))},
            "Recurrence.ShiftCoverages.MON[0]",
            "shorter than 30 minutes",
        ),
    ]
    for change, field, text in cases:
        params: dict[str, Any] = {
            "Name": "bad",
            "ContactIds": [a, b],
            "TimeZoneId": "UTC",
            "Recurrence": daily(9),
            **change,
        }
        with pytest.raises(ClientError) as info:
            contacts.create_rotation(**params)
        assert_invalid(info, field, text)
    assert contacts.list_rotations()["Rotations"] == []


def test_model_limits_rejected(server: RunningServer) -> None:
    # botocore checks these limits too, so the client skips its own validation.
    client = server.client("ssm-contacts", server.create_account(), parameter_validation=False)
    a = personal(client, "a")
    for recurrence in (
        {**daily(9), "RecurrenceMultiplier": 101},
        {**daily(9), "NumberOfOnCalls": 0},
        daily(24),
    ):
        with pytest.raises(client.exceptions.ValidationException):
            create(client, "bad", [a], Recurrence=recurrence)
    with pytest.raises(client.exceptions.ValidationException):
        create(client, "bad", [])
    with pytest.raises(client.exceptions.ValidationException):
        create(client, "bad", [a] * 31)


def test_update_rotation_rejections(contacts: Any) -> None:
    a = personal(contacts, "a")
    arn = create(contacts, "r", [a])
    with pytest.raises(ClientError) as info:
        contacts.update_rotation(RotationId=arn, TimeZoneId="EST5EDT-bogus", Recurrence=daily(1))
    assert_invalid(info, "TimeZoneId", "IANA")
    with pytest.raises(ClientError) as info:
        contacts.update_rotation(
            RotationId=arn, ContactIds=[f"{PREFIX}:contact/x"], Recurrence=daily(1)
        )
    assert_invalid(info, "ContactIds[0]", "does not exist")
    assert contacts.get_rotation(RotationId=arn)["Recurrence"] == daily(9)


def test_list_rotations_prefix_and_pages(contacts: Any) -> None:
    a = personal(contacts, "a")
    names = ["prod-1", "prod-2", "prod-3", "production", "staging", "prod_x"]
    for name in names:
        create(contacts, name, [a])
    listed = [r["Name"] for r in contacts.list_rotations()["Rotations"]]
    assert listed == sorted(names)

    first = contacts.list_rotations(RotationNamePrefix="prod", MaxResults=2)
    assert [r["Name"] for r in first["Rotations"]] == ["prod-1", "prod-2"]
    assert first["Rotations"][0]["ContactIds"] == [a]
    assert first["Rotations"][0]["Recurrence"] == daily(9)
    paginator = contacts.get_paginator("list_rotations")
    pages = list(paginator.paginate(RotationNamePrefix="prod", PaginationConfig={"PageSize": 2}))
    assert [len(page["Rotations"]) for page in pages] == [2, 2, 1]
    assert [r["Name"] for page in pages for r in page["Rotations"]] == [
        "prod-1",
        "prod-2",
        "prod-3",
        "prod_x",
        "production",
    ]
    # An underscore in the prefix is a plain character, not a LIKE wildcard.
    underscore = contacts.list_rotations(RotationNamePrefix="prod_")["Rotations"]
    assert [r["Name"] for r in underscore] == ["prod_x"]
    # A token works only with the filter it was issued for.
    with pytest.raises(contacts.exceptions.ValidationException):
        contacts.list_rotations(RotationNamePrefix="staging", NextToken=first["NextToken"])


def test_rotations_invisible_to_other_accounts(contacts: Any, other: Any) -> None:
    a = personal(contacts, "a")
    arn = create(contacts, "private", [a])
    theirs = personal(other, "a")
    assert other.list_rotations()["Rotations"] == []
    calls = [
        lambda: other.get_rotation(RotationId=arn),
        lambda: other.update_rotation(RotationId=arn, Recurrence=daily(1)),
        lambda: other.delete_rotation(RotationId=arn),
        lambda: other.list_rotation_shifts(
            RotationId=arn, EndTime=utc("2100-01-01T00:00:00+00:00")
        ),
        lambda: other.list_rotation_overrides(
            RotationId=arn,
            StartTime=utc("2024-01-01T00:00:00+00:00"),
            EndTime=utc("2100-01-01T00:00:00+00:00"),
        ),
        lambda: other.list_tags_for_resource(ResourceARN=arn),
    ]
    for call in calls:
        with pytest.raises(other.exceptions.ResourceNotFoundException):
            call()
    # A rotation may not list another account's contacts, even one with the same alias.
    with pytest.raises(ClientError) as info:
        create(contacts, "mixed", [a, theirs])
    assert_invalid(info, "ContactIds[1]", "own account")
    # The same name in another account is another rotation.
    assert create(other, "private", [theirs]).endswith(":222222222222:rotation/private")


def test_rotation_tags(contacts: Any) -> None:
    a = personal(contacts, "a")
    arn = create(contacts, "tagged", [a], Tags=[{"Key": "key1", "Value": "tag1"}])
    contacts.tag_resource(ResourceARN=arn, Tags=[{"Key": "key2", "Value": "tag2"}])
    assert contacts.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "key1", "Value": "tag1"},
        {"Key": "key2", "Value": "tag2"},
    ]
    contacts.untag_resource(ResourceARN=arn, TagKeys=["key1"])
    assert contacts.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "key2", "Value": "tag2"}
    ]
    contacts.delete_rotation(RotationId=arn)
    create(contacts, "tagged", [a])
    assert contacts.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
    with pytest.raises(contacts.exceptions.ResourceNotFoundException):
        contacts.tag_resource(ResourceARN=f"{PREFIX}:rotation/none", Tags=[])


def test_terraform_weekly_shift_coverage_rotation(contacts: Any) -> None:
    # The Terraform provider's "weekly settings and shift coverages" example.
    contact = personal(contacts, "example")
    recurrence = {
        "NumberOfOnCalls": 1,
        "RecurrenceMultiplier": 1,
        "WeeklySettings": [
            {"DayOfWeek": "WED", "HandOffTime": {"HourOfDay": 4, "MinuteOfHour": 25}},
            {"DayOfWeek": "FRI", "HandOffTime": {"HourOfDay": 15, "MinuteOfHour": 57}},
        ],
        "ShiftCoverages": coverage(["MON"], (1, 0), (23, 0)),
    }
    arn = contacts.create_rotation(
        Name="rotation",
        ContactIds=[contact],
        StartTime=utc("2023-07-20T02:21:49+00:00"),
        TimeZoneId="Australia/Sydney",
        Recurrence=recurrence,
        Tags=[{"Key": "key1", "Value": "tag1"}, {"Key": "key2", "Value": "tag2"}],
    )["RotationArn"]
    got = contacts.get_rotation(RotationId=arn)
    assert got["Recurrence"] == recurrence
    assert len(contacts.list_tags_for_resource(ResourceARN=arn)["Tags"]) == 2
    shifts = contacts.list_rotation_shifts(
        RotationId=arn,
        StartTime=utc("2023-07-20T00:00:00+00:00"),
        EndTime=utc("2023-08-20T00:00:00+00:00"),
    )["RotationShifts"]
    # Only Mondays are covered, 01:00 to 23:00 Sydney time (UTC+10 in winter).
    assert [s["StartTime"].isoformat() for s in shifts][:2] == [
        "2023-07-23T15:00:00+00:00",
        "2023-07-30T15:00:00+00:00",
    ]
    assert all(s["EndTime"] - s["StartTime"] == timedelta(hours=22) for s in shifts)


def test_cloudformation_rotation_shapes(contacts: Any) -> None:
    # The AWS::SSMContacts resources sample: daily, weekly and monthly rotations of
    # one contact, a StartTime without offset (read as UTC) and an empty schedule.
    contact = personal(contacts, "my-ssm-contact")
    start = utc("2025-03-03T20:20:39+00:00")
    recurrences = {
        "My_daily_rotation": daily(13),
        "My_weekly_rotation": weekly("MON", 13),
        "My_monthly_rotation": {
            "NumberOfOnCalls": 1,
            "RecurrenceMultiplier": 1,
            "MonthlySettings": [
                {"DayOfMonth": 10, "HandOffTime": {"HourOfDay": 13, "MinuteOfHour": 0}}
            ],
            "ShiftCoverages": coverage(["MON"], (10, 0), (18, 0)),
        },
    }
    arns = []
    for name, recurrence in recurrences.items():
        arns.append(
            contacts.create_rotation(
                Name=name,
                ContactIds=[contact],
                StartTime=start,
                TimeZoneId="America/Los_Angeles",
                Recurrence=recurrence,
            )["RotationArn"]
        )
    schedule = contacts.create_contact(
        Alias="my-oncall-schedule", Type="ONCALL_SCHEDULE", Plan={"RotationIds": []}
    )["ContactArn"]
    contacts.update_contact(ContactId=schedule, Plan={"RotationIds": arns})
    assert contacts.get_contact(ContactId=schedule)["Plan"]["RotationIds"] == arns


def test_terraform_schedule_then_rotation(contacts: Any) -> None:
    # A schedule created without rotations is later given one by UpdateContact.
    schedule = contacts.create_contact(
        Alias="sched", DisplayName="Sched", Type="ONCALL_SCHEDULE", Plan={"RotationIds": []}
    )["ContactArn"]
    p1, p2 = people(contacts, "p1", "p2")
    rotation = create(contacts, "r1", [p1, p2])
    contacts.update_contact(ContactId=schedule, Plan={"RotationIds": [rotation]})
    assert contacts.get_contact(ContactId=schedule)["Plan"] == {
        "Stages": [],
        "RotationIds": [rotation],
    }


def test_schedule_rotation_must_exist(contacts: Any) -> None:
    # The Terraform on-call rotation request: a schedule with a rotation ARN and no stages.
    missing = f"{PREFIX}:rotation/r1"
    with pytest.raises(ClientError) as info:
        contacts.create_contact(Alias="me", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [missing]})
    assert_invalid(info, "Plan.RotationIds[0]", "does not exist")
    create(contacts, "r1", people(contacts, "a"))
    contacts.create_contact(Alias="me", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [missing]})
    with pytest.raises(ClientError) as info:
        contacts.create_contact(
            Alias="stages",
            Type="ONCALL_SCHEDULE",
            Plan={"Stages": [{"DurationInMinutes": 0, "Targets": []}], "RotationIds": [missing]},
        )
    assert_invalid(info, "Plan.Stages", "cannot have stages")


def test_schedule_rejects_foreign_rotation(contacts: Any, other: Any) -> None:
    theirs = create(other, "r", people(other, "a"))
    with pytest.raises(ClientError) as info:
        contacts.create_contact(Alias="s", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [theirs]})
    assert_invalid(info, "Plan.RotationIds[0]", "own account")


def test_delete_rotation_leaves_schedules(contacts: Any) -> None:
    a = personal(contacts, "a")
    remaining = create(contacts, "remaining", [a])
    deleted = create(contacts, "deleted", [a])
    schedule = contacts.create_contact(
        Alias="s", Type="ONCALL_SCHEDULE", Plan={"RotationIds": [deleted, remaining]}
    )["ContactArn"]
    contacts.delete_rotation(RotationId=deleted)
    assert contacts.get_contact(ContactId=schedule)["Plan"]["RotationIds"] == [remaining]


def test_delete_contact_in_rotation_conflicts(server: RunningServer, contacts: Any) -> None:
    a, b, c = people(contacts, "a", "b", "c")
    rotation = create(contacts, "r", [a, b])
    with pytest.raises(ClientError) as info:
        contacts.delete_contact(ContactId=a)
    error = client_error(info)
    assert error["Error"]["Code"] == "ConflictException"
    assert error["ResourceId"] == a
    assert error["DependentEntities"] == [
        {"RelationType": "ROTATION", "DependentResourceIds": [rotation]}
    ]
    # A contact named only by an unfinished override is in use too.
    now = server.clock.now()
    override = contacts.create_rotation_override(
        RotationId=rotation,
        NewContactIds=[c],
        StartTime=now + timedelta(hours=1),
        EndTime=now + timedelta(hours=2),
    )["RotationOverrideId"]
    with pytest.raises(contacts.exceptions.ConflictException):
        contacts.delete_contact(ContactId=c)
    contacts.delete_rotation_override(RotationId=rotation, RotationOverrideId=override)
    contacts.delete_contact(ContactId=c)
    contacts.update_rotation(RotationId=rotation, ContactIds=[b], Recurrence=daily(9))
    contacts.delete_contact(ContactId=a)


def test_override_life_cycle(server: RunningServer, contacts: Any) -> None:
    a, b, c = people(contacts, "a", "b", "c")
    rotation = create(contacts, "r", [a, b], StartTime=server.clock.now())
    now = server.clock.now()
    start, end = now + timedelta(days=1), now + timedelta(days=2)
    override_id = contacts.create_rotation_override(
        RotationId=rotation, NewContactIds=[c], StartTime=start, EndTime=end
    )["RotationOverrideId"]
    got = contacts.get_rotation_override(RotationId=rotation, RotationOverrideId=override_id)
    assert got["RotationOverrideId"] == override_id
    assert got["RotationArn"] == rotation
    assert got["NewContactIds"] == [c]
    assert got["StartTime"] == start
    assert got["EndTime"] == end
    assert got["CreateTime"] == now

    listed = contacts.list_rotation_overrides(
        RotationId=rotation, StartTime=now, EndTime=now + timedelta(days=3)
    )["RotationOverrides"]
    assert [item["RotationOverrideId"] for item in listed] == [override_id]
    # The window must overlap the override.
    assert (
        contacts.list_rotation_overrides(
            RotationId=rotation, StartTime=end, EndTime=end + timedelta(days=1)
        )["RotationOverrides"]
        == []
    )

    shifts = contacts.list_rotation_shifts(RotationId=rotation, StartTime=start, EndTime=end)[
        "RotationShifts"
    ]
    assert {s["Type"] for s in shifts} == {"OVERRIDDEN"}
    assert all(s["ContactIds"] == [c] for s in shifts)
    assert all(s["ShiftDetails"]["OverriddenContactIds"] for s in shifts)

    contacts.delete_rotation_override(RotationId=rotation, RotationOverrideId=override_id)
    with pytest.raises(ClientError) as info:
        contacts.get_rotation_override(RotationId=rotation, RotationOverrideId=override_id)
    assert client_error(info)["ResourceType"] == "ROTATION_OVERRIDE"
    with pytest.raises(contacts.exceptions.ResourceNotFoundException):
        contacts.delete_rotation_override(RotationId=rotation, RotationOverrideId=override_id)


def test_override_rejections(server: RunningServer, contacts: Any) -> None:
    a = personal(contacts, "a")
    rotation = create(contacts, "r", [a])
    now = server.clock.now()
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"StartTime": now + timedelta(hours=2), "EndTime": now + timedelta(hours=1)},
            "EndTime",
            "after StartTime",
        ),
        (
            {"StartTime": now - timedelta(hours=2), "EndTime": now - timedelta(hours=1)},
            "EndTime",
            "past shifts",
        ),
        (
            {"NewContactIds": [f"{PREFIX}:contact/nobody"]},
            "NewContactIds[0]",
            "does not exist",
        ),
    ]
    for change, field, text in cases:
        params: dict[str, Any] = {
            "RotationId": rotation,
            "NewContactIds": [a],
            "StartTime": now + timedelta(hours=1),
            "EndTime": now + timedelta(hours=2),
            **change,
        }
        with pytest.raises(ClientError) as info:
            contacts.create_rotation_override(**params)
        assert_invalid(info, field, text)
    with pytest.raises(contacts.exceptions.ResourceNotFoundException):
        contacts.create_rotation_override(
            RotationId=f"{PREFIX}:rotation/none",
            NewContactIds=[a],
            StartTime=now + timedelta(hours=1),
            EndTime=now + timedelta(hours=2),
        )
    with pytest.raises(ClientError) as info:
        contacts.list_rotation_overrides(RotationId=rotation, StartTime=now, EndTime=now)
    assert_invalid(info, "EndTime")


def test_empty_override_and_pages(server: RunningServer, contacts: Any) -> None:
    a = personal(contacts, "a")
    rotation = create(contacts, "r", [a], StartTime=server.clock.now())
    now = server.clock.now()
    ids = []
    for hour in range(5):
        ids.append(
            contacts.create_rotation_override(
                RotationId=rotation,
                NewContactIds=[],
                StartTime=now + timedelta(hours=hour),
                EndTime=now + timedelta(hours=hour, minutes=30),
            )["RotationOverrideId"]
        )
    paginator = contacts.get_paginator("list_rotation_overrides")
    pages = list(
        paginator.paginate(
            RotationId=rotation,
            StartTime=now,
            EndTime=now + timedelta(days=1),
            PaginationConfig={"PageSize": 2},
        )
    )
    assert [len(page["RotationOverrides"]) for page in pages] == [2, 2, 1]
    listed = [o["RotationOverrideId"] for page in pages for o in page["RotationOverrides"]]
    assert listed == ids
    # An override without contacts leaves nobody on call for its time.
    shifts = contacts.list_rotation_shifts(
        RotationId=rotation, StartTime=now, EndTime=now + timedelta(minutes=30)
    )["RotationShifts"]
    assert [(s["Type"], s["ContactIds"]) for s in shifts] == [("OVERRIDDEN", [])]
