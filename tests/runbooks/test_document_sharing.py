"""Sharing documents with other accounts: ModifyDocumentPermission, reads by ARN, revocation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.runbooks.conftest import MINIMAL, OTHER, OWNER, THIRD, create, error_of
from tocsin.testing import Keys, RunningServer

ARN = f"arn:aws:ssm:us-east-1:{OWNER}:document/runbook"
SECOND = MINIMAL.replace("Wait a little.", "Wait a little longer.")


def share(client: Any, *accounts: str, version: str | None = None) -> None:
    extra = {"SharedDocumentVersion": version} if version else {}
    client.modify_document_permission(
        Name="runbook", PermissionType="Share", AccountIdsToAdd=list(accounts), **extra
    )


def test_shared_document_is_readable_by_arn(ssm: Any, other_ssm: Any) -> None:
    create(ssm, "runbook", Tags=[{"Key": "team", "Value": "web"}])
    with pytest.raises(ClientError) as excinfo:
        other_ssm.get_document(Name=ARN)
    assert error_of(excinfo)[0] == "InvalidDocument"

    share(ssm, OTHER)

    document = other_ssm.get_document(Name=ARN)
    assert document["Name"] == ARN
    assert document["Content"] == MINIMAL
    described = other_ssm.describe_document(Name=ARN)["Document"]
    assert described["Owner"] == OWNER
    assert "Tags" not in described
    listed = other_ssm.list_documents()["DocumentIdentifiers"]
    assert [d["Name"] for d in listed] == [ARN]
    assert listed[0]["Owner"] == OWNER
    own = other_ssm.list_documents(Filters=[{"Key": "Owner", "Values": ["Self"]}])
    assert own["DocumentIdentifiers"] == []
    # A plain name still means the caller's own account.
    with pytest.raises(ClientError) as excinfo:
        other_ssm.get_document(Name="runbook")
    assert error_of(excinfo)[0] == "InvalidDocument"


def test_only_owner_changes_shared_document(ssm: Any, other_ssm: Any) -> None:
    create(ssm, "runbook")
    share(ssm, OTHER)
    calls = [
        lambda: other_ssm.update_document(Name="runbook", Content=SECOND, DocumentFormat="YAML"),
        lambda: other_ssm.delete_document(Name="runbook"),
        lambda: other_ssm.update_document_default_version(Name="runbook", DocumentVersion="1"),
        lambda: other_ssm.modify_document_permission(
            Name="runbook", PermissionType="Share", AccountIdsToAdd=[THIRD]
        ),
        lambda: other_ssm.describe_document_permission(Name="runbook", PermissionType="Share"),
        lambda: other_ssm.add_tags_to_resource(
            ResourceType="Document", ResourceId="runbook", Tags=[{"Key": "k", "Value": "v"}]
        ),
    ]
    for index, call in enumerate(calls):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[0] in ("InvalidDocument", "InvalidResourceId"), index
    assert ssm.get_document(Name="runbook")["DocumentVersion"] == "1"


def test_revoked_share_hides_document(ssm: Any, other_ssm: Any) -> None:
    create(ssm, "runbook")
    share(ssm, OTHER, THIRD)
    permission = ssm.describe_document_permission(Name="runbook", PermissionType="Share")
    assert permission["AccountIds"] == [OTHER, THIRD]
    assert permission["AccountSharingInfoList"] == [
        {"AccountId": OTHER, "SharedDocumentVersion": "$DEFAULT"},
        {"AccountId": THIRD, "SharedDocumentVersion": "$DEFAULT"},
    ]

    with pytest.raises(ClientError) as excinfo:
        ssm.delete_document(Name="runbook")
    code, message, _ = error_of(excinfo)
    assert code == "InvalidDocumentOperation"
    assert "Stop sharing" in message

    ssm.modify_document_permission(
        Name="runbook", PermissionType="Share", AccountIdsToRemove=[OTHER, THIRD]
    )
    with pytest.raises(ClientError) as excinfo:
        other_ssm.describe_document(Name=ARN)
    assert error_of(excinfo)[0] == "InvalidDocument"
    assert other_ssm.list_documents()["DocumentIdentifiers"] == []
    ssm.delete_document(Name="runbook")


def test_shared_version_limits_reads(ssm: Any, other_ssm: Any) -> None:
    create(ssm, "runbook")
    ssm.update_document(Name="runbook", Content=SECOND, DocumentFormat="YAML")
    share(ssm, OTHER)

    assert other_ssm.get_document(Name=ARN)["DocumentVersion"] == "1"
    with pytest.raises(ClientError) as excinfo:
        other_ssm.get_document(Name=ARN, DocumentVersion="$LATEST")
    assert error_of(excinfo)[0] == "InvalidDocumentVersion"
    versions = other_ssm.list_document_versions(Name=ARN)["DocumentVersions"]
    assert [v["DocumentVersion"] for v in versions] == ["1"]

    share(ssm, OTHER, version="$LATEST")
    assert other_ssm.get_document(Name=ARN)["DocumentVersion"] == "2"
    with pytest.raises(ClientError) as excinfo:
        other_ssm.get_document(Name=ARN, DocumentVersion="1")
    assert error_of(excinfo)[0] == "InvalidDocumentVersion"

    share(ssm, OTHER, version="$ALL")
    assert other_ssm.get_document(Name=ARN, DocumentVersion="2")["Content"] == SECOND
    versions = other_ssm.list_document_versions(Name=ARN)["DocumentVersions"]
    assert [v["DocumentVersion"] for v in versions] == ["2", "1"]


def test_public_share_reaches_every_account(
    server: RunningServer, ssm: Any, other_ssm: Any
) -> None:
    third_ssm = server.client("ssm", server.create_account(account_id=THIRD))
    create(ssm, "runbook")
    ssm.modify_document_permission(Name="runbook", PermissionType="Share", AccountIdsToAdd=["All"])

    assert third_ssm.get_document(Name=ARN)["Content"] == MINIMAL
    public = third_ssm.list_documents(Filters=[{"Key": "Owner", "Values": ["Public"]}])
    assert [d["Name"] for d in public["DocumentIdentifiers"]] == [ARN]
    # Without an Owner filter, public documents of other accounts are not listed.
    assert other_ssm.list_documents()["DocumentIdentifiers"] == []
    assert ssm.describe_document_permission(Name="runbook", PermissionType="Share")[
        "AccountIds"
    ] == ["all"]

    ssm.modify_document_permission(
        Name="runbook", PermissionType="Share", AccountIdsToRemove=["all"]
    )
    with pytest.raises(ClientError) as excinfo:
        third_ssm.get_document(Name=ARN)
    assert error_of(excinfo)[0] == "InvalidDocument"


def test_modify_document_permission_failures(ssm: Any) -> None:
    create(ssm, "runbook")
    for index in range(5):
        create(ssm, f"public-{index}")
        ssm.modify_document_permission(
            Name=f"public-{index}", PermissionType="Share", AccountIdsToAdd=["all"]
        )
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"AccountIdsToAdd": ["All"]}, "DocumentPermissionLimit", "publicly"),
        ({"AccountIdsToAdd": [OWNER]}, "ValidationException", OWNER),
        (
            {"AccountIdsToAdd": [OTHER], "AccountIdsToRemove": [OTHER]},
            "ValidationException",
            OTHER,
        ),
        ({"Name": "missing", "AccountIdsToAdd": [OTHER]}, "InvalidDocument", "missing"),
        ({"PermissionType": "Read", "AccountIdsToAdd": [OTHER]}, "ValidationException", "Share"),
    ]
    for extra, code, fragment in cases:
        arguments = {"Name": "runbook", "PermissionType": "Share", **extra}
        with pytest.raises(ClientError) as excinfo:
            ssm.modify_document_permission(**arguments)
        error = error_of(excinfo)
        assert error[0] == code, extra
        assert fragment in error[1], (extra, error[1])
    listed = ssm.describe_document_permission(Name="runbook", PermissionType="Share")
    assert listed["AccountIds"] == []


def test_consumer_users_need_identity_policy(server: RunningServer, ssm: Any) -> None:
    create(ssm, "runbook")
    share(ssm, OTHER)
    iam = server.client("iam", server.create_account(account_id=OTHER))
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ssm:GetDocument", "Resource": "*"}],
    }
    for user, policies in (("reader", [policy]), ("nobody", [])):
        iam.create_user(UserName=user)
        for document in policies:
            iam.put_user_policy(
                UserName=user, PolicyName="documents", PolicyDocument=json.dumps(document)
            )
    clients = {}
    for user in ("reader", "nobody"):
        key = iam.create_access_key(UserName=user)["AccessKey"]
        clients[user] = server.client("ssm", Keys(key["AccessKeyId"], key["SecretAccessKey"]))

    assert clients["reader"].get_document(Name=ARN)["Content"] == MINIMAL
    with pytest.raises(ClientError) as excinfo:
        clients["reader"].describe_document(Name=ARN)
    assert error_of(excinfo)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as excinfo:
        clients["nobody"].get_document(Name=ARN)
    assert error_of(excinfo)[0] == "AccessDeniedException"
