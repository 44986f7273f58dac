"""Helpers of the engagement tests: contacts with activated channels, time and messages."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select

from tests.contacts.conftest import code_in, outbox, personal
from tocsin.contacts.delivery import SUBJECT as ACTIVATION_SUBJECT
from tocsin.contacts.models import ContactChannel, OutboxMessage
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job, JobStatus
from tocsin.testing import RunningServer


def settle(server: RunningServer, timeout: float = 15.0) -> None:
    """Run every job that is due now and wait until no due job is left open."""
    engine = server.runtime.engine
    assert engine is not None
    deadline = time.monotonic() + timeout
    while True:
        engine.run_due()
        with server.runtime.database.session() as session:
            now = server.clock.now()
            open_jobs = session.scalar(
                select(func.count(Job.id)).where(
                    or_(
                        Job.status == JobStatus.RUNNING.value,
                        (Job.status == JobStatus.PENDING.value) & (Job.due_at <= now),
                    )
                )
            )
        if not open_jobs:
            return
        assert time.monotonic() < deadline, f"{open_jobs} due jobs are still open"
        time.sleep(0.02)


def advance(server: RunningServer, **delta: float) -> None:
    """Move the fake clock forward, then run what became due."""
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(timedelta(**delta))
    settle(server)


def activated_channel(
    server: RunningServer, client: Any, contact: str, address: str, kind: str = "EMAIL"
) -> str:
    """Create a channel of ``contact``, activate it with the code from the outbox, return it."""
    arn: str = client.create_contact_channel(
        ContactId=contact,
        Name=f"{kind.lower()} {address.split('@')[0].lstrip('+')}",
        Type=kind,
        DeliveryAddress={"SimpleAddress": address},
    )["ContactChannelArn"]
    code = code_in(outbox(server, arn)[0].body)
    client.activate_contact_channel(ContactChannelId=arn, ActivationCode=code)
    return arn


def mark_activated(server: RunningServer, channel_arn: str) -> None:
    """Activate a channel in the database, for servers whose SMTP cannot deliver the code."""
    with server.runtime.database.session() as session:
        channel = session.scalar(select(ContactChannel).where(ContactChannel.arn == channel_arn))
        assert channel is not None
        channel.activation_status = "ACTIVATED"


def channel_stage(*channels: str, minutes: int = 0, retry: int | None = None) -> dict[str, Any]:
    targets = []
    for arn in channels:
        info: dict[str, Any] = {"ContactChannelId": arn}
        if retry is not None:
            info["RetryIntervalInMinutes"] = retry
        targets.append({"ChannelTargetInfo": info})
    return {"DurationInMinutes": minutes, "Targets": targets}


def contact_stage(minutes: int, *targets: tuple[str, bool]) -> dict[str, Any]:
    return {
        "DurationInMinutes": minutes,
        "Targets": [
            {"ContactTargetInfo": {"ContactId": arn, "IsEssential": essential}}
            for arn, essential in targets
        ],
    }


def paged_person(server: RunningServer, client: Any, alias: str) -> tuple[str, str]:
    """Create a personal contact with one activated email channel in a one-stage plan."""
    contact = personal(client, alias)
    channel = activated_channel(server, client, contact, f"{alias}@example.com")
    client.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(channel)]})
    return contact, channel


def escalation(client: Any, alias: str, *stages: dict[str, Any]) -> str:
    arn: str = client.create_contact(Alias=alias, Type="ESCALATION", Plan={"Stages": list(stages)})[
        "ContactArn"
    ]
    return arn


def engage(client: Any, contact: str, **extra: Any) -> str:
    request = {"Sender": "tester", "Subject": "Checkout down", "Content": "Orders fail", **extra}
    arn: str = client.start_engagement(ContactId=contact, **request)["EngagementArn"]
    return arn


def page_messages(server: RunningServer, channel_arn: str) -> list[OutboxMessage]:
    """Return the page messages (not activation codes) in the outbox for ``channel_arn``."""
    rows = outbox(server, channel_arn, count=0)
    return [row for row in rows if row.subject != ACTIVATION_SUBJECT]


def accept_code_in(body: str) -> str:
    match = re.search(r"Accept code: (\d{6})", body)
    assert match is not None, body
    return match.group(1)


def ack_path_in(body: str) -> str:
    match = re.search(r"Acknowledge: https?://[^/\s]+(/ack/[A-Za-z0-9_-]+)", body)
    assert match is not None, body
    return match.group(1)


def pages_of(client: Any, engagement: str) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = client.list_pages_by_engagement(EngagementId=engagement)["Pages"]
    return pages


def receipt_types(client: Any, page: str) -> list[str]:
    receipts = client.list_page_receipts(PageId=page)["Receipts"]
    return [receipt["ReceiptType"] for receipt in receipts]
