"""Which address a request came from: the peer, or, when the peer is one of the deployment's
trusted reverse proxies (`trusted_proxies` in config.yaml), the client its X-Forwarded-For
names. A header from anyone else is ignored: a client could write any address into it."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import web

from web.appkeys import CONTEXT

Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"   # no peer address (a Unix socket): every such request shares one


def _parsed(text: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)   # ::ffff:1.2.3.4 is 1.2.3.4
    return mapped or address


def _trusted(address: IPv4Address | IPv6Address, proxies: Iterable[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(peer: str | None, forwarded_for: Iterable[str],
                   proxies: tuple[Network, ...]) -> str:
    """The client's address. X-Forwarded-For is read from the right, each proxy appending the
    address it was reached from: the first hop that is not a trusted proxy is the client.
    An entry that is not an address ends the walk at the last hop that was vouched for."""
    peer_address = _parsed(peer or "")
    if peer_address is None:
        return UNKNOWN
    client = peer_address
    if not _trusted(client, proxies):
        return str(client)
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _parsed(hop)
        if address is None:
            break
        client = address
        if not _trusted(client, proxies):
            break
    return str(client)


def of_request(request: web.Request) -> str:
    return client_address(request.remote, request.headers.getall("X-Forwarded-For", ()),
                          request.app[CONTEXT].config.trusted_proxies)
