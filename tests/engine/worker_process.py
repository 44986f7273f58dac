"""A separate OS process running a job engine, for the multi-process test.

Usage: python -m tests.engine.worker_process DATABASE_URL EXPECTED_RUNS

It prints "ready" once its workers listen, runs "record" jobs until the
effects table contains EXPECTED_RUNS rows or 60 seconds pass, then stops.
"""

from __future__ import annotations

import os
import sys
import time
from functools import partial

from tests.engine.conftest import record_run, run_count
from tocsin.engine.clock import SystemClock
from tocsin.engine.worker import Engine, JobRegistry
from tocsin.store.database import Database


def main(url: str, expected: int) -> int:
    database = Database(url)
    registry = JobRegistry()
    registry.register("record", partial(record_run, runner=f"process-{os.getpid()}"))
    engine = Engine(database, SystemClock(), registry, workers=2, poll_seconds=0.5)
    engine.start()
    if engine.listener is not None:
        engine.listener.ready.wait(10)
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    try:
        while run_count(database) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        finished = run_count(database) >= expected
    finally:
        engine.stop()
        database.dispose()
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
