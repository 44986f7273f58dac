"""SNS delivery through a real server: confirmation, signatures, filters, retries and email."""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from botocore.exceptions import ClientError

from tests.conftest import BACKENDS, fresh_database_url
from tests.notify.conftest import HttpReceiver, Reply, wait_until
from tests.notify.sns_support import next_delivery_due, verify_signature, wait_idle
from tocsin.notify.publishing import deliveries_of, failed_deliveries, publish
from tocsin.testing import RunningServer, free_port


def _subscribe_confirmed(
    server: RunningServer, sns: Any, topic_arn: str, receiver: HttpReceiver, **extra: Any
) -> str:
    """Subscribe the receiver, confirm through the SubscribeURL and return the ARN."""
    before = len(receiver.requests)
    sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=_url(receiver), **extra)
    confirmation = receiver.wait_for(before + 1)[before].json()
    assert confirmation["Type"] == "SubscriptionConfirmation"
    response = httpx.get(confirmation["SubscribeURL"])
    assert response.status_code == 200
    match = re.search(r"<SubscriptionArn>(.*)</SubscriptionArn>", response.text)
    assert match is not None
    return match.group(1)


def _url(receiver: HttpReceiver) -> str:
    return f"http://127.0.0.1:{receiver.port}/hook"


@pytest.fixture
def sns(server: RunningServer) -> Any:
    keys = server.create_account()
    return server.client("sns", keys)


def test_http_subscription_confirmed_through_subscribe_url(
    server: RunningServer, sns: Any, receiver: HttpReceiver
) -> None:
    topic_arn = sns.create_topic(Name="alerts")["TopicArn"]
    pending = sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=_url(receiver))
    assert pending["SubscriptionArn"] == "pending confirmation"

    request = receiver.wait_for(1)[0]
    message = request.json()
    assert request.headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert request.headers["x-amz-sns-topic-arn"] == topic_arn
    assert request.headers["x-amz-sns-message-id"] == message["MessageId"]
    assert request.headers["content-type"] == "text/plain; charset=UTF-8"
    assert message["TopicArn"] == topic_arn
    assert message["SignatureVersion"] == "2"
    assert message["Token"]
    assert message["SubscribeURL"].startswith(server.url + "/sns/confirm?")
    assert verify_signature(message, server.url)

    listed = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [item["SubscriptionArn"] for item in listed] == ["PendingConfirmation"]

    # A HEAD request, as link checkers send, confirms nothing.
    assert httpx.head(message["SubscribeURL"]).status_code == 200
    listed = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [item["SubscriptionArn"] for item in listed] == ["PendingConfirmation"]

    response = httpx.get(message["SubscribeURL"])
    assert response.status_code == 200
    assert "<ConfirmSubscriptionResponse" in response.text
    listed = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    subscription_arn = listed[0]["SubscriptionArn"]
    assert subscription_arn.startswith(topic_arn + ":")
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["ConfirmationWasAuthenticated"] == "false"

    # A second confirmation with the same token returns the same subscription.
    again = sns.confirm_subscription(TopicArn=topic_arn, Token=message["Token"])
    assert again["SubscriptionArn"] == subscription_arn


def test_notification_signature_verifies(
    server: RunningServer, sns: Any, receiver: HttpReceiver
) -> None:
    topic_arn = sns.create_topic(Name="signed")["TopicArn"]
    subscription_arn = _subscribe_confirmed(server, sns, topic_arn, receiver)

    published = sns.publish(
        TopicArn=topic_arn,
        Message="disk full on db-1",
        Subject="Disk alarm",
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "high"}},
    )
    request = receiver.wait_for(2)[1]
    message = request.json()
    assert message["Type"] == "Notification"
    assert message["MessageId"] == published["MessageId"]
    assert message["Message"] == "disk full on db-1"
    assert message["Subject"] == "Disk alarm"
    assert message["MessageAttributes"] == {"severity": {"Type": "String", "Value": "high"}}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", message["Timestamp"])
    assert request.headers["x-amz-sns-subscription-arn"] == subscription_arn
    assert request.headers["x-amz-sns-message-id"] == published["MessageId"]
    assert verify_signature(message, server.url)

    tampered = {**message, "Message": "disk fine on db-1"}
    assert not verify_signature(tampered, server.url)

    # Signature version 1 signs with SHA1withRSA.
    sns.set_topic_attributes(
        TopicArn=topic_arn, AttributeName="SignatureVersion", AttributeValue="1"
    )
    sns.publish(TopicArn=topic_arn, Message="second")
    second = receiver.wait_for(3)[2].json()
    assert second["SignatureVersion"] == "1"
    assert verify_signature(second, server.url)


def test_unknown_certificate_not_found(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/sns/SimpleNotificationService-0000.pem")
    assert response.status_code == 404


def test_raw_message_delivery(server: RunningServer, sns: Any, receiver: HttpReceiver) -> None:
    topic_arn = sns.create_topic(Name="raw")["TopicArn"]
    subscription_arn = _subscribe_confirmed(server, sns, topic_arn, receiver)
    sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn,
        AttributeName="RawMessageDelivery",
        AttributeValue="true",
    )
    sns.publish(TopicArn=topic_arn, Message="just the text")
    request = receiver.wait_for(2)[1]
    assert request.body == b"just the text"
    assert request.headers["x-amz-sns-rawdelivery"] == "true"


def test_filter_policy_drops_message(
    server: RunningServer, sns: Any, receiver: HttpReceiver
) -> None:
    topic_arn = sns.create_topic(Name="filtered")["TopicArn"]
    subscription_arn = _subscribe_confirmed(server, sns, topic_arn, receiver)
    sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"severity": ["high", {"prefix": "crit"}]}),
    )

    dropped = sns.publish(
        TopicArn=topic_arn,
        Message="low noise",
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "low"}},
    )
    kept = sns.publish(
        TopicArn=topic_arn,
        Message="critical",
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "critical"}},
    )
    requests = receiver.wait_for(2)
    assert requests[1].json()["MessageId"] == kept["MessageId"]
    with server.runtime.database.session() as session:
        assert deliveries_of(session, dropped["MessageId"]) == []

    sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn,
        AttributeName="FilterPolicyScope",
        AttributeValue="MessageBody",
    )
    sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"alarm": {"state": [{"anything-but": "OK"}]}}),
    )
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"alarm": {"state": "OK"}}))
    alarm = sns.publish(TopicArn=topic_arn, Message=json.dumps({"alarm": {"state": "ALARM"}}))
    requests = receiver.wait_for(3)
    assert requests[2].json()["MessageId"] == alarm["MessageId"]
    assert len(receiver.requests) == 3


def test_retries_after_ten_minute_outage(
    server: RunningServer, sns: Any, receiver: HttpReceiver
) -> None:
    policy = {
        "http": {
            "defaultHealthyRetryPolicy": {
                "numRetries": 20,
                "numNoDelayRetries": 1,
                "minDelayTarget": 30,
                "maxDelayTarget": 120,
                "backoffFunction": "linear",
            }
        }
    }
    topic_arn = sns.create_topic(Name="outage", Attributes={"DeliveryPolicy": json.dumps(policy)})[
        "TopicArn"
    ]
    _subscribe_confirmed(server, sns, topic_arn, receiver)

    receiver.reply = Reply(status=503, body=b"down")
    outage_ends = server.clock.now() + timedelta(minutes=10)
    message_id = sns.publish(TopicArn=topic_arn, Message="are you there?")["MessageId"]
    wait_idle(server)
    while server.clock.now() < outage_ends:
        due = next_delivery_due(server)
        assert due is not None, "the delivery gave up during the outage"
        server.clock.advance(max(due - server.clock.now(), timedelta(0)))
        wait_idle(server)
    failed_attempts = _delivery(server, message_id).attempts
    assert failed_attempts > 5
    assert len(receiver.requests) == 1 + failed_attempts

    receiver.reply = Reply(status=200)
    due = next_delivery_due(server)
    assert due is not None
    server.clock.advance(max(due - server.clock.now(), timedelta(0)))
    wait_idle(server)

    delivery = _delivery(server, message_id)
    assert delivery.status == "delivered"
    assert delivery.attempts == failed_attempts + 1
    notifications = [request.json() for request in receiver.requests[1:]]
    assert len(notifications) == failed_attempts + 1
    assert {item["MessageId"] for item in notifications} == {message_id}
    # Nothing more is scheduled, so exactly one attempt reached the endpoint while it was up.
    assert next_delivery_due(server) is None
    server.clock.advance(minutes=30)
    wait_idle(server)
    assert len(receiver.requests) == failed_attempts + 2
    with server.runtime.database.session() as session:
        assert failed_deliveries(session, message_id) == []


def _delivery(server: RunningServer, message_id: str) -> Any:
    with server.runtime.database.session() as session:
        deliveries = deliveries_of(session, message_id)
        assert len(deliveries) == 1
        session.expunge_all()
        return deliveries[0]


def _status(server: RunningServer, message_id: str) -> str:
    with server.runtime.database.session() as session:
        deliveries = deliveries_of(session, message_id)
        return deliveries[0].status if deliveries else "none"


def test_give_up_recorded_after_default_retries(
    server: RunningServer, sns: Any, receiver: HttpReceiver
) -> None:
    topic_arn = sns.create_topic(Name="gives-up")["TopicArn"]
    subscription_arn = _subscribe_confirmed(server, sns, topic_arn, receiver)
    receiver.reply = Reply(status=500)
    message_id = sns.publish(TopicArn=topic_arn, Message="lost")["MessageId"]

    # The default policy: the first attempt and 3 retries, 20 seconds apart.
    wait_idle(server)
    for _retry in range(3):
        due = next_delivery_due(server)
        assert due is not None
        assert due - server.clock.now() == timedelta(seconds=20)
        server.clock.advance(seconds=20)
        wait_idle(server)
    assert len(receiver.requests) == 5
    assert _status(server, message_id) == "failed"
    assert next_delivery_due(server) is None
    with server.runtime.database.session() as session:
        failed = failed_deliveries(session, message_id)
        assert len(failed) == 1
        assert failed[0].subscription_arn == subscription_arn
        assert failed[0].attempts == 4
        assert failed[0].last_error == "endpoint returned HTTP 500: ok"


def test_unsubscribe_sends_confirmation_that_restores(
    server: RunningServer, sns: Any, receiver: HttpReceiver
) -> None:
    topic_arn = sns.create_topic(Name="leaving")["TopicArn"]
    subscription_arn = _subscribe_confirmed(server, sns, topic_arn, receiver)
    sns.unsubscribe(SubscriptionArn=subscription_arn)

    request = receiver.wait_for(2)[1]
    message = request.json()
    assert message["Type"] == "UnsubscribeConfirmation"
    assert request.headers["x-amz-sns-subscription-arn"] == subscription_arn
    assert verify_signature(message, server.url)
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []
    counts = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert counts["SubscriptionsConfirmed"] == "0"
    assert counts["SubscriptionsDeleted"] == "1"
    with pytest.raises(ClientError) as caught:
        sns.get_subscription_attributes(SubscriptionArn=subscription_arn)
    assert caught.value.response["Error"]["Code"] == "NotFound"

    assert httpx.get(message["SubscribeURL"]).status_code == 200
    listed = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [item["SubscriptionArn"] for item in listed] == [subscription_arn]


def test_unsubscribe_link_in_notification(
    server: RunningServer, sns: Any, receiver: HttpReceiver
) -> None:
    topic_arn = sns.create_topic(Name="link")["TopicArn"]
    subscription_arn = _subscribe_confirmed(server, sns, topic_arn, receiver)
    sns.publish(TopicArn=topic_arn, Message="hello")
    message = receiver.wait_for(2)[1].json()

    forged = message["UnsubscribeURL"].replace("Token=", "Token=0")
    response = httpx.get(forged)
    assert response.status_code == 403
    assert "<Code>AuthorizationError</Code>" in response.text

    response = httpx.get(message["UnsubscribeURL"])
    assert response.status_code == 200
    assert "<UnsubscribeResponse" in response.text
    with pytest.raises(ClientError):
        sns.get_subscription_attributes(SubscriptionArn=subscription_arn)


def test_authenticate_on_unsubscribe_blocks_link(
    server: RunningServer, sns: Any, receiver: HttpReceiver
) -> None:
    topic_arn = sns.create_topic(Name="guarded")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=_url(receiver))
    token = receiver.wait_for(1)[0].json()["Token"]
    subscription_arn = sns.confirm_subscription(
        TopicArn=topic_arn, Token=token, AuthenticateOnUnsubscribe="true"
    )["SubscriptionArn"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    assert attributes["ConfirmationWasAuthenticated"] == "true"

    sns.publish(TopicArn=topic_arn, Message="hello")
    message = receiver.wait_for(2)[1].json()
    response = httpx.get(message["UnsubscribeURL"])
    assert response.status_code == 403
    sns.unsubscribe(SubscriptionArn=subscription_arn)


def test_confirmation_token_expires_after_three_days(
    server: RunningServer, sns: Any, receiver: HttpReceiver
) -> None:
    topic_arn = sns.create_topic(Name="slow")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=_url(receiver))
    message = receiver.wait_for(1)[0].json()
    server.clock.advance(days=3, seconds=1)

    response = httpx.get(message["SubscribeURL"])
    assert response.status_code == 400
    assert "<Code>InvalidParameter</Code>" in response.text
    with pytest.raises(ClientError) as caught:
        sns.confirm_subscription(TopicArn=topic_arn, Token=message["Token"])
    assert caught.value.response["Error"]["Code"] == "InvalidParameter"
    assert "Token" in caught.value.response["Error"]["Message"]


def test_publish_domain_function_respects_policy(server: RunningServer, sns: Any) -> None:
    topic_arn = sns.create_topic(Name="internal")["TopicArn"]
    owner = topic_arn.split(":")[4]
    with server.runtime.database.session() as session:
        message_id = publish(
            session, server.clock, topic_arn, "from the engine", publisher_account=owner
        )
    assert re.fullmatch(r"[0-9a-f-]{36}", message_id)

    with server.runtime.database.session() as session, pytest.raises(Exception) as caught:
        publish(session, server.clock, topic_arn, "intruder", publisher_account="999999999999")
    assert "AuthorizationError" in type(caught.value).__name__


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, _server: SMTP, _session: SmtpSession, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture(params=BACKENDS)
def mail_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RunningServer, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    url = fresh_database_url(request.param, tmp_path, request)
    try:
        with RunningServer(
            tmp_path / "home",
            database_url=url,
            smtp_url=f"smtp://127.0.0.1:{controller.port}",
            smtp_sender="sns@example.com",
        ) as running:
            yield running, inbox
    finally:
        controller.stop()


def _body(message: EmailMessage) -> str:
    content = message.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_email_subscription_confirmed_and_delivered(
    mail_server: tuple[RunningServer, Inbox],
) -> None:
    server, inbox = mail_server
    sns = server.client("sns", server.create_account())
    topic_arn = sns.create_topic(Name="mail", Attributes={"DisplayName": "Ops"})["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint="oncall@example.com")
    sns.subscribe(TopicArn=topic_arn, Protocol="email-json", Endpoint="robot@example.com")
    assert wait_until(lambda: len(inbox.messages) == 2)

    for message in list(inbox.messages):
        assert message["Subject"] == "AWS Notification - Subscription Confirmation"
        body = _body(message)
        if message["To"] == "robot@example.com":
            link = json.loads(body)["SubscribeURL"]
        else:
            found = re.search(r"(http://\S+/sns/confirm\S+)", body)
            assert found is not None
            link = found.group(1)
        assert httpx.get(link).status_code == 200

    sns.publish(TopicArn=topic_arn, Message="The checkout service is down.")
    assert wait_until(lambda: len(inbox.messages) == 4)
    by_address = {message["To"]: message for message in inbox.messages[2:]}
    plain = by_address["oncall@example.com"]
    assert plain["Subject"] == "Ops"
    assert plain["From"] == "sns@example.com"
    assert _body(plain).startswith("The checkout service is down.\n")
    assert "/sns/unsubscribe?" in _body(plain)
    structured = json.loads(_body(by_address["robot@example.com"]))
    assert structured["Type"] == "Notification"
    assert structured["Message"] == "The checkout service is down."
    assert verify_signature(structured, server.url)
