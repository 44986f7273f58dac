"""The webhook provider against real HTTP and HTTPS receivers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.notify.conftest import NOW, HttpReceiver, Reply, TlsFiles
from tocsin.config import Settings
from tocsin.contacts.models import OutboxMessage
from tocsin.notify.providers import (
    DeliveryFailed,
    OutgoingMessage,
    ProviderSettingError,
    check_settings,
    send_message,
)
from tocsin.testing import free_port

SECRET = "wh-s3cret/with+chars"


def sms(key: str = "tocsin-job-12", channel_type: str = "SMS") -> OutgoingMessage:
    return OutgoingMessage(
        channel_type=channel_type,
        address="+12065550123",
        subject="Incident 42 needs you",
        body="Checkout is down: café 5xx rate 40%",
        key=key,
        account_id="111111111111",
        channel_arn="arn:aws:ssm-contacts:us-east-1:111111111111:contact-channel/a/sms",
    )


def webhook_settings(tmp_path: Path, url: str, **extra: object) -> Settings:
    return Settings(home=tmp_path, sms_url=url, **extra)  # type: ignore[arg-type]


def test_webhook_posts_json(tmp_path: Path, session: Session, receiver: HttpReceiver) -> None:
    url = f"webhook+http://127.0.0.1:{receiver.port}/hooks/sms?team=ops"
    where = send_message(session, webhook_settings(tmp_path, url), sms(), NOW)

    assert where == f"sent by webhook to http://127.0.0.1:{receiver.port}"
    [request] = receiver.wait_for(1)
    assert request.path == "/hooks/sms?team=ops"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "tocsin-job-12"
    assert request.headers["user-agent"].startswith("tocsin/")
    assert "x-tocsin-signature" not in request.headers
    assert request.json() == {
        "type": "SMS",
        "to": "+12065550123",
        "subject": "Incident 42 needs you",
        "body": "Checkout is down: café 5xx rate 40%",
        "key": "tocsin-job-12",
        "channelArn": "arn:aws:ssm-contacts:us-east-1:111111111111:contact-channel/a/sms",
        "accountId": "111111111111",
    }
    assert session.scalars(select(OutboxMessage)).all() == []


def test_webhook_signature_verifies(
    tmp_path: Path, session: Session, receiver: HttpReceiver
) -> None:
    url = f"webhook+http://127.0.0.1:{receiver.port}/sms?secret=wh-s3cret%2Fwith%2Bchars&a=1"
    send_message(session, webhook_settings(tmp_path, url), sms(), NOW)

    [request] = receiver.wait_for(1)
    assert "secret" not in request.path
    assert request.path == "/sms?a=1"
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-tocsin-signature"] == f"sha256={expected}"
    tampered = request.body.replace(b"42", b"43")
    forged = hmac.new(SECRET.encode(), tampered, hashlib.sha256).hexdigest()
    assert request.headers["x-tocsin-signature"] != f"sha256={forged}"


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (401, True),
        (404, True),
        (408, False),
        (422, True),
        (429, False),
        (500, False),
        (503, False),
        (302, True),
    ],
)
def test_webhook_status_mapping(
    tmp_path: Path, session: Session, receiver: HttpReceiver, status: int, permanent: bool
) -> None:
    receiver.reply = Reply(status=status, body=b"receiver says no", headers={"Location": "/x"})
    url = f"webhook+http://127.0.0.1:{receiver.port}/sms?secret=topsecret"
    with pytest.raises(DeliveryFailed) as failure:
        send_message(session, webhook_settings(tmp_path, url), sms(), NOW)
    message = str(failure.value)
    assert f"webhook http://127.0.0.1:{receiver.port} returned HTTP {status}" in message
    assert "receiver says no" in message
    assert "topsecret" not in message
    assert failure.value.permanent is permanent


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_webhook_success_statuses(
    tmp_path: Path, session: Session, receiver: HttpReceiver, status: int
) -> None:
    receiver.reply = Reply(status=status, body=b"")
    url = f"webhook+http://127.0.0.1:{receiver.port}/"
    send_message(session, webhook_settings(tmp_path, url), sms(), NOW)
    assert len(receiver.wait_for(1)) == 1


def test_webhook_timeout(tmp_path: Path, session: Session, receiver: HttpReceiver) -> None:
    receiver.reply = Reply(delay_seconds=2.0)
    url = f"webhook+http://127.0.0.1:{receiver.port}/"
    configured = webhook_settings(tmp_path, url, delivery_timeout_seconds=0.3)
    with pytest.raises(DeliveryFailed) as failure:
        send_message(session, configured, sms(), NOW)
    assert str(failure.value) == (
        f"webhook http://127.0.0.1:{receiver.port} timed out after 0.3 seconds"
    )
    assert not failure.value.permanent


def test_webhook_connection_refused(tmp_path: Path, session: Session) -> None:
    port = free_port()
    url = f"webhook+http://127.0.0.1:{port}/sms"
    with pytest.raises(DeliveryFailed) as failure:
        send_message(session, webhook_settings(tmp_path, url), sms(), NOW)
    assert f"cannot reach webhook http://127.0.0.1:{port}" in str(failure.value)
    assert not failure.value.permanent


def test_webhook_https_with_ca_file(
    tmp_path: Path, session: Session, tls_receiver: HttpReceiver, certificates: TlsFiles
) -> None:
    url = f"webhook+https://127.0.0.1:{tls_receiver.port}/sms"
    trusted = webhook_settings(tmp_path, url, delivery_ca_file=certificates.ca_file)
    where = send_message(session, trusted, sms(), NOW)
    assert where == f"sent by webhook to https://127.0.0.1:{tls_receiver.port}"
    assert tls_receiver.wait_for(1)[0].json()["to"] == "+12065550123"


def test_webhook_https_untrusted_certificate(
    tmp_path: Path, session: Session, tls_receiver: HttpReceiver
) -> None:
    url = f"webhook+https://127.0.0.1:{tls_receiver.port}/sms"
    with pytest.raises(DeliveryFailed) as failure:
        send_message(session, webhook_settings(tmp_path, url), sms(), NOW)
    assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
    assert not failure.value.permanent
    assert tls_receiver.requests == []


def test_voice_uses_its_own_provider(
    tmp_path: Path, session: Session, receiver: HttpReceiver
) -> None:
    sms_receiver_url = f"webhook+http://127.0.0.1:{receiver.port}/sms"
    configured = Settings(home=tmp_path, sms_url=sms_receiver_url, voice_url="outbox:")
    voice = send_message(session, configured, sms("tocsin-job-13", "VOICE"), NOW)
    text = send_message(session, configured, sms("tocsin-job-14", "SMS"), NOW)

    assert voice == "written to the development outbox"
    assert text.startswith("sent by webhook")
    rows = session.scalars(select(OutboxMessage)).all()
    assert [(row.channel_type, row.key) for row in rows] == [("VOICE", "tocsin-job-13")]
    assert [request.json()["key"] for request in receiver.wait_for(1)] == ["tocsin-job-14"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("webhook+https:///path", "names no host"),
        ("webhook+https://user:pw@example.com/", "must not carry user:password"),
        ("webhook+https://example.com:70000/", "Port out of range"),
        ("webhook+https://example.com/?secret=", "the webhook secret is empty"),
        ("outbox:/somewhere", "the outbox URL is just outbox:"),
        ("127.0.0.1:8080/sms", "unknown scheme '127.0.0.1'"),
        ("no-scheme-here", "found no scheme"),
    ],
)
def test_webhook_url_rejected(tmp_path: Path, url: str, expected: str) -> None:
    with pytest.raises(ProviderSettingError) as failure:
        check_settings(Settings(home=tmp_path, voice_url=url))
    assert "TOCSIN_VOICE_URL" in str(failure.value)
    assert expected in str(failure.value)
    assert "pw@" not in str(failure.value)


def test_webhook_body_is_signed_exactly(
    tmp_path: Path, session: Session, receiver: HttpReceiver
) -> None:
    # The signature covers the bytes as sent, so a receiver must not re-serialise the JSON.
    url = f"webhook+http://127.0.0.1:{receiver.port}/?secret=k"
    send_message(session, webhook_settings(tmp_path, url), sms(), NOW)
    [request] = receiver.wait_for(1)
    reserialised = json.dumps(request.json()).encode()
    assert reserialised != request.body
    signature = request.headers["x-tocsin-signature"].removeprefix("sha256=")
    assert hmac.compare_digest(signature, hmac.new(b"k", request.body, "sha256").hexdigest())
