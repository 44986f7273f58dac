"""ListDocuments: the documents listed to an account, and the filters.

Owner values, as Tocsin reads them (Tocsin has no AWS-owned documents):

- Self: documents that the caller's account owns.
- Private: documents the account owns and documents shared with the account
  by id. This is also the listing without an Owner filter.
- Public: documents shared with All, by any account.
- All: Private and Public together.
- Amazon and ThirdParty: no documents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from tocsin.runbooks.documents import PLATFORM_TYPES
from tocsin.runbooks.errors import InvalidFilterKey
from tocsin.runbooks.models import Document, DocumentPermission, DocumentTag
from tocsin.runbooks.permissions import PUBLIC

OWNER_VALUES = ("Self", "Private", "Public", "All", "Amazon", "ThirdParty")
FILTER_KEYS = ("Name", "Owner", "DocumentType", "PlatformTypes", "SearchKeyword", "TagKeys")


def _shared_with(account_ids: list[str]) -> ColumnElement[bool]:
    return Document.document_id.in_(
        select(DocumentPermission.document_id).where(DocumentPermission.account_id.in_(account_ids))
    )


def _owner_condition(account_id: str, value: str) -> ColumnElement[bool]:
    own = Document.account_id == account_id
    conditions: dict[str, ColumnElement[bool]] = {
        "Self": own,
        "Private": or_(own, _shared_with([account_id])),
        "Public": _shared_with([PUBLIC]),
        "All": or_(own, _shared_with([account_id, PUBLIC])),
        "Amazon": false(),
        "ThirdParty": false(),
    }
    normalised = {name.lower(): name for name in OWNER_VALUES}.get(value.lower())
    if normalised is None:
        raise InvalidFilterKey(
            f"Owner value {value!r} is invalid; use one of " + ", ".join(OWNER_VALUES)
        )
    return conditions[normalised]


def _any(values: list[str], condition: Callable[[str], ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*(condition(value) for value in values)) if values else true()


def _tag_condition(key: str, values: list[str]) -> ColumnElement[bool]:
    match = and_(DocumentTag.document_id == Document.document_id, DocumentTag.key == key)
    if values:
        match = and_(match, DocumentTag.value.in_(values))
    return exists().where(match)


def _filter_condition(account_id: str, key: str, values: list[str]) -> ColumnElement[bool]:
    """Return the condition of one filter: a document matches when any value matches."""
    if key.startswith("tag:") and len(key) > len("tag:"):
        return _tag_condition(key[len("tag:") :], values)
    builders: dict[str, Callable[[str], ColumnElement[bool]]] = {
        "Name": lambda v: Document.name.startswith(v, autoescape=True),
        "Owner": lambda v: _owner_condition(account_id, v),
        "DocumentType": lambda v: Document.document_type == v,
        "PlatformTypes": lambda v: true() if v in PLATFORM_TYPES else false(),
        "SearchKeyword": lambda v: Document.name.icontains(v, autoescape=True),
        "TagKeys": lambda v: _tag_condition(v, []),
    }
    builder = builders.get(key)
    if builder is None:
        raise InvalidFilterKey(
            f"Filter key {key!r} is invalid; use one of " + ", ".join(FILTER_KEYS) + " or tag:KEY"
        )
    return _any(values, builder)


def visible_documents(
    session: Session, account_id: str, region: str, params: dict[str, Any]
) -> Any:
    """Return the select of the documents that ListDocuments returns for ``params``."""
    conditions: list[ColumnElement[bool]] = [Document.region == region]
    owner_given = False
    for item in params.get("DocumentFilterList", []):
        owner_given |= item["key"] == "Owner"
        conditions.append(_filter_condition(account_id, item["key"], [item["value"]]))
    for item in params.get("Filters", []):
        key = item.get("Key")
        if key is None:
            raise InvalidFilterKey("A filter of Filters has no Key")
        owner_given |= key == "Owner"
        conditions.append(_filter_condition(account_id, key, item.get("Values", [])))
    if not owner_given:
        conditions.append(_owner_condition(account_id, "Private"))
    return select(Document).where(*conditions)


def shown_name(document: Document, account_id: str) -> str:
    """Return the Name shown to the caller: the name when it owns the document, else the ARN."""
    return document.name if document.account_id == account_id else document.arn
