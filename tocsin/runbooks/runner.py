"""The runner: moves a run from step to step through durable jobs.

Every step attempt is a job. ``runbooks.run_step`` runs in one transaction
and performs the actions that need nothing outside the database (aws:sleep,
aws:pause, aws:approve, aws:branch, aws:executeAutomation). For actions that
call out (aws:executeScript and the three API actions) it resolves the
inputs and enqueues ``runbooks.call_step``, whose script or call runs with
no transaction open (see ``call_step``). Sleeps and step timeouts are
``runbooks.wake_step`` jobs due at their time. A run that waits for an
approval or a Resume has no job at all, only its rows, so a restart loses
nothing.

A job that a stopped worker left behind runs again when its lease expires.
The in-transaction actions roll back with the worker, so they simply run
again. See ``call_step`` for the calling actions.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.queue import enqueue
from tocsin.runbooks import document_schema, references, run_timeline
from tocsin.runbooks.document_schema import AutomationDocument
from tocsin.runbooks.document_steps import Step
from tocsin.runbooks.execution_models import AutomationExecution, StepExecution

logger = logging.getLogger(__name__)

# The execution mode in which every step waits for a StartStep signal.
INTERACTIVE = "Interactive"

RUN_STEP_JOB = "runbooks.run_step"
CALL_STEP_JOB = "runbooks.call_step"
WAKE_STEP_JOB = "runbooks.wake_step"
CALL_ACTIONS = frozenset(
    {
        "aws:executeScript",
        "aws:executeAwsApi",
        "aws:waitForAwsResourceProperty",
        "aws:assertAwsResourceProperty",
    }
)
OPEN_STEP_STATUSES = ("Pending", "InProgress", "Waiting")

# NOTE: AWS documents no limit on how deep aws:executeAutomation steps may
# nest, only a default of 100 concurrent automations per account (Systems
# Manager user guide, "Allowing Automation to adapt to your concurrency
# needs"). Tocsin's choice is 5 levels of child automations below the run
# that a caller started, so a document that starts itself fails early with a
# message that names it.
MAX_NESTING_DEPTH = 5

# The number of characters of a child's FailureMessage that its parent's
# step repeats. Without a cap, every level of nesting adds the whole message
# of the level below.
MAX_CHILD_FAILURE_CHARS = 500


def scope_of(session: Session, run: AutomationExecution, now: datetime) -> references.Scope:
    """Return the values that the run's references can name at ``now``."""
    outputs: dict[str, dict[str, Any]] = {}
    for row in session.scalars(
        select(StepExecution)
        .where(StepExecution.execution_id == run.execution_id)
        .order_by(StepExecution.position)
    ):
        outputs[row.step_name] = row.typed_outputs
    variables = references.system_variables(
        execution_id=run.execution_id, account_id=run.run_account_id, region=run.region, now=now
    )
    return references.Scope(run.typed_parameters, outputs, variables)


def enqueue_step_job(
    session: Session,
    clock: Clock,
    kind: str,
    row: StepExecution,
    *,
    due_at: datetime | None = None,
    suffix: str = "",
    extra: dict[str, Any] | None = None,
) -> None:
    """Enqueue a job of ``kind`` for the current attempt of ``row``."""
    key = f"runbooks:{row.step_execution_id}:{kind}:{row.attempt}{suffix}"
    payload = {"stepExecutionId": row.step_execution_id, "attempt": row.attempt, **(extra or {})}
    enqueue(session, clock, kind, payload, due_at=due_at, key=key, max_attempts=3)


def begin(
    session: Session, clock: Clock, run: AutomationExecution, document: AutomationDocument
) -> None:
    """Start the first step of a new run, or wait for StartStep in Interactive mode."""
    go_to(session, clock, run, document.steps[0])


def go_to(session: Session, clock: Clock, run: AutomationExecution, step: Step) -> None:
    """Begin ``step`` next, or in Interactive mode wait until a StartStep signal names a step.

    An Interactive run waits with no open step; its current step names the one
    that the document would run next.
    """
    if run.mode != INTERACTIVE:
        begin_step(session, clock, run, step)
        return
    run.status = "Waiting"
    run.current_step_name = step.name
    run.current_action = step.action


def begin_step(session: Session, clock: Clock, run: AutomationExecution, step: Step) -> None:
    """Add a step execution for ``step`` and enqueue its first attempt."""
    position = session.scalar(
        select(func.count())
        .select_from(StepExecution)
        .where(StepExecution.execution_id == run.execution_id)
    )
    row = StepExecution(
        step_execution_id=str(uuid.uuid4()),
        execution_id=run.execution_id,
        position=position or 0,
        step_name=step.name,
        action=step.action,
        status="InProgress",
        attempt=1,
        inputs={},
        outputs={},
        typed_outputs={},
        decisions=[],
        start_time=clock.now(),
    )
    session.add(row)
    run.status = "InProgress"
    run.current_step_name = step.name
    run.current_action = step.action
    session.flush()
    enqueue_step_job(session, clock, RUN_STEP_JOB, row)
    if step.timeout_seconds is not None and step.action not in CALL_ACTIONS:
        due = clock.now() + timedelta(seconds=step.timeout_seconds)
        enqueue_step_job(
            session, clock, WAKE_STEP_JOB, row, due_at=due, suffix=":timeout", extra={"timeout": 1}
        )
    run_timeline.record_step(session, clock, run, row)


def wait(run: AutomationExecution, row: StepExecution) -> None:
    """Mark the step and its run as waiting for a signal."""
    row.status = "Waiting"
    run.status = "Waiting"


def finish_step(
    session: Session,
    clock: Clock,
    run: AutomationExecution,
    row: StepExecution,
    status: str,
    *,
    failure: str | None = None,
    next_step: str | None = None,
    retry: bool = True,
) -> None:
    """End the current attempt of ``row`` with ``status`` and move the run on.

    A failed or timed-out step runs again while it has attempts left, unless
    ``retry`` is false. After that, its onFailure decides what follows. For a
    cancelled step, its onCancel decides.
    """
    document = document_of(run)
    step = document.step(row.step_name)
    if status in ("Failed", "TimedOut") and retry and row.attempt < step.max_attempts:
        row.attempt += 1
        logger.info(
            "step %s of run %s failed (%s); attempt %s of %s",
            row.step_name,
            run.execution_id,
            failure,
            row.attempt,
            step.max_attempts,
        )
        enqueue_step_job(session, clock, RUN_STEP_JOB, row)
        return

    row.status = status
    row.end_time = clock.now()
    row.failure_message = failure
    if status in ("Failed", "TimedOut"):
        row.failure_type = "Verification" if status == "Failed" else "Timeout"
    if next_step is not None:
        row.next_step = next_step
    run.status = "InProgress"
    run_timeline.record_step(session, clock, run, row)
    logger.info(
        "step %s (%s) of automation %s ended with status %s: %s",
        row.step_name,
        row.action,
        run.execution_id,
        status,
        failure or "no failure",
    )

    if status == "Success" and row.next_step is not None:
        # The step that an aws:branch choice names runs even when the branch has isEnd.
        go_to(session, clock, run, document.step(row.next_step))
    elif status == "Success":
        _advance(session, clock, run, document, step, step.next_step)
    elif status in ("Failed", "TimedOut"):
        _after_failure(session, clock, run, document, step, status, failure)
    else:
        if step.on_cancel.action == "Step" and step.on_cancel.step is not None:
            go_to(session, clock, run, document.step(step.on_cancel.step))
        else:
            end(session, clock, run, "Cancelled", f"Step {step.name} was cancelled.")


def _after_failure(
    session: Session,
    clock: Clock,
    run: AutomationExecution,
    document: AutomationDocument,
    step: Step,
    status: str,
    failure: str | None,
) -> None:
    message = f"Step fails when it is {step.name}. {failure or ''}".strip()
    if step.on_failure.action == "Abort":
        end(session, clock, run, status, message)
        return
    if step.is_critical and not run.critical_failure:
        run.critical_failure = True
        run.failure_message = message
    if step.on_failure.action == "Continue":
        _advance(session, clock, run, document, step, step.next_step)
    elif step.on_failure.step is not None:
        go_to(session, clock, run, document.step(step.on_failure.step))


def _advance(
    session: Session,
    clock: Clock,
    run: AutomationExecution,
    document: AutomationDocument,
    step: Step,
    target: str | None,
) -> None:
    following = document.step(target) if target else document.following(step)
    if step.is_end or following is None:
        final = "Failed" if run.critical_failure else "Success"
        end(session, clock, run, final, run.failure_message)
        return
    go_to(session, clock, run, following)


def end(
    session: Session, clock: Clock, run: AutomationExecution, status: str, message: str | None
) -> None:
    """End ``run`` with ``status`` and tell its parent run, if any."""
    run.status = status
    run.end_time = clock.now()
    run.failure_message = message if status != "Success" else None
    run.current_step_name = None
    run.current_action = None
    run.outputs = _document_outputs(session, run, clock.now())
    logger.info("automation %s ended with status %s", run.execution_id, status)
    if run.parent_step_execution_id is not None:
        _tell_parent(session, clock, run)


def _document_outputs(
    session: Session, run: AutomationExecution, now: datetime
) -> dict[str, list[str]]:
    scope = scope_of(session, run, now)
    outputs: dict[str, list[str]] = {}
    for name in document_of(run).outputs:
        value = scope.lookup(name)
        if value is not references.MISSING:
            outputs[name] = references.shown_value(value)
    return outputs


def _tell_parent(session: Session, clock: Clock, child: AutomationExecution) -> None:
    row = session.get(StepExecution, child.parent_step_execution_id)
    if row is None or row.status not in OPEN_STEP_STATUSES:
        return
    parent = session.get(AutomationExecution, row.execution_id)
    if parent is None:
        return
    typed = {
        "ExecutionId": child.execution_id,
        "Status": child.status,
        "Output": references.shown_value(child.outputs)[0] if child.outputs else "",
    }
    row.typed_outputs = typed
    row.outputs = {key: references.shown_value(value) for key, value in typed.items()}
    if child.status == "Success":
        finish_step(session, clock, parent, row, "Success")
    else:
        failure = (
            f"Automation {child.execution_id} ended with status {child.status}: "
            f"{_shortened(child.failure_message or 'no message', MAX_CHILD_FAILURE_CHARS)}"
        )
        finish_step(session, clock, parent, row, "Failed", failure=failure, retry=False)


def _shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "\u2026"


def nesting_depth(session: Session, run: AutomationExecution) -> int:
    """Count the parent runs above ``run``: 0 for a run that a caller started."""
    depth = 0
    parent_id = run.parent_execution_id
    while parent_id is not None:
        depth += 1
        parent = session.get(AutomationExecution, parent_id)
        parent_id = parent.parent_execution_id if parent is not None else None
    return depth


def cancel_children(session: Session, clock: Clock, run: AutomationExecution) -> None:
    """Cancel the open child runs of ``run``."""
    children = session.scalars(
        select(AutomationExecution).where(
            AutomationExecution.parent_execution_id == run.execution_id,
            AutomationExecution.end_time.is_(None),
        )
    )
    for child in children:
        for row in session.scalars(
            select(StepExecution).where(
                StepExecution.execution_id == child.execution_id,
                StepExecution.status.in_(OPEN_STEP_STATUSES),
            )
        ):
            row.status = "Cancelled"
            row.end_time = clock.now()
        cancel_children(session, clock, child)
        end(session, clock, child, "Cancelled", "The parent automation was stopped.")


def document_of(run: AutomationExecution) -> AutomationDocument:
    document, _ = document_schema.parse(run.document_content, run.document_format)
    return document
