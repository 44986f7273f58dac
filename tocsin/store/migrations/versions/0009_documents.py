"""SSM documents: Automation runbooks, their versions, share permissions and tags.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ssm_documents",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("document_type", sa.String(length=64), nullable=False),
        sa.Column("default_version", sa.Integer(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("version_counter", sa.Integer(), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_ssm_documents_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_ssm_documents")),
        sa.UniqueConstraint(
            "account_id", "region", "name", name=op.f("uq_ssm_documents_account_id")
        ),
        sa.UniqueConstraint("arn", name=op.f("uq_ssm_documents_arn")),
    )
    op.create_table(
        "ssm_document_versions",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("version_name", sa.String(length=128), nullable=True),
        sa.Column("display_name", sa.String(length=1024), nullable=True),
        sa.Column("target_type", sa.String(length=200), nullable=True),
        sa.Column("document_format", sa.String(length=8), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("schema_version", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["ssm_documents.document_id"],
            name=op.f("fk_ssm_document_versions_document_id_ssm_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "version", name=op.f("pk_ssm_document_versions")),
        sa.UniqueConstraint(
            "document_id", "version_name", name=op.f("uq_ssm_document_versions_document_id")
        ),
    )
    op.create_table(
        "ssm_document_permissions",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("shared_version", sa.String(length=8), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["ssm_documents.document_id"],
            name=op.f("fk_ssm_document_permissions_document_id_ssm_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "document_id", "account_id", name=op.f("pk_ssm_document_permissions")
        ),
    )
    with op.batch_alter_table("ssm_document_permissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ssm_document_permissions_account_id"), ["account_id"], unique=False
        )
    op.create_table(
        "ssm_document_tags",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["ssm_documents.document_id"],
            name=op.f("fk_ssm_document_tags_document_id_ssm_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "key", name=op.f("pk_ssm_document_tags")),
    )


def downgrade() -> None:
    op.drop_table("ssm_document_tags")
    with op.batch_alter_table("ssm_document_permissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ssm_document_permissions_account_id"))

    op.drop_table("ssm_document_permissions")
    op.drop_table("ssm_document_versions")
    op.drop_table("ssm_documents")
