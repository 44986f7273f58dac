"""Identifiers that sort by creation time: UUID version 7 of RFC 9562.

Random version-4 UUIDs put each new row's key at a random place in every
index on it, so starting a thousand pages at once dirties about a thousand
index pages per index. Version 7 starts with the Unix time in milliseconds,
so keys created together sit next to each other and one write touches few
index pages, on SQLite and PostgreSQL alike. The text form is an ordinary
UUID, which clients that expect AWS's UUIDs accept.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION = 7
_TIMESTAMP_BITS = 48
_RANDOM_A_BITS = 12
_RANDOM_B_BITS = 62


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """Return a new version-7 UUID for ``unix_ms`` (default now) with 74 random bits.

    UUIDs of one millisecond are in random order among themselves.
    """
    if unix_ms is None:
        unix_ms = time.time_ns() // 1_000_000
    if not 0 <= unix_ms < 1 << _TIMESTAMP_BITS:
        raise ValueError(f"unix_ms must fit in {_TIMESTAMP_BITS} bits, got {unix_ms}")
    random_bits = int.from_bytes(os.urandom(10), "big")
    random_a = random_bits >> (80 - _RANDOM_A_BITS)
    random_b = random_bits & ((1 << _RANDOM_B_BITS) - 1)
    value = (unix_ms << 80) | (_VERSION << 76) | (random_a << 64) | (0b10 << 62) | random_b
    return uuid.UUID(int=value)
