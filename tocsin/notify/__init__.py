"""Outbound delivery: providers for email, SMS and voice, the development outbox and SNS."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.engine.jobs import JobRegistry
    from tocsin.iam.crypto import SecretBox


def register(registry: JobRegistry, settings: Settings, secrets: SecretBox) -> None:
    """Register the job handlers of SNS delivery on ``registry``."""
    from tocsin.notify import sns_delivery

    sns_delivery.register(registry, settings, secrets)
