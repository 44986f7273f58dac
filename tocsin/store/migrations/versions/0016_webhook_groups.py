"""Alert groups of webhooks, incident resolution by group, and per-webhook post quotas.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, tocsin.store.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("webhook_id", sa.String(length=36), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_resolutions", sa.JSON(), nullable=False),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_alert_groups")),
    )
    with op.batch_alter_table("alert_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_groups_webhook_id"), ["webhook_id"])

    with op.batch_alter_table("alert_webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resolve_incidents", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("max_per_minute", sa.Integer(), nullable=True))
        batch_op.add_column(_timestamp("window_start", nullable=True))
        batch_op.add_column(
            sa.Column("window_posts", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("window_noticed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    with op.batch_alter_table("incident_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_group", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_incident_records_alert_group"), ["alert_group"])


def downgrade() -> None:
    with op.batch_alter_table("incident_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_records_alert_group"))
        batch_op.drop_column("alert_group")

    with op.batch_alter_table("alert_webhooks", schema=None) as batch_op:
        batch_op.drop_column("window_noticed")
        batch_op.drop_column("window_posts")
        batch_op.drop_column("window_start")
        batch_op.drop_column("max_per_minute")
        batch_op.drop_column("resolve_incidents")

    with op.batch_alter_table("alert_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_groups_webhook_id"))

    op.drop_table("alert_groups")
