"""SSM Automation: documents (runbooks), their versions, sharing and executions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.engine.jobs import JobRegistry
    from tocsin.iam.crypto import SecretBox


def register(registry: JobRegistry, settings: Settings, secrets: SecretBox) -> None:
    """Register the job handlers of automation executions on ``registry``."""
    from tocsin.incidents.automation import START_RUNBOOK_JOB
    from tocsin.runbooks import call_step, incident_runbooks, runner, step_jobs

    registry.register(runner.RUN_STEP_JOB, step_jobs.make_run_step(secrets))
    registry.register(runner.WAKE_STEP_JOB, step_jobs.wake_step)
    registry.register_sending(runner.CALL_STEP_JOB, call_step.CallStep(settings, secrets))
    registry.register(START_RUNBOOK_JOB, incident_runbooks.start_runbook)
