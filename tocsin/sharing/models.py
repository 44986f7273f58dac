"""Tables of RAM: resource shares, their resources, principals and invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class ResourceShare(Base):
    """A resource share of one owner account."""

    __tablename__ = "ram_resource_shares"
    __table_args__ = (Index("ix_ram_resource_shares_owner", "account_id", "region"),)

    arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    allow_external_principals: Mapped[bool]
    retain_on_leave: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))  # ACTIVE or DELETED
    # ARNs of the managed permissions associated with the share.
    permission_arns: Mapped[list[Any]]
    # [{"key": ..., "value": ...}] as on the wire.
    tags: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ShareResource(Base):
    """A resource associated with a share."""

    __tablename__ = "ram_share_resources"

    share_arn: Mapped[str] = mapped_column(
        ForeignKey("ram_resource_shares.arn", ondelete="CASCADE"), primary_key=True
    )
    resource_arn: Mapped[str] = mapped_column(String(1011), primary_key=True, index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # ASSOCIATED or DISASSOCIATED
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SharePrincipal(Base):
    """A principal associated with a share: an account id, an OU ARN or an organization ARN.

    ``status`` is ASSOCIATING while an invitation is pending, ASSOCIATED once
    the principal has access, and DISASSOCIATED after the owner removes it or
    the invitation is rejected or expires.
    """

    __tablename__ = "ram_share_principals"

    share_arn: Mapped[str] = mapped_column(
        ForeignKey("ram_resource_shares.arn", ondelete="CASCADE"), primary_key=True
    )
    principal: Mapped[str] = mapped_column(String(256), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(16))
    status_message: Mapped[str | None] = mapped_column(String(256))
    # True for an account outside the owner's organization.
    external: Mapped[bool]
    # True when access came from organization membership rather than an
    # accepted invitation, so that leaving the organization ends it.
    via_organization: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ShareInvitation(Base):
    """An invitation of an account to a share; EXPIRED is derived from the clock."""

    __tablename__ = "ram_share_invitations"

    arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    share_arn: Mapped[str] = mapped_column(
        ForeignKey("ram_resource_shares.arn", ondelete="CASCADE"), index=True
    )
    sender_account_id: Mapped[str] = mapped_column(String(12))
    receiver_account_id: Mapped[str] = mapped_column(String(12), index=True)
    status: Mapped[str] = mapped_column(String(16))  # PENDING, ACCEPTED or REJECTED
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
