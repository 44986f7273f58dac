"""Filters of DescribeAutomationExecutions and DescribeAutomationStepExecutions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, false, or_, select

from tocsin.runbooks.execution_errors import InvalidFilterValue
from tocsin.runbooks.execution_models import AutomationExecution, StepExecution

# Filter keys that the model allows but that select nothing in Tocsin, because
# runs have no tags, resource groups, subtypes, OpsItems or loop iterations.
EMPTY_EXECUTION_KEYS = frozenset(
    {"TagKey", "TargetResourceGroup", "AutomationSubtype", "OpsItemId"}
)
EMPTY_STEP_KEYS = frozenset(
    {"ParentStepExecutionId", "ParentStepIteration", "ParentStepIteratorValue"}
)


def _time(key: str, values: list[str]) -> datetime:
    if len(values) != 1:
        raise InvalidFilterValue(f"Filter {key} takes one time value, not {len(values)}")
    text = values[0]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilterValue(
            f"Filter {key} has value {text!r}, which is not a time such as 2026-01-31T09:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def executions_query(account_id: str, region: str, filters: list[dict[str, Any]]) -> Select[Any]:
    """Return the query of the runs that ``account_id`` may read in ``region``, filtered."""
    run = AutomationExecution
    query = select(run).where(
        run.region == region, or_(run.account_id == account_id, run.run_account_id == account_id)
    )
    for item in filters:
        key, values = item["Key"], list(item["Values"])
        if key == "DocumentNamePrefix":
            query = query.where(or_(*(run.document_name.startswith(v) for v in values)))
        elif key == "ExecutionStatus":
            query = query.where(run.status.in_(values))
        elif key == "ExecutionId":
            query = query.where(run.execution_id.in_(values))
        elif key == "ParentExecutionId":
            query = query.where(run.parent_execution_id.in_(values))
        elif key == "CurrentAction":
            query = query.where(run.current_action.in_(values))
        elif key == "AutomationType":
            query = query.where(run.automation_type.in_(values))
        elif key == "StartTimeBefore":
            query = query.where(run.start_time <= _time(key, values))
        elif key == "StartTimeAfter":
            query = query.where(run.start_time >= _time(key, values))
        elif key in EMPTY_EXECUTION_KEYS:
            query = query.where(false())
    return query


def step_matches(row: StepExecution, filters: list[dict[str, Any]]) -> bool:
    """Return whether a step execution passes every filter."""
    for item in filters:
        key, values = item["Key"], list(item["Values"])
        if key == "StartTimeBefore" and not row.start_time <= _time(key, values):
            return False
        if key == "StartTimeAfter" and not row.start_time >= _time(key, values):
            return False
        checks = {
            "StepExecutionStatus": row.status,
            "StepExecutionId": row.step_execution_id,
            "StepName": row.step_name,
            "Action": row.action,
        }
        if key in checks and checks[key] not in values:
            return False
        if key in EMPTY_STEP_KEYS:
            return False
    return True
