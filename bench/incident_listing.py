"""Bulk seeding of incidents and the query plan of ListIncidentRecords, for bench.incidents.

Seeding through the API runs at a few hundred incidents per second, so the
listing benchmark writes its incidents straight into the server's database
while the server runs. It uses the same row-building code as StartIncident
(``records.build``) and inserts the rows with ``records.insert_new``, many
incidents per transaction. The seeded incidents are therefore the rows that
StartIncident would write for the same parameters: the record, its creation
and trigger timeline events, and its start jobs. ``verify_seeded`` compares
some of them with an incident created through the API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

import tocsin.store.models  # noqa: F401  (registers every table for the ORM)
from tocsin.engine.clock import SystemClock
from tocsin.engine.worker import Engine, JobRegistry
from tocsin.incidents import records, register
from tocsin.incidents.incident_handlers import listing_query
from tocsin.incidents.models import IncidentRecord, ResponsePlan
from tocsin.store.database import Database

SEED_BATCH = 2000
# Seeded incidents are created one minute apart, ending now, as if they had
# arrived over time, so that creation-time order and filters behave as in use.
SEED_SPACING = timedelta(minutes=1)
# Impacts cycle through 1 to 5, so a filter on one impact matches a fifth of them.
IMPACTS = (1, 2, 3, 4, 5)


def settle_replication_set(database_url: str) -> int:
    """Run the due replication set jobs in this process; return how many ran.

    The benchmark server may run without job workers, so that the start jobs
    of its incidents stay pending and use no CPU during the measurements.
    Only the Incident Manager job kinds are registered here, so engagement
    jobs are left alone.
    """
    database = Database(database_url)
    try:
        registry = JobRegistry()
        register(registry)
        return Engine(database, SystemClock(), registry, workers=0).run_due()
    finally:
        database.dispose()


def count_incidents(database_url: str, account_id: str | None = None) -> int:
    database = Database(database_url)
    try:
        with database.session() as session:
            query = select(func.count()).select_from(IncidentRecord)
            if account_id is not None:
                query = query.where(IncidentRecord.account_id == account_id)
            return session.scalar(query) or 0
    finally:
        database.dispose()


def seed(
    database_url: str,
    account_id: str,
    plan_name: str,
    caller_arn: str,
    target: int,
    *,
    progress: Callable[[int, float], None] | None = None,
) -> int:
    """Add incidents of ``plan_name`` until ``account_id`` has ``target``; return the count.

    Each incident is built as StartIncident builds it, with the impact taken
    from ``IMPACTS`` in turn, and inserted in batches of ``SEED_BATCH`` per
    transaction.
    """
    database = Database(database_url)
    started = time.monotonic()
    try:
        with database.session() as session:
            count = session.scalar(
                select(func.count())
                .select_from(IncidentRecord)
                .where(IncidentRecord.account_id == account_id)
            )
        count = count or 0
        newest = datetime.now(UTC)
        while count < target:
            batch = min(SEED_BATCH, target - count)
            with database.session() as session:
                plan = session.scalars(
                    select(ResponsePlan).where(
                        ResponsePlan.account_id == account_id, ResponsePlan.name == plan_name
                    )
                ).one()
                built = []
                for index in range(count, count + batch):
                    # The oldest incidents are seeded first, so ids and times rise together.
                    created = newest - SEED_SPACING * (target - index)
                    params = {"responsePlanArn": plan.arn, "impact": IMPACTS[index % len(IMPACTS)]}
                    built.append(
                        records.build(
                            plan,
                            params,
                            caller_arn=caller_arn,
                            caller_account=account_id,
                            now=created,
                        )
                    )
                records.insert_new(session, built)
            count += batch
            if progress is not None:
                progress(count, time.monotonic() - started)
        if database.is_postgresql:
            # Autovacuum analyzes a table soon after a bulk load like this one.
            # Until it does, the planner keeps the estimates of a near-empty
            # table and sorts the whole account instead of reading the newest
            # rows through the listing index, so the benchmark does it now.
            with database.engine.connect() as connection:
                connection.execute(text("ANALYZE incident_records"))
                connection.execute(text("ANALYZE incident_timeline_events"))
                connection.commit()
        return count
    finally:
        database.dispose()


def verify_seeded(client: Any, reference_arn: str, seeded_arns: list[str]) -> list[str]:
    """Compare seeded incidents with one created through the API; return the differences.

    The records must have the same members and the same values except for
    those that differ between any two incidents (ARN, times, dedupe string,
    impact), and the same timeline event types.
    """
    varying = {"arn", "creationTime", "lastModifiedTime", "dedupeString", "impact"}

    def shape(arn: str) -> tuple[dict[str, Any], list[str]]:
        record = client.get_incident_record(arn=arn)["incidentRecord"]
        events = client.list_timeline_events(incidentRecordArn=arn)["eventSummaries"]
        fixed = {key: value for key, value in record.items() if key not in varying}
        return {"members": sorted(record), **fixed}, sorted(e["eventType"] for e in events)

    expected = shape(reference_arn)
    problems = []
    for arn in seeded_arns:
        found = shape(arn)
        if found != expected:
            problems.append(f"{arn}: {found} differs from the API-created {expected}")
    return problems


def explain_listing(database_url: str, account_id: str, filters: list[dict[str, Any]]) -> str:
    """Return the database's plan of the first-page ListIncidentRecords query.

    The query is the handler's own (``listing_query``) with the ordering and
    limit of the first page of 20 records, and the bind values inlined.
    """
    database = Database(database_url)
    try:
        visible = [IncidentRecord.account_id == account_id]
        query = (
            listing_query(visible, filters)
            .order_by(IncidentRecord.creation_time.desc(), IncidentRecord.id.desc())
            .limit(21)
        )
        compiled = query.compile(
            dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}
        )
        prefix = "EXPLAIN" if database.is_postgresql else "EXPLAIN QUERY PLAN"
        with database.session() as session:
            rows = session.execute(text(f"{prefix} {compiled}")).all()
        if database.is_postgresql:
            return "\n".join(str(row[0]) for row in rows)
        return "\n".join(str(row[-1]) for row in rows)
    finally:
        database.dispose()
