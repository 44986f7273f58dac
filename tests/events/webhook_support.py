"""Helpers of webhook tests: registrations made in the database and posts over HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tocsin.events.webhooks import create_webhook
from tocsin.testing import RunningServer

OWNER = "111111111111"
REGION = "us-east-1"


def register(
    server: RunningServer,
    format_name: str,
    *,
    account_id: str = OWNER,
    bus: str = "default",
    resolve_incidents: bool = False,
    max_per_minute: int | None = None,
) -> tuple[str, str]:
    """Create a webhook registration and return its id and its URL on the test server."""
    with server.runtime.database.session() as session:
        created = create_webhook(
            session,
            server.clock.now(),
            account_id,
            format_name,
            bus,
            resolve_incidents=resolve_incidents,
            max_per_minute=max_per_minute,
        )
        webhook_id = created.webhook.webhook_id
    return webhook_id, f"{server.url}/webhooks/{created.token}"


def post(url: str, payload: Any, **headers: str) -> httpx.Response:
    """POST ``payload`` as JSON to ``url`` and return the response."""
    body = json.dumps(payload).encode()
    return httpx.post(url, content=body, headers={"Content-Type": "application/json", **headers})
