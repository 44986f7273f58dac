"""Putting events on event buses: envelopes, PutEvents entries and the match job of each batch.

Nothing is kept in memory between requests. Every accepted event is written
into the payload of a match job in the caller's transaction. The job matches
the events against the bus's rules when it runs (see
``tocsin.events.delivery``). Events put in one transaction on one bus share
a job, up to ``MAX_BATCH`` events, so that a burst costs few jobs.
CodeDeploy and CloudFormation deployment events are also stored for
incident findings in the same transaction (see ``tocsin.incidents.deployments``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin import jsontext
from tocsin.engine.clock import Clock
from tocsin.engine.jobs import Job
from tocsin.engine.queue import NewJob, enqueue, enqueue_many
from tocsin.events.buses import DEFAULT_BUS, BusRef
from tocsin.incidents import deployments

logger = logging.getLogger(__name__)

MATCH_JOB = "events.match"
MAX_BATCH = 100
# PutEvents accepts at most 256 KiB of entries in total.
MAX_REQUEST_BYTES = 256 * 1024
_PENDING = "tocsin.events.pending_batches"


@dataclass
class _Batch:
    """A match job enqueued in the current transaction that may take more events."""

    job: Job
    events: list[dict[str, Any]] = field(default_factory=list)


def format_time(moment: datetime) -> str:
    """Format ``moment`` as EventBridge's ``time`` field: ISO 8601 UTC to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def match_payload(bus: BusRef, events: Sequence[Mapping[str, Any]], hops: int) -> dict[str, Any]:
    return {
        "account": bus.account_id,
        "region": bus.region,
        "bus": bus.name,
        "hops": hops,
        "events": [dict(event) for event in events],
    }


def enqueue_batch(
    session: Session,
    clock: Clock,
    bus: BusRef,
    events: Sequence[Mapping[str, Any]],
    *,
    hops: int = 0,
) -> None:
    """Write one match job for ``events`` on ``bus`` in the caller's transaction.

    ``hops`` counts the buses that the events crossed before this one. The
    deployment events among ``events`` are stored for incident findings.
    """
    deployments.record(session, clock, events)
    job = NewJob(
        MATCH_JOB,
        match_payload(bus, events, hops),
        due_at=clock.now(),
        account_id=bus.account_id,
    )
    # enqueue_many writes the row without loading it into the session, which
    # saves a SELECT and the ORM's work on every accepted request.
    enqueue_many(session, clock, [job])
    logger.debug("enqueued %d event(s) on %s", len(events), bus.arn)


def put_events(
    session: Session,
    clock: Clock,
    bus: BusRef,
    events: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Put events in the full EventBridge envelope on ``bus``; return their ids in order.

    Envelope fields that an event lacks are filled in as ``put_event`` does,
    and every event is checked the same way before anything is written. The
    events get one match job per ``MAX_BATCH`` events. Unlike ``put_event``,
    the jobs take no events of later calls in the same transaction.
    """
    now = clock.now()
    full = [
        complete_envelope(event, account_id=bus.account_id, region=bus.region, now=now)
        for event in events
    ]
    for event in full:
        _check_event(event)
    for start in range(0, len(full), MAX_BATCH):
        enqueue_batch(session, clock, bus, full[start : start + MAX_BATCH])
    return [str(event["id"]) for event in full]


def _check_event(event: Mapping[str, Any]) -> None:
    if not event.get("source") or not event.get("detail-type"):
        raise ValueError(f"event {event['id']} needs a source and a detail-type")
    if not isinstance(event["detail"], Mapping):
        raise ValueError(f"the detail of event {event['id']} must be a JSON object")


def _enqueue_match(
    session: Session,
    clock: Clock,
    bus: BusRef,
    events: Sequence[Mapping[str, Any]],
    hops: int = 0,
) -> Job:
    job = enqueue(
        session, clock, MATCH_JOB, match_payload(bus, events, hops), account_id=bus.account_id
    )
    logger.debug("enqueued %d event(s) on %s as job %s", len(events), bus.arn, job.id)
    return job


def _pending(session: Session) -> dict[str, _Batch]:
    """Return the batches that this transaction opened, by bus ARN."""
    transaction = session.get_transaction()
    state = session.info.get(_PENDING)
    if state is None or state[0] is not transaction:
        state = (transaction, {})
        session.info[_PENDING] = state
    batches: dict[str, _Batch] = state[1]
    return batches


def complete_envelope(
    event: Mapping[str, Any], *, account_id: str, region: str, now: datetime
) -> dict[str, Any]:
    """Return ``event`` with the envelope fields it lacks filled in (id, time, account...)."""
    full = dict(event)
    full.setdefault("version", "0")
    full.setdefault("id", str(uuid.uuid4()))
    full.setdefault("account", account_id)
    full.setdefault("time", format_time(now))
    full.setdefault("region", region)
    full.setdefault("resources", [])
    full.setdefault("detail", {})
    return full


def put_event(
    session: Session,
    clock: Clock,
    *,
    account_id: str,
    region: str,
    event: Mapping[str, Any],
    bus_name: str = "default",
) -> str:
    """Put one event in the full EventBridge envelope on a bus and return its id.

    The event keeps the ``account`` and ``source`` it carries. Envelope fields
    it lacks are filled in (a new id, the current time, ``account_id``). The
    event is matched against the bus's rules by a job written in the caller's
    transaction. A bus that does not exist when the job runs drops the event
    with a warning.
    """
    bus = BusRef(account_id, region, bus_name or DEFAULT_BUS)
    full = complete_envelope(event, account_id=account_id, region=region, now=clock.now())
    _check_event(full)

    deployments.record(session, clock, [full])
    if session.in_nested_transaction():
        # A savepoint may roll back the job of an open batch, so nothing is shared.
        _enqueue_match(session, clock, bus, [full])
        return str(full["id"])
    batches = _pending(session)
    batch = batches.get(bus.arn)
    if batch is None or len(batch.events) >= MAX_BATCH:
        batches[bus.arn] = _Batch(_enqueue_match(session, clock, bus, [full]), [full])
    else:
        batch.events.append(full)
        # A new dict marks the JSON column changed; it is written at the next flush.
        batch.job.payload = match_payload(bus, batch.events, 0)
    return str(full["id"])


def entry_size(entry: Mapping[str, Any]) -> int:
    """Return the size of a PutEvents entry as EventBridge counts it, in bytes.

    The size is the UTF-8 length of Source, DetailType and Detail, plus that
    of each resource, plus 14 bytes for a Time.
    """
    size = 14 if entry.get("Time") is not None else 0
    for member in ("Source", "DetailType", "Detail"):
        value = entry.get(member)
        if isinstance(value, str):
            size += len(value.encode("utf-8"))
    for resource in entry.get("Resources") or ():
        size += len(str(resource).encode("utf-8"))
    return size


class EntryError(ValueError):
    """A PutEvents entry that is rejected on its own, with its ErrorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def envelope_of_entry(
    entry: Mapping[str, Any], *, account_id: str, region: str, now: datetime
) -> dict[str, Any]:
    """Build the event that a PutEvents entry describes; raise EntryError for a bad entry."""
    for member in ("Source", "DetailType", "Detail"):
        if not entry.get(member):
            raise EntryError(
                "InvalidArgument",
                f"Parameter {member} is not valid. Reason: {member} is a required argument.",
            )
    try:
        detail = jsontext.loads(entry["Detail"])
    except jsontext.JsonTextError as exc:
        raise EntryError("MalformedDetail", f"Detail is malformed: {exc}.") from None
    if not isinstance(detail, dict):
        raise EntryError("MalformedDetail", "Detail is malformed: it must be a JSON object.")
    moment = entry.get("Time") or now
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": account_id,
        "time": format_time(moment),
        "region": region,
        "resources": list(entry.get("Resources") or []),
        "detail": detail,
    }
