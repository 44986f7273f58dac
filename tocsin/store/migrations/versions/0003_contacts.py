"""Contacts: contacts, contact channels, resource tags and the development outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 16:45:31.097243
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=True),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_contacts")),
        sa.UniqueConstraint("account_id", "alias", name=op.f("uq_contacts_account_id")),
    )
    op.create_table(
        "contacts_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("channel_arn", sa.String(length=560), nullable=False),
        sa.Column("channel_type", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_contacts_outbox_key")),
    )
    with op.batch_alter_table("contacts_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contacts_outbox_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "contacts_resource_tags",
        sa.Column("resource_arn", sa.String(length=1011), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("resource_arn", "key", name=op.f("pk_contacts_resource_tags")),
    )
    with op.batch_alter_table("contacts_resource_tags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contacts_resource_tags_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "contact_channels",
        sa.Column("channel_id", sa.String(length=36), nullable=False),
        sa.Column("arn", sa.String(length=560), nullable=False),
        sa.Column("contact_arn", sa.String(length=512), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("activation_status", sa.String(length=16), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("code_serial", sa.Integer(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("code_sends", sa.JSON(), nullable=False),
        sa.Column("activated_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_arn"],
            ["contacts.arn"],
            name=op.f("fk_contact_channels_contact_arn_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_contact_channels")),
        sa.UniqueConstraint("arn", name=op.f("uq_contact_channels_arn")),
        sa.UniqueConstraint(
            "contact_arn", "type", "address", name=op.f("uq_contact_channels_contact_arn")
        ),
    )
    with op.batch_alter_table("contact_channels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_channels_contact_arn_created_at",
            ["contact_arn", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_channels", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_channels_contact_arn_created_at")

    op.drop_table("contact_channels")
    with op.batch_alter_table("contacts_resource_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_resource_tags_account_id"))

    op.drop_table("contacts_resource_tags")
    with op.batch_alter_table("contacts_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_outbox_account_id"))

    op.drop_table("contacts_outbox")
    op.drop_table("contacts")
