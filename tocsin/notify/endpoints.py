"""Addresses that subscription endpoints may not reach.

An SNS subscription endpoint is a URL that any user of an account chooses,
and the server posts to it. Link-local addresses are where cloud metadata
services listen (169.254.169.254 and fe80::/10), and the unspecified and
multicast addresses name no single receiver, so endpoints that name or
resolve to them are refused. Loopback and private addresses stay allowed,
because receivers of a self-hosted server usually live there.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedEndpoint(ValueError):
    """The endpoint names or resolves to an address that the server does not post to."""


def _blocked(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _blocked(address.ipv4_mapped)
    return address.is_link_local or address.is_unspecified or address.is_multicast


def check_host(host: str) -> None:
    """Raise BlockedEndpoint when ``host`` is a literal address that endpoints may not use."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if _blocked(address):
        raise BlockedEndpoint(
            f"{host} is a link-local, unspecified or multicast address, which subscription "
            "endpoints may not use"
        )


def check_resolved(host: str, port: int) -> None:
    """Raise BlockedEndpoint when ``host`` resolves to an address that endpoints may not use.

    NOTE: the HTTP client resolves the name again when it connects, so a name
    whose DNS records change in between is not caught. Literal addresses are.
    """
    check_host(host)
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        # The HTTP client reports the resolution failure itself.
        return
    for *_rest, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if _blocked(address):
            raise BlockedEndpoint(
                f"{host} resolves to {address}, a link-local, unspecified or multicast "
                "address, which subscription endpoints may not use"
            )
