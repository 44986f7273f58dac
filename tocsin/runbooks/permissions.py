"""Sharing of documents with other accounts: ModifyDocumentPermission and its reads.

A document is shared with an account id or with "all" (every account of the
server). Accounts it is shared with read it by its ARN and run it; only the
owner changes, shares, tags or deletes it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.protocol.errors import ValidationException
from tocsin.runbooks import documents
from tocsin.runbooks.errors import DocumentPermissionLimit, InvalidPermissionType
from tocsin.runbooks.models import Document, DocumentPermission

logger = logging.getLogger(__name__)

PUBLIC = "all"
# AWS's default quotas, as the SSM model's DocumentPermissionLimit states them:
# 1,000 accounts per privately shared document and five public documents.
MAX_SHARED_ACCOUNTS = 1000
MAX_PUBLIC_DOCUMENTS = 5
DEFAULT_SHARED_VERSION = "$DEFAULT"


def _account_ids(values: list[str], member: str) -> list[str]:
    """Normalise account ids: "All" in any case becomes "all"; others must have 12 digits."""
    normalised = []
    for value in values:
        if value.lower() == PUBLIC:
            normalised.append(PUBLIC)
        elif len(value) == 12 and value.isdigit():
            normalised.append(value)
        else:
            raise ValidationException(
                f"Invalid {member} value {value!r}: expected a 12-digit account id or All"
            )
    return list(dict.fromkeys(normalised))


def modify(session: Session, clock: Clock, document: Document, params: dict[str, Any]) -> None:
    """Apply ModifyDocumentPermission to the owner's ``document``."""
    if params["PermissionType"] != "Share":
        raise InvalidPermissionType(
            f"PermissionType {params['PermissionType']} is not supported. Use Share."
        )
    to_add = _account_ids(params.get("AccountIdsToAdd", []), "AccountIdsToAdd")
    to_remove = _account_ids(params.get("AccountIdsToRemove", []), "AccountIdsToRemove")
    both = sorted(set(to_add) & set(to_remove))
    if both:
        raise ValidationException(
            f"Account {both[0]} is in both AccountIdsToAdd and AccountIdsToRemove. "
            "Name each account in one list only."
        )
    if document.account_id in to_add:
        raise ValidationException(
            f"Account {document.account_id} owns document {document.name} and cannot be "
            "added to its permissions."
        )
    shared_version = params.get("SharedDocumentVersion", DEFAULT_SHARED_VERSION)

    if to_remove:
        session.execute(
            delete(DocumentPermission).where(
                DocumentPermission.document_id == document.document_id,
                DocumentPermission.account_id.in_(to_remove),
            )
        )
    existing = {
        row.account_id: row
        for row in session.scalars(
            select(DocumentPermission).where(DocumentPermission.document_id == document.document_id)
        )
    }
    _check_limits(session, document, existing, to_add)
    now = clock.now()
    for account_id in to_add:
        if account_id in existing:
            existing[account_id].shared_version = shared_version
        else:
            session.add(
                DocumentPermission(
                    document_id=document.document_id,
                    account_id=account_id,
                    shared_version=shared_version,
                    created_at=now,
                )
            )
    session.flush()
    logger.info(
        "document %s: shared with %s (%s), unshared from %s",
        document.arn,
        to_add,
        shared_version,
        to_remove,
    )


def _check_limits(
    session: Session, document: Document, existing: dict[str, Any], to_add: list[str]
) -> None:
    accounts = (existing.keys() | set(to_add)) - {PUBLIC}
    if len(accounts) > MAX_SHARED_ACCOUNTS:
        raise DocumentPermissionLimit(
            f"Document {document.name} would be shared with {len(accounts)} accounts; a "
            f"document is shared with at most {MAX_SHARED_ACCOUNTS}."
        )
    if PUBLIC in to_add and PUBLIC not in existing:
        public = session.scalar(
            select(func.count())
            .select_from(DocumentPermission)
            .join(Document, Document.document_id == DocumentPermission.document_id)
            .where(
                Document.account_id == document.account_id,
                Document.region == document.region,
                DocumentPermission.account_id == PUBLIC,
            )
        )
        if (public or 0) >= MAX_PUBLIC_DOCUMENTS:
            raise DocumentPermissionLimit(
                f"Account {document.account_id} shares {public} documents publicly, the "
                f"maximum of {MAX_PUBLIC_DOCUMENTS}; stop sharing one before sharing "
                f"{document.name} with All."
            )


def permissions(session: Session, document: Document) -> list[DocumentPermission]:
    """Return the document's permissions, ordered by account id ("all" last)."""
    return list(
        session.scalars(
            select(DocumentPermission)
            .where(DocumentPermission.document_id == document.document_id)
            .order_by(DocumentPermission.account_id)
        )
    )


def permission_for(
    session: Session, document: Document, account_id: str
) -> DocumentPermission | None:
    """Return the permission that lets ``account_id`` read ``document``, if any.

    A share with the account itself wins over a public share, because it may
    name other versions.
    """
    rows = {
        row.account_id: row
        for row in session.scalars(
            select(DocumentPermission).where(
                DocumentPermission.document_id == document.document_id,
                or_(
                    DocumentPermission.account_id == account_id,
                    DocumentPermission.account_id == PUBLIC,
                ),
            )
        )
    }
    return rows.get(account_id) or rows.get(PUBLIC)


def find_readable(
    session: Session, account_id: str, region: str, name: str
) -> tuple[Document, str | None]:
    """Return the document that ``name`` (a name or an ARN) names, if ``account_id`` may read it.

    The second value is the shared version ($DEFAULT, $LATEST or $ALL) for a
    document of another account, and None for the account's own document.
    Documents of other accounts that are not shared with it, and documents
    of other Regions, raise InvalidDocument as if they did not exist. IAM
    authorization is the caller's business.
    """
    parsed = documents.parse_name(name, account_id, region)
    document = None
    if parsed.region == region:
        document = documents.find(session, parsed.account_id, parsed.region, parsed.name)
    if document is None:
        raise documents.not_found(name)
    if document.account_id == account_id:
        return document, None
    permission = permission_for(session, document, account_id)
    if permission is None:
        raise documents.not_found(name)
    return document, permission.shared_version
