"""Response plans through boto3, with the shapes that Terraform and CloudFormation send."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.incidents.conftest import (
    OWNER,
    REGION,
    TEMPLATE,
    Tenant,
    error_of,
    prepare,
    settle,
)
from tocsin.testing import RunningServer

TOPIC = f"arn:aws:sns:{REGION}:{OWNER}:incident-updates"
ROLE = f"arn:aws:iam::{OWNER}:role/incident-runbooks"
CONTACT = f"arn:aws:ssm-contacts:{REGION}:{OWNER}:contact/oncall"

# The Terraform documentation's "Usage With All Fields" response plan, as boto3 input.
ALL_FIELDS: dict[str, Any] = {
    "name": "name",
    "incidentTemplate": {
        "title": "title",
        "impact": 3,
        "dedupeString": "dedupe",
        "incidentTags": {"key": "value"},
        "notificationTargets": [
            {"snsTopicArn": f"arn:aws:sns:{REGION}:{OWNER}:example1"},
            {"snsTopicArn": f"arn:aws:sns:{REGION}:{OWNER}:example2"},
        ],
        "summary": "summary",
    },
    "displayName": "display name",
    "chatChannel": {"chatbotSns": [TOPIC]},
    "engagements": [f"arn:aws:ssm-contacts:us-east-2:{OWNER}:contact/test1"],
    "actions": [
        {
            "ssmAutomation": {
                "documentName": "document1",
                "roleArn": ROLE,
                "documentVersion": "version1",
                "targetAccount": "RESPONSE_PLAN_OWNER_ACCOUNT",
                "parameters": {"key": ["value1", "value2"], "foo": ["bar"]},
                "dynamicParameters": {
                    "someKey": {"variable": "INVOLVED_RESOURCES"},
                    "anotherKey": {"variable": "INCIDENT_RECORD_ARN"},
                },
            }
        }
    ],
    "integrations": [
        {
            "pagerDutyConfiguration": {
                "name": "pagerdutyIntegration",
                "pagerDutyIncidentConfiguration": {"serviceId": "example"},
                "secretId": "example",
            }
        }
    ],
    "tags": {"key": "value"},
}


def test_all_fields_round_trip(prepared: str, owner: Tenant) -> None:
    arn = owner.client.create_response_plan(**ALL_FIELDS)["arn"]
    assert arn == f"arn:aws:ssm-incidents::{OWNER}:response-plan/name"
    plan = owner.client.get_response_plan(arn=arn)
    plan.pop("ResponseMetadata")
    expected = {k: v for k, v in ALL_FIELDS.items() if k != "tags"}
    assert plan == {"arn": arn, **expected}
    assert owner.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"key": "value"}


def test_terraform_critical_incident_plan(server: RunningServer, owner: Tenant) -> None:
    # A replication set in the current Region and a fallback Region, then a plan
    # that engages an on-call schedule and runs a runbook.
    prepare(server, owner, REGION, "eu-west-1")
    arn = owner.client.create_response_plan(
        name="CRITICAL-INCIDENT",
        displayName="CRITICAL-INCIDENT",
        incidentTemplate={
            "title": "CRITICAL-INCIDENT",
            "impact": 1,
            "incidentTags": {"Name": "CRITICAL-INCIDENT"},
            "summary": "Follow CRITICAL INCIDENT process.",
        },
        chatChannel={"chatbotSns": [TOPIC]},
        engagements=[f"arn:aws:ssm-contacts:{REGION}:{OWNER}:contact/default-schedule"],
        actions=[
            {
                "ssmAutomation": {
                    "documentName": f"arn:aws:ssm:{REGION}:{OWNER}:document/runbook",
                    "roleArn": ROLE,
                    "documentVersion": "$LATEST",
                    "targetAccount": "RESPONSE_PLAN_OWNER_ACCOUNT",
                    "parameters": {"Environment": ["Production"]},
                    "dynamicParameters": {
                        "resources": {"variable": "INVOLVED_RESOURCES"},
                        "incidentARN": {"variable": "INCIDENT_RECORD_ARN"},
                    },
                }
            }
        ],
        tags={"Name": "critical-incident-response-plan"},
    )["arn"]
    eu = server.client("ssm-incidents", owner.keys, region="eu-west-1")
    assert eu.get_response_plan(arn=arn)["incidentTemplate"]["impact"] == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"chatChannel": {"chatbotSns": ["ChatbotSnsArn"]}},
        {"engagements": ["MyEscalationPlanContact"]},
        {"engagements": ["my-contact-alias"]},
        {"engagements": [f"arn:aws:ssm-contacts:{REGION}:12345:contact/short-account"]},
        {"incidentTemplate": {**TEMPLATE, "notificationTargets": [{"snsTopicArn": "Arn"}]}},
        {"actions": [{"ssmAutomation": {"roleArn": "SsmRoleArn", "documentName": "doc"}}]},
        {
            "incidentTemplate": {
                **TEMPLATE,
                "notificationTargets": [{"snsTopicArn": "arn:aws:sns:us-east-1:999999999999:t"}],
            }
        },
    ],
)
def test_literal_names_rejected(prepared: str, owner: Tenant, changes: dict[str, Any]) -> None:
    # The CloudFormation documentation sample passes parameter names where ARNs belong.
    with pytest.raises(ClientError) as excinfo:
        owner.client.create_response_plan(
            **{
                "name": "MyResponsePlan",
                "incidentTemplate": TEMPLATE,
                "tags": {"a": "b"},
                **changes,
            }
        )
    assert error_of(excinfo)["Code"] == "ValidationException"
    assert owner.client.list_response_plans()["responsePlanSummaries"] == []
    plan_arn = f"arn:aws:ssm-incidents::{OWNER}:response-plan/MyResponsePlan"
    with pytest.raises(ClientError):
        owner.client.list_tags_for_resource(resourceArn=plan_arn)


def test_engagement_contact_arn_accepted(prepared: str, owner: Tenant) -> None:
    arn = owner.client.create_response_plan(
        name="rp", incidentTemplate={"title": "t", "impact": 3}, engagements=[CONTACT]
    )["arn"]
    assert owner.client.get_response_plan(arn=arn)["engagements"] == [CONTACT]


def test_requires_replication_set(server: RunningServer, owner: Tenant) -> None:
    with pytest.raises(ClientError) as excinfo:
        owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE)
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFoundException"
    assert error["resourceType"] == "REPLICATION_SET"

    arn = owner.client.create_replication_set(regions={"eu-west-1": {}})["arn"]
    with pytest.raises(ClientError) as excinfo:
        owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE)
    assert error_of(excinfo)["Code"] == "ConflictException"  # still CREATING
    settle(server, owner.client, arn)
    with pytest.raises(ClientError) as excinfo:
        owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE)
    error = error_of(excinfo)
    assert error["Code"] == "ValidationException"  # us-east-1 is not in the set
    assert "us-east-1" in error["Message"]
    assert owner.client.list_response_plans()["responsePlanSummaries"] == []


def test_duplicate_name_conflicts(prepared: str, owner: Tenant) -> None:
    arn = owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE)["arn"]
    with pytest.raises(ClientError) as excinfo:
        owner.client.create_response_plan(name="p", incidentTemplate={"title": "x", "impact": 5})
    error = error_of(excinfo)
    assert error["Code"] == "ConflictException"
    assert error["resourceIdentifier"] == arn
    assert error["resourceType"] == "RESPONSE_PLAN"
    assert owner.client.get_response_plan(arn=arn)["incidentTemplate"] == TEMPLATE


def test_update_semantics(prepared: str, owner: Tenant) -> None:
    arn = owner.client.create_response_plan(**ALL_FIELDS)["arn"]
    owner.client.update_response_plan(
        arn=arn,
        incidentTemplateTitle="new title",
        incidentTemplateTags={"severity": "high"},
        chatChannel={"empty": {}},
        engagements=[],
    )
    plan = owner.client.get_response_plan(arn=arn)
    template = plan["incidentTemplate"]
    assert template["title"] == "new title"
    assert template["impact"] == 3
    assert template["summary"] == "summary"
    assert template["incidentTags"] == {"severity": "high"}
    assert "chatChannel" not in plan
    assert "engagements" not in plan
    assert plan["displayName"] == "display name"
    assert plan["actions"] == ALL_FIELDS["actions"]
    assert plan["integrations"] == ALL_FIELDS["integrations"]
    # The plan's own tags stay as they were.
    assert owner.client.list_tags_for_resource(resourceArn=arn)["tags"] == {"key": "value"}

    owner.client.update_response_plan(arn=arn, incidentTemplateImpact=1, displayName="d2")
    plan = owner.client.get_response_plan(arn=arn)
    assert plan["incidentTemplate"]["impact"] == 1
    assert plan["incidentTemplate"]["title"] == "new title"
    assert plan["displayName"] == "d2"


def test_update_failure_changes_nothing(prepared: str, owner: Tenant) -> None:
    arn = owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE)["arn"]
    with pytest.raises(ClientError) as excinfo:
        owner.client.update_response_plan(
            arn=arn,
            incidentTemplateTitle="changed",
            incidentTemplateNotificationTargets=[{"snsTopicArn": "arn:aws:sqs:us-east-1:1:q"}],
        )
    assert error_of(excinfo)["Code"] == "ValidationException"
    assert owner.client.get_response_plan(arn=arn)["incidentTemplate"] == TEMPLATE


def test_missing_plans(prepared: str, owner: Tenant) -> None:
    missing = f"arn:aws:ssm-incidents::{OWNER}:response-plan/missing"
    for call in (owner.client.get_response_plan, owner.client.update_response_plan):
        with pytest.raises(ClientError) as excinfo:
            call(arn=missing)
        error = error_of(excinfo)
        assert error["Code"] == "ResourceNotFoundException"
        assert error["resourceIdentifier"] == missing
        assert error["resourceType"] == "RESPONSE_PLAN"
    owner.client.delete_response_plan(arn=missing)  # idempotent


def test_delete(prepared: str, owner: Tenant) -> None:
    arn = owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE, tags={"a": "b"})[
        "arn"
    ]
    owner.client.delete_response_plan(arn=arn)
    owner.client.delete_response_plan(arn=arn)
    with pytest.raises(ClientError) as excinfo:
        owner.client.get_response_plan(arn=arn)
    assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    # A plan created again under the same name starts without the old tags.
    owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE)
    assert owner.client.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_pagination(prepared: str, owner: Tenant) -> None:
    names = [f"plan-{index:02d}" for index in range(7)]
    for name in reversed(names):
        owner.client.create_response_plan(name=name, incidentTemplate=TEMPLATE, displayName=name)
    paginator = owner.client.get_paginator("list_response_plans")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 3}))
    assert [len(page["responsePlanSummaries"]) for page in pages] == [3, 3, 1]
    listed = [s["name"] for page in pages for s in page["responsePlanSummaries"]]
    assert listed == names
    assert "nextToken" not in pages[-1]
    with pytest.raises(ClientError) as excinfo:
        owner.client.list_response_plans(nextToken="not-a-token")
    assert error_of(excinfo)["Code"] == "ValidationException"


def test_other_account_isolation(prepared: str, owner: Tenant, other: Tenant) -> None:
    arn = owner.client.create_response_plan(name="p", incidentTemplate=TEMPLATE)["arn"]
    for call in (
        other.client.get_response_plan,
        other.client.update_response_plan,
        other.client.delete_response_plan,
    ):
        with pytest.raises(ClientError) as excinfo:
            call(arn=arn)
        assert error_of(excinfo)["Code"] == "ResourceNotFoundException"
    assert other.client.list_response_plans()["responsePlanSummaries"] == []
    assert owner.client.get_response_plan(arn=arn)["name"] == "p"


def test_wrong_arn_type(prepared: str, owner: Tenant) -> None:
    with pytest.raises(ClientError) as excinfo:
        owner.client.get_response_plan(arn=prepared)
    error = error_of(excinfo)
    assert error["Code"] == "ValidationException"
    assert "arn" in error["Message"]


def test_engagements_must_exist_and_be_shared(
    server: RunningServer, owner: Tenant, other: Tenant
) -> None:
    prepare(server, owner)
    ghost = f"arn:aws:ssm-contacts:{REGION}:{OWNER}:contact/ghost"
    stranger_contacts = server.client("ssm-contacts", other.keys, region=REGION)
    stranger = stranger_contacts.create_contact(
        Alias="stranger", Type="PERSONAL", Plan={"Stages": []}
    )["ContactArn"]
    for engagement, problem in ((ghost, "no contact"), (stranger, "is not shared")):
        with pytest.raises(ClientError) as excinfo:
            owner.client.create_response_plan(
                name="engaging", incidentTemplate=TEMPLATE, engagements=[engagement]
            )
        error = error_of(excinfo)
        assert error["Code"] == "ValidationException"
        assert problem in error["Message"]
        assert "engagements.1" in error["Message"]
    assert owner.client.list_response_plans()["responsePlanSummaries"] == []
