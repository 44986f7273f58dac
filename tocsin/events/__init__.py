"""EventBridge and CloudWatch alarms: buses, rules, targets, event patterns and alarms."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.engine.jobs import JobRegistry
    from tocsin.iam.crypto import SecretBox


def register(registry: JobRegistry, settings: Settings, secrets: SecretBox) -> None:
    """Register the job handlers of event delivery and alarm evaluation on ``registry``."""
    from tocsin.events import alarm_evaluation, delivery

    delivery.register(registry)
    alarm_evaluation.register(registry)
