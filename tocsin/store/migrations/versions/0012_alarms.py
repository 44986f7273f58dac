"""CloudWatch alarms, alarm links, alarm history and metric datapoints.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, tocsin.store.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cloudwatch_alarms",
        sa.Column("arn", sa.String(length=400), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("alarm_type", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("actions_enabled", sa.Boolean(), nullable=False),
        sa.Column("alarm_actions", sa.JSON(), nullable=False),
        sa.Column("ok_actions", sa.JSON(), nullable=False),
        sa.Column("insufficient_data_actions", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("state_value", sa.String(length=20), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("state_reason_data", sa.Text(), nullable=True),
        _timestamp("state_updated_at"),
        _timestamp("state_transitioned_at"),
        _timestamp("configuration_updated_at"),
        sa.Column("actions_suppressed_by", sa.String(length=16), nullable=True),
        sa.Column("actions_suppressed_reason", sa.String(length=1024), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_cloudwatch_alarms")),
    )
    op.create_index(
        "ix_cloudwatch_alarms_account_region",
        "cloudwatch_alarms",
        ["account_id", "region", "name"],
        unique=False,
    )
    op.create_table(
        "cloudwatch_alarm_links",
        sa.Column("parent_arn", sa.String(length=400), nullable=False),
        sa.Column("child_arn", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint(
            "parent_arn", "child_arn", "kind", name=op.f("pk_cloudwatch_alarm_links")
        ),
    )
    op.create_index(
        "ix_cloudwatch_alarm_links_child", "cloudwatch_alarm_links", ["child_arn"], unique=False
    )
    op.create_table(
        "cloudwatch_alarm_metrics",
        sa.Column("alarm_arn", sa.String(length=400), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint(
            "alarm_arn", "namespace", "name", name=op.f("pk_cloudwatch_alarm_metrics")
        ),
    )
    op.create_index(
        "ix_cloudwatch_alarm_metrics_metric",
        "cloudwatch_alarm_metrics",
        ["account_id", "region", "namespace", "name"],
        unique=False,
    )
    op.create_table(
        "cloudwatch_alarm_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("alarm_name", sa.String(length=255), nullable=False),
        sa.Column("alarm_type", sa.String(length=16), nullable=False),
        sa.Column("item_type", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.String(length=255), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        _timestamp("timestamp"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cloudwatch_alarm_history")),
    )
    op.create_index(
        "ix_cloudwatch_alarm_history_account",
        "cloudwatch_alarm_history",
        ["account_id", "region", "timestamp"],
        unique=False,
    )
    op.create_table(
        "cloudwatch_metric_data",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("metric_name", sa.String(length=255), nullable=False),
        sa.Column("dimensions", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        _timestamp("timestamp"),
        sa.Column("sample_count", sa.Double(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("minimum", sa.Double(), nullable=False),
        sa.Column("maximum", sa.Double(), nullable=False),
        sa.Column("distribution", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cloudwatch_metric_data")),
    )
    op.create_index(
        "ix_cloudwatch_metric_data_metric",
        "cloudwatch_metric_data",
        ["account_id", "region", "namespace", "metric_name", "timestamp"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_cloudwatch_metric_data_metric", table_name="cloudwatch_metric_data")
    op.drop_table("cloudwatch_metric_data")
    op.drop_index("ix_cloudwatch_alarm_history_account", table_name="cloudwatch_alarm_history")
    op.drop_table("cloudwatch_alarm_history")
    op.drop_index("ix_cloudwatch_alarm_metrics_metric", table_name="cloudwatch_alarm_metrics")
    op.drop_table("cloudwatch_alarm_metrics")
    op.drop_index("ix_cloudwatch_alarm_links_child", table_name="cloudwatch_alarm_links")
    op.drop_table("cloudwatch_alarm_links")
    op.drop_index("ix_cloudwatch_alarms_account_region", table_name="cloudwatch_alarms")
    op.drop_table("cloudwatch_alarms")
