"""A stage that is due after a server restart still starts on time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, fresh_database_url
from tests.contacts.conftest import OWNER
from tests.contacts.engagement_support import (
    contact_stage,
    engage,
    escalation,
    page_messages,
    paged_person,
    pages_of,
    settle,
)
from tocsin.engine.clock import FakeClock
from tocsin.testing import RunningServer


@pytest.mark.parametrize("backend", BACKENDS)
def test_stage_fires_after_restart(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    url = fresh_database_url(backend, tmp_path, request)
    home = tmp_path / "home"
    with RunningServer(home, database_url=url) as server:
        keys = server.create_account(account_id=OWNER)
        contacts = server.client("ssm-contacts", keys)
        first, _ = paged_person(server, contacts, "first")
        second, second_channel = paged_person(server, contacts, "second")
        plan = escalation(
            contacts, "plan", contact_stage(10, (first, True)), contact_stage(10, (second, True))
        )
        engagement = engage(contacts, plan)
        started = server.clock.now()
        settle(server)

    # The new process starts after the second stage was due; its job is in the database.
    later = FakeClock(started + timedelta(minutes=12))
    with RunningServer(home, database_url=url, clock=later) as restarted:
        settle(restarted)
        contacts = restarted.client("ssm-contacts", keys)
        assert [p["ContactArn"] for p in pages_of(contacts, engagement)] == [first, second]
        assert len(page_messages(restarted, second_channel)) == 1
