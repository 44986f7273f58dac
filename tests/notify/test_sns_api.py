"""SNS operations through boto3 against a real server: success and failure paths."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tocsin.testing import Keys, RunningServer


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


@pytest.fixture
def sns(server: RunningServer) -> Any:
    return server.client("sns", server.create_account())


def test_create_topic_and_attributes(sns: Any) -> None:
    created = sns.create_topic(Name="alerts", Tags=[{"Key": "team", "Value": "ops"}])
    arn = created["TopicArn"]
    account = arn.split(":")[4]
    assert arn == f"arn:aws:sns:us-east-1:{account}:alerts"

    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["TopicArn"] == arn
    assert attributes["Owner"] == account
    assert attributes["DisplayName"] == ""
    assert attributes["SubscriptionsPending"] == "0"
    assert attributes["SubscriptionsConfirmed"] == "0"
    policy = json.loads(attributes["Policy"])
    statement = policy["Statement"][0]
    assert policy["Id"] == "__default_policy_ID"
    assert statement["Principal"] == {"AWS": "*"}
    assert "SNS:Publish" in statement["Action"]
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceOwner": account}}
    effective = json.loads(attributes["EffectiveDeliveryPolicy"])
    retry = effective["http"]["defaultHealthyRetryPolicy"]
    assert retry["numRetries"] == 3
    assert retry["minDelayTarget"] == 20
    assert retry["maxDelayTarget"] == 20


def test_create_topic_is_idempotent(sns: Any) -> None:
    first = sns.create_topic(Name="same", Attributes={"DisplayName": "Same"})
    second = sns.create_topic(Name="same", Attributes={"DisplayName": "Same"})
    assert first["TopicArn"] == second["TopicArn"]
    with pytest.raises(ClientError) as caught:
        sns.create_topic(Name="same", Attributes={"DisplayName": "Other"})
    code, status, message = _error(caught)
    assert (code, status) == ("InvalidParameter", 400)
    assert "different attributes" in message
    assert len(sns.list_topics()["Topics"]) == 1


@pytest.mark.parametrize(
    ("name", "attributes", "fragment"),
    [
        ("bad name", {}, "Topic Name"),
        ("x" * 257, {}, "Topic Name"),
        ("fifo", {"FifoTopic": "true"}, "FIFO"),
        ("unknown", {"Color": "blue"}, "AttributeName"),
        ("display", {"DisplayName": "d" * 101}, "DisplayName"),
        ("policy", {"Policy": "{not json"}, "Policy"),
        ("delivery", {"DeliveryPolicy": json.dumps({"http": {"x": 1}})}, "DeliveryPolicy"),
    ],
)
def test_create_topic_rejects_invalid_input(
    sns: Any, name: str, attributes: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ClientError) as caught:
        sns.create_topic(Name=name, Attributes=attributes)
    code, status, message = _error(caught)
    assert (code, status) == ("InvalidParameter", 400)
    assert fragment in message


def test_set_topic_attributes(sns: Any) -> None:
    arn = sns.create_topic(Name="settable")["TopicArn"]
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Ops")
    policy = {
        "http": {
            "defaultHealthyRetryPolicy": {
                "numRetries": 5,
                "minDelayTarget": 10,
                "maxDelayTarget": 60,
                "backoffFunction": "geometric",
            }
        }
    }
    sns.set_topic_attributes(
        TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(policy)
    )
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["DisplayName"] == "Ops"
    assert json.loads(attributes["DeliveryPolicy"]) == policy
    effective = json.loads(attributes["EffectiveDeliveryPolicy"])
    assert effective["http"]["defaultHealthyRetryPolicy"]["backoffFunction"] == "geometric"

    with pytest.raises(ClientError) as caught:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Owner", AttributeValue="1")
    assert _error(caught)[0] == "InvalidParameter"
    bad_policy = {"http": {"defaultHealthyRetryPolicy": {"numRetries": 101}}}
    with pytest.raises(ClientError) as caught:
        sns.set_topic_attributes(
            TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(bad_policy)
        )
    code, _status, message = _error(caught)
    assert code == "InvalidParameter"
    assert "numRetries" in message


def test_missing_topic_is_not_found(sns: Any) -> None:
    arn = "arn:aws:sns:us-east-1:111111111111:nowhere"
    with pytest.raises(ClientError) as caught:
        sns.get_topic_attributes(TopicArn=arn)
    assert _error(caught)[:2] == ("NotFound", 404)
    with pytest.raises(ClientError) as caught:
        sns.get_topic_attributes(TopicArn="not-an-arn")
    code, status, message = _error(caught)
    assert (code, status) == ("InvalidParameter", 400)
    assert "not-an-arn" in message
    # DeleteTopic is idempotent.
    sns.delete_topic(TopicArn=arn.replace("111111111111", "222222222222"))


def test_delete_topic_removes_subscriptions(sns: Any) -> None:
    arn = sns.create_topic(Name="doomed")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="a@example.com")
    assert len(sns.list_subscriptions()["Subscriptions"]) == 1
    sns.delete_topic(TopicArn=arn)
    assert sns.list_topics()["Topics"] == []
    assert sns.list_subscriptions()["Subscriptions"] == []


def test_list_topics_pages(sns: Any) -> None:
    arns = [sns.create_topic(Name=f"topic-{index:03d}")["TopicArn"] for index in range(105)]
    first = sns.list_topics()
    assert len(first["Topics"]) == 100
    second = sns.list_topics(NextToken=first["NextToken"])
    assert "NextToken" not in second
    listed = [item["TopicArn"] for item in first["Topics"] + second["Topics"]]
    assert listed == sorted(arns)
    with pytest.raises(ClientError) as caught:
        sns.list_topics(NextToken="garbage")
    assert _error(caught)[0] == "InvalidParameter"


def test_permissions(sns: Any) -> None:
    arn = sns.create_topic(Name="shared")["TopicArn"]
    sns.add_permission(
        TopicArn=arn, Label="partner", AWSAccountId=["123456789012"], ActionName=["Publish"]
    )
    policy = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
    statement = policy["Statement"][1]
    assert statement["Sid"] == "partner"
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert statement["Action"] == ["SNS:Publish"]

    with pytest.raises(ClientError) as caught:
        sns.add_permission(
            TopicArn=arn, Label="partner", AWSAccountId=["123456789012"], ActionName=["Publish"]
        )
    assert "already exists" in _error(caught)[2]
    with pytest.raises(ClientError) as caught:
        sns.add_permission(
            TopicArn=arn, Label="other", AWSAccountId=["123456789012"], ActionName=["Fly"]
        )
    assert "Fly" in _error(caught)[2]
    with pytest.raises(ClientError) as caught:
        sns.add_permission(TopicArn=arn, Label="other", AWSAccountId=["12"], ActionName=["Publish"])
    assert "AWSAccountId" in _error(caught)[2]

    sns.remove_permission(TopicArn=arn, Label="partner")
    policy = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
    assert [item["Sid"] for item in policy["Statement"]] == ["__default_statement_ID"]
    with pytest.raises(ClientError) as caught:
        sns.remove_permission(TopicArn=arn, Label="partner")
    assert _error(caught)[0] == "InvalidParameter"


def test_cross_account_publish_needs_topic_policy(server: RunningServer, sns: Any) -> None:
    arn = sns.create_topic(Name="intake")["TopicArn"]
    other_keys = server.create_account()
    other = server.client("sns", other_keys)

    with pytest.raises(ClientError) as caught:
        other.publish(TopicArn=arn, Message="hello")
    code, status, message = _error(caught)
    assert (code, status) == ("AuthorizationError", 403)
    assert "SNS:Publish" in message or "sns:Publish" in message
    with pytest.raises(ClientError) as caught:
        other.get_topic_attributes(TopicArn=arn)
    assert _error(caught)[0] == "AuthorizationError"
    with pytest.raises(ClientError) as caught:
        other.delete_topic(TopicArn=arn)
    assert _error(caught)[0] == "AuthorizationError"
    with pytest.raises(ClientError) as caught:
        other.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert _error(caught)[0] == "AuthorizationError"

    sns.add_permission(
        TopicArn=arn,
        Label="intake-publish",
        AWSAccountId=[other_keys.account_id],
        ActionName=["Publish"],
    )
    assert other.publish(TopicArn=arn, Message="hello")["MessageId"]
    # The statement grants Publish only.
    with pytest.raises(ClientError) as caught:
        other.subscribe(TopicArn=arn, Protocol="email", Endpoint="x@example.com")
    assert _error(caught)[0] == "AuthorizationError"

    sns.remove_permission(TopicArn=arn, Label="intake-publish")
    with pytest.raises(ClientError) as caught:
        other.publish(TopicArn=arn, Message="hello")
    assert _error(caught)[0] == "AuthorizationError"


def test_iam_denial_is_authorization_error(server: RunningServer) -> None:
    admin_keys = server.create_account()
    admin = server.client("sns", admin_keys)
    arn = admin.create_topic(Name="owned")["TopicArn"]
    iam = server.client("iam", admin_keys)
    iam.create_user(UserName="nobody")
    created = iam.create_access_key(UserName="nobody")["AccessKey"]
    nobody = server.client(
        "sns",
        Keys(created["AccessKeyId"], created["SecretAccessKey"], None, admin_keys.account_id),
    )

    with pytest.raises(ClientError) as caught:
        nobody.create_topic(Name="mine")
    code, status, message = _error(caught)
    assert (code, status) == ("AuthorizationError", 403)
    assert "sns:CreateTopic" in message
    with pytest.raises(ClientError) as caught:
        nobody.list_topics()
    assert _error(caught)[0] == "AuthorizationError"
    # The default topic policy allows the topic actions to the owner account's principals.
    assert nobody.publish(TopicArn=arn, Message="allowed by the topic policy")["MessageId"]

    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "sns:Publish", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="nobody", PolicyName="no-publish", PolicyDocument=json.dumps(deny))
    with pytest.raises(ClientError) as caught:
        nobody.publish(TopicArn=arn, Message="denied")
    assert _error(caught)[0] == "AuthorizationError"


def test_tags(sns: Any) -> None:
    arn = sns.create_topic(Name="tagged", Tags=[{"Key": "team", "Value": "ops"}])["TopicArn"]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "tier", "Value": "1"}])
    tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
    assert {tag["Key"]: tag["Value"] for tag in tags} == {"team": "ops", "tier": "1"}
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "tier", "Value": "1"}]

    with pytest.raises(ClientError) as caught:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "aws:owner", "Value": "x"}])
    assert _error(caught)[0] == "InvalidParameter"
    many = [{"Key": f"k{index}", "Value": "v"} for index in range(50)]
    with pytest.raises(ClientError) as caught:
        sns.tag_resource(ResourceArn=arn, Tags=many)
    assert _error(caught)[0] == "TagLimitExceeded"
    missing = arn.replace("tagged", "missing")
    with pytest.raises(ClientError) as caught:
        sns.list_tags_for_resource(ResourceArn=missing)
    assert _error(caught)[:2] == ("ResourceNotFound", 404)
    with pytest.raises(ClientError) as caught:
        sns.create_topic(Name="tagged", Tags=[{"Key": "team", "Value": "dev"}])
    assert "different tags" in _error(caught)[2]


def test_topic_of_other_region_rejected(server: RunningServer) -> None:
    keys = server.create_account()
    east = server.client("sns", keys)
    west = server.client("sns", keys, region="us-west-2")
    arn = east.create_topic(Name="regional")["TopicArn"]
    assert west.list_topics()["Topics"] == []
    with pytest.raises(ClientError) as caught:
        west.publish(TopicArn=arn, Message="x")
    code, _status, message = _error(caught)
    assert code == "InvalidParameter"
    assert "us-west-2" in message
    assert west.create_topic(Name="regional")["TopicArn"] == arn.replace("us-east-1", "us-west-2")


def test_unknown_operation_is_invalid_action(sns: Any) -> None:
    with pytest.raises(ClientError) as caught:
        sns.list_platform_applications()
    assert _error(caught)[:2] == ("InvalidAction", 400)


# Subscriptions.


@pytest.mark.parametrize(
    ("protocol", "endpoint", "fragment"),
    [
        ("sqs", "arn:aws:sqs:us-east-1:111111111111:q", "Protocol"),
        ("http", "https://127.0.0.1/hook", "Endpoint"),
        ("https", "ftp://127.0.0.1/", "Endpoint"),
        ("email", "not-an-address", "Email address"),
        ("email", None, "Endpoint"),
    ],
)
def test_subscribe_rejects_invalid_endpoint(
    sns: Any, protocol: str, endpoint: str | None, fragment: str
) -> None:
    arn = sns.create_topic(Name="subs")["TopicArn"]
    arguments = {"TopicArn": arn, "Protocol": protocol}
    if endpoint is not None:
        arguments["Endpoint"] = endpoint
    with pytest.raises(ClientError) as caught:
        sns.subscribe(**arguments)
    code, status, message = _error(caught)
    assert (code, status) == ("InvalidParameter", 400)
    assert fragment in message


def test_subscription_attributes(sns: Any) -> None:
    arn = sns.create_topic(Name="attrs")["TopicArn"]
    policy = json.dumps({"severity": ["high"]})
    created = sns.subscribe(
        TopicArn=arn,
        Protocol="http",
        Endpoint="http://127.0.0.1:9/hook",
        Attributes={"FilterPolicy": policy, "RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )
    subscription_arn = created["SubscriptionArn"]
    assert subscription_arn.startswith(arn + ":")
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "true"
    assert attributes["FilterPolicy"] == policy
    assert attributes["FilterPolicyScope"] == "MessageAttributes"
    assert attributes["RawMessageDelivery"] == "true"
    assert attributes["Protocol"] == "http"
    assert (
        json.loads(attributes["EffectiveDeliveryPolicy"])["healthyRetryPolicy"]["numRetries"] == 3
    )

    # The same endpoint with the same attributes is the same subscription.
    again = sns.subscribe(
        TopicArn=arn,
        Protocol="http",
        Endpoint="http://127.0.0.1:9/hook",
        Attributes={"FilterPolicy": policy, "RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )
    assert again["SubscriptionArn"] == subscription_arn
    with pytest.raises(ClientError) as caught:
        sns.subscribe(
            TopicArn=arn,
            Protocol="http",
            Endpoint="http://127.0.0.1:9/hook",
            Attributes={"RawMessageDelivery": "false"},
        )
    assert "different attributes" in _error(caught)[2]

    delivery = {"healthyRetryPolicy": {"numRetries": 7, "minDelayTarget": 5, "maxDelayTarget": 5}}
    sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn,
        AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps(delivery),
    )
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    effective = json.loads(attributes["EffectiveDeliveryPolicy"])
    assert effective["healthyRetryPolicy"]["numRetries"] == 7

    invalid = [
        ("FilterPolicy", json.dumps({"severity": "high"}), "InvalidParameter"),
        ("FilterPolicy", json.dumps({"n": [{"numeric": [">", "x"]}]}), "InvalidParameter"),
        ("FilterPolicy", json.dumps({"s": [{"wildcard": "x"}]}), "InvalidParameter"),
        ("FilterPolicyScope", "Everything", "InvalidParameter"),
        ("RawMessageDelivery", "maybe", "InvalidParameter"),
        ("RedrivePolicy", "{}", "InvalidParameter"),
        (
            "FilterPolicy",
            json.dumps({f"k{index}": ["v"] for index in range(6)}),
            "FilterPolicyLimitExceeded",
        ),
    ]
    for name, value, code in invalid:
        with pytest.raises(ClientError) as caught:
            sns.set_subscription_attributes(
                SubscriptionArn=subscription_arn, AttributeName=name, AttributeValue=value
            )
        assert _error(caught)[0] == code, (name, value)


def test_email_subscription_rejects_http_attributes(sns: Any) -> None:
    arn = sns.create_topic(Name="mail-attrs")["TopicArn"]
    with pytest.raises(ClientError) as caught:
        sns.subscribe(
            TopicArn=arn,
            Protocol="email",
            Endpoint="a@example.com",
            Attributes={"RawMessageDelivery": "true"},
        )
    assert "RawMessageDelivery" in _error(caught)[2]


def test_list_subscriptions_and_unsubscribe(sns: Any) -> None:
    arn = sns.create_topic(Name="listing")["TopicArn"]
    for address in ("a@example.com", "b@example.com"):
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=address)
    listed = sns.list_subscriptions()["Subscriptions"]
    assert sorted(item["Endpoint"] for item in listed) == ["a@example.com", "b@example.com"]
    assert {item["SubscriptionArn"] for item in listed} == {"PendingConfirmation"}
    by_topic = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert len(by_topic) == 2
    counts = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert counts["SubscriptionsPending"] == "2"

    created = sns.subscribe(
        TopicArn=arn, Protocol="email", Endpoint="c@example.com", ReturnSubscriptionArn=True
    )
    sns.unsubscribe(SubscriptionArn=created["SubscriptionArn"])
    assert len(sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]) == 2
    with pytest.raises(ClientError) as caught:
        sns.unsubscribe(SubscriptionArn=created["SubscriptionArn"])
    assert _error(caught)[:2] == ("NotFound", 404)
    with pytest.raises(ClientError) as caught:
        sns.unsubscribe(SubscriptionArn="pending confirmation")
    assert _error(caught)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as caught:
        sns.list_subscriptions_by_topic(TopicArn=arn.replace("listing", "missing"))
    assert _error(caught)[:2] == ("NotFound", 404)
    with pytest.raises(ClientError) as caught:
        sns.list_subscriptions(NextToken="garbage")
    assert _error(caught)[0] == "InvalidParameter"


def test_confirm_subscription_rejects_bad_token(sns: Any) -> None:
    arn = sns.create_topic(Name="confirming")["TopicArn"]
    with pytest.raises(ClientError) as caught:
        sns.confirm_subscription(TopicArn=arn, Token="0" * 64)
    assert _error(caught)[:2] == ("InvalidParameter", 400)
    with pytest.raises(ClientError) as caught:
        sns.confirm_subscription(TopicArn=arn.replace("confirming", "none"), Token="0" * 64)
    assert _error(caught)[0] == "NotFound"


# Publishing.


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"MessageDeduplicationId": "d1"}, "MessageDeduplicationId"),
        ({"MessageGroupId": "g1"}, "MessageGroupId"),
        ({"Subject": "line\nbreak"}, "Subject"),
        ({"Subject": "s" * 100}, "Subject"),
        ({"MessageStructure": "json"}, "Message Structure"),
        ({"MessageStructure": "xml"}, "MessageStructure"),
        ({"PhoneNumber": "+12065550100"}, "PhoneNumber"),
        (
            {"MessageAttributes": {"n": {"DataType": "Number", "StringValue": "many"}}},
            "number",
        ),
        (
            {"MessageAttributes": {"AWS.x": {"DataType": "String", "StringValue": "v"}}},
            "attribute name",
        ),
        (
            {"MessageAttributes": {"t": {"DataType": "Color", "StringValue": "v"}}},
            "DataType",
        ),
        (
            {"MessageAttributes": {"a": {"DataType": "String.Array", "StringValue": "[[1]]"}}},
            "String.Array",
        ),
    ],
)
def test_publish_rejects_invalid_input(sns: Any, arguments: dict[str, Any], fragment: str) -> None:
    arn = sns.create_topic(Name="checked")["TopicArn"]
    with pytest.raises(ClientError) as caught:
        sns.publish(TopicArn=arn, Message="not json", **arguments)
    code, status, message = _error(caught)
    assert (code, status) == ("InvalidParameter", 400)
    assert fragment in message


def test_publish_json_structure_without_default(sns: Any) -> None:
    arn = sns.create_topic(Name="structured")["TopicArn"]
    with pytest.raises(ClientError) as caught:
        sns.publish(TopicArn=arn, Message=json.dumps({"http": "x"}), MessageStructure="json")
    assert "No default entry" in _error(caught)[2]
    published = sns.publish(
        TopicArn=arn, Message=json.dumps({"default": "d", "email": "e"}), MessageStructure="json"
    )
    assert published["MessageId"]


def test_publish_to_missing_topic(sns: Any) -> None:
    with pytest.raises(ClientError) as caught:
        sns.publish(TopicArn="arn:aws:sns:us-east-1:111111111111:gone", Message="x")
    assert _error(caught)[:2] == ("NotFound", 404)
    with pytest.raises(ClientError) as caught:
        sns.publish(Message="x")
    assert _error(caught)[0] == "InvalidParameter"


def test_publish_batch_with_entry_errors(sns: Any) -> None:
    arn = sns.create_topic(Name="batch")["TopicArn"]
    result = sns.publish_batch(
        TopicArn=arn,
        PublishBatchRequestEntries=[
            {"Id": "good-1", "Message": "one"},
            {"Id": "dedupe", "Message": "two", "MessageDeduplicationId": "d"},
            {"Id": "good-2", "Message": "three", "Subject": "Three"},
            {"Id": "bad-subject", "Message": "four", "Subject": "bad\tsubject"},
        ],
    )
    assert [entry["Id"] for entry in result["Successful"]] == ["good-1", "good-2"]
    assert len({entry["MessageId"] for entry in result["Successful"]}) == 2
    failed = {entry["Id"]: entry for entry in result["Failed"]}
    assert set(failed) == {"dedupe", "bad-subject"}
    assert failed["dedupe"]["Code"] == "InvalidParameter"
    assert failed["dedupe"]["SenderFault"] is True
    assert "MessageDeduplicationId" in failed["dedupe"]["Message"]
    assert "Subject" in failed["bad-subject"]["Message"]


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ([], "EmptyBatchRequest"),
        (
            [{"Id": f"e{index}", "Message": "m"} for index in range(11)],
            "TooManyEntriesInBatchRequest",
        ),
        (
            [{"Id": "same", "Message": "a"}, {"Id": "same", "Message": "b"}],
            "BatchEntryIdsNotDistinct",
        ),
        ([{"Id": "bad id!", "Message": "a"}], "InvalidBatchEntryId"),
        (
            [{"Id": f"e{index}", "Message": "m" * 200000} for index in range(2)],
            "BatchRequestTooLong",
        ),
    ],
)
def test_publish_batch_rejects_batch(sns: Any, entries: list[dict[str, str]], code: str) -> None:
    arn = sns.create_topic(Name="batch-errors")["TopicArn"]
    with pytest.raises(ClientError) as caught:
        sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    assert _error(caught)[:2] == (code, 400)
