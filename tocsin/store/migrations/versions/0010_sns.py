"""SNS topics, subscriptions, deliveries and the message signing key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, tocsin.store.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sns_topics",
        sa.Column("arn", sa.String(length=320), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("delivery_policy", sa.Text(), nullable=True),
        sa.Column("signature_version", sa.String(length=1), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_sns_topics")),
    )
    op.create_index(
        "ix_sns_topics_account_region", "sns_topics", ["account_id", "region", "name"], unique=False
    )
    op.create_table(
        "sns_subscriptions",
        sa.Column("arn", sa.String(length=400), nullable=False),
        sa.Column("topic_arn", sa.String(length=320), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("owner_account_id", sa.String(length=12), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=True),
        _timestamp("token_expires_at", nullable=True),
        sa.Column("confirmation_was_authenticated", sa.Boolean(), nullable=False),
        sa.Column("authenticate_on_unsubscribe", sa.Boolean(), nullable=False),
        _timestamp("unsubscribed_at", nullable=True),
        sa.Column("raw_message_delivery", sa.Boolean(), nullable=False),
        sa.Column("filter_policy", sa.Text(), nullable=True),
        sa.Column("filter_policy_scope", sa.String(length=32), nullable=True),
        sa.Column("delivery_policy", sa.Text(), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_sns_subscriptions")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_sns_subscriptions_token_digest")),
    )
    op.create_index(
        "ix_sns_subscriptions_topic_endpoint",
        "sns_subscriptions",
        ["topic_arn", "protocol", "endpoint"],
        unique=False,
    )
    op.create_index(
        "ix_sns_subscriptions_owner",
        "sns_subscriptions",
        ["owner_account_id", "region"],
        unique=False,
    )
    op.create_table(
        "sns_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("message_type", sa.String(length=32), nullable=False),
        sa.Column("topic_arn", sa.String(length=320), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("subscription_arn", sa.String(length=400), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("encrypted_token", sa.Text(), nullable=True),
        sa.Column("raw", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sns_deliveries")),
    )
    op.create_index("ix_sns_deliveries_message_id", "sns_deliveries", ["message_id"], unique=False)
    op.create_table(
        "sns_signing_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("encrypted_private_key", sa.Text(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_sns_signing_keys")),
    )


def downgrade() -> None:
    op.drop_table("sns_signing_keys")
    op.drop_index("ix_sns_deliveries_message_id", table_name="sns_deliveries")
    op.drop_table("sns_deliveries")
    op.drop_index("ix_sns_subscriptions_owner", table_name="sns_subscriptions")
    op.drop_index("ix_sns_subscriptions_topic_endpoint", table_name="sns_subscriptions")
    op.drop_table("sns_subscriptions")
    op.drop_index("ix_sns_topics_account_region", table_name="sns_topics")
    op.drop_table("sns_topics")
