"""Faults reported against other deployments of Incident Manager, restated as tests."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tocsin.testing import RunningServer

ACCOUNT = "111122223333"
KMS_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_contact_with_kms_replication_set(server: RunningServer) -> None:
    # A replication set encrypted with a customer-managed key once made
    # CreateContact fail with an empty validation message.
    keys = server.create_account(account_id=ACCOUNT)
    incidents = server.client("ssm-incidents", keys)
    incidents.create_replication_set(regions={"us-east-1": {"sseKmsKeyId": KMS_KEY}})
    contacts = server.client("ssm-contacts", keys)

    created = contacts.create_contact(
        Alias="spde", DisplayName="spde", Type="PERSONAL", Plan={"Stages": []}
    )
    assert created["ContactArn"] == f"arn:aws:ssm-contacts:us-east-1:{ACCOUNT}:contact/spde"


@pytest.mark.parametrize(
    ("request_members", "field"),
    [
        ({"Alias": "Not An Alias!"}, "alias"),
        ({"DisplayName": "x" * 300}, "displayName"),
        ({"Type": "PAGER"}, "type"),
    ],
    ids=["alias", "display-name", "type"],
)
def test_validation_message_names_field(
    server: RunningServer, request_members: dict[str, str], field: str
) -> None:
    contacts = server.client("ssm-contacts", server.create_account(account_id=ACCOUNT))
    members = {"Alias": "spde", "DisplayName": "spde", "Type": "PERSONAL", "Plan": {"Stages": []}}
    members.update(request_members)
    with pytest.raises(ClientError) as excinfo:
        contacts.create_contact(**members)
    response = excinfo.value.response
    assert response["Error"]["Code"] == "ValidationException"
    message = response["Error"]["Message"]
    assert message.strip() != ""
    assert f"at '{field}'" in message
    assert [entry["Name"] for entry in response["Fields"]] == [field]
