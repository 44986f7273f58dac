"""Timeline events of the steps of runs that a response plan started.

Each step's start and end becomes an event of type ``SSM Automation Step``
on the incident's timeline, whichever account the run acts in, and a runbook
that cannot start becomes an event of type ``SSM Automation Not Started``. AWS records
no timeline events for runbooks that run in an application account; Tocsin
records them always.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.incidents import records, timeline
from tocsin.incidents.models import IncidentRecord
from tocsin.runbooks.execution_models import AutomationExecution, StepExecution

logger = logging.getLogger(__name__)

STEP_EVENT = "SSM Automation Step"
START_FAILED_EVENT = "SSM Automation Not Started"


def record_step(
    session: Session, clock: Clock, run: AutomationExecution, row: StepExecution
) -> None:
    """Add an event for the step's current status to the run's incident, if it has one.

    The event data has automationExecutionId, documentName, accountId,
    stepName, stepExecutionId, action and status, plus failureMessage for a
    step that did not succeed.
    """
    if run.incident_arn is None:
        return
    incident = records.find_by_arn(session, run.incident_arn)
    if incident is None:
        logger.warning(
            "run %s has incident %s, which no longer exists; its step %s is not recorded",
            run.execution_id,
            run.incident_arn,
            row.step_name,
        )
        return
    data = {
        "automationExecutionId": run.execution_id,
        "documentName": run.document_name,
        "accountId": run.run_account_id,
        "stepName": row.step_name,
        "stepExecutionId": row.step_execution_id,
        "action": row.action,
        "status": row.status,
    }
    if row.failure_message:
        data["failureMessage"] = row.failure_message
    timeline.add(session, clock, incident, STEP_EVENT, data)


def record_start_failure(
    session: Session, clock: Clock, incident: IncidentRecord, document_name: str, message: str
) -> None:
    """Add an event saying that the response plan's runbook could not start, and why.

    The event data has documentName and failureMessage.
    """
    data = {"documentName": document_name, "failureMessage": message}
    timeline.add(session, clock, incident, START_FAILED_EVENT, data)
