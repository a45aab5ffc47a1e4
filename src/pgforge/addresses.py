"""Address classification: is an address this machine only (loopback), or every address (wildcard)?

The one answer to the question, whoever asks it:

* rules/site.py: which access lines need the server to listen beyond loopback;
* bundle/pgbouncer.py: PgBouncer's ``listen_addr`` and ``server_host``, and whether the server's
  ``listen_addresses`` reach ``server_host``;
* bundle/replication.py: which listen address names the primary for its replicas;
* hba_semantics.py: pg_hba.conf addresses (it adds the hba keywords ``samehost`` and ``all``,
  which only mean something in that file);
* audit/checks/hba_security.py (PGF209 listen_addresses), pgbouncer_security.py (PGF210) and
  coherence.py (PgBouncer's server host).

Loopback is ``localhost`` (any case), an address in 127.0.0.0/8 or ``::1``, or a network inside
those. Wildcard is ``*`` or the unspecified address ``0.0.0.0`` / ``::`` (listen on every
interface), or a network of prefix length 0 (``0.0.0.0/0``, ``::/0``: every address). The word
``all`` is not a wildcard here: it is one only as a pg_hba.conf keyword (hba_semantics.open_to_world);
in listen_addresses it would be a host name.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Iterable, Union

IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@lru_cache(maxsize=1024)
def network(text: str) -> IPNetwork | None:
    """``text`` as an IP network (a bare address is its /32 or /128), or None for anything else
    (cached: a fleet repeats a handful of addresses)."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def is_loopback_network(net: IPNetwork) -> bool:
    """127.0.0.0/8 or a part of it, or ::1/128 (integer tests: ipaddress's is_loopback is slow)."""
    if net.version == 4:
        return net.prefixlen >= 8 and int(net.network_address) >> 24 == 127
    return net.prefixlen == 128 and int(net.network_address) == 1


def is_wildcard_network(net: IPNetwork) -> bool:
    """Every address (prefix length 0), or the unspecified address 0.0.0.0 / :: itself."""
    return net.prefixlen == 0 or (net.num_addresses == 1 and int(net.network_address) == 0)


def is_loopback(text: str) -> bool:
    """``localhost``, a loopback IP address, or a network inside 127.0.0.0/8 or ::1/128."""
    if text.lower() == "localhost":
        return True
    net = network(text)
    return net is not None and is_loopback_network(net)


def is_wildcard(text: str) -> bool:
    """``*``, ``0.0.0.0``, ``::``, ``0.0.0.0/0`` or ``::/0``: every interface, or every address."""
    if text == "*":
        return True
    net = network(text)
    return net is not None and is_wildcard_network(net)


def all_loopback(text: str) -> bool:
    """A comma-separated address list (PgBouncer's listen_addr) that is loopback only."""
    return all(is_loopback(part.strip()) for part in text.split(","))


def listens_on(listen: Iterable[str], host: str) -> bool:
    """True when a server listening on ``listen`` (listen_addresses items) accepts a connection to
    ``host``: a wildcard, ``host`` itself, or ``localhost`` on one side and a loopback address on
    the other (``localhost`` resolves to the loopback addresses)."""
    for item in listen:
        if is_wildcard(item) or item == host:
            return True
        if (item.lower() == "localhost" and is_loopback(host)) or (host.lower() == "localhost" and is_loopback(item)):
            return True
    return False
