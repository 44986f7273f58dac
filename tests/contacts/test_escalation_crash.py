"""A worker process killed between a page's send and its record, on PostgreSQL.

Two worker processes share the database. The SMTP server kills the first one
as soon as the first message arrives, before the worker can commit the SENT
receipt. The second process takes the expired leases over, sends that
message again with the same Message-ID, so that a receiver drops the copy,
and goes on with the page's next stage.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import fresh_database_url
from tests.contacts.conftest import OWNER, personal
from tests.contacts.engagement_support import channel_stage, engage, mark_activated, pages_of
from tocsin.testing import RunningServer, free_port

REPOSITORY = Path(__file__).resolve().parents[2]

# A worker process whose fake clock reads START. It runs page sends and stages
# from the moment it reads a line on its standard input.
WORKER = """
import sys, time
from datetime import datetime
from pathlib import Path
from tocsin.config import Settings
from tocsin.contacts import escalation
from tocsin.engine.clock import FakeClock
from tocsin.engine.worker import Engine, JobRegistry
from tocsin.iam.crypto import SecretBox, load_or_create_key
from tocsin.store.database import Database

url, home, smtp_url, start = sys.argv[1:5]
settings = Settings(home=Path(home), database_url=url, smtp_url=smtp_url)
registry = JobRegistry()
key = load_or_create_key(Path(home), None, create=False)
escalation.register(registry, settings, SecretBox(key))
clock = FakeClock(datetime.fromisoformat(start))
engine = Engine(Database(url), clock, registry, workers=1, poll_seconds=0.1, lease_seconds=5)
print("ready", flush=True)
sys.stdin.readline()
engine.start()
time.sleep(60)
"""


class KillingInbox:
    """An SMTP handler that keeps messages and kills ``victim`` when the first one arrives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.victim: int | None = None
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        with self.lock:
            self.messages.append(envelope.content)
            if self.victim is not None:
                os.kill(self.victim, signal.SIGKILL)
                self.victim = None
            self.changed.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.lock:
            return self.changed.wait_for(lambda: len(self.messages) >= count, timeout)


def start_worker(url: str, home: Path, smtp_url: str, start: datetime) -> subprocess.Popen[str]:
    """Start a worker process and wait until it is ready; ``go`` lets it run jobs."""
    command = [sys.executable, "-c", WORKER, url, str(home), smtp_url, start.isoformat()]
    process = subprocess.Popen(
        command, cwd=REPOSITORY, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()


def test_killed_worker_page_sent_once(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = fresh_database_url("postgresql", tmp_path, request)
    inbox = KillingInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp_url = f"smtp://127.0.0.1:{port}"
    home = tmp_path / "home"
    workers: list[subprocess.Popen[str]] = []
    try:
        with RunningServer(home, database_url=url, workers=0, smtp_url=smtp_url) as server:
            contacts = server.client("ssm-contacts", server.create_account(account_id=OWNER))
            contact = personal(contacts, "person")
            channel = contacts.create_contact_channel(
                ContactId=contact,
                Name="mail",
                Type="EMAIL",
                DeliveryAddress={"SimpleAddress": "person@example.com"},
                DeferActivation=True,
            )["ContactChannelArn"]
            mark_activated(server, channel)
            stages = [channel_stage(channel, minutes=1), channel_stage(channel)]
            contacts.update_contact(ContactId=contact, Plan={"Stages": stages})
            engagement = engage(contacts, contact)
            page = pages_of(contacts, engagement)[0]["PageArn"]

            # The first worker's clock has both stages due, so it claims both sends.
            start = server.clock.now()
            first = start_worker(url, home, smtp_url, start + timedelta(minutes=5))
            workers.append(first)
            inbox.victim = first.pid
            go(first)
            assert first.wait(timeout=30) == -signal.SIGKILL
            assert len(inbox.messages) == 1
            receipts = contacts.list_page_receipts(PageId=page)["Receipts"]
            assert receipts == []

            # The second worker's clock is past the first one's leases.
            second = start_worker(url, home, smtp_url, start + timedelta(minutes=10))
            workers.append(second)
            go(second)
            assert inbox.wait_for(3, timeout=30)
            # A worker commits the SENT receipt just after the SMTP server accepts the message.
            deadline = time.monotonic() + 10
            while len(contacts.list_page_receipts(PageId=page)["Receipts"]) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            receipts = contacts.list_page_receipts(PageId=page)["Receipts"]
            assert [receipt["ReceiptType"] for receipt in receipts] == ["SENT", "SENT"]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        controller.stop()

    parsed = [email.message_from_bytes(raw, policy=email.policy.default) for raw in inbox.messages]
    ids = [message["Message-ID"] for message in parsed]
    assert len(ids) == 3
    # The resend after the crash carries the first send's key, and the next stage its own.
    assert ids[0] == ids[1]
    assert ids[2] != ids[0]
    assert len(set(ids)) == 2
