"""EventBridge: event buses, rules, targets and event patterns."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.engine.jobs import JobRegistry
    from tocsin.iam.crypto import SecretBox


def register(registry: JobRegistry, settings: Settings, secrets: SecretBox) -> None:
    """Register the job handlers of event delivery on ``registry``."""
    from tocsin.events import delivery

    delivery.register(registry)
