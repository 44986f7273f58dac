"""SSM documents and their versions: creation, updates, version selection and deletion.

Only Automation documents are stored. Each CreateDocument or UpdateDocument
adds a version numbered from 1; the default version is the one that runs and
that GetDocument returns when no version is named, and UpdateDocument never
changes it. Creation is synchronous, so every version is Active at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.protocol.errors import ValidationException
from tocsin.runbooks import document_schema
from tocsin.runbooks.document_schema import AutomationDocument
from tocsin.runbooks.errors import (
    DocumentAlreadyExists,
    DocumentLimitExceeded,
    DocumentVersionLimitExceeded,
    DuplicateDocumentContent,
    DuplicateDocumentVersionName,
    InvalidDocument,
    InvalidDocumentOperation,
    InvalidDocumentType,
    InvalidDocumentVersion,
    TooManyTagsError,
)
from tocsin.runbooks.models import Document, DocumentPermission, DocumentTag, DocumentVersion

logger = logging.getLogger(__name__)

# The model's documentation of DocumentLimitExceeded names 500 documents.
MAX_DOCUMENTS = 500
# Versions per document and tags per document: Tocsin's choices, because the
# SSM model states neither limit.
MAX_VERSIONS = 1000
MAX_TAGS = 50
# Name prefixes that AWS reserves for its own documents, compared without case.
RESERVED_PREFIXES = ("aws", "amazon", "amzn")
SUPPORTED_TYPE = "Automation"
# Automation documents run on no managed node, so Tocsin lists every platform for them.
PLATFORM_TYPES = ["Windows", "Linux", "MacOS"]
_ARN = re.compile(r"^arn:aws:ssm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):document/(?P<name>.+)$")


def document_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account_id}:document/{name}"


@dataclass(frozen=True)
class DocumentName:
    """The Name member of a request: a plain name in the caller's account, or an ARN."""

    account_id: str
    region: str
    name: str

    @property
    def arn(self) -> str:
        return document_arn(self.region, self.account_id, self.name)


def parse_name(value: str, account_id: str, region: str) -> DocumentName:
    """Resolve ``value`` to an account, Region and name; a plain name is the caller's."""
    match = _ARN.match(value)
    if match is None:
        if value.startswith("arn:"):
            raise InvalidDocument(
                f"Document ARN {value!r} is invalid; expected "
                "arn:aws:ssm:REGION:ACCOUNT_ID:document/NAME"
            )
        return DocumentName(account_id, region, value)
    return DocumentName(match["account"], match["region"], match["name"])


def not_found(name: str) -> InvalidDocument:
    return InvalidDocument(f"Document {name} does not exist or is not shared with your account.")


def find(session: Session, account_id: str, region: str, name: str) -> Document | None:
    return session.scalar(
        select(Document).where(
            Document.account_id == account_id, Document.region == region, Document.name == name
        )
    )


def get_owned(session: Session, account_id: str, region: str, name: str) -> Document:
    """Return the caller's own document ``name`` (a name or an ARN of its own account)."""
    parsed = parse_name(name, account_id, region)
    if parsed.account_id != account_id or parsed.region != region:
        raise InvalidDocumentOperation(
            f"Only the owner account {parsed.account_id} can change document {parsed.arn}."
        )
    document = find(session, account_id, region, parsed.name)
    if document is None:
        raise not_found(parsed.name)
    return document


def lock(session: Session, document: Document) -> Document:
    """Reload ``document`` with a row lock, so that concurrent updates number versions in turn."""
    locked = session.scalar(
        select(Document)
        .where(Document.document_id == document.document_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise not_found(document.name)
    return locked


def _check_type(params: dict[str, Any]) -> None:
    # AWS's default DocumentType is Command, which Tocsin does not store.
    document_type = params.get("DocumentType", "Command")
    if document_type != SUPPORTED_TYPE:
        raise InvalidDocumentType(
            f"DocumentType {document_type} is not supported: Tocsin stores only Automation "
            "documents (runbooks). Pass DocumentType Automation."
        )


def _check_unsupported(params: dict[str, Any]) -> None:
    for member, reason in (
        ("Attachments", "Automation documents in Tocsin cannot have attachments"),
        ("Requires", "only AppConfig documents declare required documents"),
    ):
        if params.get(member):
            raise ValidationException(f"{member} is not supported: {reason}.")


def _check_name(name: str) -> None:
    lowered = name.lower()
    for prefix in RESERVED_PREFIXES:
        if lowered.startswith(prefix):
            raise ValidationException(
                f"Document name {name!r} starts with the reserved prefix {prefix!r}; names "
                "starting with aws, amazon or amzn (in any case) are reserved for AWS documents."
            )


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _new_version(
    document: Document,
    number: int,
    params: dict[str, Any],
    parsed: AutomationDocument,
    clock: Clock,
    previous: DocumentVersion | None,
) -> DocumentVersion:
    content = params["Content"]
    return DocumentVersion(
        document_id=document.document_id,
        version=number,
        version_name=params.get("VersionName"),
        display_name=params.get("DisplayName", previous.display_name if previous else None),
        target_type=params.get("TargetType", previous.target_type if previous else None),
        document_format=params.get("DocumentFormat", "JSON"),
        content=content,
        content_hash=content_hash(content),
        schema_version=parsed.schema_version,
        description=parsed.description,
        parameters=[parameter.describe() for parameter in parsed.parameters],
        created_at=clock.now(),
    )


def create(
    session: Session, clock: Clock, account_id: str, region: str, params: dict[str, Any]
) -> tuple[Document, DocumentVersion]:
    """Create a document and its version 1 from CreateDocument's parameters."""
    name = params["Name"]
    _check_type(params)
    _check_unsupported(params)
    _check_name(name)
    parsed, _ = document_schema.parse(params["Content"], params.get("DocumentFormat", "JSON"))

    if find(session, account_id, region, name) is not None:
        raise DocumentAlreadyExists(f"Document {name} already exists in account {account_id}.")
    count = session.scalar(
        select(func.count())
        .select_from(Document)
        .where(Document.account_id == account_id, Document.region == region)
    )
    if (count or 0) >= MAX_DOCUMENTS:
        raise DocumentLimitExceeded(
            f"Account {account_id} has {count} documents in {region}, the maximum; delete "
            "documents before creating more."
        )

    now = clock.now()
    document = Document(
        document_id=str(uuid.uuid4()),
        account_id=account_id,
        region=region,
        name=name,
        arn=document_arn(region, account_id, name),
        document_type=SUPPORTED_TYPE,
        default_version=1,
        latest_version=1,
        version_counter=1,
        created_at=now,
    )
    session.add(document)
    session.flush()
    version = _new_version(document, 1, params, parsed, clock, None)
    session.add(version)
    session.flush()
    if params.get("Tags"):
        add_tags(session, document, params["Tags"])
    logger.info("created document %s", document.arn)
    return document, version


def update(
    session: Session, clock: Clock, document: Document, params: dict[str, Any]
) -> DocumentVersion:
    """Add a version from UpdateDocument's parameters; it becomes the latest, not the default."""
    _check_unsupported(params)
    document = lock(session, document)
    requested = params.get("DocumentVersion")
    if requested is not None and requested not in ("$LATEST", str(document.latest_version)):
        raise InvalidDocumentVersion(
            f"DocumentVersion {requested} of document {document.name} cannot be updated: only "
            f"the latest version ({document.latest_version}) can be updated; pass $LATEST."
        )
    parsed, _ = document_schema.parse(params["Content"], params.get("DocumentFormat", "JSON"))

    latest = version_row(session, document, document.latest_version)
    if latest.content_hash == content_hash(params["Content"]):
        raise DuplicateDocumentContent(
            f"The content is the same as version {latest.version}, the latest version of "
            f"document {document.name}. Change the content and try again."
        )
    version_name = params.get("VersionName")
    if version_name is not None and _named_version(session, document, version_name) is not None:
        raise DuplicateDocumentVersionName(
            f"VersionName {version_name} is already used by a version of document "
            f"{document.name}. Specify a different version name."
        )
    total = session.scalar(
        select(func.count())
        .select_from(DocumentVersion)
        .where(DocumentVersion.document_id == document.document_id)
    )
    if (total or 0) >= MAX_VERSIONS:
        raise DocumentVersionLimitExceeded(
            f"Document {document.name} has {total} versions, the maximum; delete versions "
            "with DeleteDocument and DocumentVersion first."
        )

    number = document.version_counter + 1
    version = _new_version(document, number, params, parsed, clock, latest)
    session.add(version)
    document.version_counter = number
    document.latest_version = number
    session.flush()
    logger.info("added version %s to document %s", number, document.arn)
    return version


def version_row(session: Session, document: Document, number: int) -> DocumentVersion:
    row = session.get(DocumentVersion, (document.document_id, number))
    if row is None:
        raise InvalidDocumentVersion(
            f"Document {document.name} has no version {number}; list versions with "
            "ListDocumentVersions."
        )
    return row


def _named_version(session: Session, document: Document, name: str) -> DocumentVersion | None:
    return session.scalar(
        select(DocumentVersion).where(
            DocumentVersion.document_id == document.document_id,
            DocumentVersion.version_name == name,
        )
    )


def select_version(
    session: Session,
    document: Document,
    version: str | None,
    version_name: str | None,
    *,
    shared_version: str | None = None,
) -> DocumentVersion:
    """Return the version that DocumentVersion and VersionName name, by default the default one.

    ``shared_version`` ($DEFAULT, $LATEST or $ALL) limits what an account the
    document is shared with may read; None means the owner, who reads all.
    """
    if version is None and version_name is None and shared_version == "$LATEST":
        version = "$LATEST"  # the one version that such a share lets the account read
    number = resolve_version_number(document, version)
    if version_name is not None:
        named = _named_version(session, document, version_name)
        if named is None:
            raise InvalidDocumentVersion(
                f"Document {document.name} has no version named {version_name}."
            )
        if version is not None and named.version != number:
            raise InvalidDocumentVersion(
                f"VersionName {version_name} is version {named.version} of document "
                f"{document.name}, not DocumentVersion {version}."
            )
        number = named.version
    if shared_version == "$DEFAULT" and number != document.default_version:
        raise InvalidDocumentVersion(
            f"Only the default version of document {document.name} is shared with your account."
        )
    if shared_version == "$LATEST" and number != document.latest_version:
        raise InvalidDocumentVersion(
            f"Only the latest version of document {document.name} is shared with your account."
        )
    return version_row(session, document, number)


def resolve_version_number(document: Document, version: str | None) -> int:
    """Turn $DEFAULT, $LATEST, a version number or None (the default) into a version number."""
    if version is None or version == "$DEFAULT":
        return document.default_version
    if version == "$LATEST":
        return document.latest_version
    if not version.isdigit():
        raise InvalidDocumentVersion(
            f"DocumentVersion {version} is invalid; use a version number, $LATEST or $DEFAULT."
        )
    return int(version)


def parsed_content(version: DocumentVersion) -> AutomationDocument:
    """Parse a stored version for a run; its content was validated when it was stored.

    NOTE: content is validated again with the current rules, so a version
    stored before a rule was tightened raises InvalidDocumentContent here.
    """
    document, _ = document_schema.parse(version.content, version.document_format)
    return document


def content_in_format(version: DocumentVersion, requested: str | None) -> tuple[str, str]:
    """Return the content and its format, converted when another format is requested."""
    stored = version.document_format
    if requested is None or requested == stored:
        return version.content, stored
    if requested not in ("YAML", "JSON"):
        raise ValidationException(
            f"DocumentFormat {requested} is not available for Automation documents; "
            "use YAML or JSON."
        )
    data = document_schema.load_content(version.content, stored)
    if requested == "JSON":
        return json.dumps(data, indent=2, default=str), requested
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True), requested


def update_default_version(session: Session, document: Document, version: str) -> DocumentVersion:
    """Make ``version`` (a number) the default version of ``document``."""
    row = version_row(session, document, resolve_version_number(document, version))
    document.default_version = row.version
    logger.info("default version of document %s is now %s", document.arn, row.version)
    return row


def delete_document(
    session: Session, document: Document, version: str | None, version_name: str | None
) -> None:
    """Delete one version (when DocumentVersion or VersionName is given) or the whole document."""
    if version is None and version_name is None:
        shared = session.scalar(
            select(func.count())
            .select_from(DocumentPermission)
            .where(DocumentPermission.document_id == document.document_id)
        )
        if shared:
            raise InvalidDocumentOperation(
                f"Document {document.name} is shared with {shared} account(s) or publicly. Stop "
                "sharing it with ModifyDocumentPermission AccountIdsToRemove before deleting it."
            )
        session.delete(document)
        logger.info("deleted document %s", document.arn)
        return
    document = lock(session, document)
    row = select_version(session, document, version, version_name)
    if row.version == document.default_version:
        raise InvalidDocumentOperation(
            f"Version {row.version} is the default version of document {document.name} and "
            "cannot be deleted. Make another version the default first, or delete the document."
        )
    session.delete(row)
    session.flush()
    if row.version == document.latest_version:
        document.latest_version = (
            session.scalar(
                select(func.max(DocumentVersion.version)).where(
                    DocumentVersion.document_id == document.document_id
                )
            )
            or document.default_version
        )
    logger.info("deleted version %s of document %s", row.version, document.arn)


def versions(session: Session, document: Document) -> list[DocumentVersion]:
    """Return the document's versions, newest first."""
    return list(
        session.scalars(
            select(DocumentVersion)
            .where(DocumentVersion.document_id == document.document_id)
            .order_by(DocumentVersion.version.desc())
        )
    )


def tags_of(session: Session, document: Document) -> list[dict[str, str]]:
    rows = session.scalars(
        select(DocumentTag)
        .where(DocumentTag.document_id == document.document_id)
        .order_by(DocumentTag.key)
    )
    return [{"Key": row.key, "Value": row.value} for row in rows]


def add_tags(session: Session, document: Document, tags: list[dict[str, str]]) -> None:
    """Add tags to the document, replacing the values of keys it has already."""
    current = {
        row.key: row
        for row in session.scalars(
            select(DocumentTag).where(DocumentTag.document_id == document.document_id)
        )
    }
    wanted = {tag["Key"]: tag["Value"] for tag in tags}
    total = len(current.keys() | wanted.keys())
    if total > MAX_TAGS:
        raise TooManyTagsError(
            f"Document {document.name} would have {total} tags; a document has at most "
            f"{MAX_TAGS}. Remove tags with RemoveTagsFromResource first."
        )
    for key, value in wanted.items():
        if key in current:
            current[key].value = value
        else:
            session.add(DocumentTag(document_id=document.document_id, key=key, value=value))
    session.flush()
    logger.info("tagged document %s with keys %s", document.arn, sorted(wanted))


def remove_tags(session: Session, document: Document, keys: list[str]) -> None:
    session.execute(
        delete(DocumentTag).where(
            DocumentTag.document_id == document.document_id, DocumentTag.key.in_(keys)
        )
    )
    logger.info("removed tag keys %s from document %s", sorted(keys), document.arn)


def describe(
    document: Document,
    version: DocumentVersion,
    *,
    shown_name: str,
    tags: list[dict[str, str]] | None,
) -> dict[str, Any]:
    """Return the DocumentDescription of ``version``; tags are shown to the owner only."""
    description: dict[str, Any] = {
        "Hash": version.content_hash,
        "HashType": "Sha256",
        "Name": shown_name,
        "Owner": document.account_id,
        "CreatedDate": version.created_at,
        "Status": "Active",
        "DocumentVersion": str(version.version),
        "Parameters": version.parameters,
        "PlatformTypes": PLATFORM_TYPES,
        "DocumentType": document.document_type,
        "SchemaVersion": version.schema_version,
        "LatestVersion": str(document.latest_version),
        "DefaultVersion": str(document.default_version),
        "DocumentFormat": version.document_format,
    }
    optional = {
        "DisplayName": version.display_name,
        "VersionName": version.version_name,
        "Description": version.description,
        "TargetType": version.target_type,
    }
    description.update({key: value for key, value in optional.items() if value is not None})
    if tags is not None:
        description["Tags"] = tags
    return description
