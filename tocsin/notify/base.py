"""The message, error and provider interface that every delivery provider shares."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class OutgoingMessage:
    """One message for one contact channel."""

    channel_type: str  # EMAIL, SMS or VOICE
    address: str  # email address or E.164 phone number
    subject: str
    body: str
    # Idempotency key: the same on every retry of this send, so a receiver can drop a duplicate.
    key: str
    account_id: str
    channel_arn: str


# Timeline events of incident notifications: a failed attempt that is
# retried, and a delivery that is given up.
ATTEMPT_FAILED_EVENT = "Notification Attempt Failed"
NOTIFICATION_FAILED_EVENT = "Notification Failed"


class DeliveryFailed(Exception):
    """The provider did not accept the message; the caller records the error and retries later.

    ``permanent`` is true when the receiver replied that the same request
    will fail again (an SMTP 5xx reply, an HTTP 4xx other than 408 and 429),
    so retrying it only repeats the failure.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ProviderSettingError(ValueError):
    """A delivery setting names a provider that cannot be used; the message names the setting."""


class Provider(Protocol):
    """A way out for messages of one channel type."""

    # Short name for logs and descriptions, such as "smtp" or "apprise:twilio".
    name: str

    def send(self, session: Session, message: OutgoingMessage, now: datetime) -> str:
        """Send ``message`` and return where it went, or raise DeliveryFailed."""
        ...


def tls_context(ca_file: Path | None, setting: str) -> ssl.SSLContext:
    """Build a client TLS context that verifies certificates and host names.

    The context trusts ``ca_file`` when given, and the system's certificate
    store otherwise. ``setting`` names the setting that gave ``ca_file``, for
    the error message.
    """
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as error:
        raise ProviderSettingError(
            f"invalid setting {setting}: cannot load the CA certificates in {ca_file}: {error}"
        ) from error
