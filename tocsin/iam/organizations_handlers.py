"""AWS Organizations operations: the organization, its tree, member accounts and invitations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tocsin.iam import handshakes, organizations
from tocsin.iam.organization_models import Organization
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import listing_filters, page_scope, paginate

handlers = ServiceHandlers("organizations")

Item = TypeVar("Item")

DEFAULT_MAX_RESULTS = 20


def _page(
    ctx: RequestContext,
    params: dict[str, Any],
    member: str,
    items: Sequence[Item],
    key: Callable[[Item], str],
    output: Callable[[Item], dict[str, Any]],
) -> dict[str, Any]:
    page = paginate(
        items,
        key=lambda item: (key(item),),
        max_results=params.get("MaxResults") or DEFAULT_MAX_RESULTS,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "organizations", ctx.operation, listing_filters(params)),
    )
    result: dict[str, Any] = {member: [output(item) for item in page.items]}
    if page.next_token:
        result["NextToken"] = page.next_token
    return result


def _managed(ctx: RequestContext, resource: str = "*") -> Organization:
    """Return the caller's organization after checking that the caller manages it."""
    org = organizations.managed_organization(ctx.session, ctx.account_id)
    ctx.authorize(f"organizations:{ctx.operation}", resource)
    return org


def _members_output(
    ctx: RequestContext, params: dict[str, Any], org: Organization, parent_id: str | None
) -> dict[str, Any]:
    rows = organizations.members(ctx.session, org, parent_id)
    return _page(
        ctx,
        params,
        "Accounts",
        rows,
        key=lambda row: row[1].account_id,
        output=lambda row: organizations.describe_member(org, row[0], row[1]),
    )


@handlers.operation("CreateOrganization")
def create_organization(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("organizations:CreateOrganization", "*")
    org = organizations.create_organization(
        ctx.session, ctx.clock, ctx.account_id, params.get("FeatureSet", "ALL")
    )
    return {"Organization": organizations.describe_organization(ctx.session, org)}


@handlers.operation("DescribeOrganization")
def describe_organization(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    org, _member = organizations.membership(ctx.session, ctx.account_id)
    ctx.authorize("organizations:DescribeOrganization", "*")
    return {"Organization": organizations.describe_organization(ctx.session, org)}


@handlers.operation("CreateAccount")
def create_account(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    org = _managed(ctx)
    if params.get("Tags"):
        raise organizations.InvalidInputException(
            "Tags on accounts are not supported by this server; create the account without Tags."
        )
    request = organizations.NewMemberAccount(
        name=params["AccountName"],
        email=params["Email"],
        role_name=params.get("RoleName") or organizations.DEFAULT_ROLE_NAME,
    )
    record = organizations.create_account(ctx.session, ctx.clock, org, request)
    return {"CreateAccountStatus": organizations.describe_create_account_status(record)}


@handlers.operation("DescribeCreateAccountStatus")
def describe_create_account_status(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    org = _managed(ctx)
    record = organizations.get_create_account_request(
        ctx.session, org, params["CreateAccountRequestId"]
    )
    return {"CreateAccountStatus": organizations.describe_create_account_status(record)}


@handlers.operation("ListAccounts")
def list_accounts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _members_output(ctx, params, _managed(ctx), None)


@handlers.operation("DescribeAccount")
def describe_account(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    org = _managed(ctx)
    member, account = organizations.get_member(ctx.session, org, params["AccountId"])
    return {"Account": organizations.describe_member(org, member, account)}


@handlers.operation("ListRoots")
def list_roots(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    org = _managed(ctx)
    root = {"Id": org.root_id, "Arn": organizations.root_arn(org), "Name": "Root"}
    return _page(
        ctx,
        params,
        "Roots",
        [root],
        key=lambda r: r["Id"],
        output=lambda r: {**r, "PolicyTypes": []},
    )


@handlers.operation("CreateOrganizationalUnit")
def create_organizational_unit(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    org = _managed(ctx)
    if params.get("Tags"):
        raise organizations.InvalidInputException(
            "Tags on organizational units are not supported by this server; create the unit "
            "without Tags."
        )
    unit = organizations.create_organizational_unit(
        ctx.session, ctx.clock, org, params["ParentId"], params["Name"]
    )
    return {"OrganizationalUnit": organizations.describe_unit(ctx.session, org, unit)}


@handlers.operation("ListOrganizationalUnitsForParent")
def list_organizational_units_for_parent(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    org = _managed(ctx)
    units = organizations.child_units(ctx.session, org, params["ParentId"])
    return _page(
        ctx,
        params,
        "OrganizationalUnits",
        units,
        key=lambda unit: unit.ou_id,
        output=lambda unit: organizations.describe_unit(ctx.session, org, unit),
    )


@handlers.operation("ListAccountsForParent")
def list_accounts_for_parent(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    org = _managed(ctx)
    organizations.require_parent(ctx.session, org, params["ParentId"])
    return _members_output(ctx, params, org, params["ParentId"])


@handlers.operation("ListParents")
def list_parents(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    org = _managed(ctx)
    parent = organizations.parent_of(ctx.session, org, params["ChildId"])
    return _page(ctx, params, "Parents", [parent], key=lambda p: p["Id"], output=dict)


@handlers.operation("MoveAccount")
def move_account(ctx: RequestContext, params: dict[str, Any]) -> None:
    org = _managed(ctx)
    organizations.move_account(
        ctx.session,
        org,
        params["AccountId"],
        params["SourceParentId"],
        params["DestinationParentId"],
    )


@handlers.operation("RemoveAccountFromOrganization")
def remove_account_from_organization(ctx: RequestContext, params: dict[str, Any]) -> None:
    org = _managed(ctx)
    organizations.remove_account(ctx.session, org, params["AccountId"])


@handlers.operation("InviteAccountToOrganization")
def invite_account_to_organization(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    org = _managed(ctx)
    if params.get("Tags"):
        raise organizations.InvalidInputException(
            "Tags on handshakes are not supported by this server; invite without Tags."
        )
    handshake = handshakes.invite(
        ctx.session, ctx.clock, org, params["Target"], params.get("Notes")
    )
    return {"Handshake": handshakes.describe(ctx.session, handshake, ctx.clock.now())}


@handlers.operation("AcceptHandshake")
def accept_handshake(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("organizations:AcceptHandshake", "*")
    handshake = handshakes.accept(ctx.session, ctx.clock, ctx.account_id, params["HandshakeId"])
    return {"Handshake": handshakes.describe(ctx.session, handshake, ctx.clock.now())}


@handlers.operation("DeclineHandshake")
def decline_handshake(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("organizations:DeclineHandshake", "*")
    handshake = handshakes.decline(ctx.session, ctx.clock, ctx.account_id, params["HandshakeId"])
    return {"Handshake": handshakes.describe(ctx.session, handshake, ctx.clock.now())}


@handlers.operation("ListHandshakesForAccount")
def list_handshakes_for_account(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("organizations:ListHandshakesForAccount", "*")
    action = (params.get("Filter") or {}).get("ActionType")
    rows = handshakes.for_account(ctx.session, ctx.account_id, action)
    now = ctx.clock.now()
    return _page(
        ctx,
        params,
        "Handshakes",
        rows,
        key=lambda handshake: handshake.handshake_id,
        output=lambda handshake: handshakes.describe(ctx.session, handshake, now),
    )


@handlers.operation("LeaveOrganization")
def leave_organization(ctx: RequestContext, params: dict[str, Any]) -> None:
    org, _member = organizations.membership(ctx.session, ctx.account_id)
    ctx.authorize("organizations:LeaveOrganization", "*")
    organizations.remove_account(ctx.session, org, ctx.account_id)
