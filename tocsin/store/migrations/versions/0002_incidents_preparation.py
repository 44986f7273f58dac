"""Incident Manager preparation: replication sets, response plans, policies and tags.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 16:45:24.184653
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_replication_sets",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("set_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("deletion_protected", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=1000), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_modified_by", sa.String(length=1000), nullable=False),
        sa.Column("last_modified_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_incident_replication_sets_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_incident_replication_sets")),
        sa.UniqueConstraint("set_id", name=op.f("uq_incident_replication_sets_set_id")),
    )
    op.create_table(
        "incident_response_plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("incident_template", sa.JSON(), nullable=False),
        sa.Column("chat_channel", sa.JSON(), nullable=True),
        sa.Column("engagements", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("integrations", sa.JSON(), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_incident_response_plans_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_response_plans")),
        sa.UniqueConstraint(
            "account_id", "name", name=op.f("uq_incident_response_plans_account_id")
        ),
    )
    op.create_table(
        "incident_tags",
        sa.Column("resource_arn", sa.String(length=1000), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_incident_tags_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resource_arn", "key", name=op.f("pk_incident_tags")),
    )
    with op.batch_alter_table("incident_tags", schema=None) as batch_op:
        batch_op.create_index("ix_incident_tags_account_id", ["account_id"], unique=False)

    op.create_table(
        "incident_resource_policies",
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["incident_response_plans.id"],
            name=op.f("fk_incident_resource_policies_plan_id_incident_response_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("policy_id", name=op.f("pk_incident_resource_policies")),
    )
    with op.batch_alter_table("incident_resource_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_resource_policies_plan_id"), ["plan_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("incident_resource_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_resource_policies_plan_id"))

    op.drop_table("incident_resource_policies")
    with op.batch_alter_table("incident_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_tags_account_id")

    op.drop_table("incident_tags")
    op.drop_table("incident_response_plans")
    op.drop_table("incident_replication_sets")
