"""AWS RAM operations: resource shares, invitations, listings, permissions and tags."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tocsin.iam.organization_models import Organization, OrganizationMember
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import listing_filters, page_scope, paginate
from tocsin.sharing import access, invitations, listings, permissions, shares
from tocsin.sharing.models import ResourceShare
from tocsin.sharing.shares import InvalidParameterException, OperationNotPermittedException

handlers = ServiceHandlers("ram")

Item = TypeVar("Item")

DEFAULT_MAX_RESULTS = 100


def _page(
    ctx: RequestContext,
    params: dict[str, Any],
    member: str,
    items: Sequence[Item],
    key: Callable[[Item], tuple[Any, ...]],
    output: Callable[[Item], dict[str, Any]],
) -> dict[str, Any]:
    page = paginate(
        items,
        key=key,
        max_results=params.get("maxResults") or DEFAULT_MAX_RESULTS,
        token=params.get("nextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(
            ctx.account_id, "ram", ctx.operation, {**listing_filters(params), "region": ctx.region}
        ),
    )
    result: dict[str, Any] = {member: [output(item) for item in page.items]}
    if page.next_token:
        result["nextToken"] = page.next_token
    return result


def _with_token(params: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    # RAM echoes the idempotency token of mutating calls.
    if params.get("clientToken"):
        output["clientToken"] = params["clientToken"]
    return output


def _share(ctx: RequestContext, arn: str, *, live: bool = True) -> ResourceShare:
    share = (shares.live_share if live else shares.owned_share)(ctx.session, ctx.account_id, arn)
    ctx.authorize(f"ram:{ctx.operation}", share.arn)
    return share


# -- Shares


@handlers.operation("CreateResourceShare")
def create_resource_share(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:CreateResourceShare", "*")
    share = shares.create_share(ctx.session, ctx.clock, ctx.account_id, ctx.region, params)
    return _with_token(params, {"resourceShare": shares.describe(share)})


@handlers.operation("UpdateResourceShare")
def update_resource_share(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    share = _share(ctx, params["resourceShareArn"])
    shares.update_share(ctx.session, ctx.clock, share, params)
    return _with_token(params, {"resourceShare": shares.describe(share)})


@handlers.operation("DeleteResourceShare")
def delete_resource_share(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    share = _share(ctx, params["resourceShareArn"])
    shares.delete_share(ctx.session, ctx.clock, share)
    return _with_token(params, {"returnValue": True})


@handlers.operation("AssociateResourceShare")
def associate_resource_share(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    share = _share(ctx, params["resourceShareArn"])
    associations = shares.associate(ctx.session, ctx.clock, share, params)
    return _with_token(params, {"resourceShareAssociations": associations})


@handlers.operation("DisassociateResourceShare")
def disassociate_resource_share(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    share = _share(ctx, params["resourceShareArn"])
    associations = shares.disassociate(ctx.session, ctx.clock, share, params)
    return _with_token(params, {"resourceShareAssociations": associations})


@handlers.operation("GetResourceShares")
def get_resource_shares(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:GetResourceShares", "*")
    rows = listings.resource_shares(ctx.session, ctx.account_id, ctx.region, params)
    return _page(
        ctx, params, "resourceShares", rows, key=lambda s: (s.arn,), output=shares.describe
    )


@handlers.operation("GetResourceShareAssociations")
def get_resource_share_associations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:GetResourceShareAssociations", "*")
    rows = listings.share_associations(ctx.session, ctx.account_id, ctx.region, params)
    return _page(
        ctx,
        params,
        "resourceShareAssociations",
        rows,
        key=lambda item: (item["resourceShareArn"], item["associatedEntity"]),
        output=dict,
    )


# -- Invitations


@handlers.operation("GetResourceShareInvitations")
def get_resource_share_invitations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:GetResourceShareInvitations", "*")
    now = ctx.clock.now()
    wanted = params.get("resourceShareInvitationArns")
    if wanted is not None:
        rows = [
            invitations.get_received(
                ctx.session, ctx.account_id, arn, now, "resourceShareInvitationArns"
            )
            for arn in dict.fromkeys(wanted)
        ]
        rows.sort(key=lambda invitation: invitation.arn)
    else:
        rows = invitations.received(ctx.session, ctx.account_id, now)
    share_arns = params.get("resourceShareArns")
    if share_arns is not None:
        for arn in share_arns:
            shares.check_share_arn(arn, "resourceShareArns")
        rows = [invitation for invitation in rows if invitation.share_arn in share_arns]
    return _page(
        ctx,
        params,
        "resourceShareInvitations",
        rows,
        key=lambda invitation: (invitation.arn,),
        output=lambda invitation: invitations.describe(ctx.session, invitation),
    )


@handlers.operation("AcceptResourceShareInvitation")
def accept_resource_share_invitation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:AcceptResourceShareInvitation", params["resourceShareInvitationArn"])
    invitation = invitations.accept(
        ctx.session, ctx.clock, ctx.account_id, params["resourceShareInvitationArn"]
    )
    output = {"resourceShareInvitation": invitations.describe(ctx.session, invitation)}
    return _with_token(params, output)


@handlers.operation("RejectResourceShareInvitation")
def reject_resource_share_invitation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:RejectResourceShareInvitation", params["resourceShareInvitationArn"])
    invitation = invitations.reject(
        ctx.session, ctx.clock, ctx.account_id, params["resourceShareInvitationArn"]
    )
    output = {"resourceShareInvitation": invitations.describe(ctx.session, invitation)}
    return _with_token(params, output)


# -- Discovery


@handlers.operation("ListResources")
def list_resources(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:ListResources", "*")
    rows = listings.resources(ctx.session, ctx.account_id, ctx.region, params)
    return _page(
        ctx,
        params,
        "resources",
        rows,
        key=lambda item: (item["arn"], item["resourceShareArn"]),
        output=dict,
    )


@handlers.operation("ListPrincipals")
def list_principals(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:ListPrincipals", "*")
    rows = listings.principals(ctx.session, ctx.account_id, ctx.region, params)
    return _page(
        ctx,
        params,
        "principals",
        rows,
        key=lambda item: (item["id"], item["resourceShareArn"]),
        output=dict,
    )


@handlers.operation("ListResourceTypes")
def list_resource_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:ListResourceTypes", "*")
    scope = params.get("resourceRegionScope", "ALL")
    rows = [
        resource_type
        for _name, resource_type in sorted(permissions.RESOURCE_TYPES.items())
        if scope == "ALL" or resource_type.region_scope == scope
    ]
    return _page(
        ctx,
        params,
        "resourceTypes",
        rows,
        key=lambda item: (item.name,),
        output=lambda item: {
            "resourceType": item.name,
            "serviceName": item.service,
            "resourceRegionScope": item.region_scope,
        },
    )


# -- Permissions


def _check_version(params: dict[str, Any]) -> None:
    version = params.get("permissionVersion")
    if version is not None and version != 1:
        raise InvalidParameterException(
            f"permissionVersion {version} does not exist: AWS managed permissions here have "
            "version 1 only."
        )


@handlers.operation("ListPermissions")
def list_permissions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:ListPermissions", "*")
    resource_type = params.get("resourceType")
    rows = [
        permission
        for arn, permission in sorted(permissions.PERMISSIONS.items())
        if resource_type in (None, permission.resource_type)
        and params.get("permissionType", "ALL") in ("ALL", "AWS_MANAGED")
        and params.get("permissionStatus", "ATTACHABLE") == "ATTACHABLE"
    ]
    return _page(
        ctx,
        params,
        "permissions",
        rows,
        key=lambda permission: (permission.arn,),
        output=lambda permission: permission.summary(),
    )


@handlers.operation("GetPermission")
def get_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ram:GetPermission", params["permissionArn"])
    permission = permissions.get_permission(params["permissionArn"])
    _check_version(params)
    if params.get("permissionTemplateParameters"):
        raise InvalidParameterException(
            "permissionTemplateParameters is not supported: AWS managed permissions take none."
        )
    return {"permission": permission.detail()}


@handlers.operation("ListResourceSharePermissions")
def list_resource_share_permissions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["resourceShareArn"]
    shares.check_share_arn(arn)
    share = ctx.session.get(ResourceShare, arn)
    # Owners and the accounts that a share grants access may read its permissions.
    if share is None or (
        share.account_id != ctx.account_id
        and share.arn not in access.granting_share_arns(ctx.session, ctx.account_id)
    ):
        raise permissions.UnknownResourceException(
            f"The resource share {arn} does not exist or is not shared with account "
            f"{ctx.account_id}."
        )
    ctx.authorize("ram:ListResourceSharePermissions", share.arn)
    rows = [permissions.get_permission(arn) for arn in sorted(share.permission_arns)]
    return _page(
        ctx,
        params,
        "permissions",
        rows,
        key=lambda permission: (permission.arn,),
        output=lambda permission: permission.summary(),
    )


@handlers.operation("AssociateResourceSharePermission")
def associate_resource_share_permission(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    share = _share(ctx, params["resourceShareArn"])
    permission = permissions.get_permission(params["permissionArn"])
    _check_version(params)
    if params.get("permissionTemplateParameters"):
        raise InvalidParameterException(
            "permissionTemplateParameters is not supported: AWS managed permissions take none."
        )
    if permission.arn not in share.permission_arns:
        # One permission per resource type, and each type has one, so nothing is replaced.
        share.permission_arns = [*share.permission_arns, permission.arn]
        share.updated_at = ctx.clock.now()
    return _with_token(params, {"returnValue": True})


@handlers.operation("EnableSharingWithAwsOrganization")
def enable_sharing_with_aws_organization(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    ctx.authorize("ram:EnableSharingWithAwsOrganization", "*")
    member = ctx.session.get(OrganizationMember, ctx.account_id)
    org = ctx.session.get(Organization, member.organization_id) if member is not None else None
    if org is None or org.management_account_id != ctx.account_id:
        raise OperationNotPermittedException(
            f"Account {ctx.account_id} is not the management account of an organization; only "
            "a management account can enable sharing with AWS Organizations."
        )
    org.ram_sharing_enabled = True
    return {"returnValue": True}


# -- Tags


def _tagged_share(ctx: RequestContext, params: dict[str, Any]) -> ResourceShare:
    share_arn, resource_arn = params.get("resourceShareArn"), params.get("resourceArn")
    if (share_arn is None) == (resource_arn is None):
        raise InvalidParameterException(
            "Give exactly one of resourceShareArn and resourceArn to name the resource to tag."
        )
    arn = share_arn or resource_arn or ""
    if permissions.PERMISSION_ARN.match(arn):
        permissions.get_permission(arn, "resourceArn")
        raise OperationNotPermittedException(
            f"The permission {arn} is AWS managed and cannot be tagged."
        )
    return _share(ctx, arn)


@handlers.operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    share = _tagged_share(ctx, params)
    share.tags = shares.check_tags(params["tags"], share.tags)
    share.updated_at = ctx.clock.now()
    return {}


@handlers.operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    share = _tagged_share(ctx, params)
    removed = set(params["tagKeys"])
    share.tags = [tag for tag in share.tags if tag["key"] not in removed]
    share.updated_at = ctx.clock.now()
    return {}
