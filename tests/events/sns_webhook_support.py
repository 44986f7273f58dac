"""Helpers of the sns webhook tests: SNS messages signed with the server's own key."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.events.events_support import load_case
from tocsin.notify import signing
from tocsin.notify.sns_delivery import certificate_url
from tocsin.testing import RunningServer

GOALERT_CASE = "sns-http-delivery-scenarios-goalert-pr4535.json"
TIMESTAMP = "2026-07-30T00:00:01.000Z"
PLAIN_TEXT = {"Content-Type": "text/plain; charset=UTF-8"}

SNS_ALARMS = {
    "source": ["tocsin.sns"],
    "detail-type": ["CloudWatch Alarm State Change"],
    "detail": {"state": {"value": ["ALARM"]}},
}


def alarm_text(state: str) -> str:
    """Return the alarm notification of the GoAlert cases with NewStateValue ``state``."""
    template: str = load_case(GOALERT_CASE)["alarm_message_template"]
    return template.replace("%s", state)


def notification(message: str, *, subject: str | None = None, **members: Any) -> dict[str, Any]:
    """Return an unsigned Notification of the GoAlert cases' topic that carries ``message``."""
    fields: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": load_case(GOALERT_CASE)["topic_arn"],
        "Message": message,
        "Timestamp": TIMESTAMP,
    }
    if subject is not None:
        fields["Subject"] = subject
    fields.update(members)
    return fields


def own_signed(
    server: RunningServer, message: dict[str, Any], version: str = "1"
) -> dict[str, Any]:
    """Return ``message`` signed with the server's SNS key, as its own SNS topics sign."""
    with server.runtime.database.session() as session:
        key = signing.current_key(session, server.clock, server.runtime.secrets)
    signed = dict(message)
    signed["SignatureVersion"] = version
    signed["Signature"] = signing.sign(key, signed, version)
    signed["SigningCertURL"] = certificate_url(server.settings, key.key_id)
    return signed


def send(url: str, message: dict[str, Any]) -> httpx.Response:
    """POST an SNS message as SNS does: JSON text with Content-Type text/plain."""
    return httpx.post(url, content=json.dumps(message).encode(), headers=PLAIN_TEXT)
