"""Which address a request came from: the peer, unless a trusted proxy vouches for another."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from web.client_address import UNKNOWN, client_address

PROXIES = (ip_network("10.0.0.0/8"), ip_network("::1/128"))


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    # Not a trusted proxy: whatever it writes into the header is its own claim.
    ("203.0.113.7", ["198.51.100.20"], "203.0.113.7"),
    ("203.0.113.7", [], "203.0.113.7"),
    # A trusted proxy: the nearest hop that is not one of ours is the client.
    ("10.0.0.5", ["198.51.100.20"], "198.51.100.20"),
    ("10.0.0.5", ["192.0.2.1, 198.51.100.20, 10.0.0.9"], "198.51.100.20"),
    ("10.0.0.5", ["192.0.2.1", "198.51.100.20"], "198.51.100.20"),   # the header twice
    ("::1", [" 2001:db8::7 "], "2001:db8::7"),
    # A client's forged entries left of the real hop are never reached.
    ("10.0.0.5", ["10.0.0.1, 198.51.100.20"], "198.51.100.20"),
    # Only proxies on the way: the farthest of them.
    ("10.0.0.5", ["10.0.0.7"], "10.0.0.7"),
    # A trusted proxy that forwards nothing, or garbage: the last vouched-for hop.
    ("10.0.0.5", [], "10.0.0.5"),
    ("10.0.0.5", ["not-an-address"], "10.0.0.5"),
    ("10.0.0.5", ["198.51.100.20, unknown"], "10.0.0.5"),
    (None, ["198.51.100.20"], UNKNOWN),
    # An IPv4 client reaching a dual-stack socket is the same client as over IPv4.
    ("::ffff:198.51.100.7", [], "198.51.100.7"),
])
def test_client_address(peer, forwarded, expected):
    assert client_address(peer, forwarded, PROXIES) == expected


def test_with_no_trusted_proxy_the_peer_is_the_client():
    assert client_address("10.0.0.5", ["198.51.100.20"], ()) == "10.0.0.5"
