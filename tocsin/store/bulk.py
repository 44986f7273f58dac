"""Insert many rows in one statement, the cheapest way for each database.

An executemany INSERT through SQLAlchemy costs roughly 10 to 30 µs of CPU
per row in Python (profiled for the pages and jobs tables on a shared 2-vCPU
machine). On PostgreSQL the rows travel instead as one JSON array, which
Python's C encoder writes and ``json_populate_recordset`` expands on the
server. On SQLite the rows go straight to the sqlite3 module's executemany,
which loops over them in C, because ``json_each`` with one ``json_extract``
per column measured slower there. Either way each value first goes through
its column type's bind processor, so the stored values equal those of a
Core INSERT of the same rows. Timestamps of ``UTCDateTime`` columns
become text in one step instead of SQLAlchemy's three, and an object that
several rows share is processed once per statement.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Table, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from tocsin.store.base import UTCDateTime

Processor = Callable[[Any], Any]


def insert_many(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_conflicts_on: str | None = None,
) -> None:
    """Insert ``rows``, mappings from column name to value that all have the same keys.

    With ``skip_conflicts_on``, a row whose value in that unique column
    exists already is skipped (ON CONFLICT DO NOTHING).

    NOTE: on PostgreSQL a None in a JSON column is stored as SQL NULL, where a
    Core INSERT stores the JSON null.
    """
    if not rows:
        return
    names = tuple(rows[0])
    for row in rows:
        if tuple(row) != names:
            raise ValueError(f"rows for {table.name} have different columns: {names}, {tuple(row)}")
    dialect = session.get_bind().dialect
    if dialect.name == "sqlite":
        processors = _processors(table, names, dialect, embed_json=False)
        values = _encoded_rows(rows, names, processors)
        connection = session.connection()
        connection.exec_driver_sql(_sqlite_insert(table, names, skip_conflicts_on), values)
        return
    if dialect.name != "postgresql":
        raise ValueError(f"bulk inserts support PostgreSQL and SQLite, not {dialect.name}")
    processors = _processors(table, names, dialect, embed_json=True)
    objects = [dict(zip(names, row, strict=True)) for row in _encoded_rows(rows, names, processors)]
    document = json.dumps(objects, default=_json_default)
    session.execute(_json_insert(table, names, skip_conflicts_on), {"rows": document})


def _encoded_rows(
    rows: Sequence[Mapping[str, Any]],
    names: tuple[str, ...],
    processors: dict[str, Processor | None],
) -> list[tuple[Any, ...]]:
    """Return each row's values in the order of ``names``, passed through their processors."""
    steps = [
        (index, _once_per_object(processor))
        for index, name in enumerate(names)
        if (processor := processors[name]) is not None
    ]
    encoded = []
    for row in rows:
        values = list(row.values())
        for index, process in steps:
            values[index] = process(values[index])
        encoded.append(tuple(values))
    return encoded


def _json_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} value {value!r} has no JSON form for a bulk insert")


def _processors(
    table: Table, names: tuple[str, ...], dialect: Dialect, *, embed_json: bool
) -> dict[str, Processor | None]:
    """Return the bind processor of each column, or None for plain values.

    With ``embed_json``, JSON columns get None too, because their values are
    embedded in the JSON document as they are.
    """
    processors: dict[str, Processor | None] = {}
    for name in names:
        column_type = table.c[name].type
        if embed_json and isinstance(column_type, JSON):
            processors[name] = None
        elif isinstance(column_type, UTCDateTime):
            processors[name] = _sqlite_utc_text if dialect.name == "sqlite" else _iso_utc_text
        else:
            processors[name] = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processors


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} cannot be stored; use an aware UTC value")
    return value.astimezone(UTC)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """Return what UTCDateTime and SQLAlchemy's SQLite DATETIME store for ``value``."""
    if value is None:
        return None
    return _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _iso_utc_text(value: datetime | None) -> str | None:
    """Return ``value`` in UTC as ISO 8601 text, which PostgreSQL reads as timestamptz."""
    if value is None:
        return None
    return _utc(value).isoformat()


def _once_per_object(processor: Processor) -> Processor:
    """Wrap ``processor`` so that it processes each distinct object once.

    Rows of one statement often share objects: one ``stages`` list for every
    page of a contact, one timestamp for created_at and updated_at of every
    job. Objects are compared by identity, which is safe for one
    statement, whose rows hold every object alive and unchanged until it
    runs. Plain values go straight to ``processor``.
    """
    processed: dict[int, Any] = {}

    def process(value: Any) -> Any:
        if value is None or isinstance(value, (str, int, float)):
            return processor(value)
        key = id(value)
        if key not in processed:
            processed[key] = processor(value)
        return processed[key]

    return process


@cache
def _sqlite_insert(table: Table, names: tuple[str, ...], conflict_column: str | None) -> str:
    columns = ", ".join(f'"{name}"' for name in names)
    placeholders = ", ".join("?" for _ in names)
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({placeholders})'
    if conflict_column is not None:
        sql += f' ON CONFLICT ("{conflict_column}") DO NOTHING'
    return sql


@cache
def _json_insert(table: Table, names: tuple[str, ...], conflict_column: str | None) -> TextClause:
    columns = ", ".join(f'"{name}"' for name in names)
    sql = (
        f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} '
        f'FROM json_populate_recordset(NULL::"{table.name}", CAST(:rows AS json))'
    )
    if conflict_column is not None:
        sql += f' ON CONFLICT ("{conflict_column}") DO NOTHING'
    return text(sql)
