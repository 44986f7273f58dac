"""A harness that runs a real Tocsin server in this process, for tests and benchmarks.

The server listens on 127.0.0.1 with a fake clock that the caller advances,
so a scenario reads as: set up through boto3, ``clock.advance(minutes=5)``,
assert through boto3.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from tocsin.app import Runtime, build_runtime, create_app
from tocsin.config import Settings
from tocsin.engine.clock import Clock, FakeClock
from tocsin.iam.accounts import NewAccount, create_account


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True)
class Keys:
    """Credentials that a client signs with."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    account_id: str = ""


class RunningServer:
    """A Tocsin server on a background thread; use as a context manager."""

    def __init__(
        self,
        home: Path,
        *,
        database_url: str | None = None,
        clock: Clock | None = None,
        workers: int = 1,
        **settings: Any,
    ) -> None:
        self.port = free_port()
        self.clock = clock if clock is not None else FakeClock()
        self.settings = Settings(
            home=home,
            database_url=database_url,
            host="127.0.0.1",
            port=self.port,
            workers=workers,
            **settings,
        )
        self.runtime: Runtime = build_runtime(self.settings, self.clock)
        config = uvicorn.Config(
            create_app(self.runtime),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="tocsin-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"Tocsin test server did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self.runtime.database.dispose()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def create_account(self, account_id: str | None = None, name: str | None = None) -> Keys:
        """Create an account directly in the database, as `tocsin account create` does."""
        with self.runtime.database.session() as session:
            created: NewAccount = create_account(
                session, self.clock, self.runtime.secrets, account_id=account_id, name=name
            )
        return Keys(created.access_key_id, created.secret_access_key, None, created.account_id)

    def client(self, service: str, keys: Keys, region: str = "us-east-1", **config: Any) -> Any:
        """Return a boto3 client of ``service`` that signs with ``keys``."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            aws_session_token=keys.session_token,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
        )
