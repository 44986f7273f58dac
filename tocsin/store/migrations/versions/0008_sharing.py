"""Organizations and RAM: organizations, units, members, handshakes and resource shares.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("management_account_id", sa.String(length=12), nullable=False),
        sa.Column("feature_set", sa.String(length=32), nullable=False),
        sa.Column("root_id", sa.String(length=34), nullable=False),
        sa.Column("ram_sharing_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["management_account_id"],
            ["accounts.account_id"],
            name=op.f("fk_organizations_management_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_organizations")),
        sa.UniqueConstraint(
            "management_account_id", name=op.f("uq_organizations_management_account_id")
        ),
        sa.UniqueConstraint("root_id", name=op.f("uq_organizations_root_id")),
    )
    op.create_table(
        "ram_resource_shares",
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("allow_external_principals", sa.Boolean(), nullable=False),
        sa.Column("retain_on_leave", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("permission_arns", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_ram_resource_shares_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_ram_resource_shares")),
    )
    with op.batch_alter_table("ram_resource_shares", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ram_resource_shares_owner", ["account_id", "region"], unique=False
        )

    op.create_table(
        "organization_create_account_requests",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("account_name", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=True),
        sa.Column("failure_reason", sa.String(length=64), nullable=True),
        sa.Column("requested_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.organization_id"],
            name=op.f("fk_organization_create_account_requests_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_organization_create_account_requests")),
    )
    with op.batch_alter_table("organization_create_account_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organization_create_account_requests_organization_id"),
            ["organization_id"],
            unique=False,
        )

    op.create_table(
        "organization_handshakes",
        sa.Column("handshake_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("target_account_id", sa.String(length=12), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.String(length=1024), nullable=True),
        sa.Column("requested_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.organization_id"],
            name=op.f("fk_organization_handshakes_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("handshake_id", name=op.f("pk_organization_handshakes")),
    )
    with op.batch_alter_table("organization_handshakes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organization_handshakes_organization_id"),
            ["organization_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_organization_handshakes_target_account_id"),
            ["target_account_id"],
            unique=False,
        )

    op.create_table(
        "organization_members",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("parent_id", sa.String(length=68), nullable=False),
        sa.Column("joined_method", sa.String(length=16), nullable=False),
        sa.Column("joined_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_organization_members_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.organization_id"],
            name=op.f("fk_organization_members_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_organization_members")),
    )
    with op.batch_alter_table("organization_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_organization_members_parent", ["organization_id", "parent_id"], unique=False
        )

    op.create_table(
        "organizational_units",
        sa.Column("ou_id", sa.String(length=68), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("parent_id", sa.String(length=68), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.organization_id"],
            name=op.f("fk_organizational_units_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ou_id", name=op.f("pk_organizational_units")),
        sa.UniqueConstraint("parent_id", "name", name=op.f("uq_organizational_units_parent_id")),
    )
    with op.batch_alter_table("organizational_units", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organizational_units_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "ram_share_invitations",
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("share_arn", sa.String(length=256), nullable=False),
        sa.Column("sender_account_id", sa.String(length=12), nullable=False),
        sa.Column("receiver_account_id", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["share_arn"],
            ["ram_resource_shares.arn"],
            name=op.f("fk_ram_share_invitations_share_arn_ram_resource_shares"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_ram_share_invitations")),
    )
    with op.batch_alter_table("ram_share_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ram_share_invitations_receiver_account_id"),
            ["receiver_account_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_ram_share_invitations_share_arn"), ["share_arn"], unique=False
        )

    op.create_table(
        "ram_share_principals",
        sa.Column("share_arn", sa.String(length=256), nullable=False),
        sa.Column("principal", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.String(length=256), nullable=True),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("via_organization", sa.Boolean(), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["share_arn"],
            ["ram_resource_shares.arn"],
            name=op.f("fk_ram_share_principals_share_arn_ram_resource_shares"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("share_arn", "principal", name=op.f("pk_ram_share_principals")),
    )
    with op.batch_alter_table("ram_share_principals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ram_share_principals_principal"), ["principal"], unique=False
        )

    op.create_table(
        "ram_share_resources",
        sa.Column("share_arn", sa.String(length=256), nullable=False),
        sa.Column("resource_arn", sa.String(length=1011), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["share_arn"],
            ["ram_resource_shares.arn"],
            name=op.f("fk_ram_share_resources_share_arn_ram_resource_shares"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("share_arn", "resource_arn", name=op.f("pk_ram_share_resources")),
    )
    with op.batch_alter_table("ram_share_resources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ram_share_resources_resource_arn"), ["resource_arn"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ram_share_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ram_share_resources_resource_arn"))

    op.drop_table("ram_share_resources")
    with op.batch_alter_table("ram_share_principals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ram_share_principals_principal"))

    op.drop_table("ram_share_principals")
    with op.batch_alter_table("ram_share_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ram_share_invitations_share_arn"))
        batch_op.drop_index(batch_op.f("ix_ram_share_invitations_receiver_account_id"))

    op.drop_table("ram_share_invitations")
    with op.batch_alter_table("organizational_units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organizational_units_organization_id"))

    op.drop_table("organizational_units")
    with op.batch_alter_table("organization_members", schema=None) as batch_op:
        batch_op.drop_index("ix_organization_members_parent")

    op.drop_table("organization_members")
    with op.batch_alter_table("organization_handshakes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_handshakes_target_account_id"))
        batch_op.drop_index(batch_op.f("ix_organization_handshakes_organization_id"))

    op.drop_table("organization_handshakes")
    with op.batch_alter_table("organization_create_account_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_create_account_requests_organization_id"))

    op.drop_table("organization_create_account_requests")
    with op.batch_alter_table("ram_resource_shares", schema=None) as batch_op:
        batch_op.drop_index("ix_ram_resource_shares_owner")

    op.drop_table("ram_resource_shares")
    op.drop_table("organizations")
