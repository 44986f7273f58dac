"""StopAutomationExecution and SendAutomationSignal: what a caller tells a running run."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam.principal import Caller
from tocsin.runbooks import local_actions, runner
from tocsin.runbooks.execution_errors import (
    AutomationStepNotFoundException,
    InvalidAutomationSignalException,
    InvalidAutomationStatusUpdateException,
)
from tocsin.runbooks.execution_models import AutomationExecution, StepExecution

logger = logging.getLogger(__name__)


def _open_step(session: Session, run: AutomationExecution) -> StepExecution | None:
    return session.scalar(
        select(StepExecution)
        .where(
            StepExecution.execution_id == run.execution_id,
            StepExecution.status.in_(runner.OPEN_STEP_STATUSES),
        )
        .order_by(StepExecution.position.desc())
    )


def stop(session: Session, clock: Clock, run: AutomationExecution, stop_type: str) -> None:
    """Stop ``run``: Cancel runs the open step's onCancel, Complete ends the run at once."""
    if run.end_time is not None:
        raise InvalidAutomationStatusUpdateException(
            f"Automation execution {run.execution_id} has ended with status {run.status} and "
            "cannot be stopped."
        )
    runner.cancel_children(session, clock, run)
    row = _open_step(session, run)
    if row is None or stop_type == "Complete":
        if row is not None:
            row.status = "Cancelled"
            row.end_time = clock.now()
        runner.end(session, clock, run, "Cancelled", "The automation was stopped.")
        return
    runner.finish_step(session, clock, run, row, "Cancelled", failure="The step was cancelled.")
    logger.info("automation %s was stopped with type %s", run.execution_id, stop_type)


def _waiting_step(session: Session, run: AutomationExecution, action: str) -> StepExecution:
    row = _open_step(session, run)
    if row is None or row.action != action or row.status != "Waiting":
        current = f"step {row.step_name} ({row.action})" if row else "no open step"
        raise InvalidAutomationSignalException(
            f"Automation execution {run.execution_id} is not waiting at an {action} step; it "
            f"has {current}."
        )
    return row


def _payload_text(payload: dict[str, list[str]], key: str) -> str | None:
    values = payload.get(key) or []
    return values[0] if values else None


def _decide(
    session: Session,
    clock: Clock,
    run: AutomationExecution,
    caller: Caller,
    signal: str,
    payload: dict[str, list[str]],
) -> None:
    row = _waiting_step(session, run, "aws:approve")
    approvers, minimum = local_actions.approvers(row.inputs, run.run_account_id)
    identities = {caller.arn, caller.principal_arn}
    approver = next((a for a in approvers if a in identities), None)
    if approver is None:
        raise InvalidAutomationSignalException(
            f"{caller.arn} is not an approver of step {row.step_name}; its approvers are "
            + ", ".join(approvers)
        )
    decision = "Approved" if signal == "Approve" else "Rejected"
    entry = {
        "Approver": approver,
        "Decision": decision,
        "Comment": _payload_text(payload, "Comment") or "",
        "Time": clock.now().isoformat(),
    }
    row.decisions = [d for d in row.decisions if d["Approver"] != approver] + [entry]
    approved = [d for d in row.decisions if d["Decision"] == "Approved"]
    if decision == "Rejected":
        _record_approval(row, "Rejected", approvers)
        failure = f"Step {row.step_name} was rejected by {approver}: {entry['Comment']}".strip()
        runner.finish_step(session, clock, run, row, "Failed", failure=failure, retry=False)
    elif len(approved) >= minimum:
        _record_approval(row, "Approved", approvers)
        runner.finish_step(session, clock, run, row, "Success")
    logger.info("%s %s step %s of %s", approver, decision, row.step_name, run.execution_id)


def _record_approval(row: StepExecution, status: str, approvers: list[str]) -> None:
    decisions = [
        {key: d[key] for key in ("Approver", "Decision", "Comment")} for d in row.decisions
    ]
    row.typed_outputs = {
        "ApprovalStatus": status,
        "ApproverDecisions": decisions,
        "Approvers": approvers,
    }
    row.outputs = {
        "ApprovalStatus": [status],
        "ApproverDecisions": [json.dumps(d) for d in decisions],
        "Approvers": approvers,
    }


def signal(
    session: Session,
    clock: Clock,
    run: AutomationExecution,
    caller: Caller,
    signal_type: str,
    payload: dict[str, Any],
) -> None:
    """Apply SendAutomationSignal's ``signal_type`` with its ``payload`` to ``run``."""
    if run.end_time is not None:
        raise InvalidAutomationSignalException(
            f"Automation execution {run.execution_id} has ended with status {run.status}."
        )
    if signal_type in ("Approve", "Reject"):
        _decide(session, clock, run, caller, signal_type, payload)
    elif signal_type == "Resume":
        row = _waiting_step(session, run, "aws:pause")
        runner.finish_step(session, clock, run, row, "Success")
    elif signal_type == "StopStep":
        step_id = _payload_text(payload, "StepExecutionId")
        if step_id is None:
            raise InvalidAutomationSignalException(
                "StopStep needs the StepExecutionId of the step to stop in Payload."
            )
        stopped = session.get(StepExecution, step_id)
        if stopped is None or stopped.execution_id != run.execution_id:
            raise AutomationStepNotFoundException(
                f"Step execution {step_id} is not a step of automation {run.execution_id}."
            )
        if stopped.status not in runner.OPEN_STEP_STATUSES:
            raise InvalidAutomationSignalException(
                f"Step {stopped.step_name} has ended with status {stopped.status}."
            )
        runner.cancel_children(session, clock, run)
        runner.finish_step(
            session, clock, run, stopped, "Cancelled", failure="The step was stopped."
        )
    elif signal_type == "StartStep":
        _start_step(session, clock, run, payload)
    else:
        raise InvalidAutomationSignalException(
            f"SignalType {signal_type} is not supported; use Approve, Reject, Resume, "
            "StartStep or StopStep."
        )


def _start_step(
    session: Session, clock: Clock, run: AutomationExecution, payload: dict[str, Any]
) -> None:
    """Begin the step that StartStep names, in a run of Interactive mode between steps."""
    if run.mode != runner.INTERACTIVE:
        raise InvalidAutomationSignalException(
            f"StartStep applies to automations in Interactive mode; {run.execution_id} runs in "
            f"{run.mode} mode."
        )
    if _open_step(session, run) is not None:
        raise InvalidAutomationSignalException(
            f"Automation {run.execution_id} is running step {run.current_step_name}; send "
            "StartStep when it has ended."
        )
    name = _payload_text(payload, "StepName")
    if name is None:
        raise InvalidAutomationSignalException(
            "StartStep needs the StepName of the step to run in Payload."
        )
    document = runner.document_of(run)
    if name not in {step.name for step in document.steps}:
        raise AutomationStepNotFoundException(
            f"Step {name} is not a step of the document {run.document_name}."
        )
    runner.begin_step(session, clock, run, document.step(name))
