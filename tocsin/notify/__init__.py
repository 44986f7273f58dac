"""Outbound delivery: providers for email, SMS and voice, the development outbox, SNS,
and incident notifications to topics and chat webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.engine.jobs import JobRegistry
    from tocsin.iam.crypto import SecretBox


def register(registry: JobRegistry, settings: Settings, secrets: SecretBox) -> None:
    """Register the job handlers of SNS delivery and incident notifications on ``registry``."""
    from tocsin.notify import incident_notifications, sns_delivery

    sns_delivery.register(registry, settings, secrets)
    incident_notifications.register(registry, settings, secrets)
