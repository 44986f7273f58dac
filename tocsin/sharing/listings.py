"""Read-only RAM listings: shares, associations, shared resources and principals.

Each function returns the full, filtered list sorted by a unique key; the
handlers cut pages from it. Owners see the shares of the calling Region;
consumers see the shares that grant them access.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.protocol.errors import ServiceError
from tocsin.sharing import access
from tocsin.sharing.models import ResourceShare, SharePrincipal, ShareResource
from tocsin.sharing.permissions import RESOURCE_TYPES, get_permission
from tocsin.sharing.shares import InvalidParameterException, association, check_share_arn


class InvalidResourceTypeException(ServiceError):
    pass


def _owned_shares(session: Session, account_id: str, region: str) -> list[ResourceShare]:
    return list(
        session.scalars(
            select(ResourceShare)
            .where(ResourceShare.account_id == account_id, ResourceShare.region == region)
            .order_by(ResourceShare.arn)
        )
    )


def _shares_with_caller(session: Session, account_id: str, region: str) -> list[ResourceShare]:
    arns = access.granting_share_arns(session, account_id)
    if not arns:
        return []
    return list(
        session.scalars(
            select(ResourceShare)
            .where(ResourceShare.arn.in_(arns), ResourceShare.region == region)
            .order_by(ResourceShare.arn)
        )
    )


def _share_filter(params: dict[str, Any]) -> set[str] | None:
    arns = params.get("resourceShareArns")
    if arns is None:
        return None
    for arn in arns:
        check_share_arn(arn, "resourceShareArns")
    return set(arns)


def _check_resource_type(resource_type: str | None) -> None:
    if resource_type is not None and resource_type not in RESOURCE_TYPES:
        known = ", ".join(sorted(RESOURCE_TYPES))
        raise InvalidResourceTypeException(
            f"The resource type {resource_type!r} is not shareable here; use one of: {known}."
        )


def _tags_match(share: ResourceShare, tag_filters: list[dict[str, Any]]) -> bool:
    tags = {tag["key"]: tag["value"] for tag in share.tags}
    for tag_filter in tag_filters:
        key = tag_filter.get("tagKey")
        values = tag_filter.get("tagValues") or []
        if key is not None and key not in tags:
            return False
        if values and not any(
            value in values for k, value in tags.items() if key is None or k == key
        ):
            return False
    return True


def resource_shares(
    session: Session, account_id: str, region: str, params: dict[str, Any]
) -> list[ResourceShare]:
    """Return the shares of GetResourceShares, sorted by ARN."""
    wanted = _share_filter(params)
    permission_arn = params.get("permissionArn")
    if permission_arn is not None:
        get_permission(permission_arn)
    if params["resourceOwner"] == "SELF":
        shares = _owned_shares(session, account_id, region)
    else:
        shares = _shares_with_caller(session, account_id, region)
    selected = []
    for share in shares:
        if wanted is not None and share.arn not in wanted:
            continue
        if params.get("resourceShareStatus") not in (None, share.status):
            continue
        if params.get("name") not in (None, share.name):
            continue
        if not _tags_match(share, params.get("tagFilters") or []):
            continue
        if permission_arn is not None and permission_arn not in share.permission_arns:
            continue
        if params.get("permissionVersion") not in (None, 1):
            continue
        selected.append(share)
    return selected


def share_associations(
    session: Session, account_id: str, region: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return the associations of GetResourceShareAssociations for the caller's own shares."""
    kind = params["associationType"]
    if kind == "PRINCIPAL" and params.get("resourceArn"):
        raise InvalidParameterException(
            "resourceArn filters RESOURCE associations; use principal with associationType "
            "PRINCIPAL."
        )
    if kind == "RESOURCE" and params.get("principal"):
        raise InvalidParameterException(
            "principal filters PRINCIPAL associations; use resourceArn with associationType "
            "RESOURCE."
        )
    if kind == "SOURCE":
        # Sources (service principals) cannot be associated here, so none exist.
        return []
    wanted = _share_filter(params)
    shares = {
        share.arn: share
        for share in _owned_shares(session, account_id, region)
        if wanted is None or share.arn in wanted
    }
    if not shares:
        return []
    rows: list[ShareResource | SharePrincipal]
    if kind == "PRINCIPAL":
        principal_query = select(SharePrincipal).where(SharePrincipal.share_arn.in_(shares))
        if params.get("principal"):
            principal_query = principal_query.where(SharePrincipal.principal == params["principal"])
        rows = list(session.scalars(principal_query))
    else:
        resource_query = select(ShareResource).where(ShareResource.share_arn.in_(shares))
        if params.get("resourceArn"):
            resource_query = resource_query.where(
                ShareResource.resource_arn == params["resourceArn"]
            )
        rows = list(session.scalars(resource_query))
    status = params.get("associationStatus")
    output = [
        association(shares[row.share_arn], row)
        for row in rows
        if status is None or row.status == status
    ]
    return sorted(output, key=lambda item: (item["resourceShareArn"], item["associatedEntity"]))


def _resource_output(row: ShareResource) -> dict[str, Any]:
    return {
        "arn": row.resource_arn,
        "type": row.resource_type,
        "resourceShareArn": row.share_arn,
        "status": "AVAILABLE",
        "creationTime": row.created_at,
        "lastUpdatedTime": row.updated_at,
        "resourceRegionScope": RESOURCE_TYPES[row.resource_type].region_scope,
    }


def resources(
    session: Session, account_id: str, region: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return the shared resources of ListResources, sorted by ARN and share."""
    _check_resource_type(params.get("resourceType"))
    wanted = _share_filter(params)
    if params["resourceOwner"] == "SELF":
        shares = [s.arn for s in _owned_shares(session, account_id, region) if s.status == "ACTIVE"]
        if params.get("principal"):
            shares = [
                arn
                for arn in shares
                if (principal_row := session.get(SharePrincipal, (arn, params["principal"])))
                is not None
                and principal_row.status != "DISASSOCIATED"
            ]
        rows: list[ShareResource] = list(
            session.scalars(
                select(ShareResource).where(
                    ShareResource.share_arn.in_(shares), ShareResource.status == "ASSOCIATED"
                )
            )
        )
    else:
        if params.get("principal"):
            raise InvalidParameterException(
                "principal applies to resourceOwner SELF only: it filters the principals that "
                "the caller shares with."
            )
        in_region = {share.arn for share in _shares_with_caller(session, account_id, region)}
        rows = []
        for resource_arn, _type, share_arn in access.granting_shares(session, account_id):
            resource = session.get(ShareResource, (share_arn, resource_arn))
            if resource is not None and share_arn in in_region:
                rows.append(resource)
    scope = params.get("resourceRegionScope", "ALL")
    output = []
    for row in rows:
        if wanted is not None and row.share_arn not in wanted:
            continue
        if params.get("resourceType") not in (None, row.resource_type):
            continue
        if (
            params.get("resourceArns") is not None
            and row.resource_arn not in params["resourceArns"]
        ):
            continue
        if scope != "ALL" and RESOURCE_TYPES[row.resource_type].region_scope != scope:
            continue
        output.append(_resource_output(row))
    return sorted(output, key=lambda item: (item["arn"], item["resourceShareArn"]))


def principals(
    session: Session, account_id: str, region: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return the principals of ListPrincipals, sorted by id and share."""
    _check_resource_type(params.get("resourceType"))
    wanted = _share_filter(params)
    if params["resourceOwner"] == "SELF":
        shares = [s for s in _owned_shares(session, account_id, region) if s.status == "ACTIVE"]
        rows = [
            row
            for row in session.scalars(
                select(SharePrincipal).where(
                    SharePrincipal.share_arn.in_([share.arn for share in shares]),
                    SharePrincipal.status != "DISASSOCIATED",
                )
            )
        ]
        entries: list[dict[str, Any]] = [
            {
                "id": row.principal,
                "resourceShareArn": row.share_arn,
                "creationTime": row.created_at,
                "lastUpdatedTime": row.updated_at,
                "external": row.external,
            }
            for row in rows
        ]
    else:
        # For shares that others own, the principal is the owner account.
        entries = [
            {
                "id": share.account_id,
                "resourceShareArn": share.arn,
                "creationTime": share.created_at,
                "lastUpdatedTime": share.updated_at,
                "external": False,
            }
            for share in _shares_with_caller(session, account_id, region)
        ]
    output = []
    for entry in entries:
        share_arn = entry["resourceShareArn"]
        if wanted is not None and share_arn not in wanted:
            continue
        if params.get("principals") is not None and entry["id"] not in params["principals"]:
            continue
        if not _share_holds(
            session, share_arn, params.get("resourceArn"), params.get("resourceType")
        ):
            continue
        output.append(entry)
    return sorted(output, key=lambda item: (item["id"], item["resourceShareArn"]))


def _share_holds(
    session: Session, share_arn: str, resource_arn: str | None, resource_type: str | None
) -> bool:
    if resource_arn is None and resource_type is None:
        return True
    query = select(ShareResource.resource_arn).where(
        ShareResource.share_arn == share_arn, ShareResource.status == "ASSOCIATED"
    )
    if resource_arn is not None:
        query = query.where(ShareResource.resource_arn == resource_arn)
    if resource_type is not None:
        query = query.where(ShareResource.resource_type == resource_type)
    return session.scalar(query.limit(1)) is not None
