"""SMS and voice through apprise, which reaches Twilio, Vonage, AWS SNS and many more by URL.

Apprise URLs name their recipients, so the configured URL must contain the
placeholder ``{to}``, which is replaced with the channel's phone number for
each message, for example ``twilio://SID:TOKEN@+12065550100/{to}``. Apprise
carries no idempotency key, so a crash between a send and its record may
deliver one message twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import quote

import apprise
from apprise.manager_plugins import NotificationManager
from sqlalchemy.orm import Session

from tocsin.notify.base import DeliveryFailed, OutgoingMessage, ProviderSettingError

logger = logging.getLogger(__name__)

PLACEHOLDER = "{to}"
# A phone number reserved for fiction (NANP 555-01xx), used to check the URL at start-up.
SAMPLE_ADDRESS = "+12065550100"


class AppriseProvider:
    """Sends each message through the apprise service that the URL names."""

    def __init__(self, setting: str, url: str) -> None:
        self.setting = setting
        self.scheme = url.split(":", 1)[0].lower()
        self.name = f"apprise:{self.scheme}"
        self.template = url
        self.asset = apprise.AppriseAsset()
        # NotificationManager is the singleton table of apprise plugins by scheme.
        if self.scheme not in NotificationManager():  # type: ignore[no-untyped-call]
            raise ProviderSettingError(
                f"invalid setting {setting}: unknown scheme {self.scheme!r}; use outbox:, "
                "webhook+https://..., webhook+http://... or a URL of a service that apprise "
                "supports, such as twilio://"
            )
        if PLACEHOLDER not in url:
            raise ProviderSettingError(
                f"invalid setting {setting}: the {self.scheme}:// URL has no {PLACEHOLDER} "
                "placeholder for the recipient, so every message would go to the same fixed "
                f"recipients; put {PLACEHOLDER} where the phone number belongs"
            )
        with _apprise_warnings() as warnings:
            plugin = apprise.Apprise.instantiate(self._url_for(SAMPLE_ADDRESS), asset=self.asset)
        if plugin is None:
            reason = " ".join(warnings) or "apprise rejected it without a reason"
            raise ProviderSettingError(
                f"invalid setting {setting}: apprise cannot use the {self.scheme}:// URL: {reason}"
            )

    def _url_for(self, address: str) -> str:
        return self.template.replace(PLACEHOLDER, quote(address, safe="+"))

    def send(self, session: Session, message: OutgoingMessage, now: datetime) -> str:
        with _apprise_warnings() as warnings:
            plugin = apprise.Apprise.instantiate(self._url_for(message.address), asset=self.asset)
        if plugin is None:
            reason = " ".join(warnings) or "no reason given"
            raise DeliveryFailed(
                f"apprise cannot address a {self.scheme}:// message to {message.address}: {reason}",
                permanent=True,
            )
        notifier = apprise.Apprise(asset=self.asset)
        notifier.add(plugin)
        result = notifier.notify(
            body=message.body, title=message.subject, body_format=apprise.NotifyFormat.TEXT
        )
        if not result:
            reasons = [
                entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")
            ]
            reason = " ".join(reasons) or f"status {result.status.name}"
            raise DeliveryFailed(f"apprise {self.scheme}:// did not deliver the message: {reason}")
        return f"sent by apprise through {self.scheme}://"


@contextmanager
def _apprise_warnings() -> Iterator[list[str]]:
    """Collect the warnings and errors that apprise logs on this thread inside the block.

    Apprise explains why it cannot use a URL only in its log, with secrets masked.
    """
    collected: list[str] = []
    handler = _ThreadCollector(collected, threading.get_ident())
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.addHandler(handler)
    try:
        yield collected
    finally:
        apprise_logger.removeHandler(handler)


class _ThreadCollector(logging.Handler):
    def __init__(self, collected: list[str], thread_id: int) -> None:
        super().__init__(logging.WARNING)
        self.collected = collected
        self.thread_id = thread_id

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.collected.append(record.getMessage())
