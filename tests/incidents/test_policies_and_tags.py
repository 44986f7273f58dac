"""Resource policies that share response plans, and tags, through boto3."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.incidents.conftest import OTHER, OWNER, REGION, TEMPLATE, Tenant, error_of

CONSUMER_ACTIONS = [
    "ssm-incidents:GetResponsePlan",
    "ssm-incidents:StartIncident",
    "ssm-incidents:GetIncidentRecord",
]


def share_policy(plan_arn: str, account: str = OTHER, effect: str = "Allow") -> str:
    statement: dict[str, Any] = {
        "Sid": "share",
        "Effect": effect,
        "Principal": {"AWS": account},
        "Action": [*CONSUMER_ACTIONS, "ssm-incidents:UpdateResponsePlan"],
        "Resource": [plan_arn, plan_arn.replace("response-plan/", "incident-record/") + "/*"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def plan(prepared: str, owner: Tenant) -> str:
    arn: str = owner.client.create_response_plan(name="shared", incidentTemplate=TEMPLATE)["arn"]
    return arn


def test_put_get_delete_policy(plan: str, owner: Tenant) -> None:
    document = share_policy(plan)
    policy_id = owner.client.put_resource_policy(resourceArn=plan, policy=document)["policyId"]
    policies = owner.client.get_resource_policies(resourceArn=plan)["resourcePolicies"]
    assert policies == [
        {"policyDocument": document, "policyId": policy_id, "ramResourceShareRegion": REGION}
    ]
    owner.client.delete_resource_policy(resourceArn=plan, policyId=policy_id)
    assert owner.client.get_resource_policies(resourceArn=plan)["resourcePolicies"] == []
    with pytest.raises(ClientError) as excinfo:
        owner.client.delete_resource_policy(resourceArn=plan, policyId=policy_id)
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFoundException"
    assert error["resourceIdentifier"] == policy_id
    assert error["resourceType"] == "RESOURCE_POLICY"


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        "DENY",
    ],
)
def test_invalid_policies_rejected(plan: str, owner: Tenant, document: str) -> None:
    if document == "DENY":
        document = share_policy(plan, effect="Deny")
    with pytest.raises(ClientError) as excinfo:
        owner.client.put_resource_policy(resourceArn=plan, policy=document)
    assert error_of(excinfo)["Code"] == "ValidationException"
    assert owner.client.get_resource_policies(resourceArn=plan)["resourcePolicies"] == []


def test_policy_pagination(plan: str, owner: Tenant) -> None:
    ids = [
        owner.client.put_resource_policy(resourceArn=plan, policy=share_policy(plan))["policyId"]
        for _ in range(5)
    ]
    paginator = owner.client.get_paginator("get_resource_policies")
    pages = list(paginator.paginate(resourceArn=plan, PaginationConfig={"PageSize": 2}))
    assert [len(page["resourcePolicies"]) for page in pages] == [2, 2, 1]
    listed = {p["policyId"] for page in pages for p in page["resourcePolicies"]}
    assert listed == set(ids)


def test_shared_plan_is_visible(plan: str, owner: Tenant, other: Tenant) -> None:
    with pytest.raises(ClientError) as excinfo:
        other.client.get_response_plan(arn=plan)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"

    policy_id = owner.client.put_resource_policy(resourceArn=plan, policy=share_policy(plan))[
        "policyId"
    ]
    assert other.client.get_response_plan(arn=plan)["name"] == "shared"
    # Consumers use and view: the policy lists UpdateResponsePlan, but sharing never grants it.
    owner_only: list[tuple[str, dict[str, Any]]] = [
        ("update_response_plan", {"arn": plan, "incidentTemplateImpact": 1}),
        ("delete_response_plan", {"arn": plan}),
        ("get_resource_policies", {"resourceArn": plan}),
        ("put_resource_policy", {"resourceArn": plan, "policy": share_policy(plan)}),
        ("list_tags_for_resource", {"resourceArn": plan}),
        ("tag_resource", {"resourceArn": plan, "tags": {"x": "y"}}),
    ]
    for operation, arguments in owner_only:
        with pytest.raises(ClientError) as excinfo:
            getattr(other.client, operation)(**arguments)
        assert error_of(excinfo)["Code"] == "AccessDeniedException", operation

    owner.client.delete_resource_policy(resourceArn=plan, policyId=policy_id)
    with pytest.raises(ClientError) as excinfo:
        other.client.get_response_plan(arn=plan)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"


def test_policy_for_another_account_hides_plan(plan: str, owner: Tenant, other: Tenant) -> None:
    owner.client.put_resource_policy(resourceArn=plan, policy=share_policy(plan, "333333333333"))
    with pytest.raises(ClientError) as excinfo:
        other.client.get_response_plan(arn=plan)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"


def test_policy_on_missing_plan(prepared: str, owner: Tenant) -> None:
    missing = f"arn:aws:ssm-incidents::{OWNER}:response-plan/missing"
    with pytest.raises(ClientError) as excinfo:
        owner.client.put_resource_policy(resourceArn=missing, policy=share_policy(missing))
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFoundException"
    assert error["resourceType"] == "RESPONSE_PLAN"
    with pytest.raises(ClientError) as excinfo:
        owner.client.put_resource_policy(resourceArn=prepared, policy=share_policy(missing))
    assert error_of(excinfo)["Code"] == "ValidationException"


def test_tags_on_plan_and_replication_set(prepared: str, plan: str, owner: Tenant) -> None:
    for arn in (plan, prepared):
        owner.client.tag_resource(resourceArn=arn, tags={"team": "sre", "tier": "1"})
        owner.client.tag_resource(resourceArn=arn, tags={"tier": "0"})
        assert owner.client.list_tags_for_resource(resourceArn=arn)["tags"] == {
            "team": "sre",
            "tier": "0",
        }
        owner.client.untag_resource(resourceArn=arn, tagKeys=["tier", "absent"])
        assert owner.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "sre"}


def test_tag_limit(plan: str, owner: Tenant) -> None:
    owner.client.tag_resource(resourceArn=plan, tags={f"k{i}": "v" for i in range(45)})
    with pytest.raises(ClientError) as excinfo:
        owner.client.tag_resource(resourceArn=plan, tags={f"n{i}": "v" for i in range(6)})
    error = error_of(excinfo)
    assert error["Code"] == "ServiceQuotaExceededException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert len(owner.client.list_tags_for_resource(resourceArn=plan)["tags"]) == 45
    owner.client.tag_resource(resourceArn=plan, tags={f"n{i}": "v" for i in range(5)})
    assert len(owner.client.list_tags_for_resource(resourceArn=plan)["tags"]) == 50


def test_tags_of_missing_and_foreign(
    prepared: str, plan: str, owner: Tenant, other: Tenant
) -> None:
    missing = f"arn:aws:ssm-incidents::{OWNER}:response-plan/missing"
    with pytest.raises(ClientError) as excinfo:
        owner.client.tag_resource(resourceArn=missing, tags={"a": "b"})
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFoundException"
    assert error["resourceType"] == "RESPONSE_PLAN"
    for arn in (plan, prepared):
        with pytest.raises(ClientError) as excinfo:
            other.client.list_tags_for_resource(resourceArn=arn)
        assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        owner.client.list_tags_for_resource(resourceArn=f"arn:aws:sns:{REGION}:{OWNER}:topic")
    assert error_of(excinfo)["Code"] == "ValidationException"
