"""IAM operations on login profiles, the console passwords of users."""

from __future__ import annotations

from typing import Any

from tocsin.iam import login_profiles
from tocsin.iam.iam_handlers import ValidationError, _target_user
from tocsin.iam.models import LoginProfile, User
from tocsin.protocol.handlers import RequestContext, ServiceHandlers

handlers = ServiceHandlers("iam")


def _profile_output(user: User, profile: LoginProfile) -> dict[str, Any]:
    output: dict[str, Any] = {
        "UserName": user.name,
        "CreateDate": profile.created_at,
        "PasswordResetRequired": profile.password_reset_required,
    }
    if profile.max_signin_session_duration is not None:
        output["MaxSigninSessionDuration"] = profile.max_signin_session_duration
    return output


@handlers.operation("CreateLoginProfile")
def create_login_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    user = _target_user(ctx, params)
    password = params.get("Password")
    if password is None:
        # AWS lets Password be left out only for the root user of a member account.
        raise ValidationError("Password is required to create a login profile for an IAM user")
    profile = login_profiles.create_login_profile(
        ctx.session,
        ctx.clock,
        user,
        password,
        password_reset_required=params.get("PasswordResetRequired", False),
        max_signin_session_duration=params.get("MaxSigninSessionDuration"),
    )
    return {"LoginProfile": _profile_output(user, profile)}


@handlers.operation("GetLoginProfile", read_only=True)
def get_login_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    user = _target_user(ctx, params)
    profile = login_profiles.get_login_profile(ctx.session, user)
    return {"LoginProfile": _profile_output(user, profile)}


@handlers.operation("UpdateLoginProfile")
def update_login_profile(ctx: RequestContext, params: dict[str, Any]) -> None:
    user = _target_user(ctx, params)
    reset_duration = params.get("ResetMaxSigninSessionDuration") is True
    if reset_duration and params.get("MaxSigninSessionDuration") is not None:
        raise ValidationError(
            "MaxSigninSessionDuration and ResetMaxSigninSessionDuration cannot be given together"
        )
    login_profiles.update_login_profile(
        ctx.session,
        ctx.clock,
        user,
        password=params.get("Password"),
        password_reset_required=params.get("PasswordResetRequired"),
        max_signin_session_duration=params.get("MaxSigninSessionDuration"),
        reset_max_signin_session_duration=reset_duration,
    )


@handlers.operation("DeleteLoginProfile")
def delete_login_profile(ctx: RequestContext, params: dict[str, Any]) -> None:
    user = _target_user(ctx, params)
    login_profiles.delete_login_profile(ctx.session, user)
