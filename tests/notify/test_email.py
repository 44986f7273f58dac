"""Email through SMTP: real aiosmtpd servers on 127.0.0.1, plain, STARTTLS, TLS and AUTH."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.notify.conftest import NOW, TlsFiles
from tocsin.config import Settings
from tocsin.contacts.models import OutboxMessage
from tocsin.notify.email import message_id, parse_smtp_url
from tocsin.notify.providers import (
    DeliveryFailed,
    OutgoingMessage,
    ProviderSettingError,
    check_settings,
    send_message,
)
from tocsin.testing import free_port

USER = "pager"
PASSWORD = "s3cret-Passw0rd"


def outgoing(key: str = "tocsin-job-7") -> OutgoingMessage:
    return OutgoingMessage(
        channel_type="EMAIL",
        address="oncall@example.com",
        subject="Incident 42 needs you",
        body="The checkout service is down.\n",
        key=key,
        account_id="111111111111",
        channel_arn="arn:aws:ssm-contacts:us-east-1:111111111111:contact-channel/a/b",
    )


def settings(tmp_path: Path, smtp_url: str, **extra: Any) -> Settings:
    return Settings(home=tmp_path, smtp_url=smtp_url, smtp_sender="im@example.com", **extra)


class Inbox:
    """An aiosmtpd handler that keeps every message, or rejects each with a fixed reply."""

    def __init__(self, reply: str = "250 OK") -> None:
        self.messages: list[EmailMessage] = []
        self.reply = reply

    async def handle_DATA(self, _server: SMTP, _session: SmtpSession, envelope: Envelope) -> str:
        if not self.reply.startswith("250"):
            return self.reply
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return self.reply


def authenticator(
    _server: SMTP, _session: SmtpSession, _envelope: Envelope, _mechanism: str, data: Any
) -> AuthResult:
    accepted = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=accepted, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def test_email_plain_delivery(tmp_path: Path, session: Session, smtp_server: Any) -> None:
    inbox, port = smtp_server
    where = send_message(session, settings(tmp_path, f"smtp://127.0.0.1:{port}"), outgoing(), NOW)

    assert where == f"sent by SMTP through 127.0.0.1:{port}"
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "oncall@example.com"
    assert message["From"] == "im@example.com"
    assert message["Subject"] == "Incident 42 needs you"
    assert message["Message-ID"] == "<tocsin-job-7@example.com>"
    assert message["Date"] is not None
    assert message.get_content().replace("\r\n", "\n") == "The checkout service is down.\n"
    assert session.scalars(select(OutboxMessage)).all() == []


def test_email_subject_line_breaks_folded(
    tmp_path: Path, session: Session, smtp_server: Any
) -> None:
    inbox, port = smtp_server
    message = dataclasses.replace(outgoing(), subject="Disk full\r\non db-1\nBcc: x@example.org")
    send_message(session, settings(tmp_path, f"smtp://127.0.0.1:{port}"), message, NOW)

    assert len(inbox.messages) == 1
    assert inbox.messages[0]["Subject"] == "Disk full on db-1 Bcc: x@example.org"
    assert inbox.messages[0]["Bcc"] is None


def test_email_message_id_escapes_key() -> None:
    assert message_id("a b:c", "x@example.org") == "<a=20b=3Ac@example.org>"
    assert message_id("a=20b", "x@example.org") == "<a=3D20b@example.org>"
    assert message_id("plain-key", "nobody") == "<plain-key@tocsin>"
    assert message_id("k", "Incident Manager <im@example.net>") == "<k@example.net>"


def test_email_starttls_with_ca_file(
    tmp_path: Path, session: Session, certificates: TlsFiles
) -> None:
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=certificates.server_context(),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        url = f"smtp://{USER}:{PASSWORD}@127.0.0.1:{controller.port}?starttls=true"
        configured = settings(tmp_path, url, delivery_ca_file=certificates.ca_file)
        send_message(session, configured, outgoing(), NOW)
        assert len(inbox.messages) == 1

        wrong = url.replace(PASSWORD, "wrong-password")
        with pytest.raises(DeliveryFailed) as failure:
            send_message(
                session,
                settings(tmp_path, wrong, delivery_ca_file=certificates.ca_file),
                outgoing(),
                NOW,
            )
        assert "535" in str(failure.value)
        assert f"127.0.0.1:{controller.port}" in str(failure.value)
        assert "wrong-password" not in str(failure.value)
        assert failure.value.permanent

        # Without the test CA, the server's certificate does not verify.
        with pytest.raises(DeliveryFailed) as failure:
            send_message(session, settings(tmp_path, url), outgoing(), NOW)
        assert "TLS" in str(failure.value)
        assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
        assert PASSWORD not in str(failure.value)
        assert not failure.value.permanent
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_email_implicit_tls(tmp_path: Path, session: Session, certificates: TlsFiles) -> None:
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=certificates.server_context(),
        authenticator=authenticator,
        auth_required=True,
        # aiosmtpd counts only STARTTLS as TLS, so AUTH over implicit TLS needs this.
        auth_require_tls=False,
    )
    controller.start()
    try:
        url = f"smtps://{USER}:{PASSWORD}@localhost:{controller.port}"
        send_message(
            session, settings(tmp_path, url, delivery_ca_file=certificates.ca_file), outgoing(), NOW
        )
        assert len(inbox.messages) == 1
        assert inbox.messages[0]["Subject"] == "Incident 42 needs you"
    finally:
        controller.stop()


def test_email_refused_port(tmp_path: Path, session: Session) -> None:
    port = free_port()
    with pytest.raises(DeliveryFailed) as failure:
        send_message(session, settings(tmp_path, f"smtp://127.0.0.1:{port}"), outgoing(), NOW)
    assert f"cannot connect to SMTP server 127.0.0.1:{port}" in str(failure.value)
    assert "refused" in str(failure.value).lower()
    assert not failure.value.permanent


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("451 4.3.0 Try again later", False), ("554 5.7.1 Message rejected", True)],
)
def test_email_server_reply_codes(
    tmp_path: Path, session: Session, reply: str, permanent: bool
) -> None:
    inbox = Inbox(reply)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with pytest.raises(DeliveryFailed) as failure:
            send_message(
                session, settings(tmp_path, f"smtp://127.0.0.1:{controller.port}"), outgoing(), NOW
            )
    finally:
        controller.stop()
    assert reply in str(failure.value)
    assert f"SMTP server 127.0.0.1:{controller.port} rejected the message" in str(failure.value)
    assert failure.value.permanent is permanent


def test_email_silent_server_times_out(tmp_path: Path, session: Session) -> None:
    # A server that accepts the connection but never sends its greeting.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        configured = settings(tmp_path, f"smtp://127.0.0.1:{port}", delivery_timeout_seconds=0.5)
        with pytest.raises(DeliveryFailed) as failure:
            send_message(session, configured, outgoing(), NOW)
        assert str(failure.value) == (f"SMTP server 127.0.0.1:{port} timed out after 0.5 seconds")
    finally:
        thread.join(5)
        for connection in accepted:
            connection.close()
        listener.close()


def test_email_without_smtp_uses_outbox(tmp_path: Path, session: Session) -> None:
    where = send_message(session, Settings(home=tmp_path), outgoing(), NOW)
    assert where == "written to the development outbox"
    rows = session.scalars(select(OutboxMessage)).all()
    assert [row.address for row in rows] == ["oncall@example.com"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:25", "the scheme must be smtp or smtps"),
        ("smtp://:25", "names no host"),
        ("smtp://127.0.0.1:99999", "Port out of range"),
        ("smtp://127.0.0.1/path", "must have no path"),
        ("smtp://127.0.0.1?tls=yes", "unknown query parameters ['tls']"),
        ("smtp://127.0.0.1?starttls=maybe", "starttls must be true or false"),
        ("smtps://127.0.0.1?starttls=true", "already uses TLS"),
        ("smtp://user:hunter2@mail.example.com", "without TLS"),
    ],
)
def test_smtp_url_rejected(tmp_path: Path, url: str, expected: str) -> None:
    with pytest.raises(ProviderSettingError) as failure:
        check_settings(settings(tmp_path, url))
    assert "TOCSIN_SMTP_URL" in str(failure.value)
    assert expected in str(failure.value)
    assert "hunter2" not in str(failure.value)


def test_smtp_url_parsed() -> None:
    server = parse_smtp_url("smtp://a%40b:p%2Fw@mail.example.com:587?starttls=true")
    assert server.host == "mail.example.com"
    assert server.port == 587
    assert server.starttls
    assert not server.implicit_tls
    assert server.username == "a@b"
    assert server.password == "p/w"
    assert parse_smtp_url("smtps://mail.example.com").port == 465
    assert parse_smtp_url("smtp://mail.example.com").port == 25
    # Credentials without TLS are accepted for a relay on the same machine.
    assert parse_smtp_url("smtp://u:p@127.0.0.1:2525").username == "u"


def test_delivery_ca_file_missing(tmp_path: Path) -> None:
    configured = settings(
        tmp_path, "smtp://127.0.0.1:25", delivery_ca_file=tmp_path / "missing.pem"
    )
    with pytest.raises(ProviderSettingError) as failure:
        check_settings(configured)
    assert "TOCSIN_DELIVERY_CA_FILE" in str(failure.value)
    assert "missing.pem" in str(failure.value)


def test_tls_context_verifies_by_default() -> None:
    from tocsin.notify.base import tls_context

    context = tls_context(None, "TOCSIN_DELIVERY_CA_FILE")
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
