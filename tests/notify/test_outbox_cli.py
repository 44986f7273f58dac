"""``tocsin outbox``, run as a subprocess against a database on each backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import fresh_database_url
from tocsin.notify.outbox import write_outbox
from tocsin.notify.providers import OutgoingMessage
from tocsin.store.database import Database

TOCSIN = Path(sys.executable).with_name("tocsin")
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
CHANNEL_A = f"arn:aws:ssm-contacts:us-east-1:{ACCOUNT_A}:contact-channel/alice/1"
CHANNEL_B = f"arn:aws:ssm-contacts:us-east-1:{ACCOUNT_B}:contact-channel/bob/2"


def message(number: int, account_id: str, channel_arn: str, channel_type: str) -> OutgoingMessage:
    address = "alice@example.com" if channel_type == "EMAIL" else "+12065550123"
    return OutgoingMessage(
        channel_type=channel_type,
        address=address,
        subject=f"Subject {number}",
        body=f"Body {number}, line one.\nActivation code 12345{number}.\n",
        key=f"tocsin-job-{number}",
        account_id=account_id,
        channel_arn=channel_arn,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with four outbox messages, one minute apart, the newest last."""
    url = fresh_database_url(request.param, tmp_path, request)
    database = Database(url)
    rows = [
        message(1, ACCOUNT_A, CHANNEL_A, "EMAIL"),
        message(2, ACCOUNT_B, CHANNEL_B, "SMS"),
        message(3, ACCOUNT_A, CHANNEL_A, "EMAIL"),
        message(4, ACCOUNT_B, CHANNEL_B, "VOICE"),
    ]
    with database.session() as session:
        for index, row in enumerate(rows):
            write_outbox(session, row, START + timedelta(minutes=index))
    database.dispose()
    return url


def run_outbox(
    tmp_path: Path, database_url: str, *arguments: str
) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOCSIN_")}
    return subprocess.run(
        [
            str(TOCSIN),
            "outbox",
            "--database-url",
            database_url,
            "--home",
            str(tmp_path),
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_outbox_json_newest_first(tmp_path: Path, database_url: str) -> None:
    result = run_outbox(tmp_path, database_url, "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [item["Key"] for item in listed] == [f"tocsin-job-{n}" for n in (4, 3, 2, 1)]
    newest = listed[0]
    assert newest["AccountId"] == ACCOUNT_B
    assert newest["ChannelType"] == "VOICE"
    assert newest["ChannelArn"] == CHANNEL_B
    assert newest["Address"] == "+12065550123"
    assert newest["Subject"] == "Subject 4"
    assert newest["Body"] == "Body 4, line one.\nActivation code 123454.\n"
    assert datetime.fromisoformat(newest["CreatedAt"]) == START + timedelta(minutes=3)


def test_outbox_filters_and_limit(tmp_path: Path, database_url: str) -> None:
    by_account = run_outbox(tmp_path, database_url, "--json", "--account-id", ACCOUNT_A)
    assert by_account.returncode == 0, by_account.stderr
    assert [item["Key"] for item in json.loads(by_account.stdout)] == [
        "tocsin-job-3",
        "tocsin-job-1",
    ]

    by_channel = run_outbox(tmp_path, database_url, "--json", "--channel", CHANNEL_B)
    assert [item["Key"] for item in json.loads(by_channel.stdout)] == [
        "tocsin-job-4",
        "tocsin-job-2",
    ]

    limited = run_outbox(tmp_path, database_url, "--json", "--limit", "1")
    assert [item["Key"] for item in json.loads(limited.stdout)] == ["tocsin-job-4"]

    nothing = run_outbox(tmp_path, database_url, "--json", "--account-id", "999999999999")
    assert json.loads(nothing.stdout) == []


def test_outbox_text_output(tmp_path: Path, database_url: str) -> None:
    result = run_outbox(tmp_path, database_url, "--limit", "2")
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.strip().split("\n\n")
    assert blocks[0] == (
        f"2026-03-01 12:03:00 UTC  account {ACCOUNT_B}  VOICE to +12065550123\n"
        f"Channel: {CHANNEL_B}\n"
        "Subject: Subject 4"
    )
    assert blocks[1] == "Body 4, line one.\nActivation code 123454."
    assert blocks[2].startswith(f"2026-03-01 12:02:00 UTC  account {ACCOUNT_A}  EMAIL to alice")
    assert "Subject 2" not in result.stdout

    empty = run_outbox(tmp_path, database_url, "--channel", "arn:aws:none")
    assert empty.returncode == 0
    assert empty.stdout == ""
    assert "no matching messages" in empty.stderr


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (("--account-id", "12345"), "'12345' is not a 12-digit account id"),
        (("--limit", "0"), "0 is not in the range 1<=x<=10000"),
    ],
)
def test_outbox_invalid_options(tmp_path: Path, arguments: tuple[str, ...], expected: str) -> None:
    # Options are checked before the database is opened, so none is created here.
    result = run_outbox(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", *arguments)
    assert result.returncode == 2
    assert expected in result.stderr
    assert not (tmp_path / "unused.db").exists()


def test_outbox_missing_home_rejected(tmp_path: Path) -> None:
    home = tmp_path / "mistyped"
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOCSIN_")}
    result = subprocess.run(
        [str(TOCSIN), "outbox", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert f"no Tocsin database at {home / 'tocsin.db'}" in result.stderr
    assert not home.exists()
