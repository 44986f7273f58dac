"""Event buses and their permissions through boto3, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.events.events_support import Account, application, error_of, management
from tocsin.testing import RunningServer

__all__ = ["application", "management"]


def test_default_bus_always_exists(application: Account) -> None:
    bus = application.events.describe_event_bus()
    assert bus["Name"] == "default"
    assert bus["Arn"] == f"arn:aws:events:us-east-1:{application.account_id}:event-bus/default"
    assert "Policy" not in bus
    names = [bus["Name"] for bus in application.events.list_event_buses()["EventBuses"]]
    assert names == ["default"]


def test_create_describe_delete_bus(application: Account) -> None:
    created = application.events.create_event_bus(Name="orders", Description="order events")
    arn = f"arn:aws:events:us-east-1:{application.account_id}:event-bus/orders"
    assert created["EventBusArn"] == arn
    assert created["Description"] == "order events"
    described = application.events.describe_event_bus(Name=arn)
    assert described["Name"] == "orders"
    assert described["Description"] == "order events"
    names = [bus["Name"] for bus in application.events.list_event_buses()["EventBuses"]]
    assert names == ["default", "orders"]
    prefixed = application.events.list_event_buses(NamePrefix="ord")["EventBuses"]
    assert [bus["Name"] for bus in prefixed] == ["orders"]

    with pytest.raises(ClientError) as info:
        application.events.create_event_bus(Name="orders")
    assert error_of(info)[0] == "ResourceAlreadyExistsException"

    application.events.delete_event_bus(Name="orders")
    with pytest.raises(ClientError) as info:
        application.events.describe_event_bus(Name="orders")
    code, status, message = error_of(info)
    assert (code, status) == ("ResourceNotFoundException", 400)
    assert "orders" in message
    # Deleting a bus that does not exist succeeds, as in EventBridge.
    application.events.delete_event_bus(Name="orders")


def test_default_bus_cannot_be_deleted_or_created(application: Account) -> None:
    with pytest.raises(ClientError) as info:
        application.events.delete_event_bus(Name="default")
    assert error_of(info)[:2] == ("ValidationException", 400)
    with pytest.raises(ClientError) as info:
        application.events.create_event_bus(Name="default")
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "default" in message


def test_bus_with_rules_cannot_be_deleted(application: Account) -> None:
    application.events.create_event_bus(Name="orders")
    application.events.put_rule(
        Name="all", EventBusName="orders", EventPattern=json.dumps({"source": ["shop"]})
    )
    with pytest.raises(ClientError) as info:
        application.events.delete_event_bus(Name="orders")
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "rule" in message
    application.events.delete_rule(Name="all", EventBusName="orders")
    application.events.delete_event_bus(Name="orders")


def test_unsupported_bus_members_are_rejected(application: Account) -> None:
    with pytest.raises(ClientError) as info:
        application.events.create_event_bus(Name="keyed", KmsKeyIdentifier="alias/mine")
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "KmsKeyIdentifier" in message


def test_bus_names_are_paged(application: Account) -> None:
    for name in ("a-bus", "b-bus", "c-bus"):
        application.events.create_event_bus(Name=name)
    first = application.events.list_event_buses(Limit=2)
    assert [bus["Name"] for bus in first["EventBuses"]] == ["a-bus", "b-bus"]
    second = application.events.list_event_buses(Limit=2, NextToken=first["NextToken"])
    assert [bus["Name"] for bus in second["EventBuses"]] == ["c-bus", "default"]
    assert "NextToken" not in second


def test_put_permission_statements(application: Account, management: Account) -> None:
    events = management.events
    events.put_permission(
        Action="events:PutEvents", Principal=application.account_id, StatementId="app"
    )
    events.put_permission(
        Action="events:PutEvents",
        Principal="*",
        StatementId="org",
        Condition={"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": "o-abcdefghij"},
    )
    policy = json.loads(events.describe_event_bus()["Policy"])
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    bus_arn = f"arn:aws:events:us-east-1:{management.account_id}:event-bus/default"
    assert statements["app"] == {
        "Sid": "app",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{application.account_id}:root"},
        "Action": "events:PutEvents",
        "Resource": bus_arn,
    }
    assert statements["org"]["Principal"] == "*"
    assert statements["org"]["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}
    }

    events.remove_permission(StatementId="app")
    policy = json.loads(events.describe_event_bus()["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["org"]
    with pytest.raises(ClientError) as info:
        events.remove_permission(StatementId="app")
    assert error_of(info)[0] == "ResourceNotFoundException"
    events.remove_permission(RemoveAllPermissions=True)
    assert "Policy" not in events.describe_event_bus()


def test_put_permission_rejects_bad_input(management: Account) -> None:
    events = management.events
    with pytest.raises(ClientError) as info:
        events.put_permission(Action="events:PutEvents", StatementId="missing-principal")
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "Principal" in message
    with pytest.raises(ClientError) as info:
        events.put_permission(
            Action="events:PutEvents",
            Principal="*",
            StatementId="bad-condition",
            Condition={"Type": "StringLike", "Key": "aws:PrincipalOrgID", "Value": "o-x"},
        )
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "StringLike" in message
    with pytest.raises(ClientError) as info:
        events.put_permission(Policy="{not json")
    code, _status, message = error_of(info)
    assert code == "ValidationException"
    assert "Policy" in message
    with pytest.raises(ClientError) as info:
        events.put_permission(Policy=json.dumps({"Statement": [{"Sid": "x" * 11000}]}))
    assert error_of(info)[0] == "PolicyLengthExceededException"


def test_put_permission_whole_policy(
    server: RunningServer, application: Account, management: Account
) -> None:
    bus_arn = f"arn:aws:events:us-east-1:{management.account_id}:event-bus/default"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "allow-app",
                "Effect": "Allow",
                "Principal": {"AWS": application.account_id},
                "Action": "events:PutEvents",
                "Resource": bus_arn,
            }
        ],
    }
    management.events.put_permission(Policy=json.dumps(policy))
    assert json.loads(management.events.describe_event_bus()["Policy"]) == policy
