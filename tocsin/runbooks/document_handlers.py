"""SSM document operations: documents, versions, sharing and document tags."""

from __future__ import annotations

from typing import Any

from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import listing_filters, page_scope, paginate, paginate_query
from tocsin.runbooks import documents, listing, permissions
from tocsin.runbooks.errors import InvalidResourceId, InvalidResourceType
from tocsin.runbooks.models import Document, DocumentVersion
from tocsin.sharing.access import grant_policy

handlers = ServiceHandlers("ssm")

DEFAULT_MAX_RESULTS = 50
DEFAULT_PERMISSION_RESULTS = 200
# Actions that a share grants to the account that the document is shared with.
CONSUMER_ACTIONS = frozenset(
    {
        "ssm:DescribeDocument",
        "ssm:GetDocument",
        "ssm:ListDocumentVersions",
        "ssm:StartAutomationExecution",
    }
)


def readable(ctx: RequestContext, name: str) -> tuple[Document, str | None]:
    """Return the document that ``name`` names and its shared version, if the caller may read it.

    The caller's own documents need an identity policy that allows the
    operation, and documents of other accounts need the share as well.
    """
    action = f"ssm:{ctx.operation}"
    parsed = documents.parse_name(name, ctx.account_id, ctx.region)
    if parsed.account_id == ctx.account_id:
        ctx.authorize(action, parsed.arn)
        return permissions.find_readable(ctx.session, ctx.account_id, ctx.region, name)
    document, shared_version = permissions.find_readable(
        ctx.session, ctx.account_id, ctx.region, name
    )
    grant = grant_policy(ctx.account_id, CONSUMER_ACTIONS, [document.arn])
    ctx.authorize(
        action, document.arn, resource_account=document.account_id, resource_policies=(grant,)
    )
    return document, shared_version


def owned(ctx: RequestContext, name: str) -> Document:
    """Return the caller's own document ``name`` after authorizing the operation on it."""
    ctx.authorize(f"ssm:{ctx.operation}", documents.document_arn(ctx.region, ctx.account_id, name))
    return documents.get_owned(ctx.session, ctx.account_id, ctx.region, name)


def _description(
    ctx: RequestContext, document: Document, version: DocumentVersion
) -> dict[str, Any]:
    is_owner = document.account_id == ctx.account_id
    return documents.describe(
        document,
        version,
        shown_name=listing.shown_name(document, ctx.account_id),
        tags=documents.tags_of(ctx.session, document) if is_owner else None,
    )


@handlers.operation("CreateDocument")
def create_document(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = documents.document_arn(ctx.region, ctx.account_id, params["Name"])
    ctx.authorize("ssm:CreateDocument", arn)
    document, version = documents.create(ctx.session, ctx.clock, ctx.account_id, ctx.region, params)
    return {"DocumentDescription": _description(ctx, document, version)}


@handlers.operation("UpdateDocument")
def update_document(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document = owned(ctx, params["Name"])
    version = documents.update(ctx.session, ctx.clock, document, params)
    return {"DocumentDescription": _description(ctx, document, version)}


@handlers.operation("DescribeDocument", read_only=True)
def describe_document(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document, shared_version = readable(ctx, params["Name"])
    version = documents.select_version(
        ctx.session,
        document,
        params.get("DocumentVersion"),
        params.get("VersionName"),
        shared_version=shared_version,
    )
    return {"Document": _description(ctx, document, version)}


@handlers.operation("GetDocument", read_only=True)
def get_document(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document, shared_version = readable(ctx, params["Name"])
    version = documents.select_version(
        ctx.session,
        document,
        params.get("DocumentVersion"),
        params.get("VersionName"),
        shared_version=shared_version,
    )
    content, document_format = documents.content_in_format(version, params.get("DocumentFormat"))
    output: dict[str, Any] = {
        "Name": listing.shown_name(document, ctx.account_id),
        "CreatedDate": version.created_at,
        "DocumentVersion": str(version.version),
        "Status": "Active",
        "Content": content,
        "DocumentType": document.document_type,
        "DocumentFormat": document_format,
    }
    if version.display_name is not None:
        output["DisplayName"] = version.display_name
    if version.version_name is not None:
        output["VersionName"] = version.version_name
    return output


@handlers.operation("ListDocuments", read_only=True)
def list_documents(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ssm:ListDocuments", "*")
    query = listing.visible_documents(ctx.session, ctx.account_id, ctx.region, params)
    page = paginate_query(
        ctx.session,
        query,
        order_by=(Document.name, Document.arn),
        max_results=params.get("MaxResults", DEFAULT_MAX_RESULTS),
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm", ctx.operation, listing_filters(params)),
    )
    identifiers = []
    for document in page.items:
        version = documents.version_row(ctx.session, document, document.default_version)
        described = _description(ctx, document, version)
        identifier: dict[str, Any] = {
            key: described[key]
            for key in (
                "Name",
                "DisplayName",
                "Owner",
                "VersionName",
                "PlatformTypes",
                "DocumentVersion",
                "DocumentType",
                "SchemaVersion",
                "DocumentFormat",
                "TargetType",
                "Tags",
            )
            if key in described
        }
        identifier["CreatedDate"] = document.created_at
        identifiers.append(identifier)
    output: dict[str, Any] = {"DocumentIdentifiers": identifiers}
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("ListDocumentVersions", read_only=True)
def list_document_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document, shared_version = readable(ctx, params["Name"])
    rows = documents.versions(ctx.session, document)
    if shared_version == "$DEFAULT":
        rows = [row for row in rows if row.version == document.default_version]
    elif shared_version == "$LATEST":
        rows = [row for row in rows if row.version == document.latest_version]
    page = paginate(
        rows,
        key=lambda row: (-row.version,),
        max_results=params.get("MaxResults", DEFAULT_MAX_RESULTS),
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm", ctx.operation, {"Name": document.arn}),
    )
    shown = listing.shown_name(document, ctx.account_id)
    entries = []
    for row in page.items:
        entry: dict[str, Any] = {
            "Name": shown,
            "DocumentVersion": str(row.version),
            "CreatedDate": row.created_at,
            "IsDefaultVersion": row.version == document.default_version,
            "DocumentFormat": row.document_format,
            "Status": "Active",
        }
        if row.display_name is not None:
            entry["DisplayName"] = row.display_name
        if row.version_name is not None:
            entry["VersionName"] = row.version_name
        entries.append(entry)
    output: dict[str, Any] = {"DocumentVersions": entries}
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("UpdateDocumentDefaultVersion")
def update_document_default_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document = owned(ctx, params["Name"])
    version = documents.update_default_version(ctx.session, document, params["DocumentVersion"])
    description: dict[str, Any] = {"Name": document.name, "DefaultVersion": str(version.version)}
    if version.version_name is not None:
        description["DefaultVersionName"] = version.version_name
    return {"Description": description}


@handlers.operation("DeleteDocument")
def delete_document(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    # Force matters only for document types that Tocsin does not store.
    document = owned(ctx, params["Name"])
    documents.delete_document(
        ctx.session, document, params.get("DocumentVersion"), params.get("VersionName")
    )
    return {}


@handlers.operation("ModifyDocumentPermission")
def modify_document_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document = owned(ctx, params["Name"])
    permissions.modify(ctx.session, ctx.clock, document, params)
    return {}


@handlers.operation("DescribeDocumentPermission", read_only=True)
def describe_document_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document = owned(ctx, params["Name"])
    rows = permissions.permissions(ctx.session, document)
    page = paginate(
        rows,
        key=lambda row: (row.account_id,),
        max_results=params.get("MaxResults", DEFAULT_PERMISSION_RESULTS),
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm", ctx.operation, {"Name": document.arn}),
    )
    output: dict[str, Any] = {
        "AccountIds": [row.account_id for row in page.items],
        "AccountSharingInfoList": [
            {"AccountId": row.account_id, "SharedDocumentVersion": row.shared_version}
            for row in page.items
        ],
    }
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


def _tagged_document(ctx: RequestContext, params: dict[str, Any]) -> Document:
    """Return the caller's document that a tagging request names by ResourceId."""
    if params["ResourceType"] != "Document":
        raise InvalidResourceType(
            f"ResourceType {params['ResourceType']} is not supported. Tocsin tags only "
            "resources of type Document."
        )
    name = params["ResourceId"]
    ctx.authorize(f"ssm:{ctx.operation}", documents.document_arn(ctx.region, ctx.account_id, name))
    document = documents.find(ctx.session, ctx.account_id, ctx.region, name)
    if document is None:
        raise InvalidResourceId(f"Document {name} does not exist in account {ctx.account_id}.")
    return document


@handlers.operation("AddTagsToResource")
def add_tags_to_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    documents.add_tags(ctx.session, _tagged_document(ctx, params), params["Tags"])
    return {}


@handlers.operation("RemoveTagsFromResource")
def remove_tags_from_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    documents.remove_tags(ctx.session, _tagged_document(ctx, params), params["TagKeys"])
    return {}


@handlers.operation("ListTagsForResource", read_only=True)
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"TagList": documents.tags_of(ctx.session, _tagged_document(ctx, params))}
