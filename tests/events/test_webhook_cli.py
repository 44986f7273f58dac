"""``tocsin webhook create``, ``list`` and ``revoke`` run as subprocesses against a server.

The commands only read and write registration rows, so one backend (SQLite)
is enough here.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.events.webhook_support import OWNER
from tests.test_cli import clean_env, run_tocsin
from tocsin.cli import main
from tocsin.testing import RunningServer


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[RunningServer]:
    """A running server on SQLite with the account OWNER."""
    shutil.copyfile(sqlite_template, tmp_path / "tocsin.db")
    url = f"sqlite:///{tmp_path / 'tocsin.db'}"
    with RunningServer(tmp_path / "home", database_url=url) as running:
        running.create_account(account_id=OWNER)
        yield running


def webhook(
    server: RunningServer, *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tocsin webhook`` on the server's database, with its address as the default URL."""
    return run_tocsin(
        "webhook",
        *arguments,
        "--database-url",
        str(server.settings.effective_database_url),
        "--home",
        str(server.settings.home),
        env={"TOCSIN_HOST": "127.0.0.1", "TOCSIN_PORT": str(server.port), **(env or {})},
    )


def table(output: str) -> list[list[str]]:
    """Split ``webhook list`` output into rows of cells, without the header."""
    lines = output.splitlines()
    assert lines[0].split() == [
        "WEBHOOK",
        "ID",
        "FORMAT",
        "BUS",
        "RESOLVE",
        "MAX/MIN",
        "CREATED",
        "LAST",
        "USED",
        "STATUS",
    ]
    # A last line that starts with "*" explains the marked default limits.
    return [line.split(maxsplit=7) for line in lines[1:] if not line.startswith("*")]


def probe(url: str) -> int:
    """POST a body that no format accepts: 400 shows the URL works, 404 that it does not."""
    return httpx.post(url, content=b"[]", headers={"Content-Type": "application/json"}).status_code


def invoke(server: RunningServer, *arguments: str, env: dict[str, str] | None = None) -> Any:
    """Run ``tocsin webhook`` in this process through click's runner, faster than a subprocess."""
    database = ["--database-url", server.settings.effective_database_url]
    database += ["--home", str(server.settings.home)]
    return CliRunner().invoke(main, ["webhook", *arguments, *database], env=clean_env(env))


def test_webhook_create_list_revoke(server: RunningServer) -> None:
    """The console script creates a URL that works; the other steps run in this process."""
    created = webhook(server, "create", "--account", OWNER, "--format", "alertmanager")
    assert created.returncode == 0, created.stderr
    url = created.stdout.strip()
    assert url.startswith(f"{server.url}/webhooks/")
    assert len(url.rsplit("/", 1)[1]) == 43
    assert "Created alertmanager webhook" in created.stderr
    assert "to event bus default" in created.stderr
    assert probe(url) == 400

    public = invoke(
        server,
        "create",
        "--account",
        OWNER,
        "--format",
        "grafana",
        "--bus",
        "monitoring",
        env={"TOCSIN_PUBLIC_URL": "https://tocsin.example/"},
    )
    assert public.exit_code == 0, public.output
    assert public.stdout.startswith("https://tocsin.example/webhooks/")
    second_url = public.stdout.splitlines()[0].replace("https://tocsin.example", server.url)

    listed = invoke(server, "list", "--account", OWNER)
    assert listed.exit_code == 0, listed.output
    rows = table(listed.stdout)
    assert [row[1:3] for row in rows] == [["alertmanager", "default"], ["grafana", "monitoring"]]
    assert [row[3:5] for row in rows] == [["no", "600*"], ["no", "600*"]]
    assert rows[0][5].endswith("Z")
    assert rows[0][7] == "active"
    assert rows[1][6:] == ["never", "active"]
    assert listed.stdout.splitlines()[-1] == (
        "* the default, TOCSIN_WEBHOOK_MAX_PER_MINUTE as this command reads it; "
        "each server applies its own value"
    )
    assert url.rsplit("/", 1)[1] not in listed.stdout

    revoked = invoke(server, "revoke", rows[0][0], "--account", OWNER)
    assert revoked.exit_code == 0, revoked.output
    assert revoked.stdout.strip() == f"Revoked webhook {rows[0][0]}."
    assert probe(url) == 404
    assert probe(second_url) == 400
    after = table(invoke(server, "list", "--account", OWNER).stdout)
    assert after[0][7].startswith("revoked ")
    assert after[1][7] == "active"

    again = invoke(server, "revoke", rows[0][0], "--account", OWNER)
    assert again.exit_code == 1
    assert f"Webhook {rows[0][0]} was already revoked at" in again.output


def test_webhook_create_resolve_and_limit(server: RunningServer) -> None:
    options = ("--format", "alertmanager", "--resolve", "--max-per-minute", "30")
    created = invoke(server, "create", "--account", OWNER, *options)
    assert created.exit_code == 0, created.output

    listed = invoke(server, "list", "--account", OWNER, env={"TOCSIN_WEBHOOK_MAX_PER_MINUTE": "7"})
    assert listed.exit_code == 0, listed.output
    rows = table(listed.stdout)
    assert [row[1:5] for row in rows] == [["alertmanager", "default", "yes", "30"]]
    assert "TOCSIN_WEBHOOK_MAX_PER_MINUTE" not in listed.stdout

    default = invoke(server, "create", "--account", OWNER, "--format", "grafana")
    assert default.exit_code == 0, default.output
    listed = invoke(server, "list", "--account", OWNER, env={"TOCSIN_WEBHOOK_MAX_PER_MINUTE": "7"})
    assert [row[3:5] for row in table(listed.stdout)] == [["yes", "30"], ["no", "7*"]]


def test_webhook_cli_rejections(server: RunningServer) -> None:

    cases = [
        (
            ("create", "--account", "999999999999", "--format", "generic"),
            "No account 999999999999 exists in the database.",
        ),
        (("create", "--account", "12345", "--format", "generic"), "is not a 12-digit account id"),
        (("create", "--account", OWNER, "--format", "nagios"), "'nagios' is not one of"),
        (
            ("create", "--account", OWNER, "--format", "generic", "--bus", "bad bus"),
            "Event bus name 'bad bus' is invalid",
        ),
        (
            ("create", "--account", OWNER, "--format", "generic", "--resolve"),
            "Format generic has no alert groups, so its webhooks cannot resolve incidents",
        ),
        (
            ("create", "--account", OWNER, "--format", "generic", "--max-per-minute", "0"),
            "Invalid value for '--max-per-minute': 0 is not in the range 1<=x<=1000000.",
        ),
        (
            ("create", "--account", OWNER, "--format", "generic", "--max-per-minute", "many"),
            "Invalid value for '--max-per-minute': 'many' is not a valid integer range.",
        ),
        (
            ("revoke", "0000", "--account", OWNER),
            f"No webhook '0000' exists in account {OWNER}",
        ),
        (("list", "--account", "999999999999"), "No account 999999999999 exists"),
    ]
    for arguments, expected in cases:
        result = invoke(server, *arguments)
        assert result.exit_code != 0, arguments
        assert expected in result.output, (arguments, result.output)

    empty = invoke(server, "list", "--account", OWNER)
    assert empty.exit_code == 0, empty.output
    assert empty.output.strip() == f"No webhooks in account {OWNER}."


def test_webhook_create_base_url(server: RunningServer) -> None:
    given = invoke(
        server,
        "create",
        "--account-id",
        OWNER,
        "--format",
        "generic",
        "--base-url",
        "http://127.0.0.1:4700/",
    )
    assert given.exit_code == 0, given.output
    assert given.stdout.startswith("http://127.0.0.1:4700/webhooks/")
    assert "--base-url" not in given.stderr

    assumed = invoke(server, "create", "--account", OWNER, "--format", "generic")
    assert assumed.exit_code == 0, assumed.output
    assert "pass --base-url or set TOCSIN_PUBLIC_URL" in assumed.stderr

    wrong = invoke(
        server, "create", "--account", OWNER, "--format", "generic", "--base-url", "ftp://x"
    )
    assert wrong.exit_code == 2
    assert "is not an http:// or https:// URL" in wrong.output
