"""Plain-text email through an SMTP server named by an smtp:// or smtps:// URL."""

from __future__ import annotations

import ipaddress
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy.orm import Session

from tocsin.notify.base import DeliveryFailed, OutgoingMessage, ProviderSettingError

logger = logging.getLogger(__name__)

SETTING = "TOCSIN_SMTP_URL"
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
TRUE_WORDS = ("1", "true", "yes")
FALSE_WORDS = ("0", "false", "no")
LOOPBACK_NAMES = ("localhost",)

# Characters allowed in the left part of a Message-ID (RFC 5322 dot-atom-text).
_MESSAGE_ID_TEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")


@dataclass(frozen=True)
class SmtpServer:
    """Connection settings of the SMTP server, parsed from the smtp_url setting."""

    implicit_tls: bool  # smtps://: TLS from the first byte
    starttls: bool  # smtp:// with ?starttls=true: upgrade the connection before AUTH
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def address(self) -> str:
        """Return host:port, the form used in logs and errors; it never includes credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpServer:
    """Parse ``smtp://[USER:PASSWORD@]HOST[:PORT][?starttls=true]`` or ``smtps://...``.

    Raises ProviderSettingError, whose message never contains the password.
    """
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ProviderSettingError(
            f"invalid setting {SETTING}: the scheme must be smtp or smtps, not {parts.scheme!r}"
        )
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as error:
        raise ProviderSettingError(f"invalid setting {SETTING}: {error}") from error
    if not parts.hostname:
        raise ProviderSettingError(
            f"invalid setting {SETTING}: the URL names no host; use smtp://HOST:PORT"
        )
    if parts.path not in ("", "/"):
        raise ProviderSettingError(
            f"invalid setting {SETTING}: the URL must have no path, found {parts.path!r}"
        )
    starttls = _starttls_option(parts.query, implicit_tls=parts.scheme == "smtps")
    server = SmtpServer(
        implicit_tls=parts.scheme == "smtps",
        starttls=starttls,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
    if server.username and not (server.implicit_tls or server.starttls or _is_loopback(server)):
        raise ProviderSettingError(
            f"invalid setting {SETTING}: the URL carries credentials for {server.address} "
            "without TLS, so the password would cross the network in clear text; use "
            "smtps:// or add ?starttls=true"
        )
    return server


def _starttls_option(query: str, *, implicit_tls: bool) -> bool:
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"starttls"})
    if unknown:
        raise ProviderSettingError(
            f"invalid setting {SETTING}: unknown query parameters {unknown}; "
            "the only one is starttls"
        )
    value = options.get("starttls", ["false"])[-1].lower()
    if value not in TRUE_WORDS + FALSE_WORDS:
        raise ProviderSettingError(
            f"invalid setting {SETTING}: starttls must be true or false, not {value!r}"
        )
    starttls = value in TRUE_WORDS
    if starttls and implicit_tls:
        raise ProviderSettingError(
            f"invalid setting {SETTING}: smtps:// already uses TLS, so starttls=true does not apply"
        )
    return starttls


def _is_loopback(server: SmtpServer) -> bool:
    if server.host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(server.host).is_loopback
    except ValueError:
        return False


def message_id(key: str, sender: str) -> str:
    """Return a Message-ID that carries the idempotency ``key``.

    Characters that a Message-ID cannot contain are written as =XX, so distinct
    keys keep distinct Message-IDs.
    """
    left = _MESSAGE_ID_TEXT.sub(lambda match: f"={ord(match.group()):02X}", key.replace("=", "=3D"))
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2] if "@" in address else "tocsin"
    return f"<{left}@{domain}>"


def one_line(header: str) -> str:
    """Return ``header`` with its line breaks and the blanks around them as single spaces.

    Subjects come from incident titles and StartEngagement, which allow line
    breaks, and a header value with a line break cannot be sent.
    """
    return " ".join(part.strip() for part in header.splitlines() if part.strip())


class SmtpProvider:
    """Sends email through one SMTP server, one connection per message."""

    name = "smtp"

    def __init__(
        self,
        server: SmtpServer,
        sender: str,
        timeout_seconds: float,
        tls: ssl.SSLContext,
    ) -> None:
        self.server = server
        self.sender = sender
        self.timeout_seconds = timeout_seconds
        self.tls = tls

    def send(self, session: Session, message: OutgoingMessage, now: datetime) -> str:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.address
        email["Subject"] = one_line(message.subject)
        email["Date"] = format_datetime(now)
        email["Message-ID"] = message_id(message.key, self.sender)
        email.set_content(message.body)
        try:
            self._deliver(email)
        except (OSError, ValueError) as error:
            # smtplib's and ssl's errors are OSError subclasses, and a certificate
            # that does not match the host name is also a ValueError.
            raise self._failure(error) from error
        return f"sent by SMTP through {self.server.address}"

    def _deliver(self, email: EmailMessage) -> None:
        server = self.server
        client: smtplib.SMTP
        if server.implicit_tls:
            client = smtplib.SMTP_SSL(
                server.host, server.port, timeout=self.timeout_seconds, context=self.tls
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=self.timeout_seconds)
        with client:
            if server.starttls:
                client.starttls(context=self.tls)
            if server.username:
                client.login(server.username, server.password or "")
            client.send_message(email)

    def _failure(self, error: OSError | ValueError) -> DeliveryFailed:
        """Describe ``error`` with the server's address, never its credentials."""
        where = f"SMTP server {self.server.address}"
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            replies = list(error.recipients.values())
            code, text = replies[0] if replies else (0, b"")
            return DeliveryFailed(
                f"{where} refused the recipient: {code} {_decode(text)}",
                permanent=500 <= code < 600,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            code = error.smtp_code
            return DeliveryFailed(
                f"{where} rejected the message: {code} {_decode(error.smtp_error)}",
                permanent=500 <= code < 600,
            )
        if isinstance(error, ssl.SSLError | ssl.CertificateError):
            return DeliveryFailed(f"TLS with {where} failed: {error}")
        if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
            # smtplib reports a read that timed out as SMTPServerDisconnected.
            return DeliveryFailed(f"{where} timed out after {self.timeout_seconds:g} seconds")
        if isinstance(error, smtplib.SMTPException):
            return DeliveryFailed(f"{where} failed: {error}")
        if isinstance(error, OSError):
            reason = error.strerror or str(error) or type(error).__name__
            return DeliveryFailed(f"cannot connect to {where}: {reason}")
        return DeliveryFailed(f"sending through {where} failed: {type(error).__name__}: {error}")


def _decode(text: bytes | str) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    return text
