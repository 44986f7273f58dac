"""The one source of time for Tocsin code.

Every timer and timestamp reads ``Clock.now()``. Tests use ``FakeClock`` and
advance it; demonstrations may run ``ScaledClock`` faster than real time.
All values are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current product time as an aware UTC datetime."""
        ...

    def seconds_until(self, moment: datetime) -> float:
        """Return how many real seconds to wait until product time reaches ``moment``."""
        ...

    def wall_now(self) -> datetime:
        """Return the time that clients' clocks show, for expiry times handed to clients."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def seconds_until(self, moment: datetime) -> float:
        return max(0.0, (moment - self.now()).total_seconds())

    def wall_now(self) -> datetime:
        return self.now()


class ScaledClock:
    """Time that runs ``speed`` times faster than the wall clock, from the moment it is built.

    NOTE: the starting point is not stored, so a restarted server's product
    time starts again from the wall clock, earlier than the times it stored.
    """

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed!r}")
        self.speed = speed
        self._origin_wall = time.time()
        self._origin = datetime.now(UTC)

    def now(self) -> datetime:
        elapsed = (time.time() - self._origin_wall) * self.speed
        return self._origin + timedelta(seconds=elapsed)

    def seconds_until(self, moment: datetime) -> float:
        return max(0.0, (moment - self.now()).total_seconds() / self.speed)

    def wall_now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """Time that moves only when a test advances it.

    Waiters (the job engine) are woken on every advance, so a test that calls
    ``advance`` gets due jobs run without waiting for a poll interval.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock start time must be timezone-aware")
        self._lock = threading.Lock()
        self._listeners: list[threading.Event] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def seconds_until(self, moment: datetime) -> float:
        # Fake time never passes on its own, so a waiter sleeps until woken by advance().
        return 0.0 if moment <= self.now() else 3600.0

    def wall_now(self) -> datetime:
        # Tests play the clients too, so their clocks follow the fake time.
        return self.now()

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move time forward by ``delta`` or by ``timedelta(**kwargs)`` and wake waiters."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError(f"a clock cannot go backwards, got {step}")
        with self._lock:
            self._now += step
            listeners = list(self._listeners)
        for event in listeners:
            event.set()
        return self._now

    def subscribe(self, event: threading.Event) -> None:
        """Set ``event`` whenever time advances."""
        with self._lock:
            self._listeners.append(event)


def make_clock(speed: float) -> Clock:
    """Return the wall clock, or a scaled one when ``speed`` is not 1."""
    if speed == 1.0:
        return SystemClock()
    return ScaledClock(speed)
