"""Incident notifications through SNS topics: the documents, the chat channel and failures."""

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
from sqlalchemy import select

from tests.conftest import fresh_database_url
from tests.notify.conftest import HttpReceiver, Reply, wait_until
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job
from tocsin.incidents.replication import SETTLE_DELAY
from tocsin.testing import Keys, RunningServer, free_port

OWNER = "111111111111"
OTHER = "222222222222"
REGION = "us-east-1"


class Tenant:
    """One account with the boto3 clients that the tests use."""

    def __init__(self, server: RunningServer, account_id: str) -> None:
        self.keys: Keys = server.create_account(account_id=account_id)
        self.account_id = account_id
        self.incidents = server.client("ssm-incidents", self.keys, region=REGION)
        self.sns = server.client("sns", self.keys, region=REGION)
        self.contacts = server.client("ssm-contacts", self.keys, region=REGION)


def run_jobs(server: RunningServer) -> None:
    """Run every job that is due now, and wait until the background worker is idle too."""
    engine = server.runtime.engine
    assert engine is not None

    def idle() -> bool:
        engine.run_due()
        with server.runtime.database.session() as session:
            busy = session.scalar(
                select(Job.id)
                .where(
                    (Job.status == "running")
                    | ((Job.status == "pending") & (Job.due_at <= server.clock.now()))
                )
                .limit(1)
            )
        return busy is None

    assert wait_until(idle), "due jobs did not finish"


def advance(server: RunningServer, delta: timedelta) -> None:
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(delta)
    run_jobs(server)


def ready_tenant(server: RunningServer, account_id: str = OWNER) -> Tenant:
    """Create an account with an ACTIVE replication set."""
    tenant = Tenant(server, account_id)
    arn = tenant.incidents.create_replication_set(regions={REGION: {}})["arn"]
    advance(server, SETTLE_DELAY)
    waiter = tenant.incidents.get_waiter("wait_for_replication_set_active")
    waiter.wait(arn=arn, WaiterConfig={"Delay": 0.02, "MaxAttempts": 250})
    return tenant


def subscribe_confirmed(tenant: Tenant, topic_arn: str, receiver: HttpReceiver, path: str) -> str:
    """Subscribe an HTTP endpoint of the receiver, confirm it and return its ARN."""
    before = len(receiver.requests)
    endpoint = f"http://127.0.0.1:{receiver.port}{path}"
    tenant.sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=endpoint)
    confirmation = receiver.wait_for(before + 1)[before].json()
    assert confirmation["Type"] == "SubscriptionConfirmation"
    response = httpx.get(confirmation["SubscribeURL"])
    assert response.status_code == 200
    match = re.search(r"<SubscriptionArn>(.*)</SubscriptionArn>", response.text)
    assert match is not None
    return match.group(1)


def create_plan(tenant: Tenant, name: str, **members: Any) -> str:
    template = {"title": "Checkout is failing", "impact": 2, "summary": "Orders cannot be paid"}
    template.update(members.pop("template", {}))
    arn: str = tenant.incidents.create_response_plan(
        name=name, incidentTemplate=template, **members
    )["arn"]
    return arn


def notifications(receiver: HttpReceiver, path: str) -> list[dict[str, Any]]:
    """Return the SNS notifications that reached ``path``, oldest first."""
    return [
        request.json()
        for request in receiver.requests
        if request.path == path and request.json()["Type"] == "Notification"
    ]


def timeline_events(tenant: Tenant, incident_arn: str, event_type: str) -> list[dict[str, Any]]:
    """Return the eventData of the incident's timeline events of ``event_type``."""
    summaries = tenant.incidents.list_timeline_events(
        incidentRecordArn=incident_arn,
        filters=[{"key": "eventType", "condition": {"equals": {"stringValues": [event_type]}}}],
    )["eventSummaries"]
    found = []
    for summary in summaries:
        event = tenant.incidents.get_timeline_event(
            incidentRecordArn=incident_arn, eventId=summary["eventId"]
        )["event"]
        found.append(json.loads(event["eventData"]))
    return found


def jobs_of_kind(server: RunningServer, kind: str) -> list[Job]:
    with server.runtime.database.session() as session:
        jobs = list(session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))
        session.expunge_all()
    return jobs


def test_topics_receive_create_update_and_resolve(
    server: RunningServer, receiver: HttpReceiver
) -> None:
    owner = ready_tenant(server)
    topic = owner.sns.create_topic(Name="incidents")["TopicArn"]
    chat_topic = owner.sns.create_topic(Name="chatbot")["TopicArn"]
    subscribe_confirmed(owner, topic, receiver, "/target")
    subscribe_confirmed(owner, chat_topic, receiver, "/chat")
    plan = create_plan(
        owner,
        "checkout",
        template={"notificationTargets": [{"snsTopicArn": topic}]},
        chatChannel={"chatbotSns": [chat_topic]},
    )

    incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    run_jobs(server)
    assert wait_until(lambda: len(notifications(receiver, "/target")) == 1)
    created = notifications(receiver, "/target")[0]
    assert created["Subject"] == "Incident started: Checkout is failing"
    document = json.loads(created["Message"])
    assert document["version"] == "1"
    assert document["event"] == "created"
    assert document["account"] == OWNER
    assert document["responsePlanArn"] == plan
    assert document["incident"]["arn"] == incident
    assert document["incident"]["title"] == "Checkout is failing"
    assert document["incident"]["impact"] == 2
    assert document["incident"]["status"] == "OPEN"
    assert document["incident"]["summary"] == "Orders cannot be paid"
    assert document["changes"] == []
    account, plan_and_id = incident.split(":", 5)[4], incident.split("incident-record/", 1)[1]
    assert document["link"] == f"{server.url}/console/incidents/{account}/{plan_and_id}"

    assert wait_until(lambda: len(notifications(receiver, "/chat")) == 1)
    chat = json.loads(notifications(receiver, "/chat")[0]["Message"])
    assert chat["version"] == "1.0"
    assert chat["source"] == "custom"
    assert chat["content"]["textType"] == "client-markdown"
    assert chat["content"]["title"] == "Incident started: Checkout is failing"
    assert "*Impact:* 2" in chat["content"]["description"]
    assert chat["content"]["nextSteps"][0] == f"Open the incident: {document['link']}"
    assert chat["metadata"]["threadId"] == incident

    owner.incidents.update_incident_record(arn=incident, impact=1, title="Checkout is down")
    run_jobs(server)
    assert wait_until(lambda: len(notifications(receiver, "/target")) == 2)
    updated = json.loads(notifications(receiver, "/target")[1]["Message"])
    assert updated["event"] == "updated"
    assert updated["incident"]["impact"] == 1
    assert {change["attribute"]: change for change in updated["changes"]} == {
        "title": {
            "attribute": "title",
            "oldValue": "Checkout is failing",
            "newValue": "Checkout is down",
        },
        "impact": {"attribute": "impact", "oldValue": 2, "newValue": 1},
    }
    assert wait_until(lambda: len(notifications(receiver, "/chat")) == 2)
    chat_update = json.loads(notifications(receiver, "/chat")[1]["Message"])
    assert "impact: 2 -> 1" in chat_update["content"]["description"]

    owner.incidents.update_incident_record(arn=incident, status="RESOLVED")
    run_jobs(server)
    assert wait_until(lambda: len(notifications(receiver, "/target")) == 3)
    resolved = json.loads(notifications(receiver, "/target")[2]["Message"])
    assert resolved["event"] == "resolved"
    assert resolved["incident"]["status"] == "RESOLVED"
    assert resolved["incident"]["resolvedTime"] is not None
    assert resolved["changes"] == [
        {"attribute": "status", "oldValue": "OPEN", "newValue": "RESOLVED"}
    ]
    assert notifications(receiver, "/target")[2]["Subject"] == (
        "Incident resolved: Checkout is down"
    )


def test_update_of_other_members_notifies_nobody(server: RunningServer) -> None:
    owner = ready_tenant(server)
    topic = owner.sns.create_topic(Name="incidents")["TopicArn"]
    plan = create_plan(owner, "quiet", template={"notificationTargets": [{"snsTopicArn": topic}]})
    incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    before = len(jobs_of_kind(server, "incidents.notify"))

    owner.incidents.update_incident_record(arn=incident, notificationTargets=[])
    assert len(jobs_of_kind(server, "incidents.notify")) == before


def test_retried_update_enqueues_once(server: RunningServer) -> None:
    owner = ready_tenant(server)
    topic = owner.sns.create_topic(Name="incidents")["TopicArn"]
    plan = create_plan(owner, "retry", template={"notificationTargets": [{"snsTopicArn": topic}]})
    incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    record_id = incident.rsplit("/", 1)[1]
    created = len(jobs_of_kind(server, "incidents.notify"))

    for _ in range(2):
        owner.incidents.update_incident_record(
            arn=incident, status="RESOLVED", clientToken="resolve-once"
        )
    notify_jobs = jobs_of_kind(server, "incidents.notify")[created:]
    # The plan has no chat webhooks tag, so only the SNS target is notified.
    assert len(notify_jobs) == 1
    assert notify_jobs[0].payload["event"] == "resolved"
    assert notify_jobs[0].payload["channel"] == "notificationTarget"
    assert notify_jobs[0].payload["topicArn"] == topic
    stops = jobs_of_kind(server, "contacts.stop_incident_engagements")
    assert len(stops) == 1
    assert stops[0].key.startswith(f"contacts:stop:{OWNER}:{record_id}:")
    assert stops[0].payload == {"incidentRecordArn": incident}


def test_cross_account_target_rejected_by_default(server: RunningServer) -> None:
    owner = ready_tenant(server)
    plan = create_plan(owner, "strict")
    incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    foreign = f"arn:aws:sns:{REGION}:{OTHER}:their-topic"

    with pytest.raises(ClientError) as caught:
        owner.incidents.update_incident_record(
            arn=incident, notificationTargets=[{"snsTopicArn": foreign}]
        )
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "ValidationException"
    assert "notificationTargets.1.snsTopicArn" in error["Message"]
    assert foreign in error["Message"]
    record = owner.incidents.get_incident_record(arn=incident)["incidentRecord"]
    assert record["notificationTargets"] == []


def test_cross_account_target_accepted_when_allowed(
    tmp_path: Path, request: pytest.FixtureRequest, receiver: HttpReceiver
) -> None:
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(
        tmp_path / "home", database_url=url, allow_cross_account_notification_targets=True
    ) as server:
        owner = ready_tenant(server)
        other = Tenant(server, OTHER)
        foreign = other.sns.create_topic(Name="their-topic")["TopicArn"]
        other.sns.add_permission(
            TopicArn=foreign, Label="owner", AWSAccountId=[OWNER], ActionName=["Publish"]
        )
        subscribe_confirmed(other, foreign, receiver, "/theirs")
        plan = create_plan(owner, "open")
        incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]

        owner.incidents.update_incident_record(
            arn=incident, notificationTargets=[{"snsTopicArn": foreign}]
        )
        record = owner.incidents.get_incident_record(arn=incident)["incidentRecord"]
        assert record["notificationTargets"] == [{"snsTopicArn": foreign}]

        owner.incidents.update_incident_record(arn=incident, impact=1)
        run_jobs(server)
        assert wait_until(lambda: len(notifications(receiver, "/theirs")) == 1)
        document = json.loads(notifications(receiver, "/theirs")[0]["Message"])
        assert document["event"] == "updated"
        assert document["account"] == OWNER


def test_incident_created_when_every_notification_fails(server: RunningServer) -> None:
    owner = ready_tenant(server)
    deleted_topic = owner.sns.create_topic(Name="gone")["TopicArn"]
    owner.sns.delete_topic(TopicArn=deleted_topic)
    other_topic = f"arn:aws:sns:{REGION}:{OWNER}:never-created"
    plan = create_plan(
        owner,
        "broken",
        template={"notificationTargets": [{"snsTopicArn": deleted_topic}]},
        chatChannel={"chatbotSns": [other_topic]},
        tags={"tocsin:chat-webhooks": "unregistered"},
    )

    incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    run_jobs(server)

    record = owner.incidents.get_incident_record(arn=incident)["incidentRecord"]
    assert record["status"] == "OPEN"
    assert record["title"] == "Checkout is failing"
    failures = timeline_events(owner, incident, "Notification Failed")
    by_channel = {failure["channel"]: failure for failure in failures}
    assert len(failures) == 3
    assert by_channel["notificationTarget"]["target"] == deleted_topic
    assert by_channel["notificationTarget"]["reason"] == "The SNS topic does not exist."
    assert by_channel["chatChannel"]["target"] == other_topic
    assert by_channel["chatWebhooks"]["webhook"] == "unregistered"
    assert "not registered" in by_channel["chatWebhooks"]["reason"]
    assert {failure["event"] for failure in failures} == {"created"}


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_sns_failures_land_on_timeline(server: RunningServer, receiver: HttpReceiver) -> None:
    """One backend: the timeline write is the same on both, and the retries take time."""
    owner = ready_tenant(server)
    topic = owner.sns.create_topic(Name="flaky")["TopicArn"]
    subscription = subscribe_confirmed(owner, topic, receiver, "/flaky")
    receiver.reply = Reply(status=500, body=b"broken")
    plan = create_plan(owner, "flaky", template={"notificationTargets": [{"snsTopicArn": topic}]})

    incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    run_jobs(server)
    # SNS's default HTTP policy: the first attempt and 3 retries, 20 seconds apart.
    for _retry in range(3):
        advance(server, timedelta(seconds=20))
    assert wait_until(lambda: len(receiver.requests) == 2 + 3)

    failures = timeline_events(owner, incident, "Notification Failed")
    assert len(failures) == 1
    assert failures[0]["channel"] == "snsSubscription"
    assert failures[0]["target"] == topic
    assert failures[0]["subscriptionArn"] == subscription
    assert failures[0]["attempt"] == 4
    assert failures[0]["error"] == "endpoint returned HTTP 500: broken"
    # Each attempt before the give-up is on the timeline too.
    attempts = timeline_events(owner, incident, "Notification Attempt Failed")
    assert sorted(attempt["attempt"] for attempt in attempts) == [1, 2, 3]
    assert {attempt["subscriptionArn"] for attempt in attempts} == {subscription}


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


@pytest.fixture
def mail_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[RunningServer, Inbox]]:
    """A server on SQLite that sends email to an aiosmtpd server on 127.0.0.1."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    url = fresh_database_url("sqlite", tmp_path, request)
    try:
        with RunningServer(
            tmp_path / "home",
            database_url=url,
            smtp_url=f"smtp://127.0.0.1:{controller.port}",
            smtp_sender="incidents@example.com",
            public_url="https://tocsin.example.com",
        ) as running:
            yield running, inbox
    finally:
        controller.stop()


def _body(message: EmailMessage) -> str:
    content = message.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_email_subscription_receives_incident(mail_server: tuple[RunningServer, Inbox]) -> None:
    server, inbox = mail_server
    owner = ready_tenant(server)
    topic = owner.sns.create_topic(Name="mail")["TopicArn"]
    owner.sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
    run_jobs(server)
    assert wait_until(lambda: len(inbox.messages) == 1)
    found = re.search(r"(https://tocsin\.example\.com/sns/confirm\S+)", _body(inbox.messages[0]))
    assert found is not None
    # The public URL is not this test server, so the link is followed on the server's port.
    confirm = found.group(1).replace("https://tocsin.example.com", server.url)
    assert httpx.get(confirm).status_code == 200
    plan = create_plan(owner, "mail", template={"notificationTargets": [{"snsTopicArn": topic}]})

    incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    run_jobs(server)
    assert wait_until(lambda: len(inbox.messages) == 2)

    message = inbox.messages[1]
    assert message["To"] == "oncall@example.com"
    assert message["Subject"] == "Incident started: Checkout is failing"
    document_text = _body(message).split("\n\n--\n", 1)[0]
    document = json.loads(document_text)
    assert document["incident"]["arn"] == incident
    assert document["incident"]["impact"] == 2
    assert document["account"] == OWNER
    assert document["link"].startswith("https://tocsin.example.com/console/incidents/")
