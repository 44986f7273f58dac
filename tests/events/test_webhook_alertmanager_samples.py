"""Payloads written by others for Alertmanager's webhook, posted to an alertmanager webhook.

- The version 4 format from Alertmanager's documentation, with its
  placeholders filled in: every documented member is accepted, and every
  alert member reaches the event.
- The minimal body of GoAlert's smoke tests, which has no groupKey.
- The bodies that Alertmanager sends to Opsgenie instead, which a webhook
  pointed at by the wrong receiver gets: each is rejected by name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.events.events_support import CASES, drain, incident_records, load_case, new_account
from tests.events.test_webhook_groups import timeline_data
from tests.events.test_webhook_incidents import (
    FIRING_ALERTS,
    only_event,
    route_to_plan,
    sqlite_server,
    trigger_events,
)
from tests.events.webhook_support import post, register
from tocsin.events.alert_groups import GROUP_EVENT
from tocsin.testing import RunningServer

__all__ = ["sqlite_server"]

FORMAT_FILE = "alertmanager-webhook-v4-format-from-docs.txt"
MINIMAL_FILE = "goalert-smoke-alertmanager-minimal.json"
OPSGENIE_FILE = "opsgenie-create-alert-bodies-sent-by-alertmanager.json"
# Members of each alert that the documented format lists.
ALERT_MEMBERS = {
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
}
# Values for the documentation's typed placeholders.
PLACEHOLDERS = {
    "<int>": "3",
    "<object>": '{"team": "storage"}',
    '"<rfc3339>"': '"2026-12-04T10:00:00Z"',
    '"<resolved|firing>"': '"firing"',
}


def documented_payload() -> dict[str, Any]:
    """Return the documented version 4 format as a payload, each <string> named after its member.

    The file is the format description between ``` lines. Its ``//``
    comments and the ``...`` that stands for more alerts are dropped.
    """
    text = (CASES / FORMAT_FILE).read_text()
    body = text.split("```")[1]
    lines = []
    for line in body.splitlines():
        code = line.split("//", 1)[0].rstrip()
        if code.strip() == "...":
            continue
        member = re.match(r'\s*"([^"]+)":', code)
        if member is not None:
            code = code.replace("<string>", json.dumps(f"{member.group(1)} text"))
        for placeholder, value in PLACEHOLDERS.items():
            code = code.replace(placeholder, value)
        lines.append(code)
    # Dropping "..." leaves a comma before the closing bracket of alerts.
    document = re.sub(r",(\s*[\]}])", r"\1", "\n".join(lines))
    payload: dict[str, Any] = json.loads(document)
    return payload


def test_documented_format_is_accepted(sqlite_server: RunningServer) -> None:
    payload = documented_payload()
    assert set(payload["alerts"][0]) == ALERT_MEMBERS
    assert payload["truncatedAlerts"] == 3
    assert payload["notification_reason"] == "notification_reason text"
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, {"source": ["tocsin.alertmanager"]})
    webhook_id, url = register(sqlite_server, "alertmanager", account_id=account.account_id)

    response = post(url, payload)

    assert response.status_code == 200, response.text
    drain(sqlite_server)
    event = only_event(account)
    detail = event["detail"]
    documented_alert = payload["alerts"][0]
    for member in ALERT_MEMBERS:
        assert detail[member] == documented_alert[member], member
    assert detail["receiver"] == "receiver text"
    assert detail["groupKey"] == "groupKey text"
    assert detail["externalURL"] == "externalURL text"
    assert detail["webhookId"] == webhook_id
    assert event["resources"] == ["alertmanager/alert/fingerprint text"]


def test_goalert_minimal_body_has_no_group(sqlite_server: RunningServer) -> None:
    """Without a groupKey, posts join the rule's incident and a resolution changes nothing."""
    minimal = load_case(MINIMAL_FILE)
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, FIRING_ALERTS)
    _, url = register(
        sqlite_server, "alertmanager", account_id=account.account_id, resolve_incidents=True
    )
    resolved = {
        **minimal,
        "status": "resolved",
        "alerts": [{**minimal["alerts"][0], "status": "resolved"}],
    }

    assert post(url, minimal).status_code == 200
    assert post(url, minimal).status_code == 200
    assert post(url, resolved).status_code == 200
    drain(sqlite_server)

    (incident,) = incident_records(account)
    assert incident["status"] == "OPEN"
    triggers = trigger_events(account, incident["arn"])
    assert len(triggers) == 2
    detail = json.loads(triggers[0]["rawData"])["detail"]
    assert detail["groupKey"] is None
    assert detail["labels"] == {"alertname": "TestAlert"}
    assert timeline_data(account, incident["arn"], GROUP_EVENT) == []


def test_opsgenie_bodies_are_rejected(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    _, url = register(sqlite_server, "alertmanager", account_id=account.account_id)
    bodies = load_case(OPSGENIE_FILE)["bodies"]
    assert len(bodies) == 6

    for body in bodies:
        response = post(url, body["json"])
        assert response.status_code == 400, body["kind"]
        assert response.json()["message"] == (
            "The payload has no alerts member; it must list the alerts."
        )
    assert incident_records(account) == []
