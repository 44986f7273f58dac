"""The apprise provider, sending through apprise's json:// plugin to a receiver on 127.0.0.1.

Other apprise services (Twilio, Vonage) are only parsed here, never sent to.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.notify.conftest import NOW, HttpReceiver, Reply
from tocsin.config import Settings
from tocsin.notify.providers import (
    DeliveryFailed,
    OutgoingMessage,
    ProviderSettingError,
    check_settings,
    providers_for,
    send_message,
)
from tocsin.testing import free_port

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "f" * 32


def voice(address: str = "+442079460123") -> OutgoingMessage:
    return OutgoingMessage(
        channel_type="VOICE",
        address=address,
        subject="Incident 42 needs you",
        body="Checkout is down.",
        key="tocsin-job-99",
        account_id="111111111111",
        channel_arn="arn:aws:ssm-contacts:us-east-1:111111111111:contact-channel/a/voice",
    )


def test_apprise_json_delivery(tmp_path: Path, session: Session, receiver: HttpReceiver) -> None:
    url = f"json://127.0.0.1:{receiver.port}/voice?:to={{to}}"
    configured = Settings(home=tmp_path, voice_url=url)
    where = send_message(session, configured, voice(), NOW)

    assert where == "sent by apprise through json://"
    [request] = receiver.wait_for(1)
    assert request.path == "/voice"
    payload = request.json()
    assert payload["title"] == "Incident 42 needs you"
    assert payload["message"] == "Checkout is down."
    assert payload["to"] == "+442079460123"

    send_message(session, configured, voice("+12065550199"), NOW)
    assert receiver.wait_for(2)[1].json()["to"] == "+12065550199"


def test_apprise_receiver_error(tmp_path: Path, session: Session, receiver: HttpReceiver) -> None:
    receiver.reply = Reply(status=500, body=b"boom")
    url = f"json://127.0.0.1:{receiver.port}/voice?:to={{to}}"
    with pytest.raises(DeliveryFailed) as failure:
        send_message(session, Settings(home=tmp_path, voice_url=url), voice(), NOW)
    assert "apprise json:// did not deliver the message" in str(failure.value)
    assert "500" in str(failure.value)
    assert not failure.value.permanent


def test_apprise_connection_refused(tmp_path: Path, session: Session) -> None:
    url = f"json://127.0.0.1:{free_port()}/voice?:to={{to}}"
    with pytest.raises(DeliveryFailed) as failure:
        send_message(session, Settings(home=tmp_path, voice_url=url), voice(), NOW)
    assert "Connection error" in str(failure.value)
    assert not failure.value.permanent


def test_apprise_twilio_url_accepted(tmp_path: Path) -> None:
    url = f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@+12065550100/{{to}}?method=call"
    provider = providers_for(Settings(home=tmp_path, voice_url=url)).for_channel_type("VOICE")
    assert provider.name == "apprise:twilio"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nosuchservice://host/{to}", "unknown scheme 'nosuchservice'"),
        (f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@+12065550100/+12065550111", "no {to} placeholder"),
        ("twilio://{to}", "apprise cannot use the twilio:// URL: An invalid Twilio Account SID"),
        ("json://", "no {to} placeholder"),
        ("json://{to}", "apprise cannot use the json:// URL"),
    ],
)
def test_apprise_url_rejected(tmp_path: Path, url: str, expected: str) -> None:
    with pytest.raises(ProviderSettingError) as failure:
        check_settings(Settings(home=tmp_path, sms_url=url))
    assert str(failure.value).startswith("invalid setting TOCSIN_SMS_URL: ")
    assert expected in str(failure.value)
    assert TWILIO_TOKEN not in str(failure.value)
