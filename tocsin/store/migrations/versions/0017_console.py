"""Console sign-in: login profiles, console sessions and failed sign-in attempts.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 00:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.store.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, tocsin.store.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "iam_login_profiles",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("password_reset_required", sa.Boolean(), nullable=False),
        sa.Column("max_signin_session_duration", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        _timestamp("password_changed_at"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["iam_users.user_id"],
            name=op.f("fk_iam_login_profiles_user_id_iam_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_iam_login_profiles")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("session_digest", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("password_stamp", sa.String(length=64), nullable=False),
        sa.Column("role_access_key_id", sa.String(length=32), nullable=True),
        sa.Column("encrypted_role_session_token", sa.Text(), nullable=True),
        sa.Column("role_display_name", sa.String(length=64), nullable=True),
        _timestamp("created_at"),
        _timestamp("expires_at"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["iam_users.user_id"],
            name=op.f("fk_console_sessions_user_id_iam_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_digest", name=op.f("pk_console_sessions")),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_console_sessions_user_id"), ["user_id"], unique=False)
    op.create_table(
        "console_sign_in_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        _timestamp("failed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sign_in_failures")),
    )
    with op.batch_alter_table("console_sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_console_sign_in_failures_user",
            ["account_id", "user_name", "failed_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_console_sign_in_failures_client", ["client_address", "failed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("console_sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_console_sign_in_failures_client")
        batch_op.drop_index("ix_console_sign_in_failures_user")
    op.drop_table("console_sign_in_failures")
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_console_sessions_expires_at"))
    op.drop_table("console_sessions")
    op.drop_table("iam_login_profiles")
