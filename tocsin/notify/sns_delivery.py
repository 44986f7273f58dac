"""The delivery job: send one SNS message to one endpoint, and schedule its retries.

Each attempt is a job. A failed attempt records its error on the delivery
row and enqueues the next attempt at the time that the retry policy gives:
the topic's or subscription's delivery policy for HTTP and HTTPS, and
``EMAIL_RETRY_POLICY`` for email. When the policy has no retry left, the
delivery is marked failed and the give-up is logged. Every attempt sends the
same MessageId, Timestamp and Signature.

The job is a ``SendingHandler``: it builds and signs the message in a
read-only transaction, sends it with no transaction open, and records the
result in the job's write transaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.config import Settings
from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.engine.queue import enqueue
from tocsin.iam.crypto import SecretBox
from tocsin.incidents import records, timeline
from tocsin.notify import delivery_policy, endpoints, signing
from tocsin.notify.base import (
    ATTEMPT_FAILED_EVENT,
    NOTIFICATION_FAILED_EVENT,
    DeliveryFailed,
    OutgoingMessage,
    tls_context,
)
from tocsin.notify.providers import (
    CA_FILE_SETTING,
    SentMessage,
    expected_send_seconds,
    send_detached,
)
from tocsin.notify.publishing import (
    DELIVERED,
    DELIVERY_JOB,
    DROPPED,
    FAILED,
    PENDING,
    schedule_attempt,
)
from tocsin.notify.sns_models import SnsDelivery, SnsSigningKey, SnsSubscription, SnsTopic
from tocsin.notify.subscriptions import HTTP_PROTOCOLS, token_digest, unsubscribe_token

logger = logging.getLogger(__name__)

# Payload members of a delivery job that every later attempt of the delivery carries.
CONTEXT_KEYS = ("incidentRecordArn",)

# SNS stops waiting for an HTTP endpoint after 15 seconds.
HTTP_TIMEOUT_SECONDS = 15.0
# Email has no delivery policy in SNS; Tocsin retries it ten times, from 20 s up to 10 minutes.
EMAIL_RETRY_POLICY = delivery_policy.RetryPolicy(
    min_delay=20, max_delay=600, retries=10, backoff="exponential"
)
# The order of fields in the JSON messages that SNS sends.
FIELD_ORDER = (
    "Type",
    "MessageId",
    "Token",
    "TopicArn",
    "Subject",
    "Message",
    "SubscribeURL",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "UnsubscribeURL",
    "MessageAttributes",
)
MAX_QUOTED_RESPONSE = 200
DEFAULT_EMAIL_SUBJECT = "AWS Notification Message"
CONFIRMATION_SUBJECT = "AWS Notification - Subscription Confirmation"


def base_url(settings: Settings) -> str:
    return settings.effective_public_url


def subscribe_url(settings: Settings, topic_arn: str, token: str) -> str:
    return (
        f"{base_url(settings)}/sns/confirm?Action=ConfirmSubscription"
        f"&TopicArn={quote(topic_arn, safe='')}&Token={token}"
    )


def unsubscribe_url(settings: Settings, box: SecretBox, subscription_arn: str) -> str:
    return (
        f"{base_url(settings)}/sns/unsubscribe?Action=Unsubscribe"
        f"&SubscriptionArn={quote(subscription_arn, safe='')}"
        f"&Token={unsubscribe_token(box, subscription_arn)}"
    )


def certificate_url(settings: Settings, key_id: str) -> str:
    return f"{base_url(settings)}/sns/{signing.certificate_file_name(key_id)}"


@dataclass
class Sender:
    """Builds, signs and sends delivery messages with the server's settings."""

    settings: Settings
    box: SecretBox
    client: httpx.Client

    def signed_message(
        self, session: Session, job: JobContext, delivery: SnsDelivery, version: str
    ) -> dict[str, Any]:
        fields = dict(delivery.fields)
        if delivery.encrypted_token is not None:
            token = self.box.decrypt(delivery.encrypted_token)
            fields["Token"] = token
            fields["SubscribeURL"] = subscribe_url(self.settings, delivery.topic_arn, token)
        key = signing.current_key(session, job.clock, self.box)
        fields["SignatureVersion"] = version
        fields["Signature"] = signing.sign(key, fields, version)
        fields["SigningCertURL"] = certificate_url(self.settings, key.key_id)
        if delivery.message_type == "Notification":
            fields["UnsubscribeURL"] = unsubscribe_url(
                self.settings, self.box, delivery.subscription_arn
            )
        return {name: fields[name] for name in FIELD_ORDER if name in fields}

    def post(self, delivery: SnsDelivery, message: dict[str, Any], content_type: str) -> None:
        if delivery.raw:
            body = str(message["Message"])
        else:
            body = json.dumps(message, indent=2, ensure_ascii=False)
        headers = {
            "Content-Type": content_type,
            "x-amz-sns-message-type": delivery.message_type,
            "x-amz-sns-message-id": delivery.message_id,
            "x-amz-sns-topic-arn": delivery.topic_arn,
        }
        if delivery.message_type != "SubscriptionConfirmation":
            headers["x-amz-sns-subscription-arn"] = delivery.subscription_arn
        if delivery.raw:
            headers["x-amz-sns-rawdelivery"] = "true"
        parts = urlsplit(delivery.endpoint)
        default_port = 443 if parts.scheme == "https" else 80
        try:
            endpoints.check_resolved(parts.hostname or "", parts.port or default_port)
        except endpoints.BlockedEndpoint as error:
            raise DeliveryFailed(str(error), permanent=True) from error
        try:
            response = self.client.post(delivery.endpoint, content=body.encode(), headers=headers)
        except httpx.TimeoutException as error:
            raise DeliveryFailed(
                f"endpoint timed out after {HTTP_TIMEOUT_SECONDS:g} seconds"
            ) from error
        except httpx.TransportError as error:
            raise DeliveryFailed(
                f"cannot reach endpoint: {str(error) or type(error).__name__}"
            ) from error
        if not 200 <= response.status_code < 300:
            quoted = response.text[:MAX_QUOTED_RESPONSE].strip()
            raise DeliveryFailed(
                f"endpoint returned HTTP {response.status_code}" + (f": {quoted}" if quoted else "")
            )

    def email_message(
        self, delivery: SnsDelivery, message: dict[str, Any], topic: SnsTopic
    ) -> OutgoingMessage:
        if delivery.protocol == "email-json":
            body = json.dumps(message, indent=2, ensure_ascii=False) + "\n"
        elif delivery.message_type == "Notification":
            body = (
                f"{message['Message']}\n\n--\nIf you wish to stop receiving notifications from "
                "this topic, please click or visit the link below to unsubscribe:\n"
                f"{message['UnsubscribeURL']}\n"
            )
        else:
            body = (
                f"You have chosen to subscribe to the topic:\n{delivery.topic_arn}\n\n"
                "To confirm this subscription, click or visit the link below (if this was in "
                f"error no action is necessary):\n{message['SubscribeURL']}\n"
            )
        if delivery.message_type == "Notification":
            subject = str(message.get("Subject") or topic.display_name or DEFAULT_EMAIL_SUBJECT)
        else:
            subject = CONFIRMATION_SUBJECT
        return OutgoingMessage(
            channel_type="EMAIL",
            address=delivery.endpoint,
            subject=subject,
            body=body,
            key=f"sns-delivery-{delivery.id}",
            account_id=delivery.account_id,
            channel_arn=delivery.subscription_arn,
        )


def _retry_policy(
    delivery: SnsDelivery, topic: SnsTopic, subscription: SnsSubscription | None
) -> delivery_policy.EndpointPolicy:
    if delivery.protocol not in HTTP_PROTOCOLS:
        return delivery_policy.EndpointPolicy(retry=EMAIL_RETRY_POLICY)
    return delivery_policy.effective_policy(
        topic.delivery_policy, subscription.delivery_policy if subscription else None
    )


def _should_deliver(
    box: SecretBox, delivery: SnsDelivery, subscription: SnsSubscription | None
) -> bool:
    """Return whether the message still has a purpose when its attempt is due.

    A notification needs a live confirmed subscription. A confirmation message
    is dropped once a newer token has replaced the one it carries.
    """
    if subscription is None:
        return False
    if delivery.message_type == "Notification":
        return subscription.confirmed and subscription.unsubscribed_at is None
    if delivery.encrypted_token is None:
        return True
    return token_digest(box.decrypt(delivery.encrypted_token)) == subscription.token_digest


def register(jobs: JobRegistry, settings: Settings, box: SecretBox) -> None:
    """Register the SNS delivery job handler on ``jobs``."""
    client = httpx.Client(
        timeout=min(HTTP_TIMEOUT_SECONDS, settings.delivery_timeout_seconds),
        verify=tls_context(settings.delivery_ca_file, CA_FILE_SETTING),
        follow_redirects=False,
        headers={"User-Agent": f"tocsin/{__version__} (Amazon Simple Notification Service Agent)"},
    )
    jobs.register_sending(DELIVERY_JOB, DeliveryHandler(Sender(settings, box, client)))


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt of a delivery, built in the prepare step of the delivery job."""

    # Detached copy of the delivery row as the prepare step read it.
    delivery: SnsDelivery
    attempt: int
    policy: delivery_policy.EndpointPolicy
    # The signed message, sent as JSON to HTTP and HTTPS endpoints.
    message: dict[str, Any]
    # The email built from ``message`` for email and email-json endpoints.
    email: OutgoingMessage | None
    now: datetime


DeliveryOutcome = SentMessage | DeliveryFailed | None


@dataclass(frozen=True)
class DeliveryHandler:
    """The delivery job: sign in a read-only transaction, send, then record the result."""

    sender: Sender

    def exclusive_key(self, intent: object) -> None:
        return None

    @property
    def send_timeout_seconds(self) -> float:
        return expected_send_seconds(self.sender.settings)

    def prepare(self, job: JobContext) -> DeliveryAttempt | None:
        """Return the attempt to send, or None when there is nothing to send now.

        None covers a delivery that is finished or should be dropped, and a
        server with no signing key yet; ``record`` handles each of them.
        """
        session = job.session
        attempt = int(job.payload["attempt"])
        delivery = session.get(SnsDelivery, job.payload["delivery_id"])
        if delivery is None or delivery.status != PENDING or delivery.attempts >= attempt:
            return None
        topic = session.get(SnsTopic, delivery.topic_arn)
        subscription = session.get(SnsSubscription, delivery.subscription_arn)
        if topic is None or not _should_deliver(self.sender.box, delivery, subscription):
            return None
        if session.scalar(select(SnsSigningKey.key_id).limit(1)) is None:
            # Making the key is a write, which the record step does.
            return None
        message = self.sender.signed_message(session, job, delivery, topic.signature_version)
        email = None
        if delivery.protocol not in HTTP_PROTOCOLS:
            email = self.sender.email_message(delivery, message, topic)
        return DeliveryAttempt(
            delivery=delivery,
            attempt=attempt,
            policy=_retry_policy(delivery, topic, subscription),
            message=message,
            email=email,
            now=job.clock.now(),
        )

    def send(self, intent: DeliveryAttempt) -> DeliveryOutcome:
        try:
            if intent.email is not None:
                return send_detached(self.sender.settings, intent.email, intent.now)
            self.sender.post(intent.delivery, intent.message, intent.policy.content_type)
        except DeliveryFailed as error:
            return error
        return None

    def record(
        self, job: JobContext, intent: DeliveryAttempt | None, outcome: DeliveryOutcome
    ) -> None:
        session = job.session
        attempt = int(job.payload["attempt"])
        delivery = session.get(SnsDelivery, job.payload["delivery_id"])
        if delivery is None or delivery.status != PENDING or delivery.attempts >= attempt:
            if intent is not None:
                logger.info(
                    "attempt %d of %s to %s was recorded by another job, so this one records "
                    "nothing",
                    attempt,
                    intent.delivery.message_id,
                    intent.delivery.subscription_arn,
                )
            return
        if intent is None:
            self._record_unsent(job, delivery, attempt)
            return

        delivery.attempts = attempt
        if isinstance(outcome, DeliveryFailed):
            _record_failure(job, delivery, intent.policy, attempt, outcome)
            return
        if isinstance(outcome, SentMessage):
            outcome.write_outbox(session, job.clock.now())
        delivery.status = DELIVERED
        delivery.finished_at = job.clock.now()
        delivery.last_error = None
        logger.info(
            "delivered %s %s to %s on attempt %d",
            delivery.message_type,
            delivery.message_id,
            delivery.subscription_arn,
            attempt,
        )

    def _record_unsent(self, job: JobContext, delivery: SnsDelivery, attempt: int) -> None:
        """Drop a delivery that has lost its purpose, or run the attempt again in a new job.

        The prepare step sent nothing either because the delivery should be
        dropped or because no signing key existed. The state may have changed
        since, so the decision is made again here. A new job runs the attempt
        once the key exists.
        """
        session = job.session
        topic = session.get(SnsTopic, delivery.topic_arn)
        subscription = session.get(SnsSubscription, delivery.subscription_arn)
        if topic is None or not _should_deliver(self.sender.box, delivery, subscription):
            delivery.status = DROPPED
            delivery.finished_at = job.clock.now()
            logger.info(
                "dropped %s %s for %s: the topic or subscription is gone, or a newer "
                "confirmation replaced it",
                delivery.message_type,
                delivery.message_id,
                delivery.subscription_arn,
            )
            return
        signing.current_key(session, job.clock, self.sender.box)
        enqueue(
            session,
            job.clock,
            DELIVERY_JOB,
            {**delivery_context(job.payload), "delivery_id": delivery.id, "attempt": attempt},
            key=f"sns-delivery:{delivery.id}:{attempt}:after-job-{job.job_id}",
            account_id=delivery.account_id,
        )
        logger.info(
            "job %s made ready to send %s %s to %s and enqueued attempt %d again",
            job.job_id,
            delivery.message_type,
            delivery.message_id,
            delivery.subscription_arn,
            attempt,
        )


def _record_failure(
    job: JobContext,
    delivery: SnsDelivery,
    policy: delivery_policy.EndpointPolicy,
    attempt: int,
    error: DeliveryFailed,
) -> None:
    now = job.clock.now()
    delivery.last_error = str(error)
    delay = None if error.permanent else policy.retry.delay_before_retry(attempt)
    if delay is None:
        delivery.status = FAILED
        delivery.finished_at = now
        _record_on_incident(job, delivery, attempt, error, NOTIFICATION_FAILED_EVENT)
        logger.error(
            "gave up delivering %s %s to %s (%s endpoint) after %d attempts: %s",
            delivery.message_type,
            delivery.message_id,
            delivery.subscription_arn,
            delivery.protocol,
            attempt,
            error,
        )
        return
    logger.warning(
        "attempt %d to deliver %s to %s failed, retrying in %.0f s: %s",
        attempt,
        delivery.message_id,
        delivery.subscription_arn,
        delay,
        error,
    )
    _record_on_incident(job, delivery, attempt, error, ATTEMPT_FAILED_EVENT)
    schedule_attempt(
        job.session,
        job.clock,
        delivery,
        attempt=attempt + 1,
        due_at=now + timedelta(seconds=delay),
        context=delivery_context(job.payload),
    )


def delivery_context(payload: dict[str, Any]) -> dict[str, str]:
    """Return the context of a delivery job's payload that its next attempt carries on."""
    return {name: payload[name] for name in CONTEXT_KEYS if name in payload}


def _record_on_incident(
    job: JobContext,
    delivery: SnsDelivery,
    attempt: int,
    error: DeliveryFailed,
    event_type: str,
) -> None:
    """Write a failed attempt or a given-up delivery of an incident notification to its timeline."""
    incident_arn = job.payload.get("incidentRecordArn")
    if incident_arn is None:
        return
    incident = records.find_by_arn(job.session, incident_arn)
    if incident is None:
        return
    data = {
        "channel": "snsSubscription",
        "target": delivery.topic_arn,
        "subscriptionArn": delivery.subscription_arn,
        "protocol": delivery.protocol,
        "messageId": delivery.message_id,
        "attempt": attempt,
        "error": str(error),
    }
    references = [{"resource": delivery.topic_arn}]
    timeline.add(job.session, job.clock, incident, event_type, data, references=references)
