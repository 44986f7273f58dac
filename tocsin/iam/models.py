"""Tables of accounts, IAM users, roles, their inline policies and credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.store.base import Base


class Account(Base):
    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(64))
    # Set when the account joins an organization.
    organization_id: Mapped[str | None] = mapped_column(String(34), index=True)
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "iam_users"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # AIDA...
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), default="/")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]

    policies: Mapped[list[UserPolicy]] = relationship(
        cascade="all, delete-orphan", order_by="UserPolicy.name"
    )

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user{self.path}{self.name}"


class LoginProfile(Base):
    """The console password of an IAM user, stored only as a salted scrypt hash."""

    __tablename__ = "iam_login_profiles"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("iam_users.user_id", ondelete="CASCADE"), primary_key=True
    )
    # "scrypt$N$r$p$SALT$HASH" with base64 salt and hash; see tocsin.iam.passwords.
    password_hash: Mapped[str] = mapped_column(String(256))
    password_reset_required: Mapped[bool] = mapped_column(default=False)
    # Maximum console session of this user in seconds; None means the server's setting.
    max_signin_session_duration: Mapped[int | None]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]


class UserPolicy(Base):
    __tablename__ = "iam_user_policies"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("iam_users.user_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    document: Mapped[str] = mapped_column(Text)


class Role(Base):
    __tablename__ = "iam_roles"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    role_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # AROA...
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), default="/")
    description: Mapped[str | None] = mapped_column(String(1000))
    assume_role_policy: Mapped[str] = mapped_column(Text)
    max_session_duration: Mapped[int] = mapped_column(default=3600)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]

    policies: Mapped[list[RolePolicy]] = relationship(
        cascade="all, delete-orphan", order_by="RolePolicy.name"
    )

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role{self.path}{self.name}"


class RolePolicy(Base):
    __tablename__ = "iam_role_policies"

    role_id: Mapped[str] = mapped_column(
        ForeignKey("iam_roles.role_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    document: Mapped[str] = mapped_column(Text)


class AccessKey(Base):
    """A long-term access key of an IAM user; the secret is stored encrypted."""

    __tablename__ = "iam_access_keys"

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # AKIA...
    user_id: Mapped[str] = mapped_column(
        ForeignKey("iam_users.user_id", ondelete="CASCADE"), index=True
    )
    encrypted_secret: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="Active")
    created_at: Mapped[datetime]


class RoleSession(Base):
    """Temporary credentials issued by AssumeRole; the secret is stored encrypted."""

    __tablename__ = "sts_role_sessions"

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # ASIA...
    role_id: Mapped[str] = mapped_column(
        ForeignKey("iam_roles.role_id", ondelete="CASCADE"), index=True
    )
    session_name: Mapped[str] = mapped_column(String(64))
    encrypted_secret: Mapped[str] = mapped_column(Text)
    # SHA-256 of the session token: the token itself is only ever held by the client.
    session_token_digest: Mapped[str] = mapped_column(String(64))
    # Session policy given to AssumeRole, which further limits the role's policies.
    session_policy: Mapped[str | None] = mapped_column(Text)
    source_arn: Mapped[str] = mapped_column(String(2048))  # who assumed the role
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
