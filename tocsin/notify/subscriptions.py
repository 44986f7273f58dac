"""SNS subscriptions: subscribe, confirm, unsubscribe, attributes and listings.

HTTP, HTTPS, email and email-json subscriptions start pending confirmation.
Subscribe sends the endpoint a SubscriptionConfirmation message with a token,
and ConfirmSubscription with that token confirms the subscription. A token
expires three days after it was issued. Unsubscribing a confirmed HTTP or
HTTPS subscription sends an UnsubscribeConfirmation message, whose token
restores the subscription until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam.authorize import decide
from tocsin.iam.crypto import SecretBox
from tocsin.iam.policy import Decision
from tocsin.iam.principal import Caller
from tocsin.notify import delivery_policy, endpoints, filter_policy, topics
from tocsin.notify.publishing import enqueue_delivery, timestamp
from tocsin.notify.sns_errors import (
    AuthorizationErrorException,
    NotFoundException,
    invalid_parameter,
)
from tocsin.notify.sns_models import SnsSubscription, SnsTopic

logger = logging.getLogger(__name__)

PROTOCOLS = ("http", "https", "email", "email-json")
HTTP_PROTOCOLS = ("http", "https")
TOKEN_LIFETIME = timedelta(days=3)
PENDING_ARN = "pending confirmation"
SUBSCRIPTION_ARN = re.compile(r"^arn:aws:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}:[0-9a-f-]{36}$")
EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SETTABLE_ATTRIBUTES = ("DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery")
MAX_ENDPOINT = 2048


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_endpoint(protocol: str, endpoint: str | None) -> str:
    if protocol not in PROTOCOLS:
        raise invalid_parameter(
            "Protocol",
            f"Protocol {protocol!r} is not supported by this server; use one of "
            f"{', '.join(PROTOCOLS)}",
        )
    if not endpoint:
        raise invalid_parameter("Endpoint", f"an endpoint is required for protocol {protocol}")
    if len(endpoint) > MAX_ENDPOINT:
        raise invalid_parameter("Endpoint", f"Endpoints are at most {MAX_ENDPOINT} characters")
    if protocol in HTTP_PROTOCOLS:
        parts = urlsplit(endpoint)
        if parts.scheme != protocol or not parts.hostname:
            raise invalid_parameter(
                "Endpoint", f"Endpoint must match the specified protocol: {protocol}://HOST/PATH"
            )
        try:
            _port = parts.port
        except ValueError:
            raise invalid_parameter("Endpoint", f"invalid port in {endpoint!r}") from None
        try:
            endpoints.check_host(parts.hostname)
        except endpoints.BlockedEndpoint as exc:
            raise invalid_parameter("Endpoint", str(exc)) from None
    elif not EMAIL_ADDRESS.match(endpoint):
        raise invalid_parameter("Email address", f"{endpoint!r} is not an email address")
    return endpoint


def _check_attribute(subscription_protocol: str, name: str, value: str, scope: str) -> None:
    if name not in SETTABLE_ATTRIBUTES:
        raise invalid_parameter(
            "AttributeName",
            f"Unknown or unsupported attribute {name!r}; settable attributes are "
            f"{', '.join(SETTABLE_ATTRIBUTES)}",
        )
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise invalid_parameter(
                name, f"RawMessageDelivery must be true or false, got {value!r}"
            )
        if subscription_protocol not in HTTP_PROTOCOLS and value.lower() == "true":
            raise invalid_parameter(
                name, f"RawMessageDelivery is not valid for protocol {subscription_protocol}"
            )
    elif name == "DeliveryPolicy":
        if subscription_protocol not in HTTP_PROTOCOLS:
            raise invalid_parameter(
                name,
                f"only http and https subscriptions have one, not {subscription_protocol}",
            )
        if value:
            delivery_policy.parse_subscription_policy(value, delivery_policy.EndpointPolicy())
    elif name == "FilterPolicyScope":
        if value not in filter_policy.SCOPES:
            raise invalid_parameter(
                name, f"FilterPolicyScope must be MessageAttributes or MessageBody, got {value!r}"
            )
    elif name == "FilterPolicy" and value:
        filter_policy.validate(value, scope)


def _apply(subscription: SnsSubscription, name: str, value: str) -> None:
    if name == "RawMessageDelivery":
        subscription.raw_message_delivery = value.lower() == "true"
    elif name == "DeliveryPolicy":
        subscription.delivery_policy = value or None
    elif name == "FilterPolicyScope":
        subscription.filter_policy_scope = value
    elif name == "FilterPolicy":
        subscription.filter_policy = value or None
        if value and subscription.filter_policy_scope is None:
            subscription.filter_policy_scope = "MessageAttributes"
        if not value:
            subscription.filter_policy_scope = None


def _check_attributes(protocol: str, attributes: dict[str, str], current_scope: str | None) -> None:
    scope = attributes.get("FilterPolicyScope", current_scope or "MessageAttributes")
    for name, value in attributes.items():
        _check_attribute(protocol, name, value, scope)


def _attribute_values(subscription: SnsSubscription) -> dict[str, str]:
    values = {"RawMessageDelivery": "true" if subscription.raw_message_delivery else "false"}
    if subscription.filter_policy:
        values["FilterPolicy"] = subscription.filter_policy
        values["FilterPolicyScope"] = subscription.filter_policy_scope or "MessageAttributes"
    if subscription.delivery_policy:
        values["DeliveryPolicy"] = subscription.delivery_policy
    return values


def _differs(subscription: SnsSubscription, attributes: dict[str, str]) -> bool:
    current = _attribute_values(subscription)
    for name, value in attributes.items():
        default = "false" if name == "RawMessageDelivery" else ""
        if name == "FilterPolicyScope":
            default = "MessageAttributes"
        if current.get(name, default).lower() != value.lower():
            return True
    return False


def subscribe(
    session: Session,
    clock: Clock,
    box: SecretBox,
    caller: Caller,
    topic: SnsTopic,
    protocol: str,
    endpoint: str | None,
    attributes: dict[str, str],
) -> SnsSubscription:
    """Subscribe an endpoint, or return its existing subscription.

    A new or still pending subscription gets a confirmation message with a new token.
    """
    endpoint = _check_endpoint(protocol, endpoint)
    _check_attributes(protocol, attributes, None)
    existing = session.scalars(
        select(SnsSubscription).where(
            SnsSubscription.topic_arn == topic.arn,
            SnsSubscription.protocol == protocol,
            SnsSubscription.endpoint == endpoint,
        )
    ).first()
    if existing is not None and existing.unsubscribed_at is None:
        if _differs(existing, attributes):
            raise invalid_parameter(
                "Attributes", "Subscription already exists with different attributes"
            )
        if not existing.confirmed:
            _send_confirmation(session, clock, box, topic, existing, "SubscriptionConfirmation")
        return existing

    subscription = existing or SnsSubscription(
        arn=f"{topic.arn}:{uuid.uuid4()}",
        topic_arn=topic.arn,
        region=topic.region,
        protocol=protocol,
        endpoint=endpoint,
        created_at=clock.now(),
    )
    subscription.owner_account_id = caller.account_id
    subscription.confirmed = False
    subscription.unsubscribed_at = None
    subscription.confirmation_was_authenticated = False
    subscription.authenticate_on_unsubscribe = False
    subscription.raw_message_delivery = False
    subscription.filter_policy = None
    subscription.filter_policy_scope = None
    subscription.delivery_policy = None
    for name in ("FilterPolicyScope", "FilterPolicy", "RawMessageDelivery", "DeliveryPolicy"):
        if name in attributes:
            _apply(subscription, name, attributes[name])
    if existing is None:
        session.add(subscription)
    session.flush()
    _send_confirmation(session, clock, box, topic, subscription, "SubscriptionConfirmation")
    logger.info(
        "subscribed %s endpoint to topic %s as %s, pending confirmation",
        protocol,
        topic.arn,
        subscription.arn,
    )
    return subscription


def _send_confirmation(
    session: Session,
    clock: Clock,
    box: SecretBox,
    topic: SnsTopic,
    subscription: SnsSubscription,
    message_type: str,
) -> None:
    """Issue a new token for ``subscription`` and enqueue the message that carries it."""
    token = secrets.token_hex(64)
    now = clock.now()
    subscription.token_digest = token_digest(token)
    subscription.token_expires_at = now + TOKEN_LIFETIME
    if message_type == "SubscriptionConfirmation":
        text = (
            f"You have chosen to subscribe to the topic {topic.arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        )
    else:
        text = (
            f"You have chosen to deactivate subscription {subscription.arn}.\n"
            "To cancel this operation and restore the subscription, visit the SubscribeURL "
            "included in this message."
        )
    message_id = str(uuid.uuid4())
    enqueue_delivery(
        session,
        clock,
        message_id=message_id,
        message_type=message_type,
        topic=topic,
        subscription=subscription,
        fields={
            "Type": message_type,
            "MessageId": message_id,
            "TopicArn": topic.arn,
            "Message": text,
            "Timestamp": timestamp(now),
        },
        encrypted_token=box.encrypt(token),
    )


def confirm_subscription(
    session: Session,
    clock: Clock,
    topic_arn: str,
    token: str,
    *,
    authenticate_on_unsubscribe: str | None = None,
    authenticated: bool,
) -> SnsSubscription:
    """Confirm the subscription that ``token`` was issued for, or raise InvalidParameter."""
    topic = topics.get_topic(session, topic_arn)
    if authenticate_on_unsubscribe is not None and authenticate_on_unsubscribe.lower() not in (
        "true",
        "false",
    ):
        raise invalid_parameter(
            "AuthenticateOnUnsubscribe",
            f"AuthenticateOnUnsubscribe must be true or false, got {authenticate_on_unsubscribe!r}",
        )
    subscription = session.scalars(
        select(SnsSubscription).where(SnsSubscription.token_digest == token_digest(token))
    ).first()
    now = clock.now()
    if (
        subscription is None
        or subscription.topic_arn != topic.arn
        or subscription.token_expires_at is None
        or subscription.token_expires_at <= now
    ):
        raise invalid_parameter("Token", "The token is invalid or has expired")
    if not subscription.confirmed or subscription.unsubscribed_at is not None:
        subscription.confirmed = True
        subscription.unsubscribed_at = None
        subscription.confirmation_was_authenticated = authenticated
        logger.info("confirmed subscription %s", subscription.arn)
    if authenticated and authenticate_on_unsubscribe is not None:
        subscription.authenticate_on_unsubscribe = authenticate_on_unsubscribe.lower() == "true"
    return subscription


def find_subscription(session: Session, arn: str) -> SnsSubscription:
    """Return the live subscription ``arn`` names, or raise InvalidParameter or NotFound."""
    if not SUBSCRIPTION_ARN.match(arn):
        raise invalid_parameter("SubscriptionArn", f"{arn!r} is not a subscription ARN")
    subscription = session.get(SnsSubscription, arn)
    if subscription is None or subscription.unsubscribed_at is not None:
        raise NotFoundException("Subscription does not exist")
    return subscription


def authorize_subscription(
    caller: Caller, topic: SnsTopic, subscription: SnsSubscription, action: str
) -> None:
    """Raise AuthorizationError unless ``caller`` may perform ``action`` on ``subscription``.

    The subscription's owner account and the topic's account decide with
    their own IAM policies; any other account needs the topic policy.
    """
    if caller.account_id not in (subscription.owner_account_id, topic.account_id):
        topics.authorize(caller, topic, action)
        return
    decision, _ = decide(caller, action, topic.arn, resource_account=caller.account_id)
    if decision is not Decision.ALLOW:
        raise AuthorizationErrorException(
            f"User: {caller.arn} is not authorized to perform: {action} on resource: {topic.arn}"
        )


def unsubscribe(
    session: Session, clock: Clock, box: SecretBox, subscription: SnsSubscription
) -> None:
    """Remove a subscription; a confirmed HTTP one gets an UnsubscribeConfirmation message."""
    topic = session.get(SnsTopic, subscription.topic_arn)
    if topic is not None and subscription.confirmed and subscription.protocol in HTTP_PROTOCOLS:
        subscription.confirmed = False
        subscription.unsubscribed_at = clock.now()
        _send_confirmation(session, clock, box, topic, subscription, "UnsubscribeConfirmation")
    else:
        session.delete(subscription)
    logger.info("unsubscribed %s", subscription.arn)


def set_attribute(subscription: SnsSubscription, name: str, value: str) -> None:
    scope = subscription.filter_policy_scope or "MessageAttributes"
    if name == "FilterPolicyScope" and subscription.filter_policy:
        # The stored policy must also be valid under the new scope.
        _check_attribute(subscription.protocol, name, value, scope)
        filter_policy.validate(subscription.filter_policy, value)
    _check_attribute(subscription.protocol, name, value, scope)
    _apply(subscription, name, value)


def get_attributes(session: Session, subscription: SnsSubscription) -> dict[str, str]:
    """Return the attributes of a subscription as GetSubscriptionAttributes shows them."""
    attributes: dict[str, Any] = {
        "SubscriptionArn": subscription.arn,
        "TopicArn": subscription.topic_arn,
        "Owner": subscription.owner_account_id,
        "Protocol": subscription.protocol,
        "Endpoint": subscription.endpoint,
        "PendingConfirmation": "false" if subscription.confirmed else "true",
        "ConfirmationWasAuthenticated": "true"
        if subscription.confirmation_was_authenticated
        else "false",
        **_attribute_values(subscription),
    }
    if subscription.protocol in HTTP_PROTOCOLS:
        topic = session.get(SnsTopic, subscription.topic_arn)
        effective = delivery_policy.effective_policy(
            topic.delivery_policy if topic else None, subscription.delivery_policy
        )
        attributes["EffectiveDeliveryPolicy"] = json.dumps(
            delivery_policy.subscription_document(effective), separators=(",", ":")
        )
    return attributes


def list_output(subscription: SnsSubscription) -> dict[str, str]:
    return {
        "SubscriptionArn": subscription.arn if subscription.confirmed else "PendingConfirmation",
        "Owner": subscription.owner_account_id,
        "Protocol": subscription.protocol,
        "Endpoint": subscription.endpoint,
        "TopicArn": subscription.topic_arn,
    }


def list_by_owner(session: Session, account_id: str, region: str) -> list[SnsSubscription]:
    return list(
        session.scalars(
            select(SnsSubscription)
            .where(
                SnsSubscription.owner_account_id == account_id,
                SnsSubscription.region == region,
                SnsSubscription.unsubscribed_at.is_(None),
            )
            .order_by(SnsSubscription.arn)
        )
    )


def list_by_topic(session: Session, topic: SnsTopic) -> list[SnsSubscription]:
    return list(
        session.scalars(
            select(SnsSubscription)
            .where(
                SnsSubscription.topic_arn == topic.arn,
                SnsSubscription.unsubscribed_at.is_(None),
            )
            .order_by(SnsSubscription.arn)
        )
    )


def unsubscribe_token(box: SecretBox, subscription_arn: str) -> str:
    """Return the token of a subscription's UnsubscribeURL, an HMAC of its ARN."""
    key = box.derive("sns-unsubscribe-link")
    return hmac.new(key, subscription_arn.encode("utf-8"), hashlib.sha256).hexdigest()


def unsubscribe_by_link(
    session: Session, clock: Clock, box: SecretBox, subscription_arn: str, token: str
) -> SnsSubscription:
    """Unsubscribe through an UnsubscribeURL, which carries no AWS signature."""
    subscription = find_subscription(session, subscription_arn)
    if not hmac.compare_digest(unsubscribe_token(box, subscription_arn), token):
        raise AuthorizationErrorException("The unsubscribe link is not valid for this subscription")
    if subscription.authenticate_on_unsubscribe:
        raise AuthorizationErrorException(
            "This subscription requires an authenticated Unsubscribe request, because it was "
            "confirmed with AuthenticateOnUnsubscribe=true"
        )
    unsubscribe(session, clock, box, subscription)
    return subscription
