"""Rotations: on-call rotations and their overrides.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:01:02.345496
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rotations",
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("contact_ids", sa.JSON(), nullable=False),
        sa.Column("start_time", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sa.String(length=255), nullable=False),
        sa.Column("recurrence", sa.JSON(), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_rotations")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_rotations_account_id")),
    )
    op.create_table(
        "rotation_overrides",
        sa.Column("override_id", sa.String(length=36), nullable=False),
        sa.Column("rotation_arn", sa.String(length=512), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("contact_ids", sa.JSON(), nullable=False),
        sa.Column("start_time", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_time", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rotation_arn"],
            ["rotations.arn"],
            name=op.f("fk_rotation_overrides_rotation_arn_rotations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("override_id", name=op.f("pk_rotation_overrides")),
    )
    with op.batch_alter_table("rotation_overrides", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rotation_overrides_rotation_arn_start_time",
            ["rotation_arn", "start_time"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("rotation_overrides", schema=None) as batch_op:
        batch_op.drop_index("ix_rotation_overrides_rotation_arn_start_time")

    op.drop_table("rotation_overrides")
    op.drop_table("rotations")
