"""IAM through boto3: users, access keys, roles and inline policies."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tocsin.testing import Keys, RunningServer

READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}],
}


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_user_lifecycle(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    created = iam.create_user(UserName="alice", Path="/oncall/")["User"]
    assert created["Arn"] == "arn:aws:iam::111111111111:user/oncall/alice"
    assert iam.get_user(UserName="alice")["User"]["UserId"] == created["UserId"]
    names = [user["UserName"] for user in iam.list_users()["Users"]]
    assert names == ["Administrator", "alice"]
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/oncall/")["Users"]] == ["alice"]

    with pytest.raises(ClientError) as excinfo:
        iam.create_user(UserName="alice")
    assert error_of(excinfo)[:2] == ("EntityAlreadyExists", 409)

    iam.delete_user(UserName="alice")
    with pytest.raises(ClientError) as excinfo:
        iam.get_user(UserName="alice")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("NoSuchEntity", 404)
    assert "alice" in message


def test_get_user_without_name_returns_caller(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    assert iam.get_user()["User"]["UserName"] == "Administrator"


def test_access_key_works_until_deleted(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="bob")
    iam.put_user_policy(UserName="bob", PolicyName="read", PolicyDocument=json.dumps(READ_ONLY))
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    bob = Keys(key["AccessKeyId"], key["SecretAccessKey"])
    assert server.client("sts", bob).get_caller_identity()["Arn"].endswith(":user/bob")
    listed = iam.list_access_keys(UserName="bob")["AccessKeyMetadata"]
    assert [entry["AccessKeyId"] for entry in listed] == [key["AccessKeyId"]]
    assert "SecretAccessKey" not in listed[0]

    iam.update_access_key(UserName="bob", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as excinfo:
        server.client("sts", bob).get_caller_identity()
    assert error_of(excinfo)[0] == "InvalidClientTokenId"

    iam.delete_access_key(UserName="bob", AccessKeyId=key["AccessKeyId"])
    assert iam.list_access_keys(UserName="bob")["AccessKeyMetadata"] == []


def test_access_key_quota(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="carol")
    iam.create_access_key(UserName="carol")
    iam.create_access_key(UserName="carol")
    with pytest.raises(ClientError) as excinfo:
        iam.create_access_key(UserName="carol")
    assert error_of(excinfo)[0] == "LimitExceeded"


def test_delete_user_with_policy_conflicts(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="dave")
    iam.put_user_policy(UserName="dave", PolicyName="read", PolicyDocument=json.dumps(READ_ONLY))
    with pytest.raises(ClientError) as excinfo:
        iam.delete_user(UserName="dave")
    assert error_of(excinfo)[:2] == ("DeleteConflict", 409)
    assert iam.get_user(UserName="dave")["User"]["UserName"] == "dave"


def test_user_policy_round_trip(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="erin")
    iam.put_user_policy(UserName="erin", PolicyName="read", PolicyDocument=json.dumps(READ_ONLY))
    fetched = iam.get_user_policy(UserName="erin", PolicyName="read")
    assert fetched["PolicyDocument"] == READ_ONLY
    assert iam.list_user_policies(UserName="erin")["PolicyNames"] == ["read"]
    iam.delete_user_policy(UserName="erin", PolicyName="read")
    with pytest.raises(ClientError) as excinfo:
        iam.get_user_policy(UserName="erin", PolicyName="read")
    assert error_of(excinfo)[0] == "NoSuchEntity"


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        json.dumps({"Version": "2012-10-17"}),
        json.dumps({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}),
    ],
    ids=["not-json", "no-statement", "bad-effect"],
)
def test_malformed_policy_rejected(server: RunningServer, document: str) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="frank")
    with pytest.raises(ClientError) as excinfo:
        iam.put_user_policy(UserName="frank", PolicyName="p", PolicyDocument=document)
    assert error_of(excinfo)[:2] == ("MalformedPolicyDocument", 400)
    assert iam.list_user_policies(UserName="frank")["PolicyNames"] == []


def test_role_lifecycle(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    server.create_account(account_id="222222222222")
    server.create_account(account_id="333333333333")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "222222222222"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(
        RoleName="Runbooks", AssumeRolePolicyDocument=json.dumps(trust), Description="runs"
    )["Role"]
    assert role["Arn"] == "arn:aws:iam::111111111111:role/Runbooks"
    assert role["RoleId"].startswith("AROA")
    assert iam.get_role(RoleName="Runbooks")["Role"]["AssumeRolePolicyDocument"] == trust

    trust["Statement"][0]["Principal"] = {"AWS": "333333333333"}  # type: ignore[index]
    iam.update_assume_role_policy(RoleName="Runbooks", PolicyDocument=json.dumps(trust))
    assert iam.get_role(RoleName="Runbooks")["Role"]["AssumeRolePolicyDocument"] == trust

    iam.put_role_policy(
        RoleName="Runbooks", PolicyName="read", PolicyDocument=json.dumps(READ_ONLY)
    )
    assert (
        iam.get_role_policy(RoleName="Runbooks", PolicyName="read")["PolicyDocument"] == READ_ONLY
    )
    assert iam.list_role_policies(RoleName="Runbooks")["PolicyNames"] == ["read"]
    with pytest.raises(ClientError) as excinfo:
        iam.delete_role(RoleName="Runbooks")
    assert error_of(excinfo)[0] == "DeleteConflict"
    iam.delete_role_policy(RoleName="Runbooks", PolicyName="read")
    iam.delete_role(RoleName="Runbooks")
    assert iam.list_roles()["Roles"] == []


def test_trust_policy_needs_principal(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    no_principal = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
    with pytest.raises(ClientError) as excinfo:
        iam.create_role(RoleName="Loose", AssumeRolePolicyDocument=json.dumps(no_principal))
    assert error_of(excinfo)[0] == "MalformedPolicyDocument"


def test_list_users_pages_with_marker(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    for index in range(5):
        iam.create_user(UserName=f"user{index}")
    first = iam.list_users(MaxItems=2)
    assert first["IsTruncated"] is True
    assert [u["UserName"] for u in first["Users"]] == ["Administrator", "user0"]
    paginator = iam.get_paginator("list_users")
    names = [
        u["UserName"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 2})
        for u in page["Users"]
    ]
    assert names == ["Administrator", "user0", "user1", "user2", "user3", "user4"]

    with pytest.raises(ClientError) as excinfo:
        iam.list_users(Marker=first["Marker"][:-2] + "xx")
    assert error_of(excinfo)[0] == "ValidationError"


def test_accounts_do_not_see_each_other(server: RunningServer) -> None:
    first = server.client("iam", server.create_account(account_id="111111111111"))
    second = server.client("iam", server.create_account(account_id="222222222222"))
    first.create_user(UserName="only-in-first")
    assert [u["UserName"] for u in second.list_users()["Users"]] == ["Administrator"]
    with pytest.raises(ClientError) as excinfo:
        second.get_user(UserName="only-in-first")
    assert error_of(excinfo)[0] == "NoSuchEntity"


def test_user_without_policy_is_denied(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    nobody = server.client("iam", Keys(key["AccessKeyId"], key["SecretAccessKey"]))
    with pytest.raises(ClientError) as excinfo:
        nobody.list_users()
    code, status, message = error_of(excinfo)
    assert (code, status) == ("AccessDenied", 403)
    assert "arn:aws:iam::111111111111:user/nobody" in message
    assert "iam:ListUsers" in message


@pytest.mark.parametrize(
    ("principal", "problem"),
    [
        ({"AWS": "999999999999"}, "account 999999999999 does not exist"),
        ({"AWS": "arn:aws:iam::111111111111:user/ghost"}, "no user ghost"),
        ({"AWS": "arn:aws:iam::111111111111:role/ghost"}, "no role ghost"),
        ({"AWS": "not-a-principal"}, "Invalid principal"),
    ],
    ids=["unknown-account", "unknown-user", "unknown-role", "garbage"],
)
def test_trust_policy_principal_must_exist(
    server: RunningServer, principal: dict[str, str], problem: str
) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    trust = {"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]}
    with pytest.raises(ClientError) as excinfo:
        iam.create_role(RoleName="Strict", AssumeRolePolicyDocument=json.dumps(trust))
    code, status, message = error_of(excinfo)
    assert (code, status) == ("MalformedPolicyDocument", 400)
    assert problem in message


def test_trust_policy_rejects_resource(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "111111111111"},
                "Action": "sts:AssumeRole",
                "Resource": "*",
            }
        ]
    }
    with pytest.raises(ClientError) as excinfo:
        iam.create_role(RoleName="WithResource", AssumeRolePolicyDocument=json.dumps(trust))
    code, _status, message = error_of(excinfo)
    assert code == "MalformedPolicyDocument"
    assert "prohibited field Resource" in message


def test_deeply_nested_policy_rejected(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    nested = "[" * 1200 + "]" * 1200
    document = '{"Statement": ' + nested + "}"
    with pytest.raises(ClientError) as excinfo:
        iam.put_user_policy(UserName="Administrator", PolicyName="deep", PolicyDocument=document)
    assert error_of(excinfo)[:2] == ("MalformedPolicyDocument", 400)


def test_names_match_without_case(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="alice")
    with pytest.raises(ClientError) as excinfo:
        iam.create_user(UserName="ALICE")
    assert error_of(excinfo)[0] == "EntityAlreadyExists"
    assert iam.get_user(UserName="ALICE")["User"]["UserName"] == "alice"


def test_user_inline_policy_quota(server: RunningServer) -> None:
    iam = server.client("iam", server.create_account(account_id="111111111111"))
    iam.create_user(UserName="quota")
    actions = [f"iam:GetUser{index:04d}" for index in range(120)]
    large = {"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    assert len(json.dumps(large, separators=(",", ":"))) > 2048
    with pytest.raises(ClientError) as excinfo:
        iam.put_user_policy(UserName="quota", PolicyName="large", PolicyDocument=json.dumps(large))
    code, status, message = error_of(excinfo)
    assert (code, status) == ("LimitExceeded", 409)
    assert "user quota" in message
    assert iam.list_user_policies(UserName="quota")["PolicyNames"] == []
