"""Pagination tokens and keyset pagination over lists and SQL queries."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tocsin.engine.clock import FakeClock
from tocsin.protocol.pagination import (
    MAX_TOKEN_LENGTH,
    InvalidPageToken,
    PageTokens,
    listing_filters,
    page_scope,
    paginate,
    paginate_query,
)
from tocsin.protocol.services import SERVICE_INFO, load_spec
from tocsin.protocol.validation import compile_java_pattern
from tocsin.store.base import UTCDateTime
from tocsin.store.database import Database

KEY = b"k" * 32
SCOPE = page_scope("111122223333", "ssm-incidents", "ListIncidentRecords", {"filters": []})
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STATE = {"after": ["2024-05-01", 42], "when": START, "blob": b"\x00\xff"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def tokens(clock: FakeClock) -> PageTokens:
    return PageTokens(KEY, clock)


def test_round_trip(tokens: PageTokens) -> None:
    token = tokens.encode(SCOPE, STATE)
    assert tokens.decode(SCOPE, token) == STATE


def test_every_changed_character_is_rejected(tokens: PageTokens) -> None:
    token = tokens.encode(SCOPE, {"after": ["x"]})
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, original in enumerate(token):
        replacement = alphabet[(alphabet.index(original) + 1) % len(alphabet)]
        tampered = token[:index] + replacement + token[index + 1 :]
        with pytest.raises(InvalidPageToken):
            tokens.decode(SCOPE, tampered)


def test_every_flipped_bit_is_rejected(tokens: PageTokens) -> None:
    token = tokens.encode(SCOPE, {"after": ["x"]})
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for index in range(len(raw)):
        for bit in (0x01, 0x80):
            changed = bytearray(raw)
            changed[index] ^= bit
            forged = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
            with pytest.raises(InvalidPageToken):
                tokens.decode(SCOPE, forged)


def test_truncated_and_extended_tokens_are_rejected(tokens: PageTokens) -> None:
    token = tokens.encode(SCOPE, {"after": ["x"]})
    for length in range(len(token)):
        with pytest.raises(InvalidPageToken):
            tokens.decode(SCOPE, token[:length])
    for suffix in ("A", "AA", "AAAA", "=", "==", "."):
        with pytest.raises(InvalidPageToken):
            tokens.decode(SCOPE, token + suffix)


@pytest.mark.parametrize("junk", ["", "!!!", "ünïcode", "a b", "abc+/==", "\x00" * 60])
def test_junk_is_rejected(tokens: PageTokens, junk: str) -> None:
    with pytest.raises(InvalidPageToken):
        tokens.decode(SCOPE, junk)


def test_other_scope_is_rejected(tokens: PageTokens) -> None:
    token = tokens.encode(SCOPE, STATE)
    others = [
        page_scope("444455556666", "ssm-incidents", "ListIncidentRecords", {"filters": []}),
        page_scope("111122223333", "ssm-incidents", "ListResponsePlans", {"filters": []}),
        page_scope("111122223333", "ssm-contacts", "ListIncidentRecords", {"filters": []}),
        page_scope("111122223333", "ssm-incidents", "ListIncidentRecords", {"filters": [1]}),
    ]
    for scope in others:
        with pytest.raises(InvalidPageToken):
            tokens.decode(scope, token)


def test_other_key_is_rejected(clock: FakeClock, tokens: PageTokens) -> None:
    token = tokens.encode(SCOPE, STATE)
    with pytest.raises(InvalidPageToken):
        PageTokens(b"o" * 32, clock).decode(SCOPE, token)


def test_expiry_after_24_hours(clock: FakeClock, tokens: PageTokens) -> None:
    token = tokens.encode(SCOPE, STATE)
    clock.advance(hours=23, minutes=59)
    assert tokens.decode(SCOPE, token) == STATE
    clock.advance(minutes=2)
    with pytest.raises(InvalidPageToken) as caught:
        tokens.decode(SCOPE, token)
    assert "expired" in caught.value.reason


def test_error_message_is_for_clients(tokens: PageTokens) -> None:
    with pytest.raises(InvalidPageToken) as caught:
        tokens.decode(SCOPE, "nonsense")
    assert "pagination token is invalid or expired" in str(caught.value)


def test_short_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        PageTokens(b"short")


def test_oversized_state_is_rejected(tokens: PageTokens) -> None:
    with pytest.raises(ValueError, match="over the maximum of 2000"):
        tokens.encode(SCOPE, {"after": ["x" * 2000]})
    with pytest.raises(ValueError, match="over the maximum of 256"):
        tokens.encode(SCOPE, {"after": ["x" * 200]}, max_length=256)


def next_token_shapes() -> list[tuple[str, str, Any]]:
    found = {}
    for name in SERVICE_INFO:
        model = load_spec(name).model
        for operation in model.operation_names:
            shape = model.operation_model(operation).input_shape
            if shape is None:
                continue
            for member, member_shape in shape.members.items():
                if member.lower() == "nexttoken":
                    found[(name, member_shape.name)] = member_shape
    return [(name, shape_name, shape) for (name, shape_name), shape in sorted(found.items())]


@pytest.mark.parametrize(("service", "shape_name", "shape"), next_token_shapes())
def test_tokens_fit_served_next_token_shapes(
    tokens: PageTokens, service: str, shape_name: str, shape: Any
) -> None:
    limit = min(shape.metadata.get("max", MAX_TOKEN_LENGTH), MAX_TOKEN_LENGTH)
    # A typical keyset state, and one near the length limit.
    typical = {"after": [START, "arn:aws:ssm-incidents::111122223333:incident-record/x/y"]}
    if limit < 1000:
        typical = {"after": [START, "query-0001"]}
    big = {"after": ["é" * (limit // 8)]}
    for state in ({}, typical, big):
        token = tokens.encode(SCOPE, state, max_length=limit)
        assert len(token) <= limit
        assert len(token) >= shape.metadata.get("min", 0)
        pattern = shape.metadata.get("pattern")
        if pattern is not None:
            assert compile_java_pattern(pattern).fullmatch(token), (service, shape_name)


def test_listing_filters_drop_pagination_members() -> None:
    params = {"NextToken": "t", "MaxResults": 5, "ContactId": "c", "nextToken": "u"}
    assert listing_filters(params) == {"ContactId": "c"}
    assert listing_filters(params, "ContactId") == {}


# --- in-memory listings -----------------------------------------------------


def test_paginate_walks_every_item_once(tokens: PageTokens) -> None:
    items = [{"id": f"item-{n:03d}"} for n in range(10)]
    seen: list[dict[str, str]] = []
    token = None
    pages = 0
    while True:
        page = paginate(
            items, key=lambda i: (i["id"],), max_results=3, token=token, tokens=tokens, scope=SCOPE
        )
        seen += page.items
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen == items
    assert pages == 4


def test_paginate_exact_fit_has_no_empty_last_page(tokens: PageTokens) -> None:
    items = [(n,) for n in range(6)]
    first = paginate(items, key=lambda i: i, max_results=3, token=None, tokens=tokens, scope=SCOPE)
    second = paginate(
        items, key=lambda i: i, max_results=3, token=first.next_token, tokens=tokens, scope=SCOPE
    )
    assert second.items == [(3,), (4,), (5,)]
    assert second.next_token is None


def test_paginate_skips_deleted_key(tokens: PageTokens) -> None:
    items = [(n,) for n in range(6)]
    first = paginate(items, key=lambda i: i, max_results=2, token=None, tokens=tokens, scope=SCOPE)
    remaining = [item for item in items if item != (1,)]
    second = paginate(
        remaining,
        key=lambda i: i,
        max_results=2,
        token=first.next_token,
        tokens=tokens,
        scope=SCOPE,
    )
    assert second.items == [(2,), (3,)]


def test_paginate_rejects_token_of_other_scope(tokens: PageTokens) -> None:
    items = [(n,) for n in range(6)]
    first = paginate(items, key=lambda i: i, max_results=2, token=None, tokens=tokens, scope=SCOPE)
    with pytest.raises(InvalidPageToken):
        paginate(
            items, key=lambda i: i, max_results=2, token=first.next_token, tokens=tokens, scope="x"
        )


# --- SQL listings -------------------------------------------------------------


class ListingBase(DeclarativeBase):
    pass


class Row(ListingBase):
    __tablename__ = "pagination_rows"

    arn: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    owner: Mapped[str] = mapped_column(String(12))


def fill(database: Database) -> list[tuple[datetime, str]]:
    ListingBase.metadata.create_all(database.engine)
    keys = []
    with database.session() as session:
        for n in range(11):
            # Pairs of rows share a timestamp, so the ARN breaks ties.
            created = START + timedelta(seconds=n // 2, microseconds=7)
            arn = f"arn:aws:test:::{n:02d}"
            owner = "111122223333" if n != 5 else "444455556666"
            session.add(Row(arn=arn, created_at=created, owner=owner))
            if owner == "111122223333":
                keys.append((created, arn))
    return sorted(keys)


@pytest.mark.parametrize("descending", [False, True])
def test_paginate_query_walks_every_row_once(
    database: Database, tokens: PageTokens, descending: bool
) -> None:
    expected = fill(database)
    if descending:
        expected.reverse()
    query = select(Row).where(Row.owner == "111122223333")
    seen: list[tuple[datetime, str]] = []
    token = None
    for _ in range(20):
        with database.session() as session:
            page = paginate_query(
                session,
                query,
                order_by=(Row.created_at, Row.arn),
                max_results=3,
                token=token,
                tokens=tokens,
                scope=SCOPE,
                descending=descending,
            )
            seen += [(row.created_at, row.arn) for row in page.items]
        token = page.next_token
        if token is None:
            break
    assert seen == expected


def test_paginate_query_with_concurrent_inserts(database: Database, tokens: PageTokens) -> None:
    fill(database)
    query = select(Row).where(Row.owner == "111122223333")
    order = (Row.created_at, Row.arn)
    with database.session() as session:
        first = paginate_query(
            session, query, order_by=order, max_results=4, token=None, tokens=tokens, scope=SCOPE
        )
        session.add(Row(arn="arn:aws:test:::00a", created_at=START, owner="111122223333"))
        later = START + timedelta(days=1)
        session.add(Row(arn="arn:aws:test:::zz", created_at=later, owner="111122223333"))
    with database.session() as session:
        second = paginate_query(
            session,
            query,
            order_by=order,
            max_results=100,
            token=first.next_token,
            tokens=tokens,
            scope=SCOPE,
        )
    first_arns = [row.arn for row in first.items]
    second_arns = [row.arn for row in second.items]
    assert first_arns == [f"arn:aws:test:::{n:02d}" for n in range(4)]
    assert second_arns[0] == "arn:aws:test:::04"
    assert "arn:aws:test:::00a" not in second_arns  # inserted before the key
    assert second_arns[-1] == "arn:aws:test:::zz"
    assert second.next_token is None
