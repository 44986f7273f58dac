"""Subscription endpoints that would reach link-local, unspecified or multicast addresses."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tocsin.notify import endpoints
from tocsin.testing import RunningServer


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:8080/",
        "http://224.0.0.1/",
    ],
)
def test_subscribe_rejects_blocked_address(server: RunningServer, endpoint: str) -> None:
    sns = server.client("sns", server.create_account())
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    protocol = endpoint.split(":", 1)[0]
    with pytest.raises(ClientError) as excinfo:
        sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint)
    error = excinfo.value.response["Error"]
    assert error["Code"] == "InvalidParameter"
    assert "subscription endpoints may not use" in error["Message"]
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def fake_answers(address: str) -> Any:
    def getaddrinfo(*_args: Any, **_kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 80))]

    return getaddrinfo


def test_name_resolving_to_metadata_address_is_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_answers("169.254.169.254"))
    with pytest.raises(endpoints.BlockedEndpoint) as excinfo:
        endpoints.check_resolved("receiver.example.com", 80)
    assert "resolves to 169.254.169.254" in str(excinfo.value)


def test_loopback_and_private_names_are_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    for address in ("127.0.0.1", "10.1.2.3"):
        monkeypatch.setattr(socket, "getaddrinfo", fake_answers(address))
        endpoints.check_resolved("receiver.example.com", 80)
