"""Inbound alerting webhooks: secret URLs that turn alerts into events.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, tocsin.store.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert_webhooks",
        sa.Column("webhook_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("bus_name", sa.String(length=256), nullable=False),
        _timestamp("created_at"),
        _timestamp("revoked_at", nullable=True),
        _timestamp("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("webhook_id", name=op.f("pk_alert_webhooks")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_alert_webhooks_token_digest")),
    )
    with op.batch_alter_table("alert_webhooks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_webhooks_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_webhooks_account_id"))

    op.drop_table("alert_webhooks")
