"""``insert_many`` stores what a Core INSERT of the same rows stores, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import cast, insert, select

from tocsin.engine.jobs import Job
from tocsin.store.bulk import insert_many
from tocsin.store.database import Database

JOBS = Job.metadata.tables[Job.__tablename__]
MOMENT = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC)


def job_row(key: str, due_at: datetime, **values: Any) -> dict[str, Any]:
    row = {
        "kind": "test.kind",
        "payload": {"text": 'päge "quoted"', "list": [1, 2.5, None], "flag": True, "n": None},
        "account_id": None,
        "key": key,
        "status": "pending",
        "due_at": due_at,
        "attempts": 0,
        "max_attempts": 3,
        "fencing_token": 0,
        "created_at": MOMENT,
        "updated_at": MOMENT,
    }
    row.update(values)
    return row


def stored(database: Database, prefix: str) -> list[dict[str, Any]]:
    """Return the jobs whose key starts with ``prefix``, without id and key, in key order."""
    with database.read() as connection:
        rows = connection.execute(
            select(JOBS).where(JOBS.c.key.startswith(prefix)).order_by(JOBS.c.key)
        ).mappings()
        return [{k: v for k, v in row.items() if k not in ("id", "key")} for row in rows]


def stored_due_text(database: Database, prefix: str) -> list[str]:
    """Return due_at as the database's own text, which SQLite compares in claims."""
    with database.read() as connection:
        query = (
            select(cast(JOBS.c.due_at, JOBS.c.kind.type))
            .where(JOBS.c.key.startswith(prefix))
            .order_by(JOBS.c.key)
        )
        return [str(value) for value in connection.scalars(query)]


def test_insert_many_match_core_insert(database: Database) -> None:
    moments = [MOMENT, MOMENT.replace(microsecond=0), MOMENT + timedelta(hours=5)]
    extra: list[dict[str, Any]] = [
        {},
        {"account_id": "111111111111", "max_attempts": None},
        {"payload": {}},
    ]
    core_rows = [
        job_row(f"core-{index}", moment, **values)
        for index, (moment, values) in enumerate(zip(moments, extra, strict=True))
    ]
    many_rows = [
        job_row(f"json-{index}", moment, **values)
        for index, (moment, values) in enumerate(zip(moments, extra, strict=True))
    ]
    with database.session() as session:
        session.execute(insert(JOBS), core_rows)
        insert_many(session, JOBS, many_rows)

    core = stored(database, "core-")
    inserted = stored(database, "json-")
    assert len(inserted) == 3
    assert inserted == core
    assert stored_due_text(database, "json-") == stored_due_text(database, "core-")


def test_insert_many_skip_conflicts(database: Database) -> None:
    with database.session() as session:
        insert_many(session, JOBS, [job_row("dup-1", MOMENT)])
    with database.session() as session:
        rows = [job_row("dup-1", MOMENT, attempts=5), job_row("dup-2", MOMENT, attempts=7)]
        insert_many(session, JOBS, rows, skip_conflicts_on="key")

    attempts = [row["attempts"] for row in stored(database, "dup-")]
    assert attempts == [0, 7]


def test_insert_many_reject_mixed_columns(database: Database) -> None:
    rows = [job_row("mixed-1", MOMENT), {**job_row("mixed-2", MOMENT), "last_error": "x"}]
    with database.session() as session, pytest.raises(ValueError, match="different columns"):
        insert_many(session, JOBS, rows)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moments=st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.sampled_from(
                [UTC, timezone(timedelta(hours=-7)), ZoneInfo("Asia/Kolkata")]
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_insert_many_store_any_moment_as_core_does(
    database: Database, moments: list[datetime]
) -> None:
    prefix = f"moment-{uuid.uuid4().hex}-"
    payload = {"shared": ["one object", 2]}
    with database.session() as session:
        session.execute(
            insert(JOBS),
            [job_row(f"{prefix}core-{index}", moment) for index, moment in enumerate(moments)],
        )
        insert_many(
            session,
            JOBS,
            [
                job_row(f"{prefix}many-{index}", moment, payload=payload)
                for index, moment in enumerate(moments)
            ],
        )
    core = stored_due_text(database, f"{prefix}core-")
    assert stored_due_text(database, f"{prefix}many-") == core
    many = stored(database, f"{prefix}many-")
    assert [row["due_at"] for row in many] == [moment.astimezone(UTC) for moment in moments]
    assert [row["payload"] for row in many] == [payload] * len(moments)


def test_insert_many_reject_naive_moment(database: Database) -> None:
    naive = MOMENT.replace(tzinfo=None)
    with database.session() as session, pytest.raises(ValueError, match="naive datetime"):
        insert_many(session, JOBS, [job_row("naive-1", naive)])
