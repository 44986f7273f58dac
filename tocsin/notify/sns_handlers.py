"""SNS operations: topics, subscriptions, publishing and tags."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tocsin.notify import publishing, subscriptions, topics
from tocsin.notify.sns_errors import (
    BatchEntryIdsNotDistinctException,
    BatchRequestTooLongException,
    EmptyBatchRequestException,
    InvalidBatchEntryIdException,
    TooManyEntriesInBatchRequestException,
    invalid_parameter,
)
from tocsin.notify.sns_models import SnsTopic
from tocsin.protocol.errors import ServiceError
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import page_scope, paginate

handlers = ServiceHandlers("sns")

Item = TypeVar("Item")

# SNS returns up to 100 topics or subscriptions per page.
PAGE_SIZE = 100
MAX_BATCH_ENTRIES = 10
BATCH_ENTRY_ID = r"^[A-Za-z0-9_-]{1,80}$"


def _page(
    ctx: RequestContext,
    params: dict[str, Any],
    items: Sequence[Item],
    key: Callable[[Item], str],
    filters: dict[str, Any],
) -> tuple[list[Item], dict[str, Any]]:
    page = paginate(
        items,
        key=lambda item: (key(item),),
        max_results=PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "sns", ctx.operation, filters),
    )
    more = {"NextToken": page.next_token} if page.next_token else {}
    return page.items, more


def _topic(ctx: RequestContext, arn: str, action: str) -> SnsTopic:
    _check_region(ctx, arn, "TopicArn")
    topic = topics.get_topic(ctx.session, arn)
    topics.authorize(ctx.caller, topic, action)
    return topic


def _check_region(ctx: RequestContext, arn: str, parameter: str) -> None:
    """Reject an ARN of another Region: SNS endpoints are regional, as in AWS."""
    region = arn.split(":")[3] if arn.count(":") >= 5 else None
    if region is not None and region != ctx.region:
        raise invalid_parameter(
            parameter,
            f"{arn} is in Region {region}, but the request was signed for {ctx.region}",
        )


# Topics.


@handlers.operation("CreateTopic")
def create_topic(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    arn = topics.topic_arn(ctx.region, ctx.account_id, name)
    topics.authorize_own(ctx.caller, "sns:CreateTopic", arn)
    if params.get("DataProtectionPolicy"):
        raise invalid_parameter(
            "DataProtectionPolicy", "data protection policies are not supported by this server"
        )
    topic = topics.create_topic(
        ctx.session,
        ctx.clock,
        ctx.region,
        ctx.account_id,
        name,
        params.get("Attributes") or {},
        params.get("Tags") or [],
    )
    return {"TopicArn": topic.arn}


@handlers.operation("DeleteTopic")
def delete_topic(ctx: RequestContext, params: dict[str, Any]) -> None:
    arn = params["TopicArn"]
    topics.parse_topic_arn(arn)
    _check_region(ctx, arn, "TopicArn")
    topic = ctx.session.get(SnsTopic, arn)
    if topic is None:
        # SNS documents DeleteTopic as idempotent: a missing topic is no error.
        topics.authorize_own(ctx.caller, "sns:DeleteTopic", arn)
        return
    topics.authorize(ctx.caller, topic, "sns:DeleteTopic")
    topics.delete_topic(ctx.session, topic)


@handlers.operation("ListTopics", read_only=True)
def list_topics(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topics.authorize_own(
        ctx.caller, "sns:ListTopics", f"arn:aws:sns:{ctx.region}:{ctx.account_id}:*"
    )
    found = topics.list_topics(ctx.session, ctx.account_id, ctx.region)
    page, more = _page(ctx, params, found, lambda topic: topic.arn, {"region": ctx.region})
    return {"Topics": [{"TopicArn": topic.arn} for topic in page], **more}


@handlers.operation("GetTopicAttributes", read_only=True)
def get_topic_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = _topic(ctx, params["TopicArn"], "sns:GetTopicAttributes")
    return {"Attributes": topics.get_topic_attributes(ctx.session, topic)}


@handlers.operation("SetTopicAttributes")
def set_topic_attributes(ctx: RequestContext, params: dict[str, Any]) -> None:
    topic = _topic(ctx, params["TopicArn"], "sns:SetTopicAttributes")
    topics.set_topic_attribute(topic, params["AttributeName"], params.get("AttributeValue", ""))


@handlers.operation("AddPermission")
def add_permission(ctx: RequestContext, params: dict[str, Any]) -> None:
    topic = _topic(ctx, params["TopicArn"], "sns:AddPermission")
    topics.add_permission(topic, params["Label"], params["AWSAccountId"], params["ActionName"])


@handlers.operation("RemovePermission")
def remove_permission(ctx: RequestContext, params: dict[str, Any]) -> None:
    topic = _topic(ctx, params["TopicArn"], "sns:RemovePermission")
    topics.remove_permission(topic, params["Label"])


# Subscriptions.


@handlers.operation("Subscribe")
def subscribe(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = _topic(ctx, params["TopicArn"], "sns:Subscribe")
    subscription = subscriptions.subscribe(
        ctx.session,
        ctx.clock,
        ctx.runtime.secrets,
        ctx.caller,
        topic,
        params["Protocol"],
        params.get("Endpoint"),
        params.get("Attributes") or {},
    )
    if subscription.confirmed or params.get("ReturnSubscriptionArn"):
        return {"SubscriptionArn": subscription.arn}
    return {"SubscriptionArn": subscriptions.PENDING_ARN}


@handlers.operation("ConfirmSubscription")
def confirm_subscription(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    subscription = subscriptions.confirm_subscription(
        ctx.session,
        ctx.clock,
        params["TopicArn"],
        params["Token"],
        authenticate_on_unsubscribe=params.get("AuthenticateOnUnsubscribe"),
        authenticated=True,
    )
    return {"SubscriptionArn": subscription.arn}


@handlers.operation("Unsubscribe")
def unsubscribe(ctx: RequestContext, params: dict[str, Any]) -> None:
    subscription = _subscription(ctx, params["SubscriptionArn"], "sns:Unsubscribe")
    subscriptions.unsubscribe(ctx.session, ctx.clock, ctx.runtime.secrets, subscription)


@handlers.operation("ListSubscriptions", read_only=True)
def list_subscriptions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topics.authorize_own(
        ctx.caller, "sns:ListSubscriptions", f"arn:aws:sns:{ctx.region}:{ctx.account_id}:*"
    )
    found = subscriptions.list_by_owner(ctx.session, ctx.account_id, ctx.region)
    page, more = _page(ctx, params, found, lambda item: item.arn, {"region": ctx.region})
    return {"Subscriptions": [subscriptions.list_output(item) for item in page], **more}


@handlers.operation("ListSubscriptionsByTopic", read_only=True)
def list_subscriptions_by_topic(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = _topic(ctx, params["TopicArn"], "sns:ListSubscriptionsByTopic")
    found = subscriptions.list_by_topic(ctx.session, topic)
    page, more = _page(ctx, params, found, lambda item: item.arn, {"topic": topic.arn})
    return {"Subscriptions": [subscriptions.list_output(item) for item in page], **more}


def _subscription(ctx: RequestContext, arn: str, action: str) -> Any:
    _check_region(ctx, arn, "SubscriptionArn")
    subscription = subscriptions.find_subscription(ctx.session, arn)
    topic = topics.get_topic(ctx.session, subscription.topic_arn)
    subscriptions.authorize_subscription(ctx.caller, topic, subscription, action)
    return subscription


@handlers.operation("GetSubscriptionAttributes", read_only=True)
def get_subscription_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    subscription = _subscription(ctx, params["SubscriptionArn"], "sns:GetSubscriptionAttributes")
    return {"Attributes": subscriptions.get_attributes(ctx.session, subscription)}


@handlers.operation("SetSubscriptionAttributes")
def set_subscription_attributes(ctx: RequestContext, params: dict[str, Any]) -> None:
    subscription = _subscription(ctx, params["SubscriptionArn"], "sns:SetSubscriptionAttributes")
    subscriptions.set_attribute(
        subscription, params["AttributeName"], params.get("AttributeValue", "")
    )


# Publishing.


def _publish_topic(ctx: RequestContext, params: dict[str, Any]) -> SnsTopic:
    if params.get("PhoneNumber") is not None:
        raise invalid_parameter(
            "PhoneNumber", "publishing to phone numbers is not supported by this server"
        )
    topic_arn = params.get("TopicArn")
    target_arn = params.get("TargetArn")
    if topic_arn and target_arn:
        raise invalid_parameter("TopicArn or TargetArn", "give only one of them")
    arn = topic_arn or target_arn
    if not arn:
        raise invalid_parameter("TopicArn or TargetArn", "one of them is required")
    return _topic(ctx, arn, "sns:Publish")


@handlers.operation("Publish")
def publish(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = _publish_topic(ctx, params)
    attributes = params.get("MessageAttributes") or {}
    structured = publishing.check_message(
        params["Message"],
        params.get("Subject"),
        params.get("MessageStructure"),
        attributes,
        deduplication_id=params.get("MessageDeduplicationId"),
        group_id=params.get("MessageGroupId"),
    )
    message_id = publishing.publish_checked(
        ctx.session,
        ctx.clock,
        topic,
        params["Message"],
        params.get("Subject"),
        attributes,
        structured,
    )
    return {"MessageId": message_id}


def _check_batch(entries: list[dict[str, Any]]) -> None:
    if not entries:
        raise EmptyBatchRequestException("The batch request doesn't contain any entries")
    if len(entries) > MAX_BATCH_ENTRIES:
        raise TooManyEntriesInBatchRequestException(
            f"The batch request contains more entries than permissible: at most {MAX_BATCH_ENTRIES}"
        )
    ids = [entry["Id"] for entry in entries]
    for entry_id in ids:
        if not re.match(BATCH_ENTRY_ID, entry_id):
            raise InvalidBatchEntryIdException(
                f"The Id of a batch entry in a batch request doesn't abide by the specification: "
                f"{entry_id!r}; use 1 to 80 letters, numbers, hyphens and underscores"
            )
    if len(set(ids)) != len(ids):
        raise BatchEntryIdsNotDistinctException(
            "Two or more batch entries in the request have the same Id"
        )
    total = sum(len(entry.get("Message", "").encode("utf-8")) for entry in entries)
    if total > publishing.MAX_MESSAGE_BYTES:
        raise BatchRequestTooLongException(
            f"The length of all the messages put together is more than the limit: {total} bytes, "
            f"limit {publishing.MAX_MESSAGE_BYTES}"
        )


@handlers.operation("PublishBatch")
def publish_batch(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = _topic(ctx, params["TopicArn"], "sns:Publish")
    entries = params["PublishBatchRequestEntries"]
    _check_batch(entries)
    successful = []
    failed = []
    for entry in entries:
        attributes = entry.get("MessageAttributes") or {}
        try:
            structured = publishing.check_message(
                entry["Message"],
                entry.get("Subject"),
                entry.get("MessageStructure"),
                attributes,
                deduplication_id=entry.get("MessageDeduplicationId"),
                group_id=entry.get("MessageGroupId"),
            )
        except ServiceError as error:
            failed.append(
                {
                    "Id": entry["Id"],
                    "Code": "InvalidParameter",
                    "Message": error.message,
                    "SenderFault": True,
                }
            )
            continue
        message_id = publishing.publish_checked(
            ctx.session,
            ctx.clock,
            topic,
            entry["Message"],
            entry.get("Subject"),
            attributes,
            structured,
        )
        successful.append({"Id": entry["Id"], "MessageId": message_id})
    return {"Successful": successful, "Failed": failed}


# Tags.


@handlers.operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = topics.tagged_topic(ctx.session, ctx.caller, params["ResourceArn"])
    topics.authorize_own(ctx.caller, "sns:TagResource", topic.arn)
    topics.tag_topic(topic, params["Tags"])
    return {}


@handlers.operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = topics.tagged_topic(ctx.session, ctx.caller, params["ResourceArn"])
    topics.authorize_own(ctx.caller, "sns:UntagResource", topic.arn)
    topics.untag_topic(topic, params["TagKeys"])
    return {}


@handlers.operation("ListTagsForResource", read_only=True)
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = topics.tagged_topic(ctx.session, ctx.caller, params["ResourceArn"])
    topics.authorize_own(ctx.caller, "sns:ListTagsForResource", topic.arn)
    return {"Tags": [{"Key": key, "Value": value} for key, value in topic.tags.items()]}
