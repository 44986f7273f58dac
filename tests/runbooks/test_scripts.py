"""The child interpreter of aws:executeScript: what a script can see of the server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tocsin.runbooks.scripts import run_script

PROBE = """
import os

def probe(events, context):
    return {
        "settings": sorted(name for name in os.environ if name.startswith("TOCSIN_")),
        "folder": os.getcwd(),
        "files": os.listdir("."),
    }
"""


def test_script_sees_no_server_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_SECRET_KEY", "not-for-scripts")
    monkeypatch.setenv("TOCSIN_DATABASE_URL", "postgresql://secret@127.0.0.1/tocsin")
    outcome = run_script(PROBE, "probe", {}, {}, timeout_seconds=30, memory_bytes=256 * 1024 * 1024)
    assert outcome.error is None
    assert outcome.result["settings"] == []
    assert outcome.result["files"] == []
    assert Path(outcome.result["folder"]) != Path(os.getcwd())
    assert not Path(outcome.result["folder"]).exists()
