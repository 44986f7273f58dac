"""The ``tocsin`` console script, run as a subprocess the way an operator runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import fresh_database_url
from tocsin.config import Settings
from tocsin.testing import free_port

TOCSIN = Path(sys.executable).with_name("tocsin")
STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0


def run_tocsin(
    *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tocsin`` to completion with TOCSIN_* variables of this process removed."""
    return subprocess.run(
        [str(TOCSIN), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(env),
        check=False,
    )


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOCSIN_")}
    env.update(extra or {})
    return env


def create_account(*arguments: str) -> dict[str, Any]:
    result = run_tocsin("account", "create", *arguments)
    assert result.returncode == 0, result.stderr
    created: dict[str, Any] = json.loads(result.stdout)
    return created


@dataclass
class ServeProcess:
    """A running ``tocsin serve`` and where it listens."""

    process: subprocess.Popen[str]
    url: str
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def client(self, service: str, key_id: str, secret: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )


@contextmanager
def serve(
    log_dir: Path, *arguments: str, name: str = "serve", env: dict[str, str] | None = None
) -> Iterator[ServeProcess]:
    """Start ``tocsin serve`` on a free port, wait until /healthz returns 200, stop it after."""
    port = free_port()
    log = log_dir / f"{name}-{port}.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [str(TOCSIN), "serve", "--port", str(port), *arguments],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean_env({"TOCSIN_WORKERS": "1", **(env or {})}),
        )
    running = ServeProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_healthy(running)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS)


def wait_until_healthy(running: ServeProcess) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            pytest.fail(
                f"tocsin serve exited with {running.process.returncode}:\n{running.stderr()}"
            )
        try:
            if httpx.get(running.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"tocsin serve did not answer /healthz in {STARTUP_SECONDS} s:\n{running.stderr()}")


# --- help -------------------------------------------------------------------


def test_help_lists_commands() -> None:
    result = run_tocsin("--help")
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
    assert "account" in result.stdout


def test_serve_help_lists_options() -> None:
    result = run_tocsin("serve", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--database-url", "--home"):
        assert option in result.stdout


def test_serve_help_lists_every_setting() -> None:
    result = run_tocsin("serve", "--help")
    # Click wraps help text, so compare without line breaks and indentation.
    text = " ".join(result.stdout.split())
    missing = [
        f"TOCSIN_{name.upper()}"
        for name in Settings.model_fields
        if f"TOCSIN_{name.upper()}" not in text
    ]
    assert missing == []


# --- account create -------------------------------------------------------------


def test_account_create_prints_keys(tmp_path: Path) -> None:
    created = create_account("--home", str(tmp_path))
    assert created["AccountId"].isdigit()
    assert len(created["AccountId"]) == 12
    assert created["AccessKeyId"].startswith("AKIA")
    assert len(created["SecretAccessKey"]) >= 40

    chosen = create_account(
        "--home", str(tmp_path), "--account-id", "111122223333", "--name", "ops"
    )
    assert chosen["AccountId"] == "111122223333"
    assert chosen["AccountName"] == "ops"
    assert chosen["AccessKeyId"] != created["AccessKeyId"]


def test_account_list(tmp_path: Path) -> None:
    missing = run_tocsin("account", "list", "--home", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "no Tocsin database" in missing.stderr

    home = str(tmp_path)
    create_account("--home", home, "--account-id", "111122223333", "--name", "ops")
    create_account("--home", home, "--account-id", "444455556666", "--name", "payments")
    listed = run_tocsin("account", "list", "--json", "--home", home)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(row["AccountId"], row["Name"]) for row in rows] == [
        ("111122223333", "ops"),
        ("444455556666", "payments"),
    ]
    table = run_tocsin("account", "list", "--home", home)
    assert table.stdout.splitlines()[0].split() == ["ACCOUNT", "NAME", "ORGANIZATION", "CREATED"]
    assert "444455556666  payments" in table.stdout


def test_account_create_rejects_bad_input(tmp_path: Path) -> None:
    home = str(tmp_path)
    create_account("--home", home, "--account-id", "111122223333")
    cases = [
        (("--account-id", "12345"), "invalid account id '12345'"),
        (("--account-id", "1111222233334"), "exactly 12 digits"),
        (("--account-id", "11112222333x"), "exactly 12 digits"),
        (("--account-id", "111122223333"), "account 111122223333 already exists"),
        (("--name", "n" * 129), "1 to 128 characters"),
        (("--name", ""), "1 to 128 characters"),
        (("--name", "two\nlines"), "without control characters"),
    ]
    for arguments, fragment in cases:
        result = run_tocsin("account", "create", "--home", home, *arguments)
        assert result.returncode != 0, (arguments, result.stdout)
        assert fragment in result.stderr, (arguments, result.stderr)
        assert result.stdout == "", (arguments, result.stdout)
        assert "Traceback" not in result.stderr, (arguments, result.stderr)


# --- serve ------------------------------------------------------------------


def test_serve_answers_with_account_keys(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    account = create_account("--home", home, "--name", "operators")
    with serve(tmp_path, "--home", home) as running:
        metrics = httpx.get(running.url + "/metrics", timeout=5)
        assert metrics.status_code == 200
        assert "tocsin_requests_total" in metrics.text

        sts = running.client("sts", account["AccessKeyId"], account["SecretAccessKey"])
        identity = sts.get_caller_identity()
        assert identity["Account"] == account["AccountId"]

        wrong_secret = running.client("sts", account["AccessKeyId"], "x" * 40)
        with pytest.raises(ClientError) as caught:
            wrong_secret.get_caller_identity()
        assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

        unknown_key = running.client("sts", "AKIAIOSFODNN7EXAMPLE", account["SecretAccessKey"])
        with pytest.raises(ClientError) as caught:
            unknown_key.get_caller_identity()
        assert caught.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_serve_stops_on_sigterm(tmp_path: Path) -> None:
    # SIGTERM is how service managers stop a server.
    with serve(tmp_path, "--home", str(tmp_path / "home")) as running:
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(timeout=STOP_SECONDS)
    log = running.stderr()
    assert "Application shutdown complete" in log
    assert "job engine" in log
    assert "Traceback" not in log


def test_serve_sigterm_exit_code_zero(tmp_path: Path) -> None:
    with serve(tmp_path, "--home", str(tmp_path / "home")) as running:
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=STOP_SECONDS) == 0


def test_serve_first_start_hint(tmp_path: Path) -> None:
    with serve(tmp_path, "--home", str(tmp_path / "home")) as running:
        log = running.stderr()
    assert "No accounts yet. Create one with `tocsin account create`" in log


def test_serve_invalid_setting(tmp_path: Path) -> None:
    cases = [
        ({"TOCSIN_PORT": "abc"}, (), "TOCSIN_PORT"),
        ({"TOCSIN_MAX_BODY_BYTES": "10"}, (), "TOCSIN_MAX_BODY_BYTES"),
        ({"TOCSIN_LOG_LEVEL": "LOUD"}, (), "TOCSIN_LOG_LEVEL"),
        ({}, ("--port", "70000"), "TOCSIN_PORT"),
    ]
    for env, arguments, setting in cases:
        result = run_tocsin(
            "serve", "--home", str(tmp_path), *arguments, env={"TOCSIN_WORKERS": "0", **env}
        )
        assert result.returncode != 0, (env, arguments, result.stderr)
        assert setting in result.stderr, (env, arguments, result.stderr)
        assert "Traceback" not in result.stderr, (env, arguments, result.stderr)


# --- PostgreSQL -------------------------------------------------------------


def test_serve_on_postgresql(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = fresh_database_url("postgresql", tmp_path, request)
    home = str(tmp_path / "home")
    account = create_account("--database-url", url, "--home", home)
    with serve(tmp_path, "--database-url", url, "--home", home) as running:
        assert f"database: {url.split('@')[0]}" in running.stderr()
        sts = running.client("sts", account["AccessKeyId"], account["SecretAccessKey"])
        assert sts.get_caller_identity()["Account"] == account["AccountId"]


def test_two_servers_share_postgresql(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = fresh_database_url("postgresql", tmp_path, request)
    # Both processes need the same secret key, because it decrypts the stored access keys.
    home = str(tmp_path / "home")
    account = create_account("--database-url", url, "--home", home)
    key_id = account["AccessKeyId"]
    secret = account["SecretAccessKey"]
    with (
        serve(tmp_path, "--database-url", url, "--home", home, name="first") as first,
        serve(tmp_path, "--database-url", url, "--home", home, name="second") as second,
    ):
        for running in (first, second):
            identity = running.client("sts", key_id, secret).get_caller_identity()
            assert identity["Account"] == account["AccountId"]

        first.client("iam", key_id, secret).create_user(UserName="shared")
        user = second.client("iam", key_id, secret).get_user(UserName="shared")["User"]
        assert user["Arn"] == f"arn:aws:iam::{account['AccountId']}:user/shared"


def test_serve_port_in_use_fails_early(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_tocsin("serve", "--home", str(tmp_path), "--port", str(port))
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "serving at" not in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_unreachable_database_one_line(tmp_path: Path) -> None:
    result = run_tocsin(
        "serve",
        "--home",
        str(tmp_path),
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/nowhere",
    )
    assert result.returncode != 0
    assert "cannot open the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_wrong_secret_key(tmp_path: Path) -> None:
    home = str(tmp_path)
    create_account("--home", home)
    (tmp_path / "secret.key").unlink()
    result = run_tocsin("serve", "--home", home)
    assert result.returncode != 0
    assert "key file" in result.stderr
    assert "is missing" in result.stderr
    assert not (tmp_path / "secret.key").exists()

    other_key = "JtKbJrRGHpUxJt4vK7jJ5x0bmb3qZ3uUEwJ8nM5rP9k="
    result = run_tocsin("serve", "--home", home, env={"TOCSIN_SECRET_KEY": other_key})
    assert result.returncode != 0
    assert "does not decrypt the secrets stored" in result.stderr
    assert "Traceback" not in result.stderr


# --- backup -----------------------------------------------------------------


def test_backup_restores_working_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    account = create_account("--home", str(home), "--name", "operators")
    copy = tmp_path / "copy"
    with serve(tmp_path, "--home", str(home)) as running:
        iam = running.client("iam", account["AccessKeyId"], account["SecretAccessKey"])
        iam.create_user(UserName="before-backup")
        result = run_tocsin("backup", str(copy), "--home", str(home))
        assert result.returncode == 0, result.stderr
        iam.create_user(UserName="after-backup")
    assert sorted(path.name for path in copy.iterdir()) == ["secret.key", "tocsin.db"]

    with serve(tmp_path, "--home", str(copy), name="restored") as restored:
        iam = restored.client("iam", account["AccessKeyId"], account["SecretAccessKey"])
        users = {user["UserName"] for user in iam.list_users()["Users"]}
    assert "before-backup" in users
    assert "after-backup" not in users


def test_backup_rejects_bad_targets(tmp_path: Path) -> None:
    missing = run_tocsin("backup", str(tmp_path / "copy"), "--home", str(tmp_path / "nothing"))
    assert missing.returncode == 1
    assert "no Tocsin database at" in missing.stderr

    home = tmp_path / "home"
    create_account("--home", str(home))
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("keep me")
    result = run_tocsin("backup", str(occupied), "--home", str(home))
    assert result.returncode == 1
    assert "is not empty" in result.stderr
    assert (occupied / "notes.txt").read_text() == "keep me"

    postgres = run_tocsin(
        "backup", str(tmp_path / "pg"), env={"TOCSIN_DATABASE_URL": "postgresql://x@127.0.0.1/y"}
    )
    assert postgres.returncode == 1
    assert "pg_dump" in postgres.stderr
