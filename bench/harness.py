"""Start a real ``tocsin serve`` subprocess on 127.0.0.1 for a benchmark, and stop it.

The server gets a fresh temporary TOCSIN_HOME, and either the embedded SQLite
database in that home or a scratch PostgreSQL database that is created before
the start and dropped after the stop. Per-request logging is turned off with
TOCSIN_LOG_LEVEL=WARNING so that it does not dominate the measurement.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/test"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
STARTUP_TIMEOUT_SECONDS = 60.0
SHUTDOWN_TIMEOUT_SECONDS = 30.0


class HarnessError(Exception):
    """The benchmark server or its database could not be set up."""


@dataclass(frozen=True)
class AccountKeys:
    """The administrator access key that ``tocsin account create`` printed."""

    account_id: str
    access_key_id: str
    secret_access_key: str


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def local_postgresql_url(url: str) -> URL:
    """Parse ``url`` and reject it unless it names a PostgreSQL server on this machine."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise HarnessError(f"--database-url must be a postgresql:// URL, got {url!r}")
    if (parsed.host or "127.0.0.1") not in LOCAL_HOSTS:
        raise HarnessError(
            f"--database-url must name a server on 127.0.0.1, got host {parsed.host!r}. "
            "Benchmarks send load only to local servers."
        )
    return parsed


def libpq_conninfo(url: URL) -> str:
    """Convert a SQLAlchemy URL to a libpq connection string for psycopg."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_postgresql_database(maintenance_url: str, prefix: str) -> Iterator[URL]:
    """Create an empty database next to ``maintenance_url``, yield its URL, then drop it.

    The CREATE and DROP statements run through the maintenance database (for
    example ``test``), which must already exist and accept the same user.
    """
    maintenance = local_postgresql_url(maintenance_url)
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_conninfo(maintenance), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield maintenance.set(database=name)
    finally:
        with psycopg.connect(libpq_conninfo(maintenance), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def read_memory_kib(pid: int) -> dict[str, int]:
    """Return VmRSS and VmHWM (peak RSS) of a process from /proc, in KiB."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


class TocsinServer:
    """A ``tocsin serve`` subprocess with its own home, used as a context manager.

    ``database_url`` is the URL that the server uses. None means the embedded
    SQLite database in the temporary home. ``settings`` are extra ``TOCSIN_*``
    environment variables of the server and of ``tocsin account create``.
    """

    def __init__(
        self, *, database_url: str | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.settings = dict(settings or {})
        self.port = free_port()
        self.host = "127.0.0.1"
        self._tempdir = tempfile.TemporaryDirectory(prefix="tocsin-bench-")
        self.home = Path(self._tempdir.name)
        self.log_path = self.home / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise HarnessError("the server is not running")
        return self.process.pid

    def _environment(self) -> dict[str, str]:
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("TOCSIN_")
        }
        environment["TOCSIN_HOME"] = str(self.home)
        environment["TOCSIN_LOG_LEVEL"] = "WARNING"
        environment.update(self.settings)
        return environment

    def _database_arguments(self) -> list[str]:
        arguments = ["--home", str(self.home)]
        if self.database_url is not None:
            arguments += ["--database-url", self.database_url]
        return arguments

    def start(self) -> None:
        """Start the server and wait until /healthz returns 200."""
        command = [sys.executable, "-m", "tocsin", "serve", "--host", self.host]
        command += ["--port", str(self.port), *self._database_arguments()]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self._environment()
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise HarnessError(
                    f"tocsin serve exited with status {self.process.returncode} before it "
                    f"was healthy; its log ends with:\n{self.log_tail()}"
                )
            connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.1)
        raise HarnessError(
            f"timed out after {STARTUP_TIMEOUT_SECONDS:.0f} s waiting for tocsin serve on "
            f"port {self.port} to become healthy; its log ends with:\n{self.log_tail()}"
        )

    def create_account(self, name: str = "bench") -> AccountKeys:
        """Run ``tocsin account create`` against the same database and return its keys."""
        command = [sys.executable, "-m", "tocsin", "account", "create", "--name", name]
        command += self._database_arguments()
        completed = subprocess.run(
            command, capture_output=True, env=self._environment(), timeout=60, check=False
        )
        if completed.returncode != 0:
            raise HarnessError(
                f"tocsin account create failed with status {completed.returncode}: "
                f"{completed.stderr.decode(errors='replace')}"
            )
        created = json.loads(completed.stdout)
        return AccountKeys(
            account_id=created["AccountId"],
            access_key_id=created["AccessKeyId"],
            secret_access_key=created["SecretAccessKey"],
        )

    def memory_kib(self) -> dict[str, int]:
        return read_memory_kib(self.pid)

    def stop(self) -> int | None:
        """Send SIGTERM, wait for a graceful exit, and kill the server if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            print(
                f"tocsin serve (pid {self.process.pid}) ignored SIGTERM for "
                f"{SHUTDOWN_TIMEOUT_SECONDS:.0f} s; killing it",
                file=sys.stderr,
            )
            self.process.kill()
            return self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        self.stop()
        self._tempdir.cleanup()

    def __enter__(self) -> TocsinServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def tocsin_server(
    backend: str, maintenance_url: str, settings: Mapping[str, str] | None = None
) -> Iterator[TocsinServer]:
    """Run a server on ``backend`` ("sqlite" or "postgresql") for the duration of a block.

    ``settings`` are extra ``TOCSIN_*`` environment variables of the server.
    """
    if backend == "sqlite":
        with TocsinServer(settings=settings) as server:
            yield server
        return
    if backend != "postgresql":
        raise HarnessError(f"unknown backend {backend!r}; use sqlite or postgresql")
    with (
        scratch_postgresql_database(maintenance_url, "tocsin_bench") as url,
        TocsinServer(database_url=libpq_conninfo(url), settings=settings) as server,
    ):
        yield server
