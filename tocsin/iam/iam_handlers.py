"""IAM operations: users, access keys, roles and inline policies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import select

from tocsin.iam import users
from tocsin.iam.models import AccessKey, Role, User
from tocsin.protocol.errors import ServiceError
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import InvalidPageToken, page_scope, paginate

handlers = ServiceHandlers("iam")

Item = TypeVar("Item")

DEFAULT_MAX_ITEMS = 100


class InvalidInputException(ServiceError):
    pass


class ValidationError(ServiceError):
    pass


def _encoded(document: str) -> str:
    # IAM returns policy documents URL-encoded (RFC 3986); SDKs decode them.
    return quote(document, safe="")


def _iam_arn(ctx: RequestContext, kind: str, name: str) -> str:
    return f"arn:aws:iam::{ctx.account_id}:{kind}/{name}"


def _page(
    ctx: RequestContext,
    params: dict[str, Any],
    items: Sequence[Item],
    key: Callable[[Item], str],
) -> tuple[list[Item], dict[str, Any]]:
    """Cut one page from ``items`` (sorted by ``key``) by the Marker and MaxItems members."""
    filters = {k: v for k, v in params.items() if k not in ("Marker", "MaxItems")}
    try:
        page = paginate(
            items,
            key=lambda item: (key(item),),
            max_results=params.get("MaxItems") or DEFAULT_MAX_ITEMS,
            token=params.get("Marker"),
            tokens=ctx.runtime.page_tokens,
            scope=page_scope(ctx.account_id, "iam", ctx.operation, filters),
        )
    except InvalidPageToken as exc:
        raise ValidationError(f"Invalid Marker {params['Marker']!r}: {exc}") from exc
    if page.next_token is None:
        return page.items, {"IsTruncated": False}
    return page.items, {"IsTruncated": True, "Marker": page.next_token}


def _user_output(user: User) -> dict[str, Any]:
    output: dict[str, Any] = {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.user_id,
        "Arn": user.arn,
        "CreateDate": user.created_at,
    }
    if user.tags:
        output["Tags"] = user.tags
    return output


def _role_output(role: Role) -> dict[str, Any]:
    output: dict[str, Any] = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": _encoded(role.assume_role_policy),
        "MaxSessionDuration": role.max_session_duration,
    }
    if role.description is not None:
        output["Description"] = role.description
    if role.tags:
        output["Tags"] = role.tags
    return output


def _reject_permissions_boundary(params: dict[str, Any]) -> None:
    if params.get("PermissionsBoundary"):
        raise InvalidInputException(
            f"PermissionsBoundary {params['PermissionsBoundary']!r} is not supported: this "
            "server has no managed policies; use inline policies to limit the principal"
        )


def _target_user(ctx: RequestContext, params: dict[str, Any]) -> User:
    """Return the user named by UserName, or the calling user when UserName is absent."""
    name = params.get("UserName")
    if name is None:
        if ctx.caller.kind != "user":
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = ctx.caller.arn.rsplit("/", 1)[-1]
    ctx.authorize(f"iam:{ctx.operation}", _iam_arn(ctx, "user", name))
    return users.get_user(ctx.session, ctx.account_id, name)


@handlers.operation("CreateUser")
def create_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["UserName"]
    ctx.authorize("iam:CreateUser", _iam_arn(ctx, "user", name))
    _reject_permissions_boundary(params)
    user = users.create_user(
        ctx.session,
        ctx.clock,
        ctx.account_id,
        name,
        params.get("Path", "/"),
        params.get("Tags", []),
    )
    return {"User": _user_output(user)}


@handlers.operation("GetUser")
def get_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"User": _user_output(_target_user(ctx, params))}


@handlers.operation("ListUsers")
def list_users(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListUsers", _iam_arn(ctx, "user", "*"))
    prefix = params.get("PathPrefix", "/")
    found = ctx.session.scalars(
        select(User).where(User.account_id == ctx.account_id).order_by(User.name)
    ).all()
    matching = [user for user in found if user.path.startswith(prefix)]
    page, more = _page(ctx, params, matching, lambda user: user.name)
    return {"Users": [_user_output(user) for user in page], **more}


@handlers.operation("DeleteUser")
def delete_user(ctx: RequestContext, params: dict[str, Any]) -> None:
    users.delete_user(ctx.session, _target_user(ctx, params))


@handlers.operation("CreateAccessKey")
def create_access_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    user = _target_user(ctx, params)
    key, secret = users.create_access_key(ctx.session, ctx.clock, ctx.runtime.secrets, user)
    return {
        "AccessKey": {
            "UserName": user.name,
            "AccessKeyId": key.access_key_id,
            "Status": key.status,
            "SecretAccessKey": secret,
            "CreateDate": key.created_at,
        }
    }


@handlers.operation("ListAccessKeys")
def list_access_keys(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    user = _target_user(ctx, params)
    keys = ctx.session.scalars(
        select(AccessKey).where(AccessKey.user_id == user.user_id).order_by(AccessKey.access_key_id)
    ).all()
    page, more = _page(ctx, params, keys, lambda key: key.access_key_id)
    metadata = [
        {
            "UserName": user.name,
            "AccessKeyId": key.access_key_id,
            "Status": key.status,
            "CreateDate": key.created_at,
        }
        for key in page
    ]
    return {"AccessKeyMetadata": metadata, **more}


@handlers.operation("UpdateAccessKey")
def update_access_key(ctx: RequestContext, params: dict[str, Any]) -> None:
    user = _target_user(ctx, params)
    key = users.get_access_key(ctx.session, user, params["AccessKeyId"])
    key.status = params["Status"]


@handlers.operation("DeleteAccessKey")
def delete_access_key(ctx: RequestContext, params: dict[str, Any]) -> None:
    user = _target_user(ctx, params)
    ctx.session.delete(users.get_access_key(ctx.session, user, params["AccessKeyId"]))


@handlers.operation("PutUserPolicy")
def put_user_policy(ctx: RequestContext, params: dict[str, Any]) -> None:
    user = _target_user(ctx, params)
    users.put_user_policy(ctx.session, user, params["PolicyName"], params["PolicyDocument"])


@handlers.operation("GetUserPolicy")
def get_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    user = _target_user(ctx, params)
    policy = users.find_user_policy(user, params["PolicyName"])
    return {
        "UserName": user.name,
        "PolicyName": policy.name,
        "PolicyDocument": _encoded(policy.document),
    }


@handlers.operation("ListUserPolicies")
def list_user_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    user = _target_user(ctx, params)
    names = [policy.name for policy in user.policies]
    page, more = _page(ctx, params, names, lambda name: name)
    return {"PolicyNames": page, **more}


@handlers.operation("DeleteUserPolicy")
def delete_user_policy(ctx: RequestContext, params: dict[str, Any]) -> None:
    user = _target_user(ctx, params)
    user.policies.remove(users.find_user_policy(user, params["PolicyName"]))


def _target_role(ctx: RequestContext, params: dict[str, Any]) -> Role:
    name = params["RoleName"]
    ctx.authorize(f"iam:{ctx.operation}", _iam_arn(ctx, "role", name))
    return users.get_role(ctx.session, ctx.account_id, name)


@handlers.operation("CreateRole")
def create_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["RoleName"]
    ctx.authorize("iam:CreateRole", _iam_arn(ctx, "role", name))
    _reject_permissions_boundary(params)
    role = users.create_role(
        ctx.session,
        ctx.clock,
        ctx.account_id,
        name=name,
        path=params.get("Path", "/"),
        trust_policy=params["AssumeRolePolicyDocument"],
        description=params.get("Description"),
        max_session_duration=params.get("MaxSessionDuration", 3600),
        tags=params.get("Tags", []),
    )
    return {"Role": _role_output(role)}


@handlers.operation("GetRole")
def get_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Role": _role_output(_target_role(ctx, params))}


@handlers.operation("ListRoles")
def list_roles(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListRoles", _iam_arn(ctx, "role", "*"))
    prefix = params.get("PathPrefix", "/")
    found = ctx.session.scalars(
        select(Role).where(Role.account_id == ctx.account_id).order_by(Role.name)
    ).all()
    matching = [role for role in found if role.path.startswith(prefix)]
    page, more = _page(ctx, params, matching, lambda role: role.name)
    return {"Roles": [_role_output(role) for role in page], **more}


@handlers.operation("DeleteRole")
def delete_role(ctx: RequestContext, params: dict[str, Any]) -> None:
    users.delete_role(ctx.session, _target_role(ctx, params))


@handlers.operation("UpdateAssumeRolePolicy")
def update_assume_role_policy(ctx: RequestContext, params: dict[str, Any]) -> None:
    role = _target_role(ctx, params)
    role.assume_role_policy = users.checked_trust_policy(ctx.session, params["PolicyDocument"])


@handlers.operation("PutRolePolicy")
def put_role_policy(ctx: RequestContext, params: dict[str, Any]) -> None:
    role = _target_role(ctx, params)
    users.put_role_policy(ctx.session, role, params["PolicyName"], params["PolicyDocument"])


@handlers.operation("GetRolePolicy")
def get_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    role = _target_role(ctx, params)
    policy = users.find_role_policy(role, params["PolicyName"])
    return {
        "RoleName": role.name,
        "PolicyName": policy.name,
        "PolicyDocument": _encoded(policy.document),
    }


@handlers.operation("ListRolePolicies")
def list_role_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    role = _target_role(ctx, params)
    names = [policy.name for policy in role.policies]
    page, more = _page(ctx, params, names, lambda name: name)
    return {"PolicyNames": page, **more}


@handlers.operation("DeleteRolePolicy")
def delete_role_policy(ctx: RequestContext, params: dict[str, Any]) -> None:
    role = _target_role(ctx, params)
    role.policies.remove(users.find_role_policy(role, params["PolicyName"]))
