"""Send one message to one contact channel through the provider configured for its type.

Email goes through SMTP when the ``smtp_url`` setting is present. SMS and
voice go through the provider that ``sms_url`` and ``voice_url`` name by
scheme: ``webhook+https://`` and ``webhook+http://`` post JSON to an HTTP
endpoint, ``outbox:`` writes the development outbox, and any other scheme is
an apprise URL. Whatever no provider is configured for is written to the
development outbox (``contacts_outbox``) in the caller's transaction, where
operators and tests read it.

``send_message`` sends inside the caller's transaction. ``send_detached``
sends with no transaction, for job handlers that must not hold one open
during network I/O, and returns the outbox write for the caller's next
transaction.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.notify.base import (
    DeliveryFailed,
    OutgoingMessage,
    Provider,
    ProviderSettingError,
    tls_context,
)
from tocsin.notify.email import SmtpProvider, parse_smtp_url
from tocsin.notify.outbox import OutboxProvider, write_outbox

__all__ = [
    "DEFAULT_SENDER",
    "DeliveryFailed",
    "OutgoingMessage",
    "Provider",
    "ProviderSettingError",
    "Providers",
    "SentMessage",
    "check_settings",
    "expected_send_seconds",
    "providers_for",
    "send_detached",
    "send_message",
    "write_outbox",
]

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "tocsin@localhost"
OUTBOX_SCHEME = "outbox"
CA_FILE_SETTING = "TOCSIN_DELIVERY_CA_FILE"

# Builds a provider from (setting name, URL, settings).
ProviderFactory = Callable[[str, str, Settings], Provider]


def _outbox(setting: str, url: str, settings: Settings) -> Provider:
    if url.rstrip("/") != f"{OUTBOX_SCHEME}:":
        raise ProviderSettingError(
            f"invalid setting {setting}: the outbox URL is just {OUTBOX_SCHEME}:, "
            "with nothing after the colon"
        )
    return OutboxProvider()


def _webhook(setting: str, url: str, settings: Settings) -> Provider:
    from tocsin.notify.webhook import WebhookProvider

    tls = tls_context(settings.delivery_ca_file, CA_FILE_SETTING)
    return WebhookProvider(setting, url, settings.delivery_timeout_seconds, tls)


def _apprise(setting: str, url: str, settings: Settings) -> Provider:
    # apprise loads its plugin table on first import, so only servers that use it pay for that.
    from tocsin.notify.apprise_provider import AppriseProvider

    return AppriseProvider(setting, url)


# Provider factories by URL scheme; every scheme not listed here goes to apprise.
FACTORIES: Mapping[str, ProviderFactory] = {
    OUTBOX_SCHEME: _outbox,
    "webhook+http": _webhook,
    "webhook+https": _webhook,
}


@dataclass(frozen=True)
class Providers:
    """The provider for each channel type, built once from the settings."""

    by_channel_type: Mapping[str, Provider]

    def for_channel_type(self, channel_type: str) -> Provider:
        provider = self.by_channel_type.get(channel_type)
        if provider is None:
            raise DeliveryFailed(f"no delivery provider handles channel type {channel_type!r}")
        return provider


def _provider_from_url(setting: str, url: str | None, settings: Settings) -> Provider:
    if not url:
        return OutboxProvider()
    scheme, colon, _rest = url.partition(":")
    if not colon or not scheme:
        raise ProviderSettingError(
            f"invalid setting {setting}: expected a URL such as webhook+https://HOST/PATH, "
            "twilio://... or outbox:, found no scheme"
        )
    factory = FACTORIES.get(scheme.lower(), _apprise)
    return factory(setting, url, settings)


def _email_provider(settings: Settings) -> Provider:
    if not settings.smtp_url:
        return OutboxProvider()
    return SmtpProvider(
        parse_smtp_url(settings.smtp_url),
        settings.smtp_sender or DEFAULT_SENDER,
        settings.delivery_timeout_seconds,
        tls_context(settings.delivery_ca_file, CA_FILE_SETTING),
    )


@functools.lru_cache(maxsize=8)
def providers_for(settings: Settings) -> Providers:
    """Build the providers that ``settings`` configure, once per distinct settings.

    Raises ProviderSettingError, naming the setting, when one cannot be used.
    """
    providers = Providers(
        {
            "EMAIL": _email_provider(settings),
            "SMS": _provider_from_url("TOCSIN_SMS_URL", settings.sms_url, settings),
            "VOICE": _provider_from_url("TOCSIN_VOICE_URL", settings.voice_url, settings),
        }
    )
    for channel_type, provider in providers.by_channel_type.items():
        logger.info("%s messages go through the %s provider", channel_type, provider.name)
    return providers


def check_settings(settings: Settings) -> None:
    """Raise ProviderSettingError, naming the setting, unless every delivery setting works.

    The server calls this at start, so a bad URL or CA file stops it there
    rather than at the first page.
    """
    providers_for(settings)


@dataclass(frozen=True)
class SentMessage:
    """Result of ``send_detached``: where the message went, and any outbox write still owed."""

    where: str
    # The message to write to the development outbox, when the outbox provider took it.
    outbox_message: OutgoingMessage | None = None

    def write_outbox(self, session: Session, now: datetime) -> None:
        """Write the owed outbox row, if any, in ``session``'s transaction."""
        if self.outbox_message is not None:
            write_outbox(session, self.outbox_message, now)


def expected_send_seconds(settings: Settings) -> float:
    """Return how long one send through the configured providers is expected to take.

    NOTE: ``delivery_timeout_seconds`` bounds each wait on the server, not the
    whole send, so an SMTP exchange of several slow replies can take longer.
    """
    return settings.delivery_timeout_seconds


def send_message(
    session: Session, settings: Settings, message: OutgoingMessage, now: datetime
) -> str:
    """Send ``message`` and return a short description of where it went.

    Raises DeliveryFailed when the provider rejects the message or cannot be
    reached; its ``permanent`` attribute is true when a retry cannot succeed.
    An outbox write joins ``session``'s transaction.
    """
    sent = send_detached(settings, message, now)
    sent.write_outbox(session, now)
    return sent.where


def send_detached(settings: Settings, message: OutgoingMessage, now: datetime) -> SentMessage:
    """Send ``message`` with no database transaction and return the result.

    The outbox provider writes nothing here: the returned ``SentMessage``
    carries the message, and the caller writes it with
    ``SentMessage.write_outbox`` in the transaction that records the send.
    Raises DeliveryFailed like ``send_message``.
    """
    try:
        provider = providers_for(settings).for_channel_type(message.channel_type)
    except ProviderSettingError as error:
        raise DeliveryFailed(str(error), permanent=True) from error
    if isinstance(provider, OutboxProvider):
        logger.info(
            "outbox provider took message %s to contact channel %s",
            message.key,
            message.channel_arn,
        )
        return SentMessage(OutboxProvider.DESCRIPTION, outbox_message=message)
    try:
        # Providers other than the outbox do not use the session. An unbound
        # one makes any database use fail instead of opening a transaction.
        with Session() as unbound:
            where = provider.send(unbound, message, now)
    except DeliveryFailed as error:
        logger.warning(
            "%s provider failed to send message %s to contact channel %s (%s): %s",
            provider.name,
            message.key,
            message.channel_arn,
            "permanent" if error.permanent else "transient",
            error,
        )
        raise
    logger.info(
        "%s provider sent message %s to contact channel %s",
        provider.name,
        message.key,
        message.channel_arn,
    )
    return SentMessage(where)
