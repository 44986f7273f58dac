"""Tables of SNS topics, subscriptions, message deliveries and the message signing key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class SnsTopic(Base):
    """A standard SNS topic in one account and Region."""

    __tablename__ = "sns_topics"
    __table_args__ = (Index("ix_sns_topics_account_region", "account_id", "region", "name"),)

    arn: Mapped[str] = mapped_column(String(320), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    policy: Mapped[str] = mapped_column(Text)  # the topic's access policy as JSON text
    delivery_policy: Mapped[str | None] = mapped_column(Text)  # as the owner set it
    signature_version: Mapped[str] = mapped_column(String(1), default="2")
    tags: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class SnsSubscription(Base):
    """One endpoint subscribed to a topic, pending confirmation or confirmed.

    Only the SHA-256 digest of the confirmation token is stored; the token
    itself travels in the confirmation message.
    """

    __tablename__ = "sns_subscriptions"
    __table_args__ = (
        Index("ix_sns_subscriptions_topic_endpoint", "topic_arn", "protocol", "endpoint"),
        Index("ix_sns_subscriptions_owner", "owner_account_id", "region"),
    )

    arn: Mapped[str] = mapped_column(String(400), primary_key=True)
    topic_arn: Mapped[str] = mapped_column(String(320))
    region: Mapped[str] = mapped_column(String(32))
    # The account that subscribed, which may differ from the topic's account.
    owner_account_id: Mapped[str] = mapped_column(String(12))
    protocol: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str] = mapped_column(String(2048))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime | None]
    confirmation_was_authenticated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by ConfirmSubscription with AuthenticateOnUnsubscribe=true: unsigned
    # unsubscribe links stop working.
    authenticate_on_unsubscribe: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when an HTTP subscription is unsubscribed: the row stays, hidden, so
    # that the SubscribeURL of the UnsubscribeConfirmation message can restore it.
    unsubscribed_at: Mapped[datetime | None]
    raw_message_delivery: Mapped[bool] = mapped_column(Boolean, default=False)
    filter_policy: Mapped[str | None] = mapped_column(Text)
    filter_policy_scope: Mapped[str | None] = mapped_column(String(32))
    delivery_policy: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class SnsDelivery(Base):
    """One message for one subscription, with its delivery state.

    ``status`` is pending until the endpoint accepts the message (delivered),
    the retry policy is used up (failed), or the subscription disappears
    (dropped). ``fields`` contains the message fields that are signed. A
    retry sends the same fields, so the same MessageId and Timestamp.
    """

    __tablename__ = "sns_deliveries"
    __table_args__ = (Index("ix_sns_deliveries_message_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36))
    # Notification, SubscriptionConfirmation or UnsubscribeConfirmation.
    message_type: Mapped[str] = mapped_column(String(32))
    topic_arn: Mapped[str] = mapped_column(String(320))
    account_id: Mapped[str] = mapped_column(String(12))  # the topic's account
    subscription_arn: Mapped[str] = mapped_column(String(400))
    protocol: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str] = mapped_column(String(2048))
    fields: Mapped[dict[str, Any]]
    # The confirmation token, encrypted, for confirmation messages.
    encrypted_token: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class SnsSigningKey(Base):
    """An RSA key pair and its self-signed certificate, which sign outgoing messages.

    The private key is stored encrypted with the server's secret key.
    """

    __tablename__ = "sns_signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    encrypted_private_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
