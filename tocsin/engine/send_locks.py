"""Locks that keep two workers from sending the same message at once, held outside transactions.

A sending handler's send runs with no database transaction open, so row
locks cannot serialise it. A ``SendLocks`` lock is held from the re-check
before the send until the send is recorded. On PostgreSQL it is a
session-level advisory lock on a pooled connection that is idle between
statements, so it covers every node on the database.

NOTE: on SQLite the lock is a ``threading.Lock`` per key, so it does not
exclude engines in other processes that share the database file.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from tocsin.store.database import Database


def advisory_lock_id(key: str) -> int:
    """Return the signed 64-bit PostgreSQL advisory lock id of ``key``."""
    digest = hashlib.sha256(f"tocsin-send:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SendLocks:
    """Exclusive locks by key for the sends of one database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._guard = threading.Lock()
        # Local locks by key, with the number of threads that hold or wait for each.
        self._local: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold the lock of ``key`` for the duration of the block, waiting for it if needed."""
        if self.database.is_postgresql:
            with self._advisory(key):
                yield
            return
        with self._local_lock(key):
            yield

    @contextmanager
    def _advisory(self, key: str) -> Iterator[None]:
        lock_id = advisory_lock_id(key)
        with self.database.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
            # The lock belongs to the session, so committing ends the
            # transaction and keeps the lock.
            connection.commit()
            try:
                yield
            finally:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                    connection.commit()
                except Exception:
                    # Closing the session releases its advisory locks.
                    connection.invalidate()
                    raise

    @contextmanager
    def _local_lock(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._local.get(key, (threading.Lock(), 0))
            self._local[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._local[key]
                if users == 1:
                    del self._local[key]
                else:
                    self._local[key] = (lock, users - 1)
