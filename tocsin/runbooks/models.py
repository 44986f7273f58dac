"""Tables of SSM documents: documents, their versions, share permissions and tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class Document(Base):
    """An SSM document of one account and Region; its content lives in its versions."""

    __tablename__ = "ssm_documents"
    __table_args__ = (UniqueConstraint("account_id", "region", "name"),)

    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    arn: Mapped[str] = mapped_column(String(512), unique=True)
    document_type: Mapped[str] = mapped_column(String(64))
    default_version: Mapped[int]
    latest_version: Mapped[int]
    # The highest version number ever given, so that a deleted version's number
    # is never given to new content.
    version_counter: Mapped[int]
    created_at: Mapped[datetime]


class DocumentVersion(Base):
    """One version of a document: its content as sent and what DescribeDocument shows of it."""

    __tablename__ = "ssm_document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version_name"),)

    document_id: Mapped[str] = mapped_column(
        ForeignKey("ssm_documents.document_id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True)
    version_name: Mapped[str | None] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(1024))
    target_type: Mapped[str | None] = mapped_column(String(200))
    document_format: Mapped[str] = mapped_column(String(8))
    content: Mapped[str] = mapped_column(Text)
    # Hex SHA-256 digest of the UTF-8 content.
    content_hash: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    # DescribeDocument's Parameters list: [{"Name", "Type", "Description"?, "DefaultValue"?}].
    parameters: Mapped[list[Any]]
    created_at: Mapped[datetime]


class DocumentPermission(Base):
    """A share of a document with one account, or with every account when account_id is "all"."""

    __tablename__ = "ssm_document_permissions"

    document_id: Mapped[str] = mapped_column(
        ForeignKey("ssm_documents.document_id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(String(12), primary_key=True, index=True)
    # $DEFAULT, $LATEST or $ALL: which versions the account may read.
    shared_version: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]


class DocumentTag(Base):
    """One tag of a document."""

    __tablename__ = "ssm_document_tags"

    document_id: Mapped[str] = mapped_column(
        ForeignKey("ssm_documents.document_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
