"""SNS topics: names and ARNs, attributes, the access policy, permissions and tags.

Every topic has an access policy. CreateTopic writes the default policy as
SNS writes it: principals of the owner account may perform the topic
actions. A call from another account needs an Allow in the topic policy.
Within the owner account, an Allow in the caller's IAM policies or in the
topic policy is enough. The policy's ``AWS:SourceOwner`` condition key carries the
calling account, so the default policy's condition holds for the owner
account's principals only.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam.authorize import decide
from tocsin.iam.policy import AuthzRequest, Decision, PolicyError, evaluate, parse_policy
from tocsin.iam.principal import Caller
from tocsin.notify import delivery_policy
from tocsin.notify.sns_errors import (
    AuthorizationErrorException,
    NotFoundException,
    ResourceNotFoundException,
    TagLimitExceededException,
    invalid_parameter,
)
from tocsin.notify.sns_models import SnsSubscription, SnsTopic

logger = logging.getLogger(__name__)

TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TOPIC_ARN = re.compile(
    r"^arn:aws:sns:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[A-Za-z0-9_-]{1,256})$"
)
# The actions that SNS's default topic policy grants to the owner account.
DEFAULT_POLICY_ACTIONS = (
    "SNS:GetTopicAttributes",
    "SNS:SetTopicAttributes",
    "SNS:AddPermission",
    "SNS:RemovePermission",
    "SNS:DeleteTopic",
    "SNS:Subscribe",
    "SNS:ListSubscriptionsByTopic",
    "SNS:Publish",
)
# Actions that AddPermission may grant, as the SNS API reference lists them.
PERMISSION_ACTIONS = frozenset(
    {
        "Publish",
        "Subscribe",
        "GetTopicAttributes",
        "SetTopicAttributes",
        "AddPermission",
        "RemovePermission",
        "DeleteTopic",
        "ListSubscriptionsByTopic",
        "Receive",
    }
)
SETTABLE_ATTRIBUTES = ("DeliveryPolicy", "DisplayName", "Policy", "SignatureVersion")
CREATE_ONLY_ATTRIBUTES = ("FifoTopic",)
MAX_DISPLAY_NAME = 100
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


@dataclass(frozen=True)
class TopicName:
    region: str
    account_id: str
    name: str


def parse_topic_arn(arn: str, parameter: str = "TopicArn") -> TopicName:
    """Split a topic ARN, raising InvalidParameter that names ``parameter``."""
    match = TOPIC_ARN.match(arn)
    if match is None:
        raise invalid_parameter(
            parameter, f"An ARN must have the form arn:aws:sns:REGION:ACCOUNT:NAME, got {arn!r}"
        )
    return TopicName(match["region"], match["account"], match["name"])


def topic_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sns:{region}:{account_id}:{name}"


def default_policy(arn: str, account_id: str) -> dict[str, Any]:
    """Return the access policy that SNS gives a new topic."""
    return {
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [
            {
                "Sid": "__default_statement_ID",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(DEFAULT_POLICY_ACTIONS),
                "Resource": arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": account_id}},
            }
        ],
    }


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def get_topic(session: Session, arn: str, parameter: str = "TopicArn") -> SnsTopic:
    """Return the topic ``arn`` names, or raise NotFound."""
    parse_topic_arn(arn, parameter)
    topic = session.get(SnsTopic, arn)
    if topic is None:
        raise NotFoundException("Topic does not exist")
    return topic


# Authorization.


def _condition_context(account_id: str) -> dict[str, Any]:
    return {"AWS:SourceOwner": account_id, "aws:SourceAccount": account_id}


def topic_policies(topic: SnsTopic) -> tuple[dict[str, Any], ...]:
    document: dict[str, Any] = json.loads(topic.policy)
    return (document,)


def authorize(caller: Caller, topic: SnsTopic, action: str) -> None:
    """Raise AuthorizationError unless ``caller`` may perform ``action`` on ``topic``."""
    decision, _decided_by = decide(
        caller,
        action,
        topic.arn,
        resource_account=topic.account_id,
        resource_policies=topic_policies(topic),
        conditions=_condition_context(caller.account_id),
    )
    if decision is Decision.ALLOW:
        return
    logger.info("denied %s on %s to %s", action, topic.arn, caller.arn)
    raise AuthorizationErrorException(
        f"User: {caller.arn} is not authorized to perform: {action} on resource: {topic.arn}"
    )


def authorize_own(caller: Caller, action: str, resource: str) -> None:
    """Raise AuthorizationError unless the caller's IAM policies allow ``action`` in its account.

    CreateTopic, the listings, the tag operations and a DeleteTopic of a missing
    topic use this check, because no topic policy applies to them.
    """
    decision, _decided_by = decide(caller, action, resource, resource_account=caller.account_id)
    if decision is not Decision.ALLOW:
        logger.info("denied %s on %s to %s", action, resource, caller.arn)
        raise AuthorizationErrorException(
            f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource}"
        )


def account_may(topic: SnsTopic, account_id: str, action: str) -> bool:
    """Return whether the topic policy lets account ``account_id`` perform ``action``.

    The owner account may always act on its own topic; another account needs a
    statement of the topic policy that allows it.
    """
    if account_id == topic.account_id:
        return True
    request = AuthzRequest(
        action=action,
        resource=topic.arn,
        principal_account=account_id,
        principal_arns=(f"arn:aws:iam::{account_id}:root",),
        resource_account=topic.account_id,
        context=_condition_context(account_id),
    )
    return evaluate(request, (), topic_policies(topic)) is Decision.ALLOW


# Attributes.


def _check_attribute(name: str, value: str, *, creating: bool) -> None:
    allowed = SETTABLE_ATTRIBUTES + (CREATE_ONLY_ATTRIBUTES if creating else ())
    if name not in allowed:
        raise invalid_parameter(
            "AttributeName",
            f"Unknown or read-only attribute {name!r}; settable attributes are "
            f"{', '.join(allowed)}",
        )
    if name == "DisplayName" and len(value) > MAX_DISPLAY_NAME:
        raise invalid_parameter(name, f"DisplayName must be at most {MAX_DISPLAY_NAME} characters")
    if name == "DeliveryPolicy" and value:
        delivery_policy.parse_topic_policy(value)
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise invalid_parameter(name, f"SignatureVersion must be 1 or 2, got {value!r}")
    if name == "FifoTopic" and value.lower() not in ("true", "false"):
        raise invalid_parameter(name, f"FifoTopic must be true or false, got {value!r}")
    if name == "FifoTopic" and value.lower() == "true":
        raise invalid_parameter(name, "FIFO topics are not supported by this server")


def _checked_policy(text: str) -> str:
    try:
        parse_policy(text, resource_policy=True)
    except PolicyError as error:
        raise invalid_parameter("Policy", error.message) from None
    return text


def _apply(topic: SnsTopic, name: str, value: str) -> None:
    if name == "DisplayName":
        topic.display_name = value
    elif name == "Policy":
        topic.policy = (
            _checked_policy(value) if value else _dump(default_policy(topic.arn, topic.account_id))
        )
    elif name == "DeliveryPolicy":
        topic.delivery_policy = value or None
    elif name == "SignatureVersion":
        topic.signature_version = value


def _same_attributes(topic: SnsTopic, attributes: dict[str, str]) -> bool:
    current = topic_attribute_values(topic)
    for name, value in attributes.items():
        if name == "FifoTopic":
            if value.lower() != "false":
                return False
            continue
        if name == "Policy" and value:
            if json.loads(value) != json.loads(current["Policy"]):
                return False
            continue
        if current.get(name, "") != value:
            return False
    return True


def topic_attribute_values(topic: SnsTopic) -> dict[str, str]:
    """Return the attributes that the topic's owner set or that have defaults."""
    values = {
        "DisplayName": topic.display_name,
        "Policy": topic.policy,
        "SignatureVersion": topic.signature_version,
    }
    if topic.delivery_policy:
        values["DeliveryPolicy"] = topic.delivery_policy
    return values


def create_topic(
    session: Session,
    clock: Clock,
    region: str,
    account_id: str,
    name: str,
    attributes: dict[str, str],
    tags: list[dict[str, str]],
) -> SnsTopic:
    """Create a topic, or return the existing one when its attributes and tags are the same."""
    if not TOPIC_NAME.match(name):
        raise invalid_parameter(
            "Topic Name",
            "Topic names must be 1 to 256 characters of ASCII letters, numbers, "
            f"underscores and hyphens, got {name!r}",
        )
    for attribute, value in attributes.items():
        _check_attribute(attribute, value, creating=True)
    new_tags = checked_tags(tags)
    arn = topic_arn(region, account_id, name)
    existing = session.get(SnsTopic, arn)
    if existing is not None:
        if not _same_attributes(existing, attributes):
            raise invalid_parameter("Attributes", "Topic already exists with different attributes")
        if new_tags and any(existing.tags.get(key) != value for key, value in new_tags.items()):
            raise invalid_parameter("Tags", "Topic already exists with different tags")
        return existing

    topic = SnsTopic(
        arn=arn,
        account_id=account_id,
        region=region,
        name=name,
        display_name="",
        policy=_dump(default_policy(arn, account_id)),
        delivery_policy=None,
        signature_version="2",
        tags=new_tags,
        created_at=clock.now(),
    )
    for attribute, value in attributes.items():
        _apply(topic, attribute, value)
    session.add(topic)
    session.flush()
    logger.info("created topic %s", arn)
    return topic


def delete_topic(session: Session, topic: SnsTopic) -> None:
    """Delete a topic and all its subscriptions; deliveries in progress are dropped."""
    subscriptions = session.scalars(
        select(SnsSubscription).where(SnsSubscription.topic_arn == topic.arn)
    ).all()
    for subscription in subscriptions:
        session.delete(subscription)
    session.delete(topic)
    logger.info("deleted topic %s and its %d subscriptions", topic.arn, len(subscriptions))


def set_topic_attribute(topic: SnsTopic, name: str, value: str) -> None:
    _check_attribute(name, value, creating=False)
    _apply(topic, name, value)


def get_topic_attributes(session: Session, topic: SnsTopic) -> dict[str, str]:
    """Return every attribute of ``topic`` as GetTopicAttributes shows it."""
    rows = session.execute(
        select(SnsSubscription.confirmed, SnsSubscription.unsubscribed_at.is_(None), func.count())
        .where(SnsSubscription.topic_arn == topic.arn)
        .group_by(SnsSubscription.confirmed, SnsSubscription.unsubscribed_at.is_(None))
    ).all()
    pending = confirmed = deleted = 0
    for is_confirmed, is_live, count in rows:
        if not is_live:
            deleted += count
        elif is_confirmed:
            confirmed += count
        else:
            pending += count
    effective = delivery_policy.effective_policy(topic.delivery_policy, None)
    attributes = {
        "TopicArn": topic.arn,
        "Owner": topic.account_id,
        "SubscriptionsPending": str(pending),
        "SubscriptionsConfirmed": str(confirmed),
        # Unsubscribed HTTP subscriptions that their UnsubscribeConfirmation may still restore.
        "SubscriptionsDeleted": str(deleted),
        "EffectiveDeliveryPolicy": _dump(delivery_policy.topic_document(effective)),
        **topic_attribute_values(topic),
    }
    return attributes


# Permissions.


def add_permission(topic: SnsTopic, label: str, accounts: list[str], actions: list[str]) -> None:
    """Add a statement with Sid ``label`` that lets ``accounts`` perform ``actions``."""
    if not label or not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", label):
        raise invalid_parameter(
            "Label", f"Labels are 1 to 80 letters, numbers, _ and -, got {label!r}"
        )
    if not accounts:
        raise invalid_parameter("AWSAccountId", "at least one account is required")
    if not actions:
        raise invalid_parameter("ActionName", "at least one action is required")
    for account in accounts:
        if not re.fullmatch(r"\d{12}", account):
            raise invalid_parameter("AWSAccountId", f"{account!r} is not a 12-digit account id")
    for action in actions:
        if action not in PERMISSION_ACTIONS:
            raise invalid_parameter(
                "ActionName", f"{action!r} is not an action that AddPermission may grant"
            )

    document: dict[str, Any] = json.loads(topic.policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if any(statement.get("Sid") == label for statement in statements):
        raise invalid_parameter("Label", f"Statement already exists with Sid {label!r}")

    principals = [f"arn:aws:iam::{account}:root" for account in accounts]
    statements.append(
        {
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
            "Action": [f"SNS:{action}" for action in actions],
            "Resource": topic.arn,
        }
    )
    document["Statement"] = statements
    topic.policy = _dump(document)


def remove_permission(topic: SnsTopic, label: str) -> None:
    """Remove the statement with Sid ``label`` from the topic policy."""
    document: dict[str, Any] = json.loads(topic.policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = [statement for statement in statements if statement.get("Sid") != label]
    if len(kept) == len(statements):
        raise invalid_parameter("Label", f"No statement with Sid {label!r} in the topic policy")
    document["Statement"] = kept
    topic.policy = _dump(document)


# Tags.


def checked_tags(tags: list[dict[str, str]]) -> dict[str, str]:
    """Return ``tags`` as a mapping, raising InvalidParameter or TagLimitExceeded."""
    result: dict[str, str] = {}
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= MAX_TAG_KEY:
            raise invalid_parameter(
                "Tags", f"Tag keys are 1 to {MAX_TAG_KEY} characters, got {key!r}"
            )
        if len(value) > MAX_TAG_VALUE:
            raise invalid_parameter("Tags", f"Tag values are at most {MAX_TAG_VALUE} characters")
        if key.lower().startswith("aws:"):
            raise invalid_parameter("Tags", f"Tag keys may not start with aws:, got {key!r}")
        if key in result:
            raise invalid_parameter("Tags", f"Duplicate tag key {key!r}")
        result[key] = value
    if len(result) > MAX_TAGS:
        raise TagLimitExceededException(
            f"Could not complete request: tag quota of {MAX_TAGS} per resource exceeded"
        )
    return result


def tagged_topic(session: Session, caller: Caller, arn: str) -> SnsTopic:
    """Return the caller's own topic for a tagging operation, or raise ResourceNotFound."""
    match = TOPIC_ARN.match(arn)
    if match is None:
        raise invalid_parameter("ResourceArn", f"{arn!r} is not a topic ARN")
    topic = session.get(SnsTopic, arn)
    if topic is None:
        raise ResourceNotFoundException("Resource does not exist")
    if topic.account_id != caller.account_id:
        raise AuthorizationErrorException(
            f"User: {caller.arn} is not authorized to change the tags of {arn}: "
            "only the owner account tags a topic"
        )
    return topic


def tag_topic(topic: SnsTopic, tags: list[dict[str, str]]) -> None:
    merged = {**topic.tags, **checked_tags(tags)}
    if len(merged) > MAX_TAGS:
        raise TagLimitExceededException(
            f"Could not complete request: tag quota of {MAX_TAGS} per resource exceeded"
        )
    topic.tags = merged


def untag_topic(topic: SnsTopic, keys: list[str]) -> None:
    topic.tags = {key: value for key, value in topic.tags.items() if key not in keys}


def list_topics(session: Session, account_id: str, region: str) -> list[SnsTopic]:
    return list(
        session.scalars(
            select(SnsTopic)
            .where(SnsTopic.account_id == account_id, SnsTopic.region == region)
            .order_by(SnsTopic.arn)
        )
    )
