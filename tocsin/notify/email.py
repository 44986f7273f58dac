"""Plain-text email through an SMTP server named by an smtp:// or smtps:// URL."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

SMTP_TIMEOUT_SECONDS = 30.0


def send_email(url: str, sender: str, recipient: str, subject: str, text: str, key: str) -> None:
    """Send one plain-text message through the SMTP server at ``url``.

    The Message-ID carries ``key``, so a receiver can drop a resend after a crash.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(
            f"smtp_url must look like smtp://host:port or smtps://host, not scheme {parts.scheme!r}"
        )
    options = parse_qs(parts.query)
    starttls = options.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = f"<{key}@tocsin>"
    message.set_content(text)
    client: smtplib.SMTP
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=SMTP_TIMEOUT_SECONDS)
    else:
        client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        if starttls:
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
