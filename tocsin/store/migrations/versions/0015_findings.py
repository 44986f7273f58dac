"""Incident findings: deployment events, and the impacted account and Region of incidents.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, tocsin.store.base.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("resource_arn", sa.String(length=1000), nullable=False),
        sa.Column("deployment_id", sa.String(length=128), nullable=True),
        sa.Column("operation_token", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=False),
        _timestamp("event_time"),
        _timestamp("received_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_events")),
        sa.UniqueConstraint(
            "account_id", "region", "event_id", name="uq_deployment_events_account_event"
        ),
    )
    with op.batch_alter_table("deployment_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deployment_events_activity",
            ["account_id", "region", "event_time"],
            unique=False,
        )
        batch_op.create_index("ix_deployment_events_received_at", ["received_at"], unique=False)

    with op.batch_alter_table("incident_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("impacted_account_id", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("region", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident_records", schema=None) as batch_op:
        batch_op.drop_column("region")
        batch_op.drop_column("impacted_account_id")

    with op.batch_alter_table("deployment_events", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_events_received_at")
        batch_op.drop_index("ix_deployment_events_activity")

    op.drop_table("deployment_events")
