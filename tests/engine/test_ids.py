"""Version-7 UUIDs: their layout, and their order by creation time."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.store.ids import uuid7


@given(st.integers(min_value=0, max_value=(1 << 48) - 1))
def test_uuid7_layout(unix_ms: int) -> None:
    value = uuid7(unix_ms)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == unix_ms
    assert uuid.UUID(str(value)) == value


def test_uuid7_sort_by_millisecond() -> None:
    moments = [1_764_900_000_000 + step for step in range(0, 5000, 7)]
    values = [uuid7(moment) for moment in moments]
    assert sorted(values, key=str) == values
    assert len({uuid7(moments[0]) for _ in range(1000)}) == 1000


def test_uuid7_default_to_now() -> None:
    before = uuid7()
    after = uuid7()
    assert before.int >> 80 <= after.int >> 80
    assert str(before) != str(after)


@pytest.mark.parametrize("unix_ms", [-1, 1 << 48])
def test_uuid7_reject_moment_out_of_range(unix_ms: int) -> None:
    with pytest.raises(ValueError, match="48 bits"):
        uuid7(unix_ms)
