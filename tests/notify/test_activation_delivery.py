"""Activation codes of SMS and voice channels through the configured providers, via boto3."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import BACKENDS, fresh_database_url
from tests.notify.conftest import HttpReceiver, Reply, wait_until
from tocsin.contacts.channels import SEND_JOB_KIND
from tocsin.contacts.models import OutboxMessage
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job
from tocsin.notify.providers import ProviderSettingError
from tocsin.testing import RunningServer

OWNER = "111111111111"


def create_channel(server: RunningServer, channel_type: str, address: str) -> tuple[Any, str]:
    """Create a contact with one channel in account OWNER; return the client and channel ARN."""
    client = server.client("ssm-contacts", server.create_account(account_id=OWNER))
    contact = client.create_contact(Alias="person", Type="PERSONAL", Plan={"Stages": []})
    arn: str = client.create_contact_channel(
        ContactId=contact["ContactArn"],
        Name=f"{channel_type.lower()} channel",
        Type=channel_type,
        DeliveryAddress={"SimpleAddress": address},
    )["ContactChannelArn"]
    return client, arn


def activation_jobs(server: RunningServer) -> list[Job]:
    with server.runtime.database.session() as session:
        jobs = list(session.scalars(select(Job).where(Job.kind == SEND_JOB_KIND)))
        session.expunge_all()
    return jobs


@pytest.mark.parametrize("backend", BACKENDS)
def test_sms_activation_through_webhook(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, receiver: HttpReceiver
) -> None:
    url = fresh_database_url(backend, tmp_path, request)
    sms_url = f"webhook+http://127.0.0.1:{receiver.port}/sms?secret=abc"
    with RunningServer(tmp_path / "home", database_url=url, sms_url=sms_url) as server:
        contacts, arn = create_channel(server, "SMS", "+12065550123")
        [delivered] = receiver.wait_for(1)
        payload = delivered.json()
        assert payload["type"] == "SMS"
        assert payload["to"] == "+12065550123"
        assert payload["channelArn"] == arn
        assert payload["accountId"] == OWNER
        assert delivered.headers["idempotency-key"] == payload["key"]
        code = re.search(r"\b(\d{6})\b", payload["body"])
        assert code is not None

        contacts.activate_contact_channel(ContactChannelId=arn, ActivationCode=code.group(1))
        status = contacts.get_contact_channel(ContactChannelId=arn)["ActivationStatus"]
        assert status == "ACTIVATED"
        with server.runtime.database.session() as session:
            assert session.scalars(select(OutboxMessage)).all() == []


def test_permanent_failure_ends_activation_job(tmp_path: Path, receiver: HttpReceiver) -> None:
    receiver.reply = Reply(status=403, body=b"forbidden")
    sms_url = f"webhook+http://127.0.0.1:{receiver.port}/sms"
    with RunningServer(tmp_path, sms_url=sms_url) as server:
        create_channel(server, "SMS", "+12065550123")
        assert len(receiver.wait_for(1)) == 1
        assert wait_until(lambda: [job.status for job in activation_jobs(server)] == ["done"])
        [job] = activation_jobs(server)
        assert job.attempts == 1
        assert len(receiver.requests) == 1


def test_transient_failure_retries_activation_job(tmp_path: Path, receiver: HttpReceiver) -> None:
    receiver.reply = Reply(status=503, body=b"busy")
    sms_url = f"webhook+http://127.0.0.1:{receiver.port}/sms"
    with RunningServer(tmp_path, sms_url=sms_url) as server:
        create_channel(server, "SMS", "+12065550123")
        assert len(receiver.wait_for(1)) == 1
        assert wait_until(lambda: activation_jobs(server)[0].last_error is not None)
        [job] = activation_jobs(server)
        assert job.status == "pending"
        assert "returned HTTP 503" in (job.last_error or "")

        receiver.reply = Reply(status=200)
        assert isinstance(server.clock, FakeClock)
        server.clock.advance(minutes=10)
        requests = receiver.wait_for(2)
        assert len(requests) == 2
        assert requests[0].headers["idempotency-key"] == requests[1].headers["idempotency-key"]
        assert wait_until(lambda: activation_jobs(server)[0].status == "done")


def test_bad_provider_url_stops_start(tmp_path: Path) -> None:
    with pytest.raises(ProviderSettingError) as failure:
        RunningServer(tmp_path, voice_url="nosuchservice://x/{to}")
    assert "TOCSIN_VOICE_URL" in str(failure.value)
