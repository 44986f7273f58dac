"""EventBridge event buses, rules and targets.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, tocsin.store.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "event_buses",
        sa.Column("arn", sa.String(length=1600), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=512), nullable=True),
        sa.Column("policy", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("last_modified_at"),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_event_buses")),
        sa.UniqueConstraint("account_id", "region", "name", name="uq_event_buses_account_name"),
    )
    op.create_table(
        "event_rules",
        sa.Column("arn", sa.String(length=1600), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("bus_name", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("event_pattern", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=48), nullable=False),
        sa.Column("description", sa.String(length=512), nullable=True),
        sa.Column("role_arn", sa.String(length=1600), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_event_rules")),
        sa.UniqueConstraint(
            "account_id", "region", "bus_name", "name", name="uq_event_rules_bus_name"
        ),
    )
    op.create_table(
        "event_targets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_arn", sa.String(length=1600), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("arn", sa.String(length=1600), nullable=False),
        sa.Column("role_arn", sa.String(length=1600), nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("input_path", sa.String(length=256), nullable=True),
        sa.Column("input_transformer", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_targets")),
        sa.UniqueConstraint("rule_arn", "target_id", name="uq_event_targets_rule_target"),
    )
    op.create_index("ix_event_targets_arn", "event_targets", ["arn"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_targets_arn", table_name="event_targets")
    op.drop_table("event_targets")
    op.drop_table("event_rules")
    op.drop_table("event_buses")
