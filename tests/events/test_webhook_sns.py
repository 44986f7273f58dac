"""The sns webhook format: SNS HTTP deliveries of CloudWatch alarms become events and incidents.

The cases follow the SNS delivery scenarios in
fixtures/sns-http-delivery-scenarios-goalert-pr4535.json. Messages are
signed with the server's own SNS key, as Tocsin's topics sign them, and
posted with ``Content-Type: text/plain; charset=UTF-8`` as SNS posts them.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from tests.events.events_support import Account, application, drain, incident_records, new_account
from tests.events.sns_webhook_support import (
    GOALERT_CASE,
    SNS_ALARMS,
    alarm_text,
    notification,
    own_signed,
    send,
)
from tests.events.test_webhook_incidents import (
    route_to_plan,
    sqlite_server,
    trigger_events,
)
from tests.events.webhook_support import register
from tests.incidents.incident_support import trigger_count
from tests.notify.conftest import TlsFiles, certificates
from tests.notify.sns_support import SIGNED_FIELDS, wait_idle
from tocsin.cli import main
from tocsin.config import Settings
from tocsin.events import webhook_sns
from tocsin.events.webhooks import list_webhooks
from tocsin.testing import RunningServer

__all__ = ["application", "certificates", "sqlite_server"]

ALARM_ARN = "arn:aws:cloudwatch:us-west-2:123456789012:alarm:x"


def case_input(name: str) -> Any:
    cases = json.loads((Path(__file__).parent / "fixtures" / GOALERT_CASE).read_text())
    return next(case["input"] for case in cases["scenarios"] if case["name"] == name)


@pytest.fixture
def sns_account(sqlite_server: RunningServer) -> Account:
    return new_account(sqlite_server, "222233334444")


def test_sns_topic_alarm_starts_incident(server: RunningServer, application: Account) -> None:
    """A Tocsin topic with an http subscription to an sns webhook, on both backends."""
    rule = route_to_plan(application, SNS_ALARMS)
    _, url = register(server, "sns", account_id=application.account_id)
    sns = application.client("sns")
    topic_arn = sns.create_topic(Name="alarms")["TopicArn"]
    pending = sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=url)
    assert pending["SubscriptionArn"] == "pending confirmation"

    # The confirmation that the topic posts to the webhook confirms the subscription.
    wait_idle(server)
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert subscription["SubscriptionArn"].startswith(topic_arn + ":")
    assert incident_records(application) == []

    sns.publish(TopicArn=topic_arn, Subject="ALARM: x", Message=alarm_text("ALARM"))
    wait_idle(server)
    drain(server)

    (summary,) = incident_records(application)
    record = application.incidents.get_incident_record(arn=summary["arn"])["incidentRecord"]
    assert record["title"] == "Checkout is failing"
    assert record["impact"] == 2
    assert record["incidentRecordSource"]["resourceArn"] == rule
    (trigger,) = trigger_events(application, summary["arn"])
    assert trigger["triggerArn"] == rule
    event = json.loads(trigger["rawData"])
    assert event["source"] == "tocsin.sns"
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["account"] == application.account_id
    assert event["resources"] == [ALARM_ARN]
    detail = event["detail"]
    assert detail["title"] == "[us-west-2] Too Many Write Errors"
    assert detail["summary"] == "Threshold Crossed"
    assert detail["state"]["value"] == "ALARM"
    assert detail["previousState"] == {"value": "OK"}
    assert detail["topicArn"] == topic_arn
    assert detail["subject"] == "ALARM: x"

    items = application.incidents.list_related_items(incidentRecordArn=summary["arn"])
    identifiers = [item["identifier"] for item in items["relatedItems"]]
    assert {"type": "INVOLVED_RESOURCE", "value": {"arn": ALARM_ARN}} in identifiers


def test_sns_alarm_details(sqlite_server: RunningServer, sns_account: Account) -> None:
    route_to_plan(sns_account, SNS_ALARMS)
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)

    response = send(url, own_signed(sqlite_server, notification(alarm_text("ALARM"))))
    assert response.status_code == 200, response.text
    assert len(response.json()["EventIds"]) == 1
    drain(sqlite_server)

    (summary,) = incident_records(sns_account)
    (trigger,) = trigger_events(sns_account, summary["arn"])
    detail = json.loads(trigger["rawData"])["detail"]
    assert detail["alarmName"] == "[us-west-2] Too Many Write Errors"
    assert detail["state"] == {
        "value": "ALARM",
        "reason": "Threshold Crossed",
        "timestamp": "2026-07-30T00:00:00.000+0000",
    }
    assert detail["previousState"] == {"value": "OK"}
    # The Region comes from the ARNs, not from the display name in "Region".
    assert detail["region"] == "us-west-2"
    assert detail["regionName"] == "US West (Oregon)"
    assert detail["configuration"]["description"] == (
        "Runbook: https://runbook.example.com/dp/ats-write-errors"
    )
    assert detail["configuration"]["trigger"] == {
        "Namespace": "Eightfold/DP",
        "MetricName": "WriteErrors",
    }
    assert detail["awsAccountId"] == "123456789012"


def test_sns_redelivery_joins_incident(sqlite_server: RunningServer, sns_account: Account) -> None:
    route_to_plan(sns_account, SNS_ALARMS)
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    message = own_signed(sqlite_server, notification(alarm_text("ALARM")))

    assert send(url, message).status_code == 200
    assert send(url, message).status_code == 200
    drain(sqlite_server)

    (summary,) = incident_records(sns_account)
    assert trigger_count(sqlite_server, summary["arn"]) == 2


def test_sns_other_states_start_nothing(sqlite_server: RunningServer, sns_account: Account) -> None:
    route_to_plan(sns_account, SNS_ALARMS)
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)

    for text in (alarm_text("INSUFFICIENT_DATA"), case_input("stray OK for unknown alarm")):
        response = send(url, own_signed(sqlite_server, notification(text)))
        assert response.status_code == 200, response.text
        assert len(response.json()["EventIds"]) == 1
    drain(sqlite_server)
    assert incident_records(sns_account) == []


def test_sns_ok_leaves_incident_open(sqlite_server: RunningServer, sns_account: Account) -> None:
    route_to_plan(sns_account, SNS_ALARMS)
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    assert send(url, own_signed(sqlite_server, notification(alarm_text("ALARM")))).is_success
    drain(sqlite_server)
    assert send(url, own_signed(sqlite_server, notification(alarm_text("OK")))).is_success
    drain(sqlite_server)

    (summary,) = incident_records(sns_account)
    assert summary["status"] == "OPEN"
    assert trigger_count(sqlite_server, summary["arn"]) == 1


def test_sns_plain_message_uses_subject(sqlite_server: RunningServer, sns_account: Account) -> None:
    pattern = {"source": ["tocsin.sns"], "detail-type": ["SNS Notification"]}
    route_to_plan(sns_account, pattern)
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    case = case_input("non-JSON Message")
    message = notification(case["Message"], subject=case["Subject"])

    assert send(url, own_signed(sqlite_server, message, version="2")).status_code == 200
    drain(sqlite_server)

    (summary,) = incident_records(sns_account)
    (trigger,) = trigger_events(sns_account, summary["arn"])
    event = json.loads(trigger["rawData"])
    assert event["detail-type"] == "SNS Notification"
    assert event["resources"] == []
    assert event["detail"]["title"] == "Backup failed"
    assert event["detail"]["subject"] == "Backup failed"
    assert event["detail"]["message"] == "this is not json"
    assert event["detail"]["topicArn"] == message["TopicArn"]


def test_sns_foreign_confirmation_is_logged(
    sqlite_server: RunningServer, sns_account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    route_to_plan(sns_account, SNS_ALARMS)
    webhook_id, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    case = json.loads((Path(__file__).parent / "fixtures" / GOALERT_CASE).read_text())
    confirmation = dict(case_input("subscription confirmation"))
    confirmation["TopicArn"] = case["topic_arn"]
    confirmation["Timestamp"] = "2026-07-30T00:00:00.000Z"
    confirmation["SubscribeURL"] = confirmation["SubscribeURL"].replace(
        "<topic>", case["topic_arn"]
    )
    confirmation.update(
        SignatureVersion="1", Signature="c2lnbmF0dXJl", SigningCertURL=case["signing_cert_url"]
    )

    with caplog.at_level(logging.WARNING, logger="tocsin.events.webhook_sns"):
        response = send(url, confirmation)
    assert response.status_code == 200, response.text
    assert response.json() == {"EventIds": []}
    warnings = [record.getMessage() for record in caplog.records]
    assert any(confirmation["SubscribeURL"] in text for text in warnings)
    assert any("not verified" in text and webhook_id in text for text in warnings)
    drain(sqlite_server)
    assert incident_records(sns_account) == []


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"Message": alarm_text("OK")}, 403),
        ({"Signature": "bm90IGEgc2lnbmF0dXJl"}, 403),
        ({"Signature": "not base64!"}, 403),
        ({"SigningCertURL": case_input("SigningCertURL host not allow-listed")}, 403),
        ({"SigningCertURL": "http://169.254.169.254/latest/cert.pem"}, 403),
        ({"SignatureVersion": "3"}, 400),
        ({"Type": "Bogus"}, 400),
        ({"TopicArn": None}, 400),
    ],
)
def test_sns_rejects_bad_messages(
    sqlite_server: RunningServer, sns_account: Account, change: dict[str, Any], status: int
) -> None:
    route_to_plan(sns_account, SNS_ALARMS)
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    message = own_signed(sqlite_server, notification(alarm_text("ALARM")))
    message.update(change)
    message = {name: value for name, value in message.items() if value is not None}

    response = send(url, message)
    assert response.status_code == status, response.text
    assert response.json()["message"]
    drain(sqlite_server)
    assert incident_records(sns_account) == []


def test_sns_rejection_messages(sqlite_server: RunningServer, sns_account: Account) -> None:
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    message = own_signed(sqlite_server, notification(alarm_text("ALARM")))

    evil = case_input("SigningCertURL host not allow-listed")
    response = send(url, {**message, "SigningCertURL": evil})
    assert evil in response.json()["message"]
    assert "TOCSIN_SNS_TRUSTED_CERTIFICATE_HOSTS" in response.json()["message"]

    response = send(url, {**message, "Type": "Bogus"})
    assert "Type must be one of" in response.json()["message"]
    assert "'Bogus'" in response.json()["message"]

    unknown_key = message["SigningCertURL"].replace(
        "SimpleNotificationService-", "SimpleNotificationService-0"
    )
    response = send(url, {**message, "SigningCertURL": unknown_key})
    assert response.status_code == 403
    assert "names no certificate of this server" in response.json()["message"]

    bad_state = notification(
        alarm_text("ALARM").replace('"OldStateValue": "OK"', '"OldStateValue": "ON"')
    )
    response = send(url, own_signed(sqlite_server, bad_state))
    assert response.status_code == 400
    assert "Message.OldStateValue" in response.json()["message"]
    assert "'ON'" in response.json()["message"]


def test_sns_own_confirmation_with_bad_token(
    sqlite_server: RunningServer, sns_account: Account
) -> None:
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    topic_arn = sns_account.client("sns").create_topic(Name="alarms")["TopicArn"]
    link = (
        f"{sqlite_server.url}/sns/confirm?Action=ConfirmSubscription"
        f"&TopicArn={topic_arn}&Token=0000"
    )
    confirmation = notification(
        "You have chosen to subscribe", Type="SubscriptionConfirmation", Token="0000"
    )
    confirmation.update(TopicArn=topic_arn, SubscribeURL=link)

    response = send(url, own_signed(sqlite_server, confirmation))
    assert response.status_code == 400
    assert "could not be confirmed" in response.json()["message"]
    assert "The token is invalid or has expired" in response.json()["message"]

    # The same link with a signature that does not match is rejected before the token is tried.
    forged = {**own_signed(sqlite_server, confirmation), "Token": "1111"}
    assert send(url, forged).status_code == 403


def test_sns_webhook_accepts_any_content_type(
    sqlite_server: RunningServer, sns_account: Account
) -> None:
    webhook_id, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    message = json.dumps(own_signed(sqlite_server, notification(alarm_text("ALARM")))).encode()
    for content_type in (None, "text/plain", "application/json", "application/octet-stream"):
        headers = {} if content_type is None else {"Content-Type": content_type}
        response = httpx.post(url, content=message, headers=headers)
        assert response.status_code == 200, (content_type, response.text)
    with sqlite_server.runtime.database.session() as session:
        (webhook,) = list_webhooks(session, sns_account.account_id)
        assert webhook.webhook_id == webhook_id
        assert webhook.format == "sns"


def test_sns_lambda_spelling_of_certificate_url(
    sqlite_server: RunningServer, sns_account: Account
) -> None:
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    message = own_signed(sqlite_server, notification(alarm_text("ALARM")))
    message["SigningCertUrl"] = message.pop("SigningCertURL")
    assert send(url, message).status_code == 200


@pytest.fixture
def clear_certificates() -> Iterator[None]:
    webhook_sns.clear_certificate_cache()
    yield
    webhook_sns.clear_certificate_cache()


def test_trust_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, sns_trusted_certificate_hosts="sns.us-east-1.amazonaws.com,SNS.Example"
    )
    trust = webhook_sns.SnsTrust.from_settings(settings)
    assert trust.trusted_hosts == ("sns.us-east-1.amazonaws.com", "sns.example")
    assert trust.own_base_url == "http://127.0.0.1:4590"
    assert webhook_sns.SnsTrust.from_settings(Settings(home=tmp_path)).trusted_hosts == ()
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, sns_trusted_certificate_hosts="https://sns.example/")


class CertificateServer:
    """An HTTPS server on 127.0.0.1 that serves one PEM file and counts the GET requests."""

    def __init__(self, tls: ssl.SSLContext, pem: bytes) -> None:
        self.gets = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.gets += 1
                status, body = (200, pem) if self.path == "/cert.pem" else (404, b"")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def signing_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    """Return an RSA key and a self-signed PEM certificate of it, as an SNS Region has."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * 10))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


def foreign_signed(key: rsa.RSAPrivateKey, message: dict[str, Any], url: str) -> dict[str, Any]:
    """Sign ``message`` with SignatureVersion 1 as the SNS developer guide describes."""
    text = "".join(
        f"{name}\n{message[name]}\n" for name in SIGNED_FIELDS[message["Type"]] if name in message
    )
    signature = key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA1())
    return {
        **message,
        "SignatureVersion": "1",
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": url,
    }


def test_sns_trusted_certificate_host(
    sqlite_template: Path, tmp_path: Path, certificates: TlsFiles, clear_certificates: None
) -> None:
    key, pem = signing_pair()
    other_key, _ = signing_pair()
    host = CertificateServer(certificates.server_context(), pem)
    shutil.copyfile(sqlite_template, tmp_path / "tocsin.db")
    try:
        with RunningServer(
            tmp_path / "home",
            database_url=f"sqlite:///{tmp_path / 'tocsin.db'}",
            sns_trusted_certificate_hosts="127.0.0.1",
            delivery_ca_file=certificates.ca_file,
        ) as running:
            account = new_account(running, "222233334444")
            route_to_plan(account, SNS_ALARMS)
            _, url = register(running, "sns", account_id=account.account_id)
            cert_url = f"https://127.0.0.1:{host.port}/cert.pem"

            first = foreign_signed(key, notification(alarm_text("ALARM")), cert_url)
            response = send(url, first)
            assert response.status_code == 200, response.text
            second = foreign_signed(key, notification(alarm_text("ALARM")), cert_url)
            assert send(url, second).status_code == 200
            drain(running)
            (summary,) = incident_records(account)
            assert trigger_count(running, summary["arn"]) == 2
            # The certificate is fetched once and kept.
            assert host.gets == 1

            forged = foreign_signed(other_key, notification(alarm_text("ALARM")), cert_url)
            assert send(url, forged).status_code == 403
            plain_http = foreign_signed(
                key, notification(alarm_text("ALARM")), f"http://127.0.0.1:{host.port}/cert.pem"
            )
            assert send(url, plain_http).status_code == 403
            missing = foreign_signed(
                key, notification(alarm_text("ALARM")), f"https://127.0.0.1:{host.port}/x.pem"
            )
            response = send(url, missing)
            assert response.status_code == 403
            assert "returned HTTP 404" in response.json()["message"]
            assert host.gets == 2
    finally:
        host.stop()


def test_sns_unsubscribe_confirmation_makes_no_event(
    sqlite_server: RunningServer, sns_account: Account
) -> None:
    _, url = register(sqlite_server, "sns", account_id=sns_account.account_id)
    message = notification(
        "You have chosen to deactivate subscription",
        Type="UnsubscribeConfirmation",
        Token="0000",
        SubscribeURL="https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
    )

    response = send(url, own_signed(sqlite_server, message))
    assert response.status_code == 200, response.text
    assert response.json() == {"EventIds": []}

    forged = {**own_signed(sqlite_server, message), "Token": "1111"}
    assert send(url, forged).status_code == 403


def test_sns_webhook_created_by_cli(sqlite_server: RunningServer, sns_account: Account) -> None:
    result = CliRunner().invoke(
        main,
        [
            "webhook",
            "create",
            "--account",
            sns_account.account_id,
            "--format",
            "sns",
            "--base-url",
            sqlite_server.url,
            "--database-url",
            str(sqlite_server.settings.effective_database_url),
            "--home",
            str(sqlite_server.settings.home),
        ],
    )
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith(f"{sqlite_server.url}/webhooks/")

    response = send(url, own_signed(sqlite_server, notification(alarm_text("ALARM"))))
    assert response.status_code == 200, response.text
    assert len(response.json()["EventIds"]) == 1
