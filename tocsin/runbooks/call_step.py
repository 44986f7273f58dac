"""The ``runbooks.call_step`` job: aws:executeScript and the API actions, run outside a transaction.

The job runs in the engine's three steps: ``prepare`` reads the step and
the run's credentials, ``send`` runs the script or makes the call with no
transaction open, and ``record`` stores the outcome and moves the run on.

A claim of the job that never recorded an outcome means that the worker
stopped during the step. The job then runs again only for the actions that
only read (aws:waitForAwsResourceProperty and
aws:assertAwsResourceProperty), and only once. aws:executeScript and
aws:executeAwsApi may have changed something already, so their step fails
with a message that states that the worker stopped during the step.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tocsin.config import Settings
from tocsin.engine.jobs import JobContext
from tocsin.iam.crypto import SecretBox
from tocsin.iam.models import AccessKey
from tocsin.runbooks import aws_calls, executions, references, run_roles, runner, scripts
from tocsin.runbooks.document_steps import StepOutput
from tocsin.runbooks.execution_models import AutomationExecution
from tocsin.runbooks.step_jobs import open_step

logger = logging.getLogger(__name__)

READ_ONLY_ACTIONS = frozenset({"aws:waitForAwsResourceProperty", "aws:assertAwsResourceProperty"})
CALL_KEYS = ("Service", "Api", "PropertySelector", "DesiredValues")
# Seconds between checks of aws:waitForAwsResourceProperty, and its wait
# when the step sets no timeoutSeconds.
POLL_SECONDS = 5
DEFAULT_WAIT_SECONDS = 3600


@dataclass(frozen=True)
class CallIntent:
    """The work of one claim of the job, read by ``prepare``."""

    step_execution_id: str
    attempt: int
    action: str
    inputs: dict[str, Any]
    region: str
    credentials: aws_calls.Credentials | None
    variables: dict[str, Any]
    script_timeout: float
    # Set when the worker stopped during an earlier claim and the step must fail.
    interrupted: str | None = None


@dataclass(frozen=True)
class CallOutcome:
    """The result to select outputs from, or the reason the step failed."""

    result: Any = None
    error: str | None = None
    timed_out: bool = False


def _own_url(settings: Settings) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


class CallStep:
    """The sending handler of ``runbooks.call_step``."""

    def __init__(self, settings: Settings, secrets: SecretBox) -> None:
        self.settings = settings
        self.secrets = secrets
        self.endpoints = aws_calls.Endpoints(
            own_url=_own_url(settings), other_url=settings.automation_aws_endpoint_url
        )

    @property
    def send_timeout_seconds(self) -> float:
        return (
            self.settings.automation_script_timeout_max_seconds + 2 * aws_calls.CALL_TIMEOUT_SECONDS
        )

    def exclusive_key(self, intent: CallIntent) -> str | None:
        return None

    def _credentials(self, context: JobContext, run: AutomationExecution) -> Any:
        if run.role_arn is not None:
            if run.access_key_id is None or run.encrypted_secret is None:
                return None
            token = self.secrets.decrypt(run.encrypted_token) if run.encrypted_token else None
            secret = self.secrets.decrypt(run.encrypted_secret)
            return aws_calls.Credentials(run.access_key_id, secret, token)
        # A run without a role signs with the access key of the user that started it.
        key = context.session.scalar(
            select(AccessKey).where(AccessKey.access_key_id == run.access_key_id)
        )
        if key is None or key.status != "Active":
            return None
        return aws_calls.Credentials(key.access_key_id, self.secrets.decrypt(key.encrypted_secret))

    def prepare(self, context: JobContext) -> CallIntent | None:
        found = open_step(context.session, context.payload)
        if found is None:
            return None
        run, row = found
        step = executions.parse_document(run).step(row.step_name)
        interrupted = None
        retries_allowed = 2 if row.action in READ_ONLY_ACTIONS else 1
        if context.attempt > retries_allowed:
            interrupted = (
                f"The worker stopped during step {row.step_name} ({row.action}), and the step "
                "was not run again because its action may have changed resources already."
            )
            if row.action in READ_ONLY_ACTIONS:
                interrupted = (
                    f"The worker stopped during step {row.step_name} ({row.action}) twice."
                )
        if (
            interrupted is None
            and row.action == "aws:executeScript"
            and not scripts.scripts_allowed(
                self.settings.automation_script_accounts, run.run_account_id
            )
        ):
            interrupted = scripts.scripts_disabled_message(run.run_account_id)
        limit = self.settings.automation_script_timeout_max_seconds
        timeout = min(
            step.timeout_seconds or self.settings.automation_script_timeout_seconds, limit
        )
        return CallIntent(
            step_execution_id=row.step_execution_id,
            attempt=row.attempt,
            action=row.action,
            inputs=dict(row.inputs),
            region=run.region,
            credentials=self._credentials(context, run),
            variables=references.system_variables(
                execution_id=run.execution_id,
                account_id=run.run_account_id,
                region=run.region,
                now=context.clock.now(),
            ),
            script_timeout=timeout,
            interrupted=interrupted,
        )

    def send(self, intent: CallIntent) -> CallOutcome:
        if intent.interrupted is not None:
            return CallOutcome(error=intent.interrupted)
        if intent.action == "aws:executeScript":
            return self._script(intent)
        parameters = {k: v for k, v in intent.inputs.items() if k not in CALL_KEYS}
        try:
            response = aws_calls.call(
                str(intent.inputs["Service"]),
                str(intent.inputs["Api"]),
                parameters,
                region=intent.region,
                credentials=intent.credentials,
                endpoints=self.endpoints,
            )
        except aws_calls.CallFailed as exc:
            return CallOutcome(error=str(exc))
        return CallOutcome(result=response)

    def _script(self, intent: CallIntent) -> CallOutcome:
        outcome = scripts.run_script(
            str(intent.inputs["Script"]),
            str(intent.inputs.get("Handler", "")),
            intent.inputs.get("InputPayload") or {},
            intent.variables,
            timeout_seconds=intent.script_timeout,
            memory_bytes=self.settings.automation_script_memory_mib * 1024 * 1024,
        )
        if outcome.error is not None:
            return CallOutcome(error=outcome.error, timed_out=outcome.timed_out)
        return CallOutcome(result={"Payload": outcome.result})

    def record(
        self, context: JobContext, intent: CallIntent | None, outcome: CallOutcome | None
    ) -> None:
        if intent is None or outcome is None:
            return
        found = open_step(context.session, context.payload)
        if found is None:
            return
        run, row = found
        session, clock = context.session, context.clock
        if outcome.error is not None:
            status = "TimedOut" if outcome.timed_out else "Failed"
            retry = intent.interrupted is None
            runner.finish_step(session, clock, run, row, status, failure=outcome.error, retry=retry)
            return
        step = executions.parse_document(run).step(row.step_name)
        row.response = json.dumps(outcome.result, default=str)[:10000]
        try:
            typed = _outputs(step.outputs, outcome.result)
        except ValueError as exc:
            runner.finish_step(session, clock, run, row, "Failed", failure=str(exc))
            return
        row.typed_outputs = typed
        row.outputs = {name: references.shown_value(value) for name, value in typed.items()}
        if row.action not in READ_ONLY_ACTIONS:
            runner.finish_step(session, clock, run, row, "Success")
            return

        selector = str(intent.inputs.get("PropertySelector"))
        desired = [str(value) for value in intent.inputs.get("DesiredValues") or []]
        try:
            found_value = references.select(outcome.result, selector)
        except ValueError as exc:
            runner.finish_step(session, clock, run, row, "Failed", failure=str(exc), retry=False)
            return
        shown = found_value if isinstance(found_value, str) else json.dumps(found_value)
        if shown in desired:
            runner.finish_step(session, clock, run, row, "Success")
            return
        problem = f"{selector} is {shown}, not one of the desired values {desired}."
        if row.action == "aws:assertAwsResourceProperty":
            runner.finish_step(session, clock, run, row, "Failed", failure=problem)
            return
        deadline = row.start_time + timedelta(seconds=step.timeout_seconds or DEFAULT_WAIT_SECONDS)
        if clock.now() + timedelta(seconds=POLL_SECONDS) > deadline:
            runner.finish_step(
                session, clock, run, row, "TimedOut", failure=f"Timed out waiting: {problem}"
            )
            return
        # A long wait outlives the role session, so the next check may need a new one.
        try:
            run_roles.ensure_credentials(session, clock, self.secrets, run)
        except run_roles.RoleNotUsable as exc:
            runner.finish_step(session, clock, run, row, "Failed", failure=str(exc), retry=False)
            return
        runner.enqueue_step_job(
            session,
            clock,
            runner.CALL_STEP_JOB,
            row,
            due_at=clock.now() + timedelta(seconds=POLL_SECONDS),
            suffix=f":poll:{context.job_id}",
        )


def _outputs(declared: tuple[StepOutput, ...], result: Any) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for output in declared:
        value = references.select(result, output.selector)
        if value is None:
            continue
        try:
            typed[output.name] = references.typed_output(value, output.type)
        except ValueError as exc:
            raise ValueError(
                f"Output {output.name} selected by {output.selector} is not a {output.type}: {exc}"
            ) from None
    return typed
