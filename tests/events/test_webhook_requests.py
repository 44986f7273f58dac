"""Requests to /webhooks/{token} that are rejected: tokens, methods, types, sizes, bodies.

Rejections happen before anything is written, so the database backend does
not matter here: the tests share one server on SQLite, and each test makes
its own registration.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.events.webhook_support import OWNER, post, register
from tocsin.engine.jobs import Job
from tocsin.events.webhook_models import AlertWebhook
from tocsin.events.webhooks import revoke_webhook
from tocsin.testing import RunningServer

FIRING: dict[str, Any] = {
    "version": "4",
    "status": "firing",
    "receiver": "tocsin",
    "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull"}}],
}


@pytest.fixture(scope="module")
def server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One server on SQLite for the whole module."""
    folder = tmp_path_factory.mktemp("webhook-requests")
    shutil.copyfile(sqlite_template, folder / "tocsin.db")
    url = f"sqlite:///{folder / 'tocsin.db'}"
    with RunningServer(folder / "home", database_url=url) as running:
        running.create_account(account_id=OWNER)
        yield running


@pytest.fixture
def owner() -> str:
    return OWNER


def message(response: httpx.Response) -> str:
    text: str = response.json()["message"]
    return text


@pytest.mark.parametrize(
    "token",
    [
        # A token of the real length and alphabet that no registration has.
        "q0Fz8kR2vW5nX7cL1mB9tY4hJ6pD3sG0aE8uI2oK5rZ",
        "short",
        "x" * 43 + "y",
        "%00" * 5,
    ],
)
def test_unknown_token_is_404(server: RunningServer, owner: str, token: str) -> None:
    register(server, "alertmanager")

    response = post(f"{server.url}/webhooks/{token}", FIRING)

    assert response.status_code == 404
    assert message(response) == "Webhook not found."


def test_revoked_token_is_404(server: RunningServer, owner: str) -> None:
    webhook_id, url = register(server, "alertmanager")
    with server.runtime.database.session() as session:
        revoke_webhook(session, server.clock.now(), OWNER, webhook_id)

    response = post(url, FIRING)

    assert response.status_code == 404
    assert message(response) == "Webhook not found."


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(server: RunningServer, owner: str, method: str) -> None:
    _, url = register(server, "generic")

    response = httpx.request(method, url)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415(
    server: RunningServer, owner: str, content_type: str | None
) -> None:
    _, url = register(server, "generic")
    headers = {} if content_type is None else {"Content-Type": content_type}

    response = httpx.post(url, content=b"{}", headers=headers)

    assert response.status_code == 415
    assert f"Content-Type {content_type or 'none'!r} is not supported" in message(response)


def test_oversized_body_is_413(server: RunningServer, owner: str) -> None:
    _, url = register(server, "generic")
    limit = server.settings.max_body_bytes

    response = post(url, {"text": "x" * limit})

    assert response.status_code == 413
    assert f"larger than {limit} bytes" in message(response)


@pytest.mark.parametrize(
    ("format_name", "body", "expected"),
    [
        ("generic", b"{not json", "The body is not valid JSON"),
        ("generic", b"[1, 2]", "The payload must be a JSON object, got an array"),
        ("alertmanager", b'{"alerts": []}', "alerts is empty"),
        ("alertmanager", b'{"alerts": [{"status": "up"}]}', "alerts[0].status must be"),
        ("grafana", b'{"ruleName": "x"}', "state must be a non-empty string"),
        ("generic", b'{"a": Infinity}', "The body contains Infinity"),
        ("generic", b'{"a": "\\ud800"}', "unpaired UTF-16 surrogate"),
        ("alertmanager", b'{"a": "x\\udc00y"}', "unpaired UTF-16 surrogate"),
        ("generic", b'{"a": ' + b"9" * 5000 + b"}", "number with too many digits"),
    ],
)
def test_malformed_body_is_400(
    server: RunningServer, owner: str, format_name: str, body: bytes, expected: str
) -> None:
    _, url = register(server, format_name)

    response = httpx.post(url, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert expected in message(response)


def test_event_over_256_kib_is_400(server: RunningServer, owner: str) -> None:
    _, url = register(server, "generic")

    response = post(url, {"text": "x" * (256 * 1024)})

    assert response.status_code == 400
    assert "more than the EventBridge limit of 262144 bytes" in message(response)


def test_rejections_store_nothing(server: RunningServer, owner: str) -> None:
    webhook_id, url = register(server, "alertmanager")

    response = post(url, {"alerts": "none"})

    assert response.status_code == 400
    with server.runtime.database.session() as session:
        row = session.get(AlertWebhook, webhook_id)
        event_jobs = session.scalar(
            select(func.count()).select_from(Job).where(Job.kind.like("events.%"))
        )
    assert row is not None
    assert row.revoked_at is None
    assert row.last_used_at is None
    # No test of this module sends an accepted body, so no event may have been stored.
    assert event_jobs == 0
