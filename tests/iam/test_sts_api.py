"""STS through boto3: caller identity, credential errors and AssumeRole across accounts."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tocsin.testing import Keys, RunningServer


def trust_policy(*principals: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": list(principals)},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_get_caller_identity_returns_account(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    identity = server.client("sts", keys).get_caller_identity()
    assert identity["Account"] == "111111111111"
    assert identity["Arn"] == "arn:aws:iam::111111111111:user/Administrator"
    assert identity["UserId"].startswith("AIDA")


def test_wrong_secret_is_signature_mismatch(server: RunningServer) -> None:
    keys = server.create_account()
    wrong = Keys(keys.access_key_id, "x" * 40)
    with pytest.raises(ClientError) as excinfo:
        server.client("sts", wrong).get_caller_identity()
    assert error_code(excinfo) == "SignatureDoesNotMatch"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_key_is_invalid_client_token(server: RunningServer) -> None:
    unknown = Keys("AKIAUNKNOWNUNKNOWN22", "y" * 40)
    with pytest.raises(ClientError) as excinfo:
        server.client("sts", unknown).get_caller_identity()
    assert error_code(excinfo) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as excinfo:
        server.client("ssm-contacts", unknown).list_contacts()
    assert error_code(excinfo) == "UnrecognizedClientException"


def test_assume_role_needs_trust_of_caller_account(server: RunningServer) -> None:
    management = server.create_account(account_id="111111111111")
    application = server.create_account(account_id="222222222222")
    stranger = server.create_account(account_id="333333333333")
    iam = server.client("iam", management)
    iam.create_role(
        RoleName="IncidentReader",
        AssumeRolePolicyDocument=trust_policy("arn:aws:iam::222222222222:root"),
    )
    role_arn = "arn:aws:iam::111111111111:role/IncidentReader"

    with pytest.raises(ClientError) as excinfo:
        server.client("sts", stranger).assume_role(RoleArn=role_arn, RoleSessionName="probe")
    assert error_code(excinfo) == "AccessDenied"

    assumed = server.client("sts", application).assume_role(
        RoleArn=role_arn, RoleSessionName="responder", DurationSeconds=900
    )
    credentials = assumed["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert assumed["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::111111111111:assumed-role/IncidentReader/responder"
    )
    session_keys = Keys(
        credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    identity = server.client("sts", session_keys).get_caller_identity()
    assert identity["Account"] == "111111111111"
    assert identity["Arn"] == "arn:aws:sts::111111111111:assumed-role/IncidentReader/responder"


def test_assumed_role_acts_with_role_policies(server: RunningServer) -> None:
    management = server.create_account(account_id="111111111111")
    application = server.create_account(account_id="222222222222")
    iam = server.client("iam", management)
    iam.create_role(
        RoleName="UserReader",
        AssumeRolePolicyDocument=trust_policy("222222222222"),
    )
    assumed = server.client("sts", application).assume_role(
        RoleArn="arn:aws:iam::111111111111:role/UserReader", RoleSessionName="s1"
    )["Credentials"]
    session_keys = Keys(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    role_iam = server.client("iam", session_keys)

    # The role has no policies yet, so even reading is denied.
    with pytest.raises(ClientError) as excinfo:
        role_iam.list_users()
    assert error_code(excinfo) == "AccessDenied"

    iam.put_role_policy(
        RoleName="UserReader",
        PolicyName="read-users",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}],
            }
        ),
    )
    names = [user["UserName"] for user in role_iam.list_users()["Users"]]
    assert names == ["Administrator"]
    with pytest.raises(ClientError) as excinfo:
        role_iam.create_user(UserName="intruder")
    assert error_code(excinfo) == "AccessDenied"


def test_temporary_credentials_stop_at_expiry(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    server.client("iam", keys).create_role(
        RoleName="ShortLived", AssumeRolePolicyDocument=trust_policy("111111111111")
    )
    assumed = server.client("sts", keys).assume_role(
        RoleArn="arn:aws:iam::111111111111:role/ShortLived",
        RoleSessionName="brief",
        DurationSeconds=900,
    )["Credentials"]
    session_keys = Keys(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    sts = server.client("sts", session_keys)
    assert sts.get_caller_identity()["Account"] == "111111111111"

    server.clock.advance(seconds=899)  # type: ignore[attr-defined]
    assert sts.get_caller_identity()["Account"] == "111111111111"
    server.clock.advance(seconds=1)  # type: ignore[attr-defined]
    with pytest.raises(ClientError) as excinfo:
        sts.get_caller_identity()
    assert error_code(excinfo) == "ExpiredToken"
    with pytest.raises(ClientError) as excinfo:
        server.client("ssm-contacts", session_keys).list_contacts()
    assert error_code(excinfo) == "ExpiredTokenException"


def test_session_token_must_match(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    server.client("iam", keys).create_role(
        RoleName="Tokened", AssumeRolePolicyDocument=trust_policy("111111111111")
    )
    assumed = server.client("sts", keys).assume_role(
        RoleArn="arn:aws:iam::111111111111:role/Tokened", RoleSessionName="tokened"
    )["Credentials"]
    forged = Keys(assumed["AccessKeyId"], assumed["SecretAccessKey"], "forged-token")
    with pytest.raises(ClientError) as excinfo:
        server.client("sts", forged).get_caller_identity()
    assert error_code(excinfo) == "InvalidClientTokenId"


def test_assume_role_duration_limited_by_role(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    server.client("iam", keys).create_role(
        RoleName="Hourly", AssumeRolePolicyDocument=trust_policy("111111111111")
    )
    with pytest.raises(ClientError) as excinfo:
        server.client("sts", keys).assume_role(
            RoleArn="arn:aws:iam::111111111111:role/Hourly",
            RoleSessionName="long",
            DurationSeconds=7200,
        )
    assert error_code(excinfo) == "ValidationError"
    assert "MaxSessionDuration" in excinfo.value.response["Error"]["Message"]


def test_assume_role_rejects_bad_session_name(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    with pytest.raises(ClientError) as excinfo:
        server.client("sts", keys).assume_role(
            RoleArn="arn:aws:iam::111111111111:role/Any", RoleSessionName="bad name!"
        )
    assert error_code(excinfo) == "ValidationError"
    assert "roleSessionName" in excinfo.value.response["Error"]["Message"] or (
        "RoleSessionName" in excinfo.value.response["Error"]["Message"]
    )


def test_session_policy_narrows_role(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    iam = server.client("iam", keys)
    iam.create_role(RoleName="Broad", AssumeRolePolicyDocument=trust_policy("111111111111"))
    iam.put_role_policy(
        RoleName="Broad",
        PolicyName="all-iam",
        PolicyDocument=json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
        ),
    )
    narrow = json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}
    )
    assumed = server.client("sts", keys).assume_role(
        RoleArn="arn:aws:iam::111111111111:role/Broad", RoleSessionName="narrow", Policy=narrow
    )["Credentials"]
    role_iam = server.client(
        "iam", Keys(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    )
    assert [role["RoleName"] for role in role_iam.list_roles()["Roles"]] == ["Broad"]
    with pytest.raises(ClientError) as excinfo:
        role_iam.list_users()
    assert error_code(excinfo) == "AccessDenied"


def test_same_account_needs_trust(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    server.create_account(account_id="222222222222")
    iam = server.client("iam", keys)
    iam.create_role(RoleName="OnlyForOthers", AssumeRolePolicyDocument=trust_policy("222222222222"))
    # The administrator may do anything by its identity policy, but the role's
    # trust policy names another account, so it may not assume the role.
    with pytest.raises(ClientError) as excinfo:
        server.client("sts", keys).assume_role(
            RoleArn="arn:aws:iam::111111111111:role/OnlyForOthers", RoleSessionName="inside"
        )
    assert error_code(excinfo) == "AccessDenied"


def test_trusted_user_needs_no_identity_policy(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    iam = server.client("iam", keys)
    iam.create_user(UserName="carol")
    key = iam.create_access_key(UserName="carol")["AccessKey"]
    iam.create_role(
        RoleName="ForCarol",
        AssumeRolePolicyDocument=trust_policy("arn:aws:iam::111111111111:user/carol"),
    )
    carol = Keys(key["AccessKeyId"], key["SecretAccessKey"])
    assumed = server.client("sts", carol).assume_role(
        RoleArn="arn:aws:iam::111111111111:role/ForCarol", RoleSessionName="carol"
    )
    assert assumed["AssumedRoleUser"]["Arn"].endswith(":assumed-role/ForCarol/carol")


def test_account_trust_needs_identity_policy(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    iam = server.client("iam", keys)
    iam.create_user(UserName="dave")
    key = iam.create_access_key(UserName="dave")["AccessKey"]
    iam.create_role(RoleName="ForAccount", AssumeRolePolicyDocument=trust_policy("111111111111"))
    dave = server.client("sts", Keys(key["AccessKeyId"], key["SecretAccessKey"]))
    with pytest.raises(ClientError) as excinfo:
        dave.assume_role(RoleArn="arn:aws:iam::111111111111:role/ForAccount", RoleSessionName="d1")
    assert error_code(excinfo) == "AccessDenied"

    allow_assume = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    iam.put_user_policy(
        UserName="dave", PolicyName="assume", PolicyDocument=json.dumps(allow_assume)
    )
    assumed = dave.assume_role(
        RoleArn="arn:aws:iam::111111111111:role/ForAccount", RoleSessionName="d2"
    )
    assert assumed["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_denials_do_not_reveal_roles(server: RunningServer) -> None:
    owner = server.create_account(account_id="111111111111")
    outsider = server.create_account(account_id="222222222222")
    iam = server.client("iam", owner)
    iam.create_role(RoleName="Private", AssumeRolePolicyDocument=trust_policy("111111111111"))
    sts = server.client("sts", outsider)
    messages = []
    for name in ("Private", "DoesNotExist"):
        arn = f"arn:aws:iam::111111111111:role/{name}"
        with pytest.raises(ClientError) as excinfo:
            sts.assume_role(RoleArn=arn, RoleSessionName="probe")
        assert error_code(excinfo) == "AccessDenied"
        messages.append(excinfo.value.response["Error"]["Message"].replace(name, "NAME"))
    assert messages[0] == messages[1]


def test_session_policy_denial_names_it(server: RunningServer) -> None:
    keys = server.create_account(account_id="111111111111")
    iam = server.client("iam", keys)
    iam.create_role(RoleName="Wide", AssumeRolePolicyDocument=trust_policy("111111111111"))
    iam.put_role_policy(
        RoleName="Wide",
        PolicyName="all-iam",
        PolicyDocument=json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
        ),
    )
    narrow = json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}
    )
    assumed = server.client("sts", keys).assume_role(
        RoleArn="arn:aws:iam::111111111111:role/Wide", RoleSessionName="narrowed", Policy=narrow
    )["Credentials"]
    role_iam = server.client(
        "iam", Keys(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    )
    with pytest.raises(ClientError) as excinfo:
        role_iam.list_roles()
    assert (
        "no session policy allows the iam:ListRoles action"
        in (excinfo.value.response["Error"]["Message"])
    )
