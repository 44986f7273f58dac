"""A real Prometheus Alertmanager notifies Tocsin's webhook, and the alert starts an incident.

The test needs the Debian package prometheus-alertmanager and skips with
that name when its binary is missing. It runs on SQLite only, because what
it checks is the payload that Alertmanager sends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.events.events_support import drain, new_account
from tests.events.test_webhook_incidents import only_event, route_to_plan, sqlite_server
from tests.events.webhook_support import register
from tocsin.testing import RunningServer, free_port

__all__ = ["sqlite_server"]

BINARY = "prometheus-alertmanager"
WAIT_SECONDS = 30.0


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"Alertmanager at {url} was not ready within {WAIT_SECONDS:.0f} s")


def test_alertmanager_notification_starts_incident(
    sqlite_server: RunningServer, tmp_path: Path
) -> None:
    binary = shutil.which(BINARY)
    if binary is None:
        pytest.skip(f"{BINARY} is not installed; install the Debian package {BINARY}")
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, {"source": ["tocsin.alertmanager"], "detail": {"status": ["firing"]}})
    _, url = register(sqlite_server, "alertmanager", account_id=account.account_id)
    config = {
        "route": {"receiver": "tocsin", "group_by": ["..."], "group_wait": "0s"},
        "receivers": [{"name": "tocsin", "webhook_configs": [{"url": url}]}],
    }
    (tmp_path / "alertmanager.yml").write_text(json.dumps(config))
    port = free_port()
    command = [
        binary,
        f"--config.file={tmp_path / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    alert = {
        "labels": {"alertname": "DiskFull", "instance": "db-1"},
        "annotations": {"summary": "Full"},
    }

    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            wait_ready(f"http://127.0.0.1:{port}/-/ready")
            posted = httpx.post(f"http://127.0.0.1:{port}/api/v2/alerts", json=[alert])
            assert posted.status_code == 200, posted.text
            deadline = time.monotonic() + WAIT_SECONDS
            while not account.incidents.list_incident_records()["incidentRecordSummaries"]:
                assert time.monotonic() < deadline, "no incident within the wait"
                drain(sqlite_server)
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=WAIT_SECONDS)

    event = only_event(account)
    detail = event["detail"]
    assert event["source"] == "tocsin.alertmanager"
    assert detail["status"] == "firing"
    assert detail["labels"] == alert["labels"]
    assert detail["annotations"] == alert["annotations"]
    assert detail["receiver"] == "tocsin"
    assert detail["groupKey"] == '{}:{alertname="DiskFull", instance="db-1"}'
    assert detail["externalURL"].endswith(f":{port}")
    assert len(detail["fingerprint"]) == 16
    assert event["resources"] == [f"alertmanager/alert/{detail['fingerprint']}"]
    assert detail["startsAt"].endswith("Z")
    assert detail["endsAt"] == "0001-01-01T00:00:00Z"
