"""One-click acknowledgement links: GET shows a confirm button, POST acknowledges."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.contacts.engagement_support import (
    ack_path_in,
    advance,
    contact_stage,
    engage,
    escalation,
    page_messages,
    paged_person,
    pages_of,
    receipt_types,
    settle,
)
from tocsin.testing import RunningServer


def fetch(server: RunningServer, path: str, method: str = "GET") -> tuple[int, str, str]:
    """Return status, content type and body of a request to the server."""
    request = urllib.request.Request(
        server.url + path, method=method, data=b"" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_link_get_confirms_post_acknowledges(server: RunningServer, contacts: Any) -> None:
    first, first_channel = paged_person(server, contacts, "first")
    second, second_channel = paged_person(server, contacts, "second")
    plan = escalation(
        contacts, "plan", contact_stage(5, (first, True)), contact_stage(5, (second, True))
    )
    engagement = engage(contacts, plan, Subject="<b>Checkout</b> down")
    settle(server)
    page = pages_of(contacts, engagement)[0]["PageArn"]
    path = ack_path_in(page_messages(server, first_channel)[0].body)

    # A GET, as a mail system's link scanner makes, changes nothing.
    status, content_type, body = fetch(server, path)
    assert status == 200
    assert content_type.startswith("text/html")
    assert '<form method="post">' in body
    assert "&lt;b&gt;Checkout&lt;/b&gt; down" in body
    assert "<b>Checkout</b>" not in body
    assert receipt_types(contacts, page) == ["SENT"]

    advance(server, minutes=1)
    status, _, body = fetch(server, path, "POST")
    assert status == 200
    assert "Page acknowledged" in body
    receipts = contacts.list_page_receipts(PageId=page)["Receipts"]
    assert [r["ReceiptType"] for r in receipts] == ["SENT", "READ"]
    assert receipts[1]["ContactChannelArn"] == first_channel
    assert contacts.describe_page(PageId=page)["ReadTime"] == server.clock.now()

    status, _, body = fetch(server, path, "POST")
    assert status == 200
    assert "already acknowledged" in body
    assert receipt_types(contacts, page) == ["SENT", "READ"]

    # The target was essential, so the second stage never starts.
    advance(server, minutes=10)
    assert page_messages(server, second_channel) == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_tokens_not_found(server: RunningServer, contacts: Any, method: str) -> None:
    contact, channel = paged_person(server, contacts, "person")
    engagement = engage(contacts, contact)
    settle(server)
    path = ack_path_in(page_messages(server, channel)[0].body)
    token = path.rsplit("/", 1)[-1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, "not-a-token", token[:20], "x" * 300):
        status, content_type, body = fetch(server, f"/ack/{bad}", method)
        assert status == 404
        assert content_type.startswith("text/plain")
        assert "not valid" in body
    page = pages_of(contacts, engagement)[0]["PageArn"]
    assert receipt_types(contacts, page) == ["SENT"]


def test_link_page_cannot_be_framed_or_changed(server: RunningServer, contacts: Any) -> None:
    contact, channel = paged_person(server, contacts, "person")
    engagement = engage(contacts, contact)
    settle(server)
    path = ack_path_in(page_messages(server, channel)[0].body)
    request = urllib.request.Request(server.url + path)
    with urllib.request.urlopen(request, timeout=10) as response:
        headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]

    for method in ("PUT", "DELETE", "PATCH"):
        status, content_type, body = fetch(server, path, method)
        assert status == 405, method
        assert content_type.startswith("text/plain")
        assert f"Method {method} is not allowed" in body
    page = pages_of(contacts, engagement)[0]["PageArn"]
    assert receipt_types(contacts, page) == ["SENT"]
