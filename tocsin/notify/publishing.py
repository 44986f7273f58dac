"""Publishing to SNS topics: message checks, filtering and one delivery per subscription.

``publish`` is the domain entry point: it checks a message, applies each
confirmed subscription's filter policy and writes one ``sns_deliveries`` row
and one delivery job per matching subscription, all in the caller's
transaction. The delivery job sends the message and schedules its retries.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.queue import enqueue
from tocsin.notify import filter_policy, topics
from tocsin.notify.sns_errors import AuthorizationErrorException, invalid_parameter
from tocsin.notify.sns_models import SnsDelivery, SnsSubscription, SnsTopic

logger = logging.getLogger(__name__)

DELIVERY_JOB = "sns.deliver"
# SNS's limit on a message with its attributes, in bytes.
MAX_MESSAGE_BYTES = 262144
MAX_SUBJECT = 100
MAX_ATTRIBUTES = 10
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
ATTRIBUTE_TYPES = ("String", "String.Array", "Number", "Binary")
RESERVED_PREFIXES = ("aws.", "amazon.")

# Delivery states of ``SnsDelivery.status``.
PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DROPPED = "dropped"


def timestamp(moment: datetime) -> str:
    """Format ``moment`` as SNS message timestamps are: ISO 8601 UTC with milliseconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def check_subject(subject: str | None) -> None:
    if subject is None:
        return
    if not subject or len(subject) >= MAX_SUBJECT:
        raise invalid_parameter("Subject", f"Subject must be 1 to {MAX_SUBJECT - 1} characters")
    if not subject.isascii() or any(not char.isprintable() for char in subject):
        raise invalid_parameter(
            "Subject", "Subject must be ASCII text without line breaks or control characters"
        )
    if subject[0].isspace():
        raise invalid_parameter(
            "Subject", "Subject must begin with a letter, number or punctuation mark"
        )


def check_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """Check message attributes and return their size in bytes."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid_parameter(
            "MessageAttributes", f"A message can have at most {MAX_ATTRIBUTES} attributes"
        )
    size = 0
    for name, attribute in attributes.items():
        label = f"MessageAttributes.{name}"
        if (
            not ATTRIBUTE_NAME.match(name)
            or name.lower().startswith(RESERVED_PREFIXES)
            or ".." in name
            or name.startswith(".")
            or name.endswith(".")
        ):
            raise invalid_parameter(
                "MessageAttributes",
                f"Invalid attribute name {name!r}: use letters, numbers, _, - and ., "
                "without leading, trailing or double dots, and without the AWS. or Amazon. prefix",
            )
        data_type = attribute.get("DataType", "")
        # A type may carry a custom suffix, such as String.Array.tags or Number.float.
        if data_type == "String.Array" or data_type.startswith("String.Array."):
            base = "String.Array"
        else:
            base = data_type.split(".", 1)[0]
        if base not in ATTRIBUTE_TYPES:
            raise invalid_parameter(
                label,
                f"The message attribute has an invalid DataType {data_type!r}; use String, "
                "String.Array, Number or Binary",
            )
        string_value = attribute.get("StringValue")
        binary_value = attribute.get("BinaryValue")
        if base == "Binary":
            if binary_value is None:
                raise invalid_parameter(label, "a Binary attribute needs a BinaryValue")
            size += len(binary_value)
        else:
            if string_value is None or string_value == "":
                raise invalid_parameter(
                    label,
                    f"The message attribute '{name}' must contain non-empty message "
                    "attribute value for message attribute type "
                    f"'{data_type}'.",
                )
            _check_typed_value(label, base, string_value)
            size += len(string_value.encode("utf-8"))
        size += len(name.encode("utf-8")) + len(data_type.encode("utf-8"))
    return size


def _check_typed_value(label: str, base: str, value: str) -> None:
    if base == "Number":
        try:
            number = float(value)
        except ValueError:
            raise invalid_parameter(
                label, f"Could not cast message attribute value {value!r} to number"
            ) from None
        if number != number or abs(number) > 1e308:
            raise invalid_parameter(label, f"{value!r} is not a finite number")
    elif base == "String.Array":
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or any(isinstance(item, list | dict) for item in items):
            raise invalid_parameter(
                label,
                "A String.Array value is a JSON array of strings, numbers, true, false or null",
            )


def _structured(message: str) -> dict[str, str]:
    try:
        document = json.loads(message)
    except (json.JSONDecodeError, RecursionError):
        raise invalid_parameter("Message Structure", "JSON message body failed to parse") from None
    if not isinstance(document, dict):
        raise invalid_parameter("Message Structure", "JSON message body failed to parse")
    if not isinstance(document.get("default"), str):
        raise invalid_parameter("Message Structure", "No default entry in JSON message body")
    for key, value in document.items():
        if not isinstance(value, str):
            raise invalid_parameter("Message Structure", f"the value of {key!r} must be a string")
    return document


def check_message(
    message: str,
    subject: str | None,
    message_structure: str | None,
    attributes: Mapping[str, Mapping[str, Any]],
    *,
    deduplication_id: str | None = None,
    group_id: str | None = None,
) -> dict[str, str] | None:
    """Check a message for a standard topic; return its per-protocol texts for structure json."""
    if deduplication_id is not None:
        raise invalid_parameter(
            "MessageDeduplicationId",
            "The request includes MessageDeduplicationId parameter that is not valid for "
            "this topic type",
        )
    if group_id is not None:
        raise invalid_parameter(
            "MessageGroupId",
            "The request includes MessageGroupId parameter that is not valid for this topic type",
        )
    if message == "":
        raise invalid_parameter("Message", "Empty message")
    check_subject(subject)
    size = len(message.encode("utf-8")) + check_attributes(attributes)
    if size > MAX_MESSAGE_BYTES:
        raise invalid_parameter(
            "Message too long",
            f"The message and its attributes are {size} bytes; the limit is {MAX_MESSAGE_BYTES}",
        )
    if message_structure is None:
        return None
    if message_structure != "json":
        raise invalid_parameter(
            "MessageStructure", f"The only valid value is json, got {message_structure!r}"
        )
    return _structured(message)


def wire_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Return attributes as notifications carry them: ``{name: {Type, Value}}``."""
    result = {}
    for name, attribute in attributes.items():
        if "BinaryValue" in attribute and attribute.get("BinaryValue") is not None:
            value = base64.b64encode(attribute["BinaryValue"]).decode("ascii")
        else:
            value = str(attribute.get("StringValue", ""))
        result[name] = {"Type": str(attribute["DataType"]), "Value": value}
    return result


def _filter_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        name: {"DataType": str(value["DataType"]), "StringValue": value["StringValue"]}
        for name, value in attributes.items()
        if value.get("StringValue") is not None
    }


def enqueue_delivery(
    session: Session,
    clock: Clock,
    *,
    message_id: str,
    message_type: str,
    topic: SnsTopic,
    subscription: SnsSubscription,
    fields: dict[str, Any],
    encrypted_token: str | None = None,
    context: Mapping[str, str] | None = None,
) -> SnsDelivery:
    """Write one delivery row and the job that makes its first attempt.

    ``context`` goes into the payload of every attempt's job, such as the
    ``incidentRecordArn`` of an incident notification.
    """
    delivery = SnsDelivery(
        message_id=message_id,
        message_type=message_type,
        topic_arn=topic.arn,
        account_id=topic.account_id,
        subscription_arn=subscription.arn,
        protocol=subscription.protocol,
        endpoint=subscription.endpoint,
        fields=fields,
        encrypted_token=encrypted_token,
        raw=subscription.raw_message_delivery and message_type == "Notification",
        status=PENDING,
        attempts=0,
        created_at=clock.now(),
    )
    session.add(delivery)
    session.flush()
    schedule_attempt(session, clock, delivery, attempt=1, context=context)
    return delivery


def schedule_attempt(
    session: Session,
    clock: Clock,
    delivery: SnsDelivery,
    *,
    attempt: int,
    due_at: datetime | None = None,
    context: Mapping[str, str] | None = None,
) -> None:
    # Each attempt has its own job key, so a retried job never enqueues a second copy.
    enqueue(
        session,
        clock,
        DELIVERY_JOB,
        {**(context or {}), "delivery_id": delivery.id, "attempt": attempt},
        due_at=due_at,
        key=f"sns-delivery:{delivery.id}:{attempt}",
        account_id=delivery.account_id,
    )


def publish(
    session: Session,
    clock: Clock,
    topic_arn: str,
    message: str,
    subject: str | None = None,
    attributes: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    publisher_account: str,
    message_structure: str | None = None,
) -> str:
    """Publish ``message`` to a topic and return its MessageId.

    The topic policy must allow SNS:Publish to ``publisher_account`` when it is
    not the topic's account. ``attributes`` are message attributes in the
    Publish wire form (``{name: {"DataType": ..., "StringValue": ...}}``).
    Raises NotFound, AuthorizationError or InvalidParameter.
    """
    topic = topics.get_topic(session, topic_arn)
    if not topics.account_may(topic, publisher_account, "sns:Publish"):
        raise AuthorizationErrorException(
            f"Account {publisher_account} is not authorized to perform: SNS:Publish on "
            f"resource: {topic_arn}"
        )
    attributes = dict(attributes or {})
    structured = check_message(message, subject, message_structure, attributes)
    return publish_checked(session, clock, topic, message, subject, attributes, structured)


def publish_checked(
    session: Session,
    clock: Clock,
    topic: SnsTopic,
    message: str,
    subject: str | None,
    attributes: Mapping[str, Mapping[str, Any]],
    structured: dict[str, str] | None,
    *,
    context: Mapping[str, str] | None = None,
) -> str:
    """Enqueue a message that has passed its checks, returning its new MessageId.

    ``context`` goes into the payload of each delivery's jobs, as in ``enqueue_delivery``.
    """
    message_id = str(uuid.uuid4())
    now = clock.now()
    subscriptions = session.scalars(
        select(SnsSubscription)
        .where(
            SnsSubscription.topic_arn == topic.arn,
            SnsSubscription.confirmed.is_(True),
            SnsSubscription.unsubscribed_at.is_(None),
        )
        .order_by(SnsSubscription.arn)
    ).all()
    filter_values = _filter_attributes(attributes)
    notified = 0
    for subscription in subscriptions:
        text = (
            structured.get(subscription.protocol, structured["default"]) if structured else message
        )
        if not filter_policy.matches(
            subscription.filter_policy, subscription.filter_policy_scope, text, filter_values
        ):
            logger.debug(
                "message %s filtered out for subscription %s", message_id, subscription.arn
            )
            continue
        fields: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": topic.arn,
            "Message": text,
            "Timestamp": timestamp(now),
        }
        if subject is not None:
            fields["Subject"] = subject
        if attributes:
            fields["MessageAttributes"] = wire_attributes(attributes)
        enqueue_delivery(
            session,
            clock,
            message_id=message_id,
            message_type="Notification",
            topic=topic,
            subscription=subscription,
            fields=fields,
            context=context,
        )
        notified += 1
    logger.info(
        "published message %s to topic %s for %d of %d subscriptions",
        message_id,
        topic.arn,
        notified,
        len(subscriptions),
    )
    return message_id


def failed_deliveries(session: Session, message_id: str) -> list[SnsDelivery]:
    """Return the deliveries of message ``message_id`` that were given up, oldest first."""
    return list(
        session.scalars(
            select(SnsDelivery)
            .where(SnsDelivery.message_id == message_id, SnsDelivery.status == FAILED)
            .order_by(SnsDelivery.id)
        )
    )


def deliveries_of(session: Session, message_id: str) -> list[SnsDelivery]:
    """Return every delivery of message ``message_id``, in any state, oldest first."""
    return list(
        session.scalars(
            select(SnsDelivery).where(SnsDelivery.message_id == message_id).order_by(SnsDelivery.id)
        )
    )
