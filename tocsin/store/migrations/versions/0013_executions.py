"""SSM Automation executions and their step executions.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, tocsin.store.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ssm_automation_executions",
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("run_account_id", sa.String(length=12), nullable=False),
        sa.Column("automation_type", sa.String(length=16), nullable=False),
        sa.Column("document_name", sa.String(length=512), nullable=False),
        sa.Column("document_version", sa.String(length=16), nullable=False),
        sa.Column("document_content", sa.Text(), nullable=False),
        sa.Column("document_format", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("typed_parameters", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("target_locations", sa.JSON(), nullable=False),
        sa.Column("executed_by", sa.String(length=2048), nullable=False),
        sa.Column("role_arn", sa.String(length=2048), nullable=True),
        sa.Column("access_key_id", sa.String(length=32), nullable=True),
        sa.Column("encrypted_secret", sa.Text(), nullable=True),
        sa.Column("encrypted_token", sa.Text(), nullable=True),
        _timestamp("credentials_expire_at", nullable=True),
        sa.Column("parent_execution_id", sa.String(length=36), nullable=True),
        sa.Column("parent_step_execution_id", sa.String(length=36), nullable=True),
        sa.Column("incident_arn", sa.String(length=1000), nullable=True),
        sa.Column("client_token", sa.String(length=64), nullable=True),
        sa.Column("current_step_name", sa.String(length=100), nullable=True),
        sa.Column("current_action", sa.String(length=64), nullable=True),
        sa.Column("critical_failure", sa.Boolean(), nullable=False),
        sa.Column("failure_message", sa.Text(), nullable=True),
        _timestamp("start_time"),
        _timestamp("end_time", nullable=True),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_ssm_automation_executions")),
    )
    op.create_index(
        "ix_ssm_automation_executions_account",
        "ssm_automation_executions",
        ["account_id", "region", "start_time"],
        unique=False,
    )
    op.create_index(
        op.f("ix_ssm_automation_executions_parent_execution_id"),
        "ssm_automation_executions",
        ["parent_execution_id"],
        unique=False,
    )
    op.create_table(
        "ssm_automation_step_executions",
        sa.Column("step_execution_id", sa.String(length=36), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("typed_outputs", sa.JSON(), nullable=False),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("next_step", sa.String(length=100), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("failure_type", sa.String(length=32), nullable=True),
        _timestamp("start_time"),
        _timestamp("end_time", nullable=True),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["ssm_automation_executions.execution_id"],
            name="fk_ssm_step_executions_execution_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "step_execution_id", name=op.f("pk_ssm_automation_step_executions")
        ),
    )
    op.create_index(
        "ix_ssm_automation_step_executions_run",
        "ssm_automation_step_executions",
        ["execution_id", "position"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_ssm_automation_step_executions_run", table_name="ssm_automation_step_executions"
    )
    op.drop_table("ssm_automation_step_executions")
    op.drop_index(
        op.f("ix_ssm_automation_executions_parent_execution_id"),
        table_name="ssm_automation_executions",
    )
    op.drop_index("ix_ssm_automation_executions_account", table_name="ssm_automation_executions")
    op.drop_table("ssm_automation_executions")
