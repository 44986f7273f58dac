"""Each webhook accepts a limited number of posts per minute, counted in the database."""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import fresh_database_url
from tests.events.events_support import Account, application, drain, incident_records, new_account
from tests.events.test_webhook_groups import alert, group, send, timeline_data
from tests.events.test_webhook_incidents import FIRING_ALERTS, route_to_plan, sqlite_server
from tests.events.webhook_support import post, register
from tocsin.engine.clock import FakeClock
from tocsin.events.webhook_quotas import QUOTA_EVENT
from tocsin.testing import RunningServer

__all__ = ["application", "sqlite_server"]

QUOTA_LOGGER = "tocsin.events.webhook_quotas"


def seconds_left_in_minute(server: RunningServer) -> int:
    now = server.clock.now()
    assert now.microsecond == 0
    return 60 - now.second


def test_post_over_limit_gets_429(server: RunningServer, application: Account) -> None:
    """Runs on both backends, because the count is one UPDATE that each must run atomically."""
    webhook_id, url = register(
        server, "generic", account_id=application.account_id, max_per_minute=2
    )
    assert post(url, {"check": "api"}).status_code == 200
    assert post(url, {"check": "api"}).status_code == 200

    rejected = post(url, {"check": "api"})

    assert rejected.status_code == 429
    expected_wait = seconds_left_in_minute(server)
    assert rejected.headers["Retry-After"] == str(expected_wait)
    body = rejected.json()
    assert body["MaxPerMinute"] == 2
    assert body["RetryAfterSeconds"] == expected_wait
    assert body["message"] == (
        f"Webhook {webhook_id} accepts at most 2 posts per minute; "
        f"send this one again in {expected_wait} seconds."
    )

    assert isinstance(server.clock, FakeClock)
    server.clock.advance(seconds=expected_wait)
    assert post(url, {"check": "api"}).status_code == 200


def test_concurrent_posts_counted_exactly(server: RunningServer, application: Account) -> None:
    _, url = register(server, "generic", account_id=application.account_id, max_per_minute=5)

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda n: post(url, {"n": n}).status_code, range(12)))

    assert statuses.count(200) == 5
    assert statuses.count(429) == 7


def test_rejected_post_stores_no_event(sqlite_server: RunningServer) -> None:
    account = new_account(sqlite_server, "222233334444")
    route_to_plan(account, {"source": ["tocsin.webhook"]})
    _, url = register(sqlite_server, "generic", account_id=account.account_id, max_per_minute=1)

    assert post(url, {"check": "first"}).status_code == 200
    assert post(url, {"check": "second"}).status_code == 429
    # A body of the wrong format gets 429 too, because the count comes before conversion.
    assert post(url, []).status_code == 429
    drain(sqlite_server)

    (incident,) = incident_records(account)
    triggers = timeline_data(account, incident["arn"], "SSM Incident Trigger")
    assert len(triggers) == 1


def test_server_default_limit(tmp_path: Path, sqlite_template: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "tocsin.db")
    url = f"sqlite:///{tmp_path / 'tocsin.db'}"
    with RunningServer(tmp_path / "home", database_url=url, webhook_max_per_minute=1) as running:
        account = new_account(running, "222233334444")
        _, own_url = register(running, "generic", account_id=account.account_id)
        _, larger_url = register(
            running, "generic", account_id=account.account_id, max_per_minute=3
        )

        assert post(own_url, {"n": 1}).status_code == 200
        assert post(own_url, {"n": 2}).status_code == 429
        assert [post(larger_url, {"n": n}).status_code for n in range(4)] == [200, 200, 200, 429]


def test_one_notice_per_window(server: RunningServer, application: Account) -> None:
    """The first rejection of a window notes it on the open incident of the webhook's group."""
    route_to_plan(application, FIRING_ALERTS)
    webhook_id, url = register(
        server, "alertmanager", account_id=application.account_id, max_per_minute=2
    )
    firing = group("firing", [alert("a1")])
    send(url, firing)
    drain(server)
    (incident,) = incident_records(application)

    send(url, firing)
    rejected = [post(url, firing).status_code for _ in range(3)]

    assert rejected == [429, 429, 429]
    (notice,) = timeline_data(application, incident["arn"], QUOTA_EVENT)
    assert notice["webhookId"] == webhook_id
    assert notice["maxPerMinute"] == 2
    assert "went over its limit of 2 posts per minute" in notice["summary"]

    assert isinstance(server.clock, FakeClock)
    server.clock.advance(seconds=seconds_left_in_minute(server))
    assert [post(url, firing).status_code for _ in range(4)] == [200, 200, 429, 429]
    assert len(timeline_data(application, incident["arn"], QUOTA_EVENT)) == 2


def test_notice_without_incident_is_logged(
    sqlite_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    account = new_account(sqlite_server, "222233334444")
    webhook_id, url = register(
        sqlite_server, "generic", account_id=account.account_id, max_per_minute=1
    )
    caplog.set_level(logging.WARNING, logger=QUOTA_LOGGER)

    statuses = [post(url, {"n": n}).status_code for n in range(4)]

    assert statuses == [200, 429, 429, 429]
    warnings = [record for record in caplog.records if record.name == QUOTA_LOGGER]
    assert len(warnings) == 1
    assert webhook_id in warnings[0].getMessage()
    assert "over its limit of 1 posts per minute" in warnings[0].getMessage()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_count_survives_restart(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A restarted server, or a second one on the same database, goes on with the same count."""
    url = fresh_database_url(backend, tmp_path, request)
    # The fake clock does not move while the servers restart, so every post is in one window.
    clock = FakeClock()
    with RunningServer(tmp_path / "home", database_url=url, clock=clock) as first:
        account = new_account(first, "222233334444")
        _, path = register(first, "generic", account_id=account.account_id, max_per_minute=3)
        token_path = path.removeprefix(first.url)
        assert post(first.url + token_path, {"n": 1}).status_code == 200

        with RunningServer(tmp_path / "home", database_url=url, clock=clock) as second:
            assert post(second.url + token_path, {"n": 2}).status_code == 200
    with RunningServer(tmp_path / "home", database_url=url, clock=clock) as third:
        assert post(third.url + token_path, {"n": 3}).status_code == 200
        assert post(third.url + token_path, {"n": 4}).status_code == 429
        clock.advance(timedelta(minutes=1))
        assert post(third.url + token_path, {"n": 5}).status_code == 200
