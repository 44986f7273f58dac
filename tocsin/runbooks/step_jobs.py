"""Handlers of the ``runbooks.run_step`` and ``runbooks.wake_step`` jobs.

``run_step`` performs the actions that run inside one transaction and, for
the actions that call out, prepares the call and enqueues
``runbooks.call_step``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext
from tocsin.iam.crypto import SecretBox
from tocsin.protocol.errors import ServiceError
from tocsin.runbooks import executions, local_actions, references, run_roles, runner, scripts
from tocsin.runbooks.document_steps import Step
from tocsin.runbooks.execution_models import AutomationExecution, StepExecution
from tocsin.runbooks.local_actions import StepInputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepWork:
    """The run, step row, step and reference scope that a step handler works on."""

    session: Session
    clock: Clock
    run: AutomationExecution
    row: StepExecution
    step: Step
    scope: references.Scope

    def inputs(self, *skip: str) -> dict[str, Any]:
        """Return the step's inputs with references resolved, leaving ``skip`` keys unchanged."""
        return {
            key: value if key in skip else references.resolve(value, self.scope)
            for key, value in self.step.inputs.items()
        }


def open_step(
    session: Session, payload: dict[str, Any]
) -> tuple[AutomationExecution, StepExecution] | None:
    """Return the run and step row of a job, or None when the job's attempt is over."""
    row = session.get(StepExecution, payload["stepExecutionId"])
    if row is None or row.status not in runner.OPEN_STEP_STATUSES:
        return None
    if row.attempt != payload["attempt"]:
        return None
    run = session.get(AutomationExecution, row.execution_id)
    if run is None or run.end_time is not None:
        return None
    return run, row


def _sleep(work: StepWork) -> None:
    inputs = work.inputs()
    work.row.inputs = inputs
    due = local_actions.wake_time(inputs, work.clock.now())
    runner.enqueue_step_job(work.session, work.clock, runner.WAKE_STEP_JOB, work.row, due_at=due)


def _pause(work: StepWork) -> None:
    runner.wait(work.run, work.row)


def _approve(work: StepWork) -> None:
    inputs = work.inputs()
    local_actions.approvers(inputs, work.run.run_account_id)
    work.row.inputs = inputs
    runner.wait(work.run, work.row)


def _branch(work: StepWork) -> None:
    # With no matching choice and no Default, the run moves on as after any other step.
    target = local_actions.choose_branch(work.step, work.scope)
    runner.finish_step(work.session, work.clock, work.run, work.row, "Success", next_step=target)


def _execute_automation(work: StepWork) -> None:
    from tocsin.runbooks import run_documents

    inputs = work.inputs()
    work.row.inputs = inputs
    name = inputs.get("DocumentName")
    if not isinstance(name, str):
        raise StepInputError(f"DocumentName {name!r} is not a document name or ARN")
    depth = runner.nesting_depth(work.session, work.run) + 1
    if depth > runner.MAX_NESTING_DEPTH:
        raise StepInputError(
            f"Document {name} was not started at nesting depth {depth}, because Tocsin "
            f"runs at most {runner.MAX_NESTING_DEPTH} levels of nested automations "
            "(aws:executeAutomation). Check whether the documents start each other in a cycle."
        )
    version = inputs.get("DocumentVersion")
    parameters = {
        key: references.shown_value(value)
        for key, value in (inputs.get("RuntimeParameters") or {}).items()
    }
    run = work.run
    try:
        document = run_documents.find(
            work.session, run.account_id, run.region, name, str(version) if version else None
        )
        request = executions.StartRequest(
            account_id=run.account_id,
            region=run.region,
            executed_by=run.executed_by,
            caller=None,
            trusted_services=(run_roles.AUTOMATION_SERVICE, run_roles.INCIDENTS_SERVICE),
            parent_execution_id=run.execution_id,
            parent_step_execution_id=work.row.step_execution_id,
            incident_arn=run.incident_arn,
            default_role_arn=run.role_arn,
            signing_key_id=run.access_key_id if run.role_arn is None else None,
        )
        params: dict[str, Any] = {"Parameters": parameters} if parameters else {}
        if run.run_account_id != run.account_id:
            params["TargetLocations"] = run.target_locations
        child = executions.start(work.session, work.clock, request, document, params)
    except ServiceError as exc:
        raise StepInputError(f"The automation could not start: {exc.message}") from exc
    work.row.typed_outputs = {"ExecutionId": child.execution_id}
    work.row.outputs = {"ExecutionId": [child.execution_id]}


def _prepare_call(work: StepWork, secrets: SecretBox) -> None:
    inputs = work.inputs("Script")
    if work.step.action == "aws:executeScript":
        runtime = inputs.get("Runtime")
        if not isinstance(runtime, str) or not scripts.PYTHON_RUNTIME.match(runtime):
            raise StepInputError(
                f"Runtime {runtime!r} is not supported: Tocsin runs aws:executeScript steps "
                "with Python runtimes (python3.x) only."
            )
        if not isinstance(inputs.get("Script"), str):
            raise StepInputError(
                "The step has no Script text; scripts in attachments are not supported."
            )
    work.row.inputs = inputs
    try:
        run_roles.ensure_credentials(work.session, work.clock, secrets, work.run)
    except run_roles.RoleNotUsable as exc:
        raise StepInputError(str(exc)) from exc
    runner.enqueue_step_job(work.session, work.clock, runner.CALL_STEP_JOB, work.row)


LOCAL_ACTIONS: dict[str, Callable[[StepWork], None]] = {
    "aws:sleep": _sleep,
    "aws:pause": _pause,
    "aws:approve": _approve,
    "aws:branch": _branch,
    "aws:executeAutomation": _execute_automation,
}


def work_for(
    session: Session, clock: Clock, run: AutomationExecution, row: StepExecution
) -> StepWork:
    step = executions.parse_document(run).step(row.step_name)
    return StepWork(session, clock, run, row, step, runner.scope_of(session, run, clock.now()))


def make_run_step(secrets: SecretBox) -> Callable[[JobContext], None]:
    """Return the handler of ``runbooks.run_step``."""

    def run_step(context: JobContext) -> None:
        found = open_step(context.session, context.payload)
        if found is None:
            return
        run, row = found
        work = work_for(context.session, context.clock, run, row)
        action = work.step.action
        try:
            # A claim that never finished rolled back with its worker, so these
            # actions run again, but only once.
            if context.attempt > 2:
                raise StepInputError(
                    f"The worker stopped during step {row.step_name} ({action}) twice."
                )
            if action in runner.CALL_ACTIONS:
                _prepare_call(work, secrets)
            elif action in LOCAL_ACTIONS:
                LOCAL_ACTIONS[action](work)
            else:
                raise StepInputError(
                    f"Action {action} is not supported: Tocsin cannot run it, so the step fails."
                )
        except StepInputError as exc:
            runner.finish_step(
                context.session, context.clock, run, row, "Failed", failure=str(exc), retry=False
            )

    return run_step


def wake_step(context: JobContext) -> None:
    """End a sleep, or time out a step that is still open at its timeout."""
    found = open_step(context.session, context.payload)
    if found is None:
        return
    run, row = found
    if not context.payload.get("timeout"):
        runner.finish_step(context.session, context.clock, run, row, "Success")
        return
    step = executions.parse_document(run).step(row.step_name)
    runner.cancel_children(context.session, context.clock, run)
    runner.finish_step(
        context.session,
        context.clock,
        run,
        row,
        "TimedOut",
        failure=f"Step timed out after {step.timeout_seconds} seconds.",
        retry=False,
    )
