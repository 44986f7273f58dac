"""Idempotency records on both database backends."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tocsin.protocol.errors import ServiceError
from tocsin.protocol.idempotency import (
    IdempotencyRecord,
    IdempotentRequest,
    decode_tagged,
    dumps_tagged,
    encode_tagged,
    find,
    loads_tagged,
    purge,
    request_digest,
    store,
    token_member,
)
from tocsin.protocol.services import load_spec
from tocsin.store.database import Database

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
START_INCIDENT = {
    "clientToken": "token-1",
    "responsePlanArn": "arn:aws:ssm-incidents::111122223333:response-plan/plan",
    "title": "Outage",
    "impact": 2,
}
OUTPUT = {
    "incidentRecordArn": "arn:aws:ssm-incidents::111122223333:incident-record/plan/1",
    "creationTime": NOW,
    "payload": b"\x00\xff binary",
    "nested": [{"at": NOW + timedelta(microseconds=5), "ratio": 0.25, "flag": True, "none": None}],
}


def request_for(
    params: dict[str, Any],
    *,
    service: str = "ssm-incidents",
    operation: str = "StartIncident",
    account: str = ACCOUNT,
) -> IdempotentRequest:
    spec = load_spec(service)
    made = IdempotentRequest.from_params(
        spec, spec.model.operation_model(operation), account, params
    )
    assert made is not None
    return made


def run_once(database: Database, request: IdempotentRequest, output: dict[str, Any]) -> Any:
    """Act as the dispatcher does: return the stored output, or store and return ``output``."""
    with database.session() as session:
        found = find(session, request, now=NOW)
        if found is not None:
            return found
        store(session, request, output, now=NOW)
        return output


# --- token members ------------------------------------------------------------

TOKEN_MEMBERS = [
    ("ssm-incidents", "StartIncident", "clientToken"),
    ("ssm-contacts", "CreateContact", "IdempotencyToken"),
    ("ssm-contacts", "CreateRotation", "IdempotencyToken"),  # not marked in the model
    ("ram", "CreateResourceShare", "clientToken"),  # not marked in the model
    ("ssm", "CreateMaintenanceWindow", "ClientToken"),
    ("ssm-incidents", "GetIncidentRecord", None),
    ("sts", "GetCallerIdentity", None),
]


@pytest.mark.parametrize(("service", "operation", "expected"), TOKEN_MEMBERS)
def test_token_member(service: str, operation: str, expected: str | None) -> None:
    model = load_spec(service).model
    assert token_member(model.operation_model(operation)) == expected


def test_request_without_token_is_not_idempotent() -> None:
    spec = load_spec("ssm-incidents")
    operation = spec.model.operation_model("StartIncident")
    without = {k: v for k, v in START_INCIDENT.items() if k != "clientToken"}
    assert IdempotentRequest.from_params(spec, operation, ACCOUNT, without) is None
    get = spec.model.operation_model("GetIncidentRecord")
    assert IdempotentRequest.from_params(spec, get, ACCOUNT, {"arn": "x"}) is None


# --- digests and tagged JSON ----------------------------------------------------


def test_digest_ignores_token_order_and_nulls() -> None:
    reordered = dict(reversed(list(START_INCIDENT.items())))
    other_token = {**START_INCIDENT, "clientToken": "token-2"}
    with_null = {**START_INCIDENT, "summary": None}
    base = request_digest(START_INCIDENT, "clientToken")
    assert request_digest(reordered, "clientToken") == base
    assert request_digest(other_token, "clientToken") == base
    assert request_digest(with_null, "clientToken") == base


def test_digest_sees_every_other_change() -> None:
    base = request_digest(START_INCIDENT, "clientToken")
    changes: list[dict[str, Any]] = [
        {"impact": 3},
        {"title": "Outage "},
        {"triggerDetails": {"timestamp": NOW, "source": "s"}},
        {"triggerDetails": {"timestamp": NOW + timedelta(microseconds=1), "source": "s"}},
        {"blob": b"\x00"},
        {"blob": b"\x01"},
    ]
    digests = {request_digest({**START_INCIDENT, **change}, "clientToken") for change in changes}
    assert base not in digests
    assert len(digests) == len(changes)


TAGGED_VALUES: list[Any] = [
    OUTPUT,
    {"$datetime": "not a date"},  # a real map whose one key looks like a tag
    {"$map": {"$bytes": "x"}},
    [b"", bytearray(b"\x01"), datetime(2020, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)],
    {"offset": datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30)))},
    {"inf": math.inf, "neg": -math.inf},
    {"unicode": "ünïcode ✓", "int": 2**63, "empty": {}, "list": []},
]


@pytest.mark.parametrize("value", TAGGED_VALUES)
def test_tagged_json_round_trip(value: Any) -> None:
    assert loads_tagged(dumps_tagged(value)) == value


def test_tagged_json_keeps_nan_and_time_zone() -> None:
    decoded = decode_tagged(encode_tagged({"nan": math.nan, "at": NOW}))
    assert math.isnan(decoded["nan"])
    assert decoded["at"].utcoffset() == timedelta(0)


def test_tagged_json_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        encode_tagged({"set": {1, 2}})
    with pytest.raises(TypeError):
        encode_tagged({1: "int key"})


# --- stored records -------------------------------------------------------------


def test_same_token_same_params_returns_first_output(database: Database) -> None:
    request = request_for(START_INCIDENT)
    first = run_once(database, request, OUTPUT)
    again = run_once(database, request_for(START_INCIDENT), {"incidentRecordArn": "other"})
    assert first == OUTPUT
    assert again == OUTPUT


def test_output_round_trips_datetimes_and_bytes(database: Database) -> None:
    request = request_for(START_INCIDENT)
    run_once(database, request, OUTPUT)
    with database.session() as session:
        found = find(session, request, now=NOW)
    assert found == OUTPUT
    assert found is not None
    assert found["creationTime"].tzinfo is not None
    assert isinstance(found["payload"], bytes)


def test_none_output_is_stored_as_empty(database: Database) -> None:
    request = request_for(START_INCIDENT)
    with database.session() as session:
        store(session, request, None, now=NOW)
    with database.session() as session:
        assert find(session, request, now=NOW) == {}


def test_same_token_other_params_raises_conflict(database: Database) -> None:
    run_once(database, request_for(START_INCIDENT), OUTPUT)
    changed = request_for({**START_INCIDENT, "impact": 1})
    with database.session() as session, pytest.raises(ServiceError) as caught:
        find(session, changed, now=NOW)
    assert caught.value.instance_code == "ConflictException"
    assert "clientToken 'token-1'" in caught.value.message
    assert "different parameters" in caught.value.message


@pytest.mark.parametrize(
    ("service", "operation", "params", "member", "code"),
    [
        (
            "ssm-contacts",
            "CreateContact",
            {"Alias": "a", "Type": "PERSONAL", "Plan": {}, "IdempotencyToken": "t"},
            "IdempotencyToken",
            "ConflictException",
        ),
        (
            "ram",
            "CreateResourceShare",
            {"name": "share", "clientToken": "t"},
            "clientToken",
            "IdempotentParameterMismatchException",
        ),
        (
            "ssm",
            "CreateMaintenanceWindow",
            {"Name": "w", "ClientToken": "t"},
            "ClientToken",
            "IdempotentParameterMismatch",
        ),
    ],
)
def test_mismatch_error_per_service(
    database: Database,
    service: str,
    operation: str,
    params: dict[str, Any],
    member: str,
    code: str,
) -> None:
    run_once(database, request_for(params, service=service, operation=operation), {"ok": 1})
    changed = request_for({**params, "Extra": 1}, service=service, operation=operation)
    with database.session() as session, pytest.raises(ServiceError) as caught:
        find(session, changed, now=NOW)
    assert caught.value.instance_code == code
    assert f"{member} 't'" in caught.value.message


def test_other_account_or_operation_is_separate(database: Database) -> None:
    run_once(database, request_for(START_INCIDENT), OUTPUT)
    other_account = request_for({**START_INCIDENT, "impact": 1}, account=OTHER_ACCOUNT)
    other_operation = request_for(
        {"clientToken": "token-1", "arn": "arn:x", "title": "t"}, operation="UpdateIncidentRecord"
    )
    assert run_once(database, other_account, {"n": 1}) == {"n": 1}
    assert run_once(database, other_operation, {"n": 2}) == {"n": 2}
    assert run_once(database, request_for(START_INCIDENT), {}) == OUTPUT


def test_records_expire_after_24_hours(database: Database) -> None:
    request = request_for(START_INCIDENT)
    run_once(database, request, OUTPUT)
    changed = request_for({**START_INCIDENT, "impact": 1})
    with database.session() as session:
        assert find(session, request, now=NOW + timedelta(hours=23, minutes=59)) == OUTPUT
        assert find(session, changed, now=NOW + timedelta(hours=24)) is None
    later = NOW + timedelta(hours=25)
    with database.session() as session:
        store(session, changed, {"second": True}, now=later)
    with database.session() as session:
        assert find(session, changed, now=later) == {"second": True}


def test_purge_deletes_old_records(database: Database) -> None:
    with database.session() as session:
        for hours in range(4):
            params = {**START_INCIDENT, "clientToken": f"token-{hours}"}
            store(session, request_for(params), {"n": hours}, now=NOW + timedelta(hours=hours))
    with database.session() as session:
        assert purge(session, NOW + timedelta(hours=1)) == 2
    with database.session() as session:
        left = session.scalar(select(func.count()).select_from(IdempotencyRecord))
    assert left == 2


def test_long_tokens_are_keyed_by_digest(database: Database) -> None:
    long_token = "t" * 5000
    request = request_for(
        {"name": "share", "clientToken": long_token}, service="ram", operation="CreateResourceShare"
    )
    assert run_once(database, request, {"n": 1}) == {"n": 1}
    assert run_once(database, request, {"n": 2}) == {"n": 1}
    with database.session() as session:
        record = session.scalars(select(IdempotencyRecord)).one()
    assert record.token.startswith("sha256:")


def test_racing_requests_get_one_result(database: Database) -> None:
    """Two sessions with one token: the loser retries once and gets the winner's output."""
    request = request_for(START_INCIDENT)
    winner_stored = threading.Event()
    loser_started = threading.Event()
    outcome: dict[str, Any] = {}

    def winner() -> None:
        with database.session() as session:
            assert find(session, request, now=NOW) is None
            store(session, request, OUTPUT, now=NOW)
            winner_stored.set()
            # Hold the transaction open while the loser tries the same token. On
            # PostgreSQL the loser's insert waits for this commit and then fails;
            # on SQLite the loser's BEGIN IMMEDIATE waits and then finds the record.
            loser_started.wait(timeout=10)
            time.sleep(0.5)

    def loser() -> None:
        winner_stored.wait(timeout=10)
        attempts = 0
        while True:
            attempts += 1
            try:
                with database.session() as session:
                    loser_started.set()
                    found = find(session, request, now=NOW)
                    if found is None:
                        store(session, request, {"loser": True}, now=NOW)
                        found = {"loser": True}
                outcome["output"] = found
                break
            except IntegrityError:
                outcome["integrity_error"] = True
                if attempts > 1:
                    raise
        outcome["attempts"] = attempts

    threads = [threading.Thread(target=winner), threading.Thread(target=loser)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcome["output"] == OUTPUT
    assert outcome["attempts"] <= 2
    if database.is_postgresql:
        assert outcome.get("integrity_error") is True
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
