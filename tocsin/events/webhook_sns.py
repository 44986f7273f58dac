"""The ``sns`` webhook format: messages that an SNS HTTP or HTTPS subscription posts.

SNS posts each message as a JSON document with ``Content-Type: text/plain``,
so the body is parsed as JSON whatever its content type. The ``Type`` member
decides what happens:

- ``SubscriptionConfirmation`` is handled first. When its SubscribeURL is
  this server's own confirmation link, the subscription is confirmed in the
  same transaction through ``subscriptions.confirm_subscription``, the
  function behind ConfirmSubscription. Any other SubscribeURL is never
  fetched: it is logged as a warning for the operator to visit, and the post
  succeeds without events.
- ``Notification`` becomes one event on the bus. A Message that is a
  CloudWatch alarm notification (a JSON object with AlarmName and
  NewStateValue) becomes a ``CloudWatch Alarm State Change`` event whose
  detail has the shape of the EventBridge alarm event, so one ``detail``
  pattern matches both. Any other Message becomes an ``SNS Notification``
  event that carries Subject and Message. The source is ``tocsin.sns`` in
  both cases.
- ``UnsubscribeConfirmation`` is verified and logged, and makes no event.

Every message that makes an event or confirms a subscription must carry a
valid signature. A SigningCertURL under this server's public URL is read
from the database, never fetched. Any other certificate URL is rejected
unless it is HTTPS and its host is listed in
TOCSIN_SNS_TRUSTED_CERTIFICATE_HOSTS, because fetching a URL that an
inbound request names would let any sender make the server request
arbitrary addresses.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.events.webhook_formats import (
    MAX_EVENT_BYTES,
    AlertEvent,
    WebhookPayloadError,
    parse_body,
)
from tocsin.notify import endpoints, signing, subscriptions
from tocsin.notify.base import tls_context
from tocsin.notify.providers import CA_FILE_SETTING
from tocsin.protocol.errors import ServiceError

if TYPE_CHECKING:
    from tocsin.config import Settings

logger = logging.getLogger(__name__)

SNS = "sns"
SNS_SOURCE = "tocsin.sns"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
NOTIFICATION_DETAIL_TYPE = "SNS Notification"

SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
NOTIFICATION = "Notification"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
MESSAGE_TYPES = (SUBSCRIPTION_CONFIRMATION, NOTIFICATION, UNSUBSCRIBE_CONFIRMATION)
# Members that every message of a type must carry as strings.
_COMMON_MEMBERS = (
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
)
_CONFIRMATION_MEMBERS = ("Token", "SubscribeURL")
LAMBDA_SPELLINGS = {"SigningCertUrl": "SigningCertURL", "UnsubscribeUrl": "UnsubscribeURL"}
SIGNATURE_VERSIONS = {"1": hashes.SHA1, "2": hashes.SHA256}
ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
_KEY_ID = re.compile(r"^[0-9a-f]{32}$")
_REGION_OF_ARN = re.compile(r"^arn:aws[\w-]*:[a-z0-9-]+:([a-z0-9-]+):")

# A certificate file is a few kilobytes, so a larger response is not one.
MAX_CERTIFICATE_BYTES = 16 * 1024
# Certificates fetched from trusted hosts, kept per process by URL.
MAX_CACHED_CERTIFICATES = 32
_certificate_cache: dict[str, x509.Certificate] = {}
_cache_lock = threading.Lock()


class SnsSignatureError(Exception):
    """A message whose signature is invalid or cannot be verified, so the post gets 403."""


class UntrustedCertificate(SnsSignatureError):
    """A SigningCertURL that is neither this server's nor on a trusted host."""


@dataclass(frozen=True)
class SnsTrust:
    """The certificates that sns webhooks accept, and the settings for fetching one."""

    own_base_url: str
    trusted_hosts: tuple[str, ...] = ()
    ca_file: Path | None = None
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SnsTrust:
        hosts = (settings.sns_trusted_certificate_hosts or "").split(",")
        return cls(
            own_base_url=settings.effective_public_url,
            trusted_hosts=tuple(host.strip().lower() for host in hosts if host.strip()),
            ca_file=settings.delivery_ca_file,
            timeout_seconds=settings.delivery_timeout_seconds,
        )


def read_message(payload: Any) -> dict[str, Any]:
    """Check that ``payload`` is an SNS message and return it, or raise WebhookPayloadError."""
    if not isinstance(payload, dict):
        raise WebhookPayloadError("The body must be an SNS message, a JSON object.")
    message: dict[str, Any] = dict(payload)
    # The SNS records that Lambda receives spell these members with "Url".
    for lambda_name, http_name in LAMBDA_SPELLINGS.items():
        if http_name not in message and lambda_name in message:
            message[http_name] = message.pop(lambda_name)

    message_type = message.get("Type")
    if message_type not in MESSAGE_TYPES:
        allowed = ", ".join(MESSAGE_TYPES)
        raise WebhookPayloadError(f"Type must be one of {allowed}, got {_shown(message_type)}.")

    required: tuple[str, ...] = _COMMON_MEMBERS
    if message_type != NOTIFICATION:
        required = _COMMON_MEMBERS + _CONFIRMATION_MEMBERS
    for name in required:
        value = message.get(name)
        if not isinstance(value, str) or not value:
            raise WebhookPayloadError(
                f"{name} must be a non-empty string in a {message_type} message, "
                f"got {_shown(value)}."
            )

    subject = message.get("Subject")
    if subject is not None and not isinstance(subject, str):
        raise WebhookPayloadError(f"Subject must be a string, got {_shown(subject)}.")
    if message["SignatureVersion"] not in SIGNATURE_VERSIONS:
        raise WebhookPayloadError(
            f"SignatureVersion must be '1' or '2', got {_shown(message['SignatureVersion'])}."
        )
    return message


def _shown(value: Any) -> str:
    """Return ``repr(value)`` cut to 60 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def events_of_message(
    session: Session, clock: Clock, trust: SnsTrust, webhook_id: str, payload: Any
) -> list[AlertEvent]:
    """Handle one posted SNS message and return the events it stands for, often none.

    Raises WebhookPayloadError for a body that is not an SNS message or a
    confirmation link that fails, and SnsSignatureError for a message whose
    signature cannot be verified.
    """
    message = read_message(payload)
    message_type = message["Type"]
    if message_type == SUBSCRIPTION_CONFIRMATION:
        _handle_confirmation(session, clock, trust, webhook_id, message)
        return []

    verify_signature(session, clock, trust, message)
    if message_type == UNSUBSCRIBE_CONFIRMATION:
        logger.info(
            "webhook %s received an UnsubscribeConfirmation for topic %s; no event is made",
            webhook_id,
            message["TopicArn"],
        )
        return []
    event = convert_notification(message)
    size = event.size()
    if size > MAX_EVENT_BYTES:
        raise WebhookPayloadError(
            f"The event is {size} bytes, more than the EventBridge limit of "
            f"{MAX_EVENT_BYTES} bytes (256 KiB) per event."
        )
    return [event]


def _handle_confirmation(
    session: Session, clock: Clock, trust: SnsTrust, webhook_id: str, message: dict[str, Any]
) -> None:
    own_link = own_confirmation(trust, message["SubscribeURL"])
    if own_link is not None:
        verify_signature(session, clock, trust, message)
        topic_arn, token = own_link
        try:
            confirmed = subscriptions.confirm_subscription(
                session, clock, topic_arn, token, authenticated=False
            )
        except ServiceError as exc:
            raise WebhookPayloadError(
                f"The subscription to topic {topic_arn} could not be confirmed: {exc.message}"
            ) from exc
        logger.info(
            "webhook %s confirmed subscription %s to topic %s",
            webhook_id,
            confirmed.arn,
            topic_arn,
        )
        return

    try:
        verify_signature(session, clock, trust, message)
        verified = "verified"
    except UntrustedCertificate:
        # Nothing is fetched or created, so an unverified confirmation is
        # still shown to the operator, marked as such.
        verified = "not verified, because its certificate host is not trusted"
    logger.warning(
        "webhook %s received a SubscriptionConfirmation for topic %s (signature %s). "
        "Tocsin does not fetch other servers' links: to confirm the subscription, "
        "visit its SubscribeURL %s",
        webhook_id,
        message["TopicArn"],
        verified,
        message["SubscribeURL"],
    )


def own_confirmation(trust: SnsTrust, subscribe_url: str) -> tuple[str, str] | None:
    """Return (TopicArn, Token) of a SubscribeURL that is this server's own link, else None."""
    prefix = f"{trust.own_base_url}/sns/confirm?"
    if not trust.own_base_url or not subscribe_url.startswith(prefix):
        return None
    query = parse_qs(subscribe_url[len(prefix) :], keep_blank_values=True)
    action = query.get("Action", ["ConfirmSubscription"])
    topic_arns = query.get("TopicArn", [])
    tokens = query.get("Token", [])
    if action != ["ConfirmSubscription"] or len(topic_arns) != 1 or len(tokens) != 1:
        raise WebhookPayloadError(
            f"SubscribeURL {subscribe_url!r} is a link of this server but not a "
            "ConfirmSubscription link with one TopicArn and one Token."
        )
    return topic_arns[0], tokens[0]


def verify_signature(
    session: Session, clock: Clock, trust: SnsTrust, message: dict[str, Any]
) -> None:
    """Verify the message's Signature, or raise SnsSignatureError."""
    url = message["SigningCertURL"]
    certificate = _own_certificate(session, trust, url)
    if certificate is None:
        certificate = _trusted_certificate(trust, url)
    now = clock.now()
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SnsSignatureError(f"The certificate at SigningCertURL {url} is not valid now.")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SnsSignatureError(f"The certificate at SigningCertURL {url} has no RSA key.")
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SnsSignatureError("Signature is not valid base64.") from exc
    algorithm = SIGNATURE_VERSIONS[message["SignatureVersion"]]()
    try:
        public_key.verify(signature, signing.string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        raise SnsSignatureError(
            f"The signature of {message['Type']} message {message['MessageId']} does not "
            f"match the certificate at SigningCertURL {url}."
        ) from exc


def _own_certificate(session: Session, trust: SnsTrust, url: str) -> x509.Certificate | None:
    """Return this server's certificate that ``url`` names, or None for another server's URL."""
    prefix = f"{trust.own_base_url}/sns/SimpleNotificationService-"
    if not trust.own_base_url or not (url.startswith(prefix) and url.endswith(".pem")):
        return None
    key_id = url[len(prefix) : -len(".pem")]
    pem = signing.certificate_pem(session, key_id) if _KEY_ID.match(key_id) else None
    if pem is None:
        raise SnsSignatureError(f"SigningCertURL {url} names no certificate of this server.")
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def _trusted_certificate(trust: SnsTrust, url: str) -> x509.Certificate:
    """Fetch the certificate at ``url`` if its host is trusted, else raise UntrustedCertificate."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or host not in trust.trusted_hosts:
        raise UntrustedCertificate(
            f"SigningCertURL {url!r} is not a certificate of this server, and only HTTPS "
            "URLs on the hosts in TOCSIN_SNS_TRUSTED_CERTIFICATE_HOSTS are fetched "
            f"(now: {', '.join(trust.trusted_hosts) or 'none'})."
        )
    if not parts.path.endswith(".pem") or parts.query or parts.fragment:
        raise UntrustedCertificate(
            f"SigningCertURL {url!r} must name a .pem file, without a query or fragment."
        )
    with _cache_lock:
        cached = _certificate_cache.get(url)
    if cached is not None:
        return cached
    certificate = _fetch_certificate(trust, url, host, parts.port or 443)
    with _cache_lock:
        if len(_certificate_cache) >= MAX_CACHED_CERTIFICATES:
            _certificate_cache.pop(next(iter(_certificate_cache)))
        _certificate_cache[url] = certificate
    return certificate


def _fetch_certificate(trust: SnsTrust, url: str, host: str, port: int) -> x509.Certificate:
    try:
        endpoints.check_resolved(host, port)
    except endpoints.BlockedEndpoint as exc:
        raise UntrustedCertificate(f"SigningCertURL {url!r} is not fetched: {exc}.") from exc
    context = tls_context(trust.ca_file, CA_FILE_SETTING)
    try:
        with (
            httpx.Client(verify=context, timeout=trust.timeout_seconds) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise SnsSignatureError(
                    f"SigningCertURL {url} returned HTTP {response.status_code}."
                )
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_CERTIFICATE_BYTES:
                    raise SnsSignatureError(
                        f"SigningCertURL {url} returned more than {MAX_CERTIFICATE_BYTES} bytes."
                    )
    except httpx.HTTPError as exc:
        logger.warning("could not fetch SNS signing certificate %s: %s", url, exc)
        raise SnsSignatureError(f"SigningCertURL {url} could not be fetched: {exc}.") from exc
    try:
        return x509.load_pem_x509_certificate(body)
    except ValueError as exc:
        raise SnsSignatureError(f"SigningCertURL {url} did not return a PEM certificate.") from exc


def convert_notification(message: dict[str, Any]) -> AlertEvent:
    """Convert a Notification to an alarm event when its Message is an alarm, else a generic one."""
    alarm = _alarm_of(message["Message"])
    if alarm is not None:
        return _alarm_event(message, alarm)
    subject = message.get("Subject")
    topic_name = message["TopicArn"].rsplit(":", 1)[-1]
    detail: dict[str, Any] = {
        "title": subject or topic_name,
        "subject": subject,
        "message": message["Message"],
        "topicArn": message["TopicArn"],
        "messageId": message["MessageId"],
        "timestamp": message["Timestamp"],
    }
    if isinstance(message.get("MessageAttributes"), dict):
        detail["messageAttributes"] = message["MessageAttributes"]
    return AlertEvent(SNS_SOURCE, NOTIFICATION_DETAIL_TYPE, detail, [])


def _alarm_of(text: str) -> dict[str, Any] | None:
    """Return the CloudWatch alarm notification in ``text``, or None for any other message."""
    try:
        document = parse_body(text.encode("utf-8"))
    except WebhookPayloadError:
        return None
    if not isinstance(document, dict) or "AlarmName" not in document:
        return None
    for name in ("AlarmName", "NewStateValue"):
        if not isinstance(document.get(name), str) or not document[name]:
            raise WebhookPayloadError(
                f"Message.{name} must be a non-empty string in a CloudWatch alarm "
                f"notification, got {_shown(document.get(name))}."
            )
    for name in ("NewStateValue", "OldStateValue"):
        state = document.get(name)
        if name in document and state not in ALARM_STATES:
            raise WebhookPayloadError(
                f"Message.{name} must be one of {', '.join(ALARM_STATES)}, got {_shown(state)}."
            )
    return document


def _alarm_event(message: dict[str, Any], alarm: dict[str, Any]) -> AlertEvent:
    """Build an event shaped like EventBridge's alarm state change event from an SNS alarm."""
    alarm_arn = alarm.get("AlarmArn")
    region = _region_of(alarm_arn) or _region_of(message["TopicArn"])
    state = _present(
        value=alarm["NewStateValue"],
        reason=alarm.get("NewStateReason"),
        timestamp=alarm.get("StateChangeTime"),
    )
    detail = _present(
        alarmName=alarm["AlarmName"],
        title=alarm["AlarmName"],
        summary=alarm.get("NewStateReason"),
        state=state,
        previousState=_present(value=alarm.get("OldStateValue")) or None,
        configuration=_present(
            description=alarm.get("AlarmDescription"), trigger=alarm.get("Trigger")
        )
        or None,
        awsAccountId=alarm.get("AWSAccountId"),
        region=region,
        regionName=alarm.get("Region"),
        subject=message.get("Subject"),
        topicArn=message["TopicArn"],
        messageId=message["MessageId"],
        timestamp=message["Timestamp"],
    )
    resources = [alarm_arn] if isinstance(alarm_arn, str) and alarm_arn.startswith("arn:") else []
    return AlertEvent(SNS_SOURCE, ALARM_DETAIL_TYPE, detail, resources)


def _present(**members: Any) -> dict[str, Any]:
    return {name: value for name, value in members.items() if value is not None}


def _region_of(arn: Any) -> str | None:
    match = _REGION_OF_ARN.match(arn) if isinstance(arn, str) else None
    return match.group(1) if match and match.group(1) else None


def clear_certificate_cache() -> None:
    """Forget the certificates fetched from trusted hosts, so the next message fetches again."""
    with _cache_lock:
        _certificate_cache.clear()
