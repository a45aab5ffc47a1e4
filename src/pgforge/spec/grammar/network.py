"""Host names, IP addresses, listen addresses, DNS suffixes and CIDR networks, and the address field
of a pg_hba.conf line.

Part of :mod:`pgforge.spec.grammar` (the spec's input grammars; escaping where values leave is
:mod:`pgforge.render.escape`). The address of a parsed pg_hba.conf line is read by
:mod:`pgforge.parsers.hba`; what an address covers is :mod:`pgforge.hba_semantics`; loopback and
wildcard addresses are classified in :mod:`pgforge.addresses`.
"""

from __future__ import annotations

import ipaddress

from pgforge.spec.grammar.text import _full, show


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = _full(rf"{_LABEL}(?:\.{_LABEL})*")
_IP_CHARS = _full(r"[0-9A-Fa-f:.]+")
_ZONE = _full(r"[A-Za-z0-9_.-]{1,15}")


def is_host_name(value: str) -> bool:
    """RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 1-63 characters
    each, at most 253 in all; the last label is not all digits (RFC 3696 2: ``10.0.0.300`` is a
    mistyped address, not a name). No trailing dot, no underscore, no spaces."""
    if len(value) > 253 or not _HOST_NAME.fullmatch(value):
        return False
    return not value.rsplit(".", 1)[-1].isdigit()


def check_host_name(value: str) -> str:
    """A host name per RFC 1123 (see :func:`is_host_name`)."""
    if not is_host_name(value):
        raise ValueError(f"{show(value)} is not a host name: use letters, digits, hyphens and dots "
                         "(RFC 1123, such as db1.example.com)")
    return value


def is_ip_address(value: str) -> bool:
    """An IPv4 (dotted quad, no leading zeros) or IPv6 address, without a zone or mask."""
    if not _IP_CHARS.fullmatch(value):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def check_ip_address(value: str) -> str:
    """An IPv4 or IPv6 address (no ``%zone``, no ``/mask``)."""
    if not is_ip_address(value):
        raise ValueError(f"{show(value)} is not an IP address (such as 10.0.0.5 or 2001:db8::5)")
    return value


def check_host_or_ip(value: str) -> str:
    """Where a client connects to: an IP address or an RFC 1123 host name. It lands in libpq
    connection strings, pgbouncer.ini and pg_hba.conf, so nothing else is allowed."""
    if is_ip_address(value) or is_host_name(value):
        return value
    raise ValueError(f"{show(value)} is neither an IP address nor a host name: give an address such as 10.0.0.5 "
                     "or a name of letters, digits, hyphens and dots such as db1.example.com")


def check_listen_address(value: str) -> str:
    """One entry of PostgreSQL's ``listen_addresses``: ``*``, a host name, or an IP address, an
    IPv6 one optionally with its ``%interface`` zone (fe80::1%eth0)."""
    if value == "*" or is_host_name(value) or is_ip_address(value):
        return value
    addr, sep, zone = value.partition("%")
    if sep and is_ip_address(addr) and ":" in addr and _ZONE.fullmatch(zone):
        return value
    raise ValueError(f"listen address {show(value)}: give '*', a host name or an IP address")


def check_pgbouncer_listen(value: str) -> str:
    """PgBouncer's ``listen_addr``: ``*``, ``localhost`` or IP addresses, comma-separated. Spaces
    around the commas are dropped (the value is returned as ``a,b``); any other whitespace is refused."""
    parts = [p.strip(" ") for p in value.split(",")]
    for part in parts:
        if part in ("*", "localhost") or is_ip_address(part):
            continue
        raise ValueError(f"listen_addr {show(part)}: give '*', 'localhost' or IP addresses, comma-separated")
    return ",".join(parts)


def check_dns_suffix(value: str) -> str:
    """A pg_hba.conf address that starts with a dot: every host whose name ends in that suffix
    (``.example.com``). After the dot, an RFC 1123 host name."""
    if not value.startswith(".") or not is_host_name(value[1:]):
        raise ValueError(f"{show(value)} is not a DNS suffix: a leading dot then a domain name of letters, "
                         "digits, hyphens and dots, such as .example.com")
    return value


def check_cidr(value: str) -> str:
    """A network in CIDR form, strictly (no host bits set: ``10.0.1.5/24`` is refused). A bare
    address becomes a one-host network (``10.0.2.10`` -> ``10.0.2.10/32``): pg_hba.conf would look
    a bare address up as a host name."""
    if not _full(r"[0-9A-Fa-f:./]+").fullmatch(value):
        raise ValueError(f"not a valid CIDR address: {show(value)} (a network such as 10.0.1.0/24)")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not a valid CIDR address: {exc}") from None
    return network.with_prefixlen


def check_hba_address(value: str) -> str:
    """The address field of a pg_hba.conf host line: ``all``, ``samehost``, ``samenet``, a DNS
    suffix (``.example.com``) or a CIDR network (see :func:`check_cidr`, which normalises bare
    addresses). Host names are refused: they match only when forward and reverse DNS agree."""
    if value in ("all", "samehost", "samenet"):
        return value
    if value.startswith("."):
        return check_dns_suffix(value)
    return check_cidr(value)
