"""Incident Manager Contacts (ssm-contacts): contacts, channels, plans, rotations, engagements."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.engine.jobs import JobRegistry
    from tocsin.iam.crypto import SecretBox


def register(registry: JobRegistry, settings: Settings, secrets: SecretBox) -> None:
    """Register the job handlers of Incident Manager Contacts on ``registry``."""
    from tocsin.contacts import delivery, escalation

    delivery.register(registry, settings, secrets)
    escalation.register(registry, settings, secrets)
