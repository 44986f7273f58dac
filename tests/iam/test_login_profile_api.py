"""IAM login profiles through boto3: console passwords, their policy and their errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from tests.iam.test_iam_api import error_of
from tocsin.iam.models import LoginProfile, User
from tocsin.iam.passwords import verify_password
from tocsin.testing import Keys, RunningServer

PASSWORD = "Correct-Horse-7"


def test_login_profile_lifecycle(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="alice")

    created = iam.create_login_profile(
        UserName="alice", Password=PASSWORD, PasswordResetRequired=True
    )["LoginProfile"]
    assert created["UserName"] == "alice"
    assert created["PasswordResetRequired"] is True
    assert "CreateDate" in created
    assert "MaxSigninSessionDuration" not in created

    fetched = iam.get_login_profile(UserName="alice")["LoginProfile"]
    assert fetched["PasswordResetRequired"] is True

    iam.update_login_profile(
        UserName="alice", PasswordResetRequired=False, MaxSigninSessionDuration=7200
    )
    fetched = iam.get_login_profile(UserName="alice")["LoginProfile"]
    assert fetched["PasswordResetRequired"] is False
    assert fetched["MaxSigninSessionDuration"] == 7200

    iam.update_login_profile(UserName="alice", ResetMaxSigninSessionDuration=True)
    assert "MaxSigninSessionDuration" not in iam.get_login_profile(UserName="alice")["LoginProfile"]

    iam.delete_login_profile(UserName="alice")
    with pytest.raises(ClientError) as excinfo:
        iam.get_login_profile(UserName="alice")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("NoSuchEntity", 404)
    assert "alice" in message


def test_password_stored_as_scrypt_hash(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password=PASSWORD)
    with server.runtime.database.session() as session:
        stored = session.scalar(
            select(LoginProfile.password_hash)
            .join(User, User.user_id == LoginProfile.user_id)
            .where(User.name == "alice")
        )
    assert stored is not None
    assert PASSWORD not in stored
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "x", stored)

    iam.update_login_profile(UserName="alice", Password="Another-Pass-8")
    with server.runtime.database.session() as session:
        replaced = session.scalar(select(LoginProfile.password_hash))
    assert replaced != stored
    assert verify_password("Another-Pass-8", replaced or "")


def test_login_profile_errors(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="alice")

    with pytest.raises(ClientError) as excinfo:
        iam.create_login_profile(UserName="nobody", Password=PASSWORD)
    assert error_of(excinfo)[:2] == ("NoSuchEntity", 404)

    for operation in (iam.get_login_profile, iam.delete_login_profile):
        with pytest.raises(ClientError) as excinfo:
            operation(UserName="alice")
        code, status, message = error_of(excinfo)
        assert (code, status) == ("NoSuchEntity", 404)
        assert "Login Profile" in message

    with pytest.raises(ClientError) as excinfo:
        iam.update_login_profile(UserName="alice", Password=PASSWORD)
    assert error_of(excinfo)[:2] == ("NoSuchEntity", 404)

    iam.create_login_profile(UserName="alice", Password=PASSWORD)
    with pytest.raises(ClientError) as excinfo:
        iam.create_login_profile(UserName="alice", Password=PASSWORD)
    assert error_of(excinfo)[:2] == ("EntityAlreadyExists", 409)

    with pytest.raises(ClientError) as excinfo:
        iam.update_login_profile(
            UserName="alice", MaxSigninSessionDuration=7200, ResetMaxSigninSessionDuration=True
        )
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationError", 400)
    assert "MaxSigninSessionDuration" in message

    with pytest.raises(ClientError) as excinfo:
        iam.delete_user(UserName="alice")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("DeleteConflict", 409)
    assert "login profile" in message


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Ab1!", "minimum length of 8"),
        ("alllowercase1", "at least 3 of"),
        ("ALLUPPER!!!!", "at least 3 of"),
        ("lowercase-only", "at least 3 of"),
    ],
)
def test_password_policy_violation(server: RunningServer, password: str, expected: str) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as excinfo:
        iam.create_login_profile(UserName="alice", Password=password)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("PasswordPolicyViolation", 400)
    assert expected in message


def test_password_longer_than_model_rejected(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as excinfo:
        iam.create_login_profile(UserName="alice", Password="Ab1-" * 33)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationError", 400)
    assert "password" in message.lower()


def test_password_equal_to_user_name_rejected(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="Long-User-9")
    with pytest.raises(ClientError) as excinfo:
        iam.create_login_profile(UserName="Long-User-9", Password="long-user-9")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("PasswordPolicyViolation", 400)
    assert "user name" in message


def test_login_profile_needs_permission(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="alice")
    iam.create_user(UserName="bob")
    read_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:GetLoginProfile", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="bob", PolicyName="read", PolicyDocument=json.dumps(read_only))
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    bob = server.client("iam", Keys(key["AccessKeyId"], key["SecretAccessKey"]))
    iam.create_login_profile(UserName="alice", Password=PASSWORD)

    assert bob.get_login_profile(UserName="alice")["LoginProfile"]["UserName"] == "alice"
    with pytest.raises(ClientError) as excinfo:
        bob.update_login_profile(UserName="alice", Password="Stolen-Pass-1")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("AccessDenied", 403)
    assert "iam:UpdateLoginProfile" in message
    with pytest.raises(ClientError) as excinfo:
        bob.create_login_profile(Password=PASSWORD)
    assert error_of(excinfo)[0] == "AccessDenied"


def test_create_login_profile_without_password_rejected(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as excinfo:
        iam.create_login_profile(UserName="alice")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationError", 400)
    assert "Password" in message
