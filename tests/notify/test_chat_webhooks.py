"""Chat webhooks of response plans: Slack, Teams, Mattermost and generic messages, and retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import BACKENDS, fresh_database_url
from tests.notify.conftest import HttpReceiver, ReceivedRequest, Reply, wait_until
from tests.notify.test_incident_notifications import (
    OWNER,
    Tenant,
    advance,
    create_plan,
    ready_tenant,
    run_jobs,
    timeline_events,
)
from tocsin.engine.jobs import Job
from tocsin.testing import RunningServer, free_port

SECRET = "generic-signing-secret"


def write_webhooks(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    path.write_text(json.dumps({OWNER: entries}), encoding="utf-8")


@pytest.fixture(params=BACKENDS)
def chat_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RunningServer, Path]]:
    """A server with a chat webhooks file, on each backend in turn."""
    webhooks = tmp_path / "chat-webhooks.json"
    write_webhooks(webhooks, {})
    url = fresh_database_url(request.param, tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url, chat_webhooks_file=webhooks) as running:
        yield running, webhooks


def posts(receiver: HttpReceiver, path: str) -> list[ReceivedRequest]:
    return [request for request in receiver.requests if request.path == path]


def contact_with_channel(owner: Tenant) -> str:
    """Create a contact whose plan pages one email channel, and return the contact's ARN."""
    contact: str = owner.contacts.create_contact(
        Alias="primary", Type="PERSONAL", Plan={"Stages": []}
    )["ContactArn"]
    channel = owner.contacts.create_contact_channel(
        ContactId=contact,
        Name="work mail",
        Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "primary@example.com"},
        DeferActivation=True,
    )["ContactChannelArn"]
    stage = {
        "DurationInMinutes": 0,
        "Targets": [{"ChannelTargetInfo": {"ContactChannelId": channel}}],
    }
    owner.contacts.update_contact(ContactId=contact, Plan={"Stages": [stage]})
    return contact


def test_chat_messages_on_create_update_resolve(
    chat_server: tuple[RunningServer, Path], receiver: HttpReceiver
) -> None:
    server, webhooks = chat_server
    base = f"http://127.0.0.1:{receiver.port}"
    write_webhooks(
        webhooks,
        {
            "ops-slack": {"kind": "slack", "url": f"{base}/slack/T0/B0/token"},
            "ops-teams": {"kind": "teams", "url": f"{base}/teams?sig=abc&sv=1.0"},
            "ops-mm": {"kind": "mattermost", "url": f"{base}/mattermost"},
            "ops-json": {"kind": "webhook", "url": f"{base}/generic", "secret": SECRET},
        },
    )
    owner = ready_tenant(server)
    contact = contact_with_channel(owner)
    plan = create_plan(
        owner,
        "chatty",
        engagements=[contact],
        tags={"tocsin:chat-webhooks": "ops-slack ops-teams ops-mm ops-json"},
    )

    incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    run_jobs(server)
    assert wait_until(lambda: len(receiver.requests) == 4)
    link_prefix = f"{server.url}/console/incidents/{OWNER}/"

    slack = posts(receiver, "/slack/T0/B0/token")[0]
    assert slack.headers["content-type"] == "application/json"
    slack_body = slack.json()
    assert slack_body["text"] == "Incident started: Checkout is failing (impact 2, OPEN)"
    assert slack_body["blocks"][0]["text"]["text"] == "Incident started: Checkout is failing"
    section = slack_body["blocks"][1]["text"]["text"]
    assert "*Impact:* 2" in section
    assert "*Status:* OPEN" in section
    assert f"*Account:* {OWNER}" in section
    assert slack_body["blocks"][2]["elements"][0]["url"].startswith(link_prefix)

    teams = posts(receiver, "/teams?sig=abc&sv=1.0")[0].json()
    assert teams["type"] == "message"
    attachment = teams["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "Incident started: Checkout is failing"
    facts = {fact["title"]: fact["value"] for fact in card["body"][1]["facts"]}
    assert facts == {"Impact": "2", "Status": "OPEN", "Account": OWNER}
    assert card["actions"][0]["type"] == "Action.OpenUrl"
    assert card["actions"][0]["url"].startswith(link_prefix)

    mattermost = posts(receiver, "/mattermost")[0].json()
    assert mattermost["text"].startswith("#### Incident started: Checkout is failing\n")
    assert "**Impact:** 2 | **Status:** OPEN" in mattermost["text"]
    assert f"[Open the incident]({link_prefix}" in mattermost["text"]

    generic = posts(receiver, "/generic")[0]
    generic_body = generic.json()
    assert generic_body["messageId"] == generic.headers["idempotency-key"]
    assert generic.headers["x-tocsin-message-id"] == generic_body["messageId"]
    expected = hmac.new(SECRET.encode(), generic.body, hashlib.sha256).hexdigest()
    assert generic.headers["x-tocsin-signature"] == f"sha256={expected}"
    assert generic_body["event"] == "created"
    assert generic_body["incident"]["arn"] == incident
    assert generic_body["incident"]["title"] == "Checkout is failing"
    assert generic_body["account"] == OWNER

    # By now the engagement has paged the contact, so updates carry its acknowledgement link.
    owner.incidents.update_incident_record(arn=incident, impact=1)
    run_jobs(server)
    assert wait_until(lambda: len(receiver.requests) == 8)
    update = posts(receiver, "/generic")[1].json()
    assert update["event"] == "updated"
    assert update["changes"] == [{"attribute": "impact", "oldValue": 2, "newValue": 1}]
    assert update["messageId"] != generic_body["messageId"]
    assert len(update["acknowledgeLinks"]) == 1
    ack = update["acknowledgeLinks"][0]
    assert ack["contactArn"] == contact
    assert ack["url"].startswith(f"{server.url}/ack/")
    page = httpx.get(ack["url"])
    assert page.status_code == 200
    assert "Acknowledge this page" in page.text
    slack_update = posts(receiver, "/slack/T0/B0/token")[1].json()
    assert "impact: 2 -> 1" in slack_update["blocks"][1]["text"]["text"]
    assert slack_update["blocks"][2]["elements"][1]["url"] == ack["url"]
    teams_update = posts(receiver, "/teams?sig=abc&sv=1.0")[1].json()
    teams_actions = teams_update["attachments"][0]["content"]["actions"]
    assert teams_actions[1]["url"] == ack["url"]
    assert ack["url"] in posts(receiver, "/mattermost")[1].json()["text"]

    owner.incidents.update_incident_record(arn=incident, status="RESOLVED")
    run_jobs(server)
    assert wait_until(lambda: len(receiver.requests) == 12)
    resolved = posts(receiver, "/generic")[2].json()
    assert resolved["event"] == "resolved"
    assert resolved["incident"]["status"] == "RESOLVED"
    assert posts(receiver, "/slack/T0/B0/token")[2].json()["text"] == (
        "Incident resolved: Checkout is failing (impact 1, RESOLVED)"
    )
    facts = posts(receiver, "/teams?sig=abc&sv=1.0")[2].json()["attachments"][0]["content"]
    assert {fact["title"]: fact["value"] for fact in facts["body"][1]["facts"]}["Status"] == (
        "RESOLVED"
    )
    assert "**Status:** RESOLVED" in posts(receiver, "/mattermost")[2].json()["text"]


class RestartableReceiver:
    """An HTTP receiver on a fixed port of 127.0.0.1 that can go down and come back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[ReceivedRequest] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append(ReceivedRequest("POST", self.path, headers, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _next_chat_attempt_due(server: RunningServer) -> Any:
    with server.runtime.database.session() as session:
        return session.scalar(
            select(Job.due_at)
            .where(Job.kind == "notify.chat_delivery", Job.status == "pending")
            .order_by(Job.due_at)
            .limit(1)
        )


def test_chat_delivery_survives_ten_minute_outage(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """One backend: the retry chain is the same on both, and the scenario is slow."""
    receiver = RestartableReceiver()
    webhooks = tmp_path / "chat-webhooks.json"
    write_webhooks(
        webhooks, {"ops": {"kind": "webhook", "url": f"http://127.0.0.1:{receiver.port}/hook"}}
    )
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url, chat_webhooks_file=webhooks) as server:
        owner = ready_tenant(server)
        plan = create_plan(owner, "outage", tags={"tocsin:chat-webhooks": "ops"})
        incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
        run_jobs(server)

        outage_ends = server.clock.now() + timedelta(minutes=10)
        while server.clock.now() < outage_ends:
            due = _next_chat_attempt_due(server)
            assert due is not None, "the delivery gave up during the outage"
            advance(server, max(due - server.clock.now(), timedelta(0)))
        failed = timeline_events(owner, incident, "Notification Attempt Failed")
        assert len(failed) >= 4
        assert [item["attempt"] for item in failed] == list(range(1, len(failed) + 1))
        assert len({item["messageId"] for item in failed}) == 1
        assert "cannot reach chat webhook http://127.0.0.1" in failed[0]["error"]

        receiver.start()
        try:
            due = _next_chat_attempt_due(server)
            assert due is not None
            advance(server, max(due - server.clock.now(), timedelta(0)))
            assert wait_until(lambda: len(receiver.requests) == 1)
            advance(server, timedelta(hours=3))
            assert len(receiver.requests) == 1
        finally:
            receiver.stop()

        delivered = receiver.requests[0]
        assert delivered.headers["idempotency-key"] == failed[0]["messageId"]
        assert delivered.json()["messageId"] == failed[0]["messageId"]
        assert delivered.json()["incident"]["arn"] == incident
        assert _next_chat_attempt_due(server) is None
        assert timeline_events(owner, incident, "Notification Failed") == []


def test_chat_webhook_gives_up_on_rejection(
    tmp_path: Path, request: pytest.FixtureRequest, receiver: HttpReceiver
) -> None:
    """One backend: only the handling of the receiver's response is under test."""
    receiver.reply = Reply(status=404, body=b"no such hook")
    webhooks = tmp_path / "chat-webhooks.json"
    write_webhooks(
        webhooks, {"gone": {"kind": "slack", "url": f"http://127.0.0.1:{receiver.port}/x"}}
    )
    url = fresh_database_url("sqlite", tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url, chat_webhooks_file=webhooks) as server:
        owner = ready_tenant(server)
        plan = create_plan(owner, "rejected", tags={"tocsin:chat-webhooks": "gone"})
        incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
        run_jobs(server)

        assert len(receiver.requests) == 1
        failures = timeline_events(owner, incident, "Notification Failed")
        assert len(failures) == 1
        assert failures[0]["webhook"] == "gone"
        assert failures[0]["attempt"] == 1
        assert failures[0]["error"] == (
            f"chat webhook http://127.0.0.1:{receiver.port} returned HTTP 404: no such hook"
        )
        assert timeline_events(owner, incident, "Notification Attempt Failed") == []
        assert _next_chat_attempt_due(server) is None


@pytest.mark.parametrize("chat_server", ["sqlite"], indirect=True)
def test_unknown_webhook_kind_recorded(chat_server: tuple[RunningServer, Path]) -> None:
    """One backend: only the check of the webhooks file is under test."""
    server, webhooks = chat_server
    write_webhooks(webhooks, {"bad": {"kind": "irc", "url": "http://127.0.0.1:9/x"}})
    owner = ready_tenant(server)
    plan = create_plan(owner, "odd", tags={"tocsin:chat-webhooks": "bad bad"})
    incident = owner.incidents.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    run_jobs(server)

    failures = timeline_events(owner, incident, "Notification Failed")
    assert len(failures) == 1
    assert failures[0]["webhook"] == "bad"
    assert "has kind 'irc'" in failures[0]["reason"]
