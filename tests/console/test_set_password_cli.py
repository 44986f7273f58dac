"""``tocsin user set-password``: the first administrator's console password."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import select

from tests.test_cli import TOCSIN, clean_env, create_account
from tocsin.iam.models import LoginProfile
from tocsin.iam.passwords import verify_password
from tocsin.store.database import Database

ACCOUNT = "111122223333"


def set_password(home: Path, user_name: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(TOCSIN),
            "user",
            "set-password",
            "--home",
            str(home),
            "--account-id",
            ACCOUNT,
            user_name,
            "--password-stdin",
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(None),
        check=False,
    )


def stored_hashes(home: Path) -> list[str]:
    database = Database(f"sqlite:///{home / 'tocsin.db'}")
    try:
        with database.session() as session:
            return list(session.scalars(select(LoginProfile.password_hash)))
    finally:
        database.dispose()


def test_set_password_creates_then_changes(tmp_path: Path) -> None:
    create_account("--home", str(tmp_path), "--account-id", ACCOUNT)

    created = set_password(tmp_path, "Administrator", "First-Pass-1\n")
    assert created.returncode == 0, created.stderr
    assert "Created the console password of Administrator" in created.stderr
    [first] = stored_hashes(tmp_path)
    assert verify_password("First-Pass-1", first)

    changed = set_password(tmp_path, "administrator", "Second-Pass-2\n")
    assert changed.returncode == 0, changed.stderr
    assert "Changed the console password" in changed.stderr
    [second] = stored_hashes(tmp_path)
    assert verify_password("Second-Pass-2", second)
    assert not verify_password("First-Pass-1", second)


def test_set_password_rejects_bad_input(tmp_path: Path) -> None:
    create_account("--home", str(tmp_path), "--account-id", ACCOUNT)
    cases = [
        ("Administrator", "short\n", "minimum length of 8"),
        ("Administrator", "\n", "standard input has no password line"),
        ("nobody", "Good-Pass-1\n", "The user with name nobody cannot be found"),
    ]
    for user_name, stdin, fragment in cases:
        result = set_password(tmp_path, user_name, stdin)
        assert result.returncode != 0, (user_name, stdin)
        assert fragment in result.stderr, (user_name, result.stderr)
        assert "Traceback" not in result.stderr
    assert stored_hashes(tmp_path) == []
