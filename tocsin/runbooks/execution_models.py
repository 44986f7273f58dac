"""Tables of Automation executions and their step executions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class AutomationExecution(Base):
    """One run of an Automation document, started by a caller or by another run or an incident."""

    __tablename__ = "ssm_automation_executions"
    __table_args__ = (
        Index("ix_ssm_automation_executions_account", "account_id", "region", "start_time"),
    )

    execution_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID
    # The account that started the run and lists it.
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    # The account whose resources the run acts on: account_id, or a TargetLocations account.
    run_account_id: Mapped[str] = mapped_column(String(12))
    automation_type: Mapped[str] = mapped_column(String(16))  # Local or CrossAccount
    document_name: Mapped[str] = mapped_column(String(512))
    document_version: Mapped[str] = mapped_column(String(16))
    # A copy of the version's content, so that deleting the document leaves runs intact.
    document_content: Mapped[str] = mapped_column(Text)
    document_format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    # Parameters as the API shows them: names mapped to lists of strings.
    parameters: Mapped[dict[str, Any]]
    # Parameters converted to their declared types, for {{ }} references.
    typed_parameters: Mapped[dict[str, Any]]
    outputs: Mapped[dict[str, Any]]
    target_locations: Mapped[list[Any]]
    executed_by: Mapped[str] = mapped_column(String(2048))
    # The role that steps act as; None means the caller's own identity.
    role_arn: Mapped[str | None] = mapped_column(String(2048))
    # Credentials of the role session that steps use, encrypted with the server's key.
    access_key_id: Mapped[str | None] = mapped_column(String(32))
    encrypted_secret: Mapped[str | None] = mapped_column(Text)
    encrypted_token: Mapped[str | None] = mapped_column(Text)
    credentials_expire_at: Mapped[datetime | None]
    parent_execution_id: Mapped[str | None] = mapped_column(String(36), index=True)
    parent_step_execution_id: Mapped[str | None] = mapped_column(String(36))
    # The incident whose timeline records the steps, for runs that a response plan started.
    incident_arn: Mapped[str | None] = mapped_column(String(1000))
    client_token: Mapped[str | None] = mapped_column(String(64))
    current_step_name: Mapped[str | None] = mapped_column(String(100))
    current_action: Mapped[str | None] = mapped_column(String(64))
    # True once a critical step has failed, so that the run ends Failed.
    critical_failure: Mapped[bool] = mapped_column(default=False)
    failure_message: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]


class StepExecution(Base):
    """One step of a run, with its resolved inputs, outputs and outcome."""

    __tablename__ = "ssm_automation_step_executions"
    __table_args__ = (Index("ix_ssm_automation_step_executions_run", "execution_id", "position"),)

    step_execution_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID
    execution_id: Mapped[str] = mapped_column(
        ForeignKey(
            "ssm_automation_executions.execution_id",
            ondelete="CASCADE",
            name="fk_ssm_step_executions_execution_id",
        )
    )
    # Order of the step executions within the run, from 0.
    position: Mapped[int]
    step_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    # Number of the current attempt, from 1, up to the step's maxAttempts.
    attempt: Mapped[int] = mapped_column(default=1)
    # Inputs after {{ }} references were replaced, as JSON values.
    inputs: Mapped[dict[str, Any]]
    # Outputs as the API shows them (lists of strings) and as typed values for references.
    outputs: Mapped[dict[str, Any]]
    typed_outputs: Mapped[dict[str, Any]]
    # Approve and Reject decisions of aws:approve: [{"Approver", "Decision", "Comment", "Time"}].
    decisions: Mapped[list[Any]]
    next_step: Mapped[str | None] = mapped_column(String(100))
    response: Mapped[str | None] = mapped_column(Text)
    failure_message: Mapped[str | None] = mapped_column(Text)
    failure_type: Mapped[str | None] = mapped_column(String(32))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
