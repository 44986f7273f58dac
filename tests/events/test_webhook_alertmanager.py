"""A real Prometheus Alertmanager notifies Tocsin's webhook, and its alerts start incidents.

The tests need the Debian package prometheus-alertmanager and skip with
that name when its binary is missing. They run on SQLite only, because what
they check is the payloads that Alertmanager sends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.events.events_support import drain, new_account
from tests.events.test_webhook_groups import timeline_data
from tests.events.test_webhook_incidents import only_event, route_to_plan, sqlite_server
from tests.events.webhook_support import register
from tocsin.events.alert_groups import GROUP_EVENT
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


@contextmanager
def alertmanager(config: dict[str, Any], folder: Path) -> Iterator[int]:
    """Run Alertmanager with ``config`` on a free port of 127.0.0.1 and yield the port."""
    binary = shutil.which(BINARY)
    if binary is None:
        pytest.skip(f"{BINARY} is not installed; install the Debian package {BINARY}")
    (folder / "alertmanager.yml").write_text(json.dumps(config))
    port = free_port()
    command = [
        binary,
        f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            wait_ready(f"http://127.0.0.1:{port}/-/ready")
            yield port
        finally:
            process.terminate()
            process.wait(timeout=WAIT_SECONDS)


def wait_until(server: RunningServer, done: Callable[[], bool], what: str) -> None:
    """Run Tocsin's event jobs until ``done()`` is true, or fail after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        drain(server)
        if done():
            return
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT_SECONDS:.0f} s"
        time.sleep(0.1)


def test_alertmanager_notification_starts_incident(
    sqlite_server: RunningServer, tmp_path: Path
) -> None:
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, {"source": ["tocsin.alertmanager"], "detail": {"status": ["firing"]}})
    _, url = register(sqlite_server, "alertmanager", account_id=account.account_id)
    config = {
        "route": {"receiver": "tocsin", "group_by": ["..."], "group_wait": "0s"},
        "receivers": [{"name": "tocsin", "webhook_configs": [{"url": url}]}],
    }
    alert = {
        "labels": {"alertname": "DiskFull", "instance": "db-1"},
        "annotations": {"summary": "Full"},
    }

    with alertmanager(config, tmp_path) as port:
        posted = httpx.post(f"http://127.0.0.1:{port}/api/v2/alerts", json=[alert])
        assert posted.status_code == 200, posted.text
        wait_until(
            sqlite_server,
            lambda: bool(account.incidents.list_incident_records()["incidentRecordSummaries"]),
            "an incident",
        )

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


def test_alertmanager_group_resolves_incident(sqlite_server: RunningServer, tmp_path: Path) -> None:
    """Two alerts of one group make one incident, which resolves when the second alert does."""
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, {"source": ["tocsin.alertmanager"], "detail": {"status": ["firing"]}})
    _, url = register(
        sqlite_server, "alertmanager", account_id=account.account_id, resolve_incidents=True
    )
    route = {
        "receiver": "tocsin",
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }
    webhook = {"url": url, "send_resolved": True}
    config = {"route": route, "receivers": [{"name": "tocsin", "webhook_configs": [webhook]}]}
    starts = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = {"labels": {"alertname": "DiskFull", "instance": "db-1"}, "startsAt": starts}
    second = {"labels": {"alertname": "DiskFull", "instance": "db-2"}, "startsAt": starts}

    def incidents() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = account.incidents.list_incident_records()[
            "incidentRecordSummaries"
        ]
        return found

    def group_events() -> list[dict[str, Any]]:
        records = incidents()
        return timeline_data(account, records[0]["arn"], GROUP_EVENT) if records else []

    def resolve(alert: dict[str, Any]) -> None:
        ends = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        posted = httpx.post(api, json=[{**alert, "endsAt": ends}])
        assert posted.status_code == 200, posted.text

    with alertmanager(config, tmp_path) as port:
        api = f"http://127.0.0.1:{port}/api/v2/alerts"
        posted = httpx.post(api, json=[first, second])
        assert posted.status_code == 200, posted.text
        wait_until(sqlite_server, lambda: bool(incidents()), "an incident")

        resolve(first)
        wait_until(sqlite_server, lambda: bool(group_events()), "the first resolution")
        assert incidents()[0]["status"] == "OPEN"

        resolve(second)
        wait_until(
            sqlite_server, lambda: incidents()[0]["status"] == "RESOLVED", "the group's resolution"
        )

    assert len(incidents()) == 1
    recorded = group_events()
    assert recorded[-1]["groupStatus"] == "resolved"
    assert recorded[-1]["incidentResolved"] is True
    resolved = [
        alert["labels"]["instance"] for event in recorded for alert in event["resolvedAlerts"]
    ]
    assert sorted(resolved) == ["db-1", "db-2"]
