"""Replication set life cycle through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.incidents.conftest import (
    OWNER,
    REGION,
    TEMPLATE,
    Tenant,
    advance,
    error_of,
    prepare,
    settle,
)
from tocsin.incidents.replication import SETTLE_DELAY
from tocsin.testing import RunningServer


def test_create_get_list(server: RunningServer, owner: Tenant) -> None:
    created = owner.client.create_replication_set(
        regions={"us-east-1": {}, "eu-west-1": {"sseKmsKeyId": "arn:aws:kms:eu-west-1:1:key/k"}},
        tags={"team": "sre"},
    )
    arn = created["arn"]
    assert arn.startswith(f"arn:aws:ssm-incidents::{OWNER}:replication-set/")
    pending = owner.client.get_replication_set(arn=arn)["replicationSet"]
    assert pending["status"] == "CREATING"
    assert {info["status"] for info in pending["regionMap"].values()} == {"CREATING"}
    caller = server.client("sts", owner.keys).get_caller_identity()["Arn"]
    assert pending["createdBy"] == caller
    assert pending["lastModifiedBy"] == caller
    assert pending["deletionProtected"] is False
    assert pending["regionMap"]["us-east-1"]["sseKmsKeyId"] == "DefaultKey"
    assert pending["regionMap"]["eu-west-1"]["sseKmsKeyId"] == "arn:aws:kms:eu-west-1:1:key/k"

    settle(server, owner.client, arn)
    active = owner.client.get_replication_set(arn=arn)["replicationSet"]
    assert active["status"] == "ACTIVE"
    assert {info["status"] for info in active["regionMap"].values()} == {"ACTIVE"}
    assert owner.client.list_replication_sets()["replicationSetArns"] == [arn]
    assert owner.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "sre"}


def test_second_set_conflicts(owner: Tenant) -> None:
    arn = owner.client.create_replication_set(regions={REGION: {}})["arn"]
    with pytest.raises(ClientError) as excinfo:
        owner.client.create_replication_set(regions={"us-west-2": {}})
    error = error_of(excinfo)
    assert error["Code"] == "ConflictException"
    assert error["resourceIdentifier"] == arn
    assert error["resourceType"] == "REPLICATION_SET"


@pytest.mark.parametrize(
    "regions",
    [
        {},
        {"us-east-1": {}, "us-east-2": {}, "us-west-1": {}, "us-west-2": {}},
        {"Mars-1": {}},
    ],
)
def test_create_rejects_regions(owner: Tenant, regions: dict[str, dict[str, str]]) -> None:
    with pytest.raises(ClientError) as excinfo:
        owner.client.create_replication_set(regions=regions)
    assert error_of(excinfo)["Code"] == "ValidationException"
    assert owner.client.list_replication_sets()["replicationSetArns"] == []


def test_add_and_delete_region(server: RunningServer, owner: Tenant) -> None:
    arn = prepare(server, owner, "us-west-2")
    owner.client.update_replication_set(
        arn=arn, actions=[{"addRegionAction": {"regionName": "ap-southeast-2"}}]
    )
    updating = owner.client.get_replication_set(arn=arn)["replicationSet"]
    assert updating["status"] == "UPDATING"
    assert updating["regionMap"]["ap-southeast-2"]["status"] == "CREATING"
    with pytest.raises(ClientError) as excinfo:
        owner.client.update_replication_set(
            arn=arn, actions=[{"addRegionAction": {"regionName": "eu-west-1"}}]
        )
    assert error_of(excinfo)["Code"] == "ConflictException"
    settle(server, owner.client, arn)
    assert set(owner.client.get_replication_set(arn=arn)["replicationSet"]["regionMap"]) == {
        "us-west-2",
        "ap-southeast-2",
    }

    owner.client.update_replication_set(
        arn=arn, actions=[{"deleteRegionAction": {"regionName": "us-west-2"}}]
    )
    deleting = owner.client.get_replication_set(arn=arn)["replicationSet"]
    assert deleting["regionMap"]["us-west-2"]["status"] == "DELETING"
    settle(server, owner.client, arn)
    regions = owner.client.get_replication_set(arn=arn)["replicationSet"]["regionMap"]
    assert set(regions) == {"ap-southeast-2"}


@pytest.mark.parametrize(
    "actions",
    [
        [{"addRegionAction": {"regionName": "us-west-2"}}],  # already present
        [{"deleteRegionAction": {"regionName": "eu-west-1"}}],  # absent
        [{"deleteRegionAction": {"regionName": "us-west-2"}}],  # the last Region
        [
            {"addRegionAction": {"regionName": "ap-southeast-2"}},
            {"addRegionAction": {"regionName": "eu-west-1"}},
        ],
    ],
)
def test_update_rejects(
    server: RunningServer, owner: Tenant, actions: list[dict[str, object]]
) -> None:
    arn = prepare(server, owner, "us-west-2")
    with pytest.raises(ClientError) as excinfo:
        owner.client.update_replication_set(arn=arn, actions=actions)
    assert error_of(excinfo)["Code"] == "ValidationException"
    after = owner.client.get_replication_set(arn=arn)["replicationSet"]
    assert after["status"] == "ACTIVE"
    assert set(after["regionMap"]) == {"us-west-2"}


def test_fourth_region_rejected(server: RunningServer, owner: Tenant) -> None:
    arn = prepare(server, owner, "us-east-1", "us-east-2", "us-west-2")
    with pytest.raises(ClientError) as excinfo:
        owner.client.update_replication_set(
            arn=arn, actions=[{"addRegionAction": {"regionName": "eu-west-1"}}]
        )
    assert error_of(excinfo)["Code"] == "ValidationException"


def test_deletion_protection(server: RunningServer, owner: Tenant) -> None:
    arn = prepare(server, owner)
    owner.client.update_deletion_protection(arn=arn, deletionProtected=True)
    assert owner.client.get_replication_set(arn=arn)["replicationSet"]["deletionProtected"]
    with pytest.raises(ClientError) as excinfo:
        owner.client.delete_replication_set(arn=arn)
    assert error_of(excinfo)["Code"] == "ValidationException"
    assert owner.client.get_replication_set(arn=arn)["replicationSet"]["status"] == "ACTIVE"
    owner.client.update_deletion_protection(arn=arn, deletionProtected=False)
    owner.client.delete_replication_set(arn=arn)
    assert owner.client.get_replication_set(arn=arn)["replicationSet"]["status"] == "DELETING"


def test_delete_removes_all_data(server: RunningServer, owner: Tenant) -> None:
    arn = prepare(server, owner)
    plan = owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE, tags={"a": "b"})
    incident = owner.client.start_incident(responsePlanArn=plan["arn"])["incidentRecordArn"]
    owner.client.delete_replication_set(arn=arn)
    advance(server, SETTLE_DELAY)
    assert server.runtime.engine is not None
    server.runtime.engine.run_due()
    owner.client.get_waiter("wait_for_replication_set_deleted").wait(
        arn=arn, WaiterConfig={"Delay": 0.02, "MaxAttempts": 250}
    )
    assert owner.client.list_replication_sets()["replicationSetArns"] == []
    assert owner.client.list_response_plans()["responsePlanSummaries"] == []
    with pytest.raises(ClientError) as excinfo:
        owner.client.get_response_plan(arn=plan["arn"])
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    assert owner.client.list_incident_records()["incidentRecordSummaries"] == []
    with pytest.raises(ClientError) as excinfo:
        owner.client.get_incident_record(arn=incident)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    # A new replication set can be created afterwards.
    prepare(server, owner)


def test_unknown_and_malformed_arns(owner: Tenant, other: Tenant) -> None:
    arn = owner.client.create_replication_set(regions={REGION: {}})["arn"]
    missing = f"arn:aws:ssm-incidents::{OWNER}:replication-set/00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as excinfo:
        owner.client.get_replication_set(arn=missing)
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFoundException"
    assert error["resourceIdentifier"] == missing
    assert error["resourceType"] == "REPLICATION_SET"

    with pytest.raises(ClientError) as excinfo:
        other.client.get_replication_set(arn=arn)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        other.client.delete_replication_set(arn=arn)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    assert other.client.list_replication_sets()["replicationSetArns"] == []

    plan_arn = f"arn:aws:ssm-incidents::{OWNER}:response-plan/p"
    with pytest.raises(ClientError) as excinfo:
        owner.client.get_replication_set(arn=plan_arn)
    error = error_of(excinfo)
    assert error["Code"] == "ValidationException"
    assert "arn" in error["Message"]
