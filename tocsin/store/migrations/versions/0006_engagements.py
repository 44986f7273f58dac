"""Engagements: engagements, pages and page receipts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, tocsin.store.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "engagements",
        sa.Column("arn", sa.String(length=600), nullable=False),
        sa.Column("engagement_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("started_by", sa.String(length=12), nullable=False),
        sa.Column("contact_arn", sa.String(length=512), nullable=False),
        sa.Column("contact_type", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("public_subject", sa.Text(), nullable=True),
        sa.Column("public_content", sa.Text(), nullable=True),
        sa.Column("incident_id", sa.String(length=1024), nullable=True),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("started_stages", sa.JSON(), nullable=False),
        _time("start_time", False),
        _time("stop_time", True),
        sa.Column("stop_reason", sa.String(length=255), nullable=True),
        _time("escalation_ended_at", True),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_engagements")),
        sa.UniqueConstraint("engagement_id", name=op.f("uq_engagements_engagement_id")),
    )
    with op.batch_alter_table("engagements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engagements_account_id_start_time", ["account_id", "start_time"], unique=False
        )
        batch_op.create_index(
            "ix_engagements_contact_arn_start_time", ["contact_arn", "start_time"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_engagements_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "pages",
        sa.Column("arn", sa.String(length=600), nullable=False),
        sa.Column("page_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("engagement_arn", sa.String(length=600), nullable=False),
        sa.Column("contact_arn", sa.String(length=512), nullable=False),
        sa.Column("stage_index", sa.Integer(), nullable=True),
        sa.Column("essential", sa.Boolean(), nullable=False),
        sa.Column("resolution", sa.JSON(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("accept_code", sa.Text(), nullable=False),
        _time("start_time", False),
        _time("sent_time", True),
        _time("delivery_time", True),
        _time("read_time", True),
        _time("stop_time", True),
        sa.ForeignKeyConstraint(
            ["engagement_arn"],
            ["engagements.arn"],
            name=op.f("fk_pages_engagement_arn_engagements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_pages")),
        sa.UniqueConstraint("page_id", name=op.f("uq_pages_page_id")),
    )
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pages_contact_arn_start_time", ["contact_arn", "start_time"], unique=False
        )
        batch_op.create_index(
            "ix_pages_engagement_arn_start_time", ["engagement_arn", "start_time"], unique=False
        )

    op.create_table(
        "page_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_arn", sa.String(length=600), nullable=False),
        sa.Column("channel_arn", sa.String(length=560), nullable=True),
        sa.Column("receipt_type", sa.String(length=16), nullable=False),
        sa.Column("receipt_info", sa.Text(), nullable=True),
        _time("receipt_time", False),
        sa.Column("send_key", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["page_arn"],
            ["pages.arn"],
            name=op.f("fk_page_receipts_page_arn_pages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_receipts")),
        sa.UniqueConstraint("send_key", name=op.f("uq_page_receipts_send_key")),
    )
    with op.batch_alter_table("page_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_page_receipts_page_arn_id", ["page_arn", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("page_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_page_receipts_page_arn_id")
    op.drop_table("page_receipts")

    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_index("ix_pages_engagement_arn_start_time")
        batch_op.drop_index("ix_pages_contact_arn_start_time")
    op.drop_table("pages")

    with op.batch_alter_table("engagements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_engagements_incident_id"))
        batch_op.drop_index("ix_engagements_contact_arn_start_time")
        batch_op.drop_index("ix_engagements_account_id_start_time")
    op.drop_table("engagements")
