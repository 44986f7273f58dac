"""Tables of AWS Organizations: organizations, roots, organizational units and members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class Organization(Base):
    """An organization; its management account is the account that created it."""

    __tablename__ = "organizations"

    organization_id: Mapped[str] = mapped_column(String(34), primary_key=True)  # o-...
    management_account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.account_id", ondelete="CASCADE"), unique=True
    )
    feature_set: Mapped[str] = mapped_column(String(32))
    # Organizations has one root per organization, so its id is kept here.
    root_id: Mapped[str] = mapped_column(String(34), unique=True)  # r-...
    # Set by RAM's EnableSharingWithAwsOrganization.
    ram_sharing_enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]


class OrganizationalUnit(Base):
    """An organizational unit; its parent is the root or another unit."""

    __tablename__ = "organizational_units"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    ou_id: Mapped[str] = mapped_column(String(68), primary_key=True)  # ou-...
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.organization_id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[str] = mapped_column(String(68))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class OrganizationMember(Base):
    """An account's membership of an organization, with its place in the tree.

    ``accounts.organization_id`` is kept equal to ``organization_id`` here,
    because request authentication reads it for ``aws:PrincipalOrgID``.
    """

    __tablename__ = "organization_members"
    __table_args__ = (Index("ix_organization_members_parent", "organization_id", "parent_id"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.organization_id", ondelete="CASCADE")
    )
    parent_id: Mapped[str] = mapped_column(String(68))
    joined_method: Mapped[str] = mapped_column(String(16))  # INVITED or CREATED
    joined_at: Mapped[datetime]


class CreateAccountRequest(Base):
    """A CreateAccount request and its outcome, for DescribeCreateAccountStatus."""

    __tablename__ = "organization_create_account_requests"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # car-...
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.organization_id", ondelete="CASCADE"), index=True
    )
    account_name: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(String(12))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class Handshake(Base):
    """An invitation of an account to join an organization."""

    __tablename__ = "organization_handshakes"

    handshake_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # h-...
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.organization_id", ondelete="CASCADE"), index=True
    )
    target_account_id: Mapped[str] = mapped_column(String(12), index=True)
    action: Mapped[str] = mapped_column(String(32))
    # OPEN, ACCEPTED, DECLINED or CANCELED; EXPIRED is derived from expires_at.
    state: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(String(1024))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]
