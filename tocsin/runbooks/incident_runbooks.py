"""The ``incidents.start_runbook`` job: start a response plan's runbook for a new incident.

The run starts in the plan owner's account under the plan's roleArn, which
must trust ssm-incidents.amazonaws.com (or ssm.amazonaws.com). With
targetAccount IMPACTED_ACCOUNT and an impacted account other than the
owner's, the run acts in the impacted account through its
AWS-SystemsManager-AutomationExecutionRole, whose trust policy must name
one of those services or the plan's role. The run is added to the
incident's automationExecutions and related items, and its steps to the
incident's timeline.

The run's Region is the Region of the document when documentName is an
ARN, else the first Region of the owner's replication set.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext
from tocsin.iam.principal import Caller
from tocsin.incidents import records, related, replication
from tocsin.incidents.models import IncidentRecord
from tocsin.protocol.errors import ServiceError
from tocsin.runbooks import documents, executions, run_documents, run_roles, run_timeline
from tocsin.runbooks.execution_models import AutomationExecution

logger = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
TRUSTED_SERVICES = (run_roles.INCIDENTS_SERVICE, run_roles.AUTOMATION_SERVICE)


def _region(session: Session, account_id: str, document_name: str) -> str:
    if document_name.startswith("arn:"):
        return documents.parse_name(document_name, account_id, DEFAULT_REGION).region
    replication_set = replication.find(session, account_id)
    if replication_set is not None and replication_set.regions:
        return sorted(replication_set.regions)[0]
    return DEFAULT_REGION


def _parameters(automation: dict[str, Any], incident: IncidentRecord, resources: list[str]) -> Any:
    parameters = {key: list(values) for key, values in (automation.get("parameters") or {}).items()}
    for name, dynamic in (automation.get("dynamicParameters") or {}).items():
        variable = dynamic.get("variable")
        if variable == "INCIDENT_RECORD_ARN":
            parameters[name] = [incident.arn]
        elif variable == "INVOLVED_RESOURCES":
            parameters[name] = list(resources)
    return parameters


def _plan_role_caller(role_arn: str) -> Caller:
    """Return the plan's role as the identity that a target account's role must trust.

    NOTE: only the target role's trust policy is checked; the plan role's
    own policies are not evaluated for sts:AssumeRole.
    """
    account = role_arn.split(":")[4]
    name = role_arn.rsplit("/", 1)[-1]
    return Caller(
        account_id=account,
        arn=f"arn:aws:sts::{account}:assumed-role/{name}/IncidentManager",
        user_id=name,
        kind="assumed-role",
        access_key_id="",
        policies=(
            {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]},
        ),
        source_arn=role_arn,
    )


def start_runbook(context: JobContext) -> None:
    """Start the runbook that ``context.payload`` names, for the incident it names."""
    payload = context.payload
    session, clock = context.session, context.clock
    incident = records.find_by_arn(session, payload["incidentRecordArn"])
    if incident is None:
        logger.warning("incident %s no longer exists; its runbook is not started", payload)
        return
    automation = payload["ssmAutomation"]
    try:
        run = _start(session, clock, incident, automation, payload)
    except (ServiceError, run_roles.RoleNotUsable) as exc:
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        logger.warning(
            "runbook %s of incident %s did not start: %s",
            automation["documentName"],
            incident.arn,
            message,
        )
        run_timeline.record_start_failure(
            session, clock, incident, automation["documentName"], message
        )
        return
    arn = executions.execution_arn(run.region, run.account_id, run.execution_id)
    incident.automation_executions = [*incident.automation_executions, {"ssmExecutionArn": arn}]
    related.add(
        session,
        clock,
        incident,
        {"identifier": {"type": "AUTOMATION", "value": {"arn": arn}}, "title": run.document_name},
    )


def _start(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    automation: dict[str, Any],
    payload: dict[str, Any],
) -> AutomationExecution:
    owner = incident.account_id
    role_arn = automation["roleArn"]
    run_roles.check_trust(session, role_arn, services=TRUSTED_SERVICES, caller=None)
    region = _region(session, owner, automation["documentName"])
    document = run_documents.find(
        session, owner, region, automation["documentName"], automation.get("documentVersion")
    )
    params: dict[str, Any] = {
        "Parameters": _parameters(automation, incident, payload.get("involvedResources") or [])
    }
    impacted = payload.get("impactedAccount") or owner
    plan_role_caller = None
    if automation.get("targetAccount") == "IMPACTED_ACCOUNT" and impacted != owner:
        params["TargetLocations"] = [
            {
                "Accounts": [impacted],
                "Regions": [region],
                "ExecutionRoleName": executions.DEFAULT_EXECUTION_ROLE,
            }
        ]
        plan_role_caller = _plan_role_caller(role_arn)
    request = executions.StartRequest(
        account_id=owner,
        region=region,
        executed_by=role_arn,
        caller=plan_role_caller,
        trusted_services=TRUSTED_SERVICES,
        incident_arn=incident.arn,
        default_role_arn=role_arn if plan_role_caller is None else None,
    )
    return executions.start(session, clock, request, document, params)
