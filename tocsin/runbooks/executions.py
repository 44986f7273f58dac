"""Automation executions: starting a run, its parameters and role, and how the API shows it.

A run copies the document version it runs, converts the parameters to their
declared types and records the role that its steps act as. Its first step is
enqueued as a job in the same transaction, and ``runner`` advances it from
there.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam.principal import Caller
from tocsin.protocol.errors import ValidationException
from tocsin.runbooks import document_schema, references, run_roles
from tocsin.runbooks.document_schema import AutomationDocument
from tocsin.runbooks.execution_errors import (
    AutomationExecutionLimitExceededException,
    AutomationExecutionNotFoundException,
    IdempotentParameterMismatch,
    InvalidAutomationExecutionParametersException,
    InvalidTarget,
)
from tocsin.runbooks.execution_models import AutomationExecution, StepExecution
from tocsin.runbooks.parameters_in import typed_parameters

logger = logging.getLogger(__name__)

# Statuses after which a run or a step changes no more.
FINAL_STATUSES = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
# Statuses of a step that is still running or waiting.
OPEN_STATUSES = frozenset({"Pending", "InProgress", "Waiting"})
# AWS's default quota of concurrently running automations per account. AWS
# queues runs past it; Tocsin rejects them with the limit error instead.
MAX_RUNNING = 100
DEFAULT_EXECUTION_ROLE = "AWS-SystemsManager-AutomationExecutionRole"
UNSUPPORTED_MEMBERS = (
    "Targets",
    "TargetMaps",
    "TargetParameterName",
    "MaxConcurrency",
    "MaxErrors",
    "AlarmConfiguration",
    "TargetLocationsURL",
)


@dataclass(frozen=True)
class RunDocument:
    """The document version that a run starts: its shown name, version and content."""

    name: str
    version: str
    content: str
    document_format: str


@dataclass(frozen=True)
class StartRequest:
    """The identity that starts a run, its account and Region, and the run's origin."""

    account_id: str
    region: str
    executed_by: str
    caller: Caller | None
    # Service principals that the run's role may trust instead of the caller.
    trusted_services: tuple[str, ...] = (run_roles.AUTOMATION_SERVICE,)
    parent_execution_id: str | None = None
    parent_step_execution_id: str | None = None
    incident_arn: str | None = None
    # The role of the starting identity, used when the document names none.
    default_role_arn: str | None = None
    # The access key of the user that starts a run, which signs its calls when it has no role.
    signing_key_id: str | None = None


def execution_arn(region: str, account_id: str, execution_id: str) -> str:
    return f"arn:aws:ssm:{region}:{account_id}:automation-execution/{execution_id}"


def parse_document(run: AutomationExecution) -> AutomationDocument:
    document, _ = document_schema.parse(run.document_content, run.document_format)
    return document


def _check_unsupported(params: dict[str, Any]) -> None:
    for member in UNSUPPORTED_MEMBERS:
        if params.get(member):
            raise ValidationException(
                f"{member} is not supported: Tocsin runs an automation in one account and "
                "Region at a time and has no rate control."
            )


def _target_account(params: dict[str, Any], account_id: str, region: str) -> tuple[str, str | None]:
    """Return the account that the run acts on and the role it runs as there, if another."""
    locations = params.get("TargetLocations") or []
    if not locations:
        return account_id, None
    accounts = [a for location in locations for a in location.get("Accounts", [])]
    regions = [r for location in locations for r in location.get("Regions", [region])]
    if len(accounts) != 1 or len(locations) != 1:
        raise InvalidTarget(
            f"TargetLocations names {len(accounts)} accounts in {len(locations)} locations; "
            "Tocsin runs an automation in exactly one account at a time."
        )
    if set(regions) != {region}:
        raise InvalidTarget(
            f"TargetLocations names Regions {sorted(set(regions))}; Tocsin runs an automation "
            f"only in the Region of the request, {region}."
        )
    target = accounts[0]
    if not (len(target) == 12 and target.isdigit()):
        raise InvalidTarget(
            f"TargetLocations account {target!r} is not a 12-digit account id; organizational "
            "units are not supported."
        )
    role_name = locations[0].get("ExecutionRoleName", DEFAULT_EXECUTION_ROLE)
    if target == account_id and not locations[0].get("ExecutionRoleName"):
        return account_id, None
    return target, f"arn:aws:iam::{target}:role/{role_name}"


def _role(
    session: Session,
    request: StartRequest,
    parsed: AutomationDocument,
    typed: dict[str, Any],
    target_role: str | None,
) -> str | None:
    role_arn = target_role
    if role_arn is None and parsed.assume_role:
        scope = references.Scope(typed, {}, {})
        resolved = references.resolve(parsed.assume_role, scope)
        if isinstance(resolved, str) and resolved and "{{" not in resolved:
            role_arn = resolved
    if role_arn is None or role_arn == request.default_role_arn:
        # The starting run checked its own role already.
        return request.default_role_arn
    try:
        run_roles.check_trust(
            session, role_arn, services=request.trusted_services, caller=request.caller
        )
    except run_roles.RoleNotUsable as exc:
        raise InvalidAutomationExecutionParametersException(
            f"The assume role {role_arn} cannot be used: {exc}"
        ) from exc
    return role_arn


def _existing_for_token(
    session: Session, request: StartRequest, token: str, document: RunDocument, shown: Any
) -> AutomationExecution | None:
    existing = session.scalar(
        select(AutomationExecution).where(
            AutomationExecution.account_id == request.account_id,
            AutomationExecution.client_token == token,
        )
    )
    if existing is None:
        return None
    if existing.document_name != document.name or existing.parameters != shown:
        raise IdempotentParameterMismatch(
            f"ClientToken {token} was used by execution {existing.execution_id} with another "
            "document or other parameters. Use a new token for a different request."
        )
    return existing


def _check_limit(session: Session, account_id: str) -> None:
    running = session.scalar(
        select(func.count())
        .select_from(AutomationExecution)
        .where(
            AutomationExecution.account_id == account_id,
            AutomationExecution.status.not_in(FINAL_STATUSES),
        )
    )
    if (running or 0) >= MAX_RUNNING:
        raise AutomationExecutionLimitExceededException(
            f"Account {account_id} has {running} automations running, the maximum of "
            f"{MAX_RUNNING}. Wait for some to finish or stop them first."
        )


def start(
    session: Session,
    clock: Clock,
    request: StartRequest,
    document: RunDocument,
    params: dict[str, Any],
) -> AutomationExecution:
    """Create a run of ``document`` from StartAutomationExecution's parameters and enqueue it."""
    from tocsin.runbooks import runner

    _check_unsupported(params)
    parsed, _ = document_schema.parse(document.content, document.document_format)
    typed, shown = typed_parameters(parsed, params.get("Parameters") or {})
    token = params.get("ClientToken")
    if token:
        existing = _existing_for_token(session, request, token, document, shown)
        if existing is not None:
            return existing
    _check_limit(session, request.account_id)
    run_account, target_role = _target_account(params, request.account_id, request.region)
    role_arn = _role(session, request, parsed, typed, target_role)

    run = AutomationExecution(
        execution_id=str(uuid.uuid4()),
        account_id=request.account_id,
        region=request.region,
        run_account_id=run_account,
        automation_type="CrossAccount" if run_account != request.account_id else "Local",
        document_name=document.name,
        document_version=document.version,
        document_content=document.content,
        document_format=document.document_format,
        status="Pending",
        mode=params.get("Mode", "Auto"),
        parameters=shown,
        typed_parameters=typed,
        outputs={},
        target_locations=params.get("TargetLocations") or [],
        executed_by=request.executed_by,
        role_arn=role_arn,
        access_key_id=request.signing_key_id if role_arn is None else None,
        parent_execution_id=request.parent_execution_id,
        parent_step_execution_id=request.parent_step_execution_id,
        incident_arn=request.incident_arn,
        client_token=token,
        critical_failure=False,
        start_time=clock.now(),
    )
    session.add(run)
    session.flush()
    runner.begin(session, clock, run, parsed)
    logger.info(
        "started automation %s of %s version %s in account %s as %s",
        run.execution_id,
        document.name,
        document.version,
        run.run_account_id,
        role_arn or request.executed_by,
    )
    return run


def get_visible(session: Session, account_id: str, execution_id: str) -> AutomationExecution:
    """Return the run that ``account_id`` started or that runs in it, or raise not found."""
    run = session.get(AutomationExecution, execution_id)
    if run is None or account_id not in (run.account_id, run.run_account_id):
        raise AutomationExecutionNotFoundException(
            f"Automation execution {execution_id} does not exist in account {account_id}."
        )
    return run


def steps_of(session: Session, run: AutomationExecution) -> list[StepExecution]:
    return list(
        session.scalars(
            select(StepExecution)
            .where(StepExecution.execution_id == run.execution_id)
            .order_by(StepExecution.position)
        )
    )


def _optional(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value not in (None, {}, [])}


def _input_text(value: Any) -> str:
    """Return an input as StepExecution's Inputs map shows it: strings as they are, else JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def describe_step(row: StepExecution, document: AutomationDocument | None) -> dict[str, Any]:
    """Return the StepExecution structure of ``row``."""
    step = None
    if document is not None:
        try:
            step = document.step(row.step_name)
        except KeyError:
            step = None
    shown: dict[str, Any] = {
        "StepName": row.step_name,
        "Action": row.action,
        "StepStatus": row.status,
        "StepExecutionId": row.step_execution_id,
        "ExecutionStartTime": row.start_time,
        "ExecutionEndTime": row.end_time,
        "Inputs": {key: _input_text(value) for key, value in row.inputs.items()},
        "Outputs": row.outputs,
        "Response": row.response,
        "FailureMessage": row.failure_message,
        "NextStep": row.next_step,
    }
    if row.failure_type:
        shown["FailureDetails"] = {
            "FailureStage": "Execution",
            "FailureType": row.failure_type,
            "Details": {"Message": [row.failure_message or ""]},
        }
    if step is not None:
        shown.update(
            {
                "OnFailure": str(step.on_failure),
                "MaxAttempts": step.max_attempts,
                "IsEnd": step.is_end,
                "IsCritical": step.is_critical,
                "TimeoutSeconds": step.timeout_seconds,
            }
        )
    return _optional(shown)


def describe(session: Session, run: AutomationExecution) -> dict[str, Any]:
    """Return the AutomationExecution structure of ``run``, with its steps."""
    document = parse_document(run)
    rows = steps_of(session, run)
    counters = {"TotalSteps": len(rows), "SuccessSteps": 0, "FailedSteps": 0}
    counters.update({"CancelledSteps": 0, "TimedOutSteps": 0})
    for row in rows:
        key = {
            "Success": "SuccessSteps",
            "Failed": "FailedSteps",
            "Cancelled": "CancelledSteps",
            "TimedOut": "TimedOutSteps",
        }.get(row.status)
        if key:
            counters[key] += 1
    shown = {
        **_summary(run),
        "StepExecutions": [describe_step(row, document) for row in rows],
        "StepExecutionsTruncated": False,
        "ProgressCounters": counters,
        "TargetLocations": run.target_locations,
    }
    return _optional(shown)


def _summary(run: AutomationExecution) -> dict[str, Any]:
    return {
        "AutomationExecutionId": run.execution_id,
        "DocumentName": run.document_name,
        "DocumentVersion": run.document_version,
        "ExecutionStartTime": run.start_time,
        "ExecutionEndTime": run.end_time,
        "AutomationExecutionStatus": run.status,
        "Parameters": run.parameters,
        "Outputs": run.outputs,
        "FailureMessage": run.failure_message,
        "Mode": run.mode,
        "ParentAutomationExecutionId": run.parent_execution_id,
        "ExecutedBy": run.executed_by,
        "CurrentStepName": run.current_step_name,
        "CurrentAction": run.current_action,
    }


def describe_metadata(run: AutomationExecution) -> dict[str, Any]:
    """Return the AutomationExecutionMetadata structure of ``run``."""
    shown = _summary(run)
    shown.pop("Parameters")
    shown["AutomationType"] = run.automation_type
    shown["LogFile"] = None
    return _optional(shown)
