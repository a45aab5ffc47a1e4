"""pg_hba.conf semantics: which connections a line matches, and what pgforge says about a line.

The one implementation of the facts the generator and the audit both state about pg_hba.conf:

* coverage: :func:`covers` (line ``a`` matches every connection line ``b`` matches, so ``b``
  after ``a`` is dead), :func:`decides` (a spec line already speaks for a generated line's
  traffic, whatever its TLS type) and :func:`shadowed_by` (for each line of a file, the earlier
  line that makes it dead): PGF207 and the generator's "never matches" warning;
* method verdicts: :func:`method_verdict` for ``trust``, ``password`` and ``md5`` (which audit
  check reports it, and whether as an error, a warning or information): PGF201-PGF203 and the
  generator's warnings and notes;
* TLS need: :func:`admits_plaintext` (a TCP line accepting unencrypted connections from beyond
  this machine): PGF206 and the generator's warning while ssl is on;
* reach: :func:`is_local_only`, :func:`open_to_world`, :func:`is_wide` (PGF204, PGF205, PGF209).

Everything works on one small representation of a line, :class:`Record`: ``type``, the
``databases`` and ``users`` items (``text`` and ``kind``: keyword, name, group, file, regex), the
``address`` (``text``, ``kind`` keyword/ip/hostname, ``network``, ``mask``) and ``method``. The
parser's :class:`pgforge.parsers.hba.HbaRule` is one; the generator (bundle/pg_hba.py) gets one by
reading each line it writes back with that parser, so both sides classify tokens as the server
does. Bare addresses outside pg_hba.conf (listen_addresses, server_host) are addresses.py's.

Counterparts: parsers/hba.py reads the file; bundle/pg_hba.py writes it; audit/checks/hba_security.py
and audit/checks/coherence.py judge it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from pgforge.addresses import is_loopback_network

HOST_TYPES = frozenset({"host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"})
#: Types that accept connections without TLS.
PLAIN_TYPES = frozenset({"host", "hostnossl", "hostnogssenc"})
#: IPv4 prefixes shorter than this (more than 65,536 hosts) and IPv6 shorter than /48 are "wide"
#: (pgdsat 5.9 and go_hba_rules use the same bounds).
WIDE_V4, WIDE_V6 = 16, 48


class Item(Protocol):
    """One database or user item: ``kind`` is keyword, name, group (+role), file (@file) or regex."""

    text: str
    kind: str


class Address(Protocol):
    """The address field: ``kind`` is keyword (all, samehost, samenet), hostname (a name or a
    ``.domain`` suffix) or ip (``network`` None only for a non-contiguous netmask)."""

    text: str
    kind: str
    network: Any
    mask: str | None


class Record(Protocol):
    """One pg_hba.conf line as these functions read it (parsers.hba.HbaRule has this shape)."""

    type: str
    databases: Sequence[Item]
    users: Sequence[Item]
    address: Address | None
    method: str


# --------------------------------------------------------------------------- coverage


def is_keyword(item: Item, word: str) -> bool:
    """The unquoted keyword ``word`` (a quoted ``"all"`` is a name)."""
    return item.kind == "keyword" and item.text == word


def _same(a: Item, b: Item) -> bool:
    def norm(n: Item) -> tuple[str, str]:
        text = "samerole" if n.kind == "keyword" and n.text == "samegroup" else n.text
        return n.kind, text

    return norm(a) == norm(b)


def _db_item_covers(a: Item, b: Item) -> bool:
    """Every connection database item ``b`` matches is matched by ``a``.

    ``all`` matches every database except physical replication connections, which only the
    ``replication`` keyword matches; anything else (names, sameuser, samerole = samegroup,
    regular expressions, unexpanded @files) covers only itself.
    """
    if _same(a, b):
        return True
    return is_keyword(a, "all") and not is_keyword(b, "replication")


def _user_item_covers(a: Item, b: Item) -> bool:
    """``all`` covers every user item; a name, +group or regular expression only itself."""
    return _same(a, b) or is_keyword(a, "all")


def _list_covers(a_items: Sequence[Item], b_items: Sequence[Item], item_covers) -> bool:
    return all(any(item_covers(a, b) for a in a_items) for b in b_items)


def _address_covers(a: Address | None, b: Address | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if a.kind == "keyword" and a.text == "all":
        return True
    if a.kind == "ip" and b.kind == "ip":
        if a.network is None or b.network is None:  # non-contiguous masks: only identical ones
            return a.network is None and b.network is None and (a.text, a.mask) == (b.text, b.mask)
        return a.network.version == b.network.version and b.network.subnet_of(a.network)
    if a.kind == "hostname" and b.kind == "hostname":
        x, y = a.text.lower(), b.text.lower()
        # ".example.com" matches every name ending in it (after a confirmed reverse lookup)
        return x == y or (x.startswith(".") and y.endswith(x))
    return a.kind == b.kind and a.text == b.text  # samehost / samenet cover only themselves


def _type_covers(a: str, b: str) -> bool:
    return a == b or (a == "host" and b in HOST_TYPES)


def _who_covers(a: Record, b: Record) -> bool:
    return (_list_covers(a.databases, b.databases, _db_item_covers)
            and _list_covers(a.users, b.users, _user_item_covers)
            and _address_covers(a.address, b.address))


def covers(a: Record, b: Record) -> bool:
    """Every connection line ``b`` could match, line ``a`` matches too (so ``b`` after ``a`` is dead).

    Only provable supersets: unknown memberships (+group, @file, regular expressions, host
    names, samenet) make it False unless the items are identical. The method does not matter.
    """
    return _type_covers(a.type, b.type) and _who_covers(a, b)


def decides(a: Record, b: Record) -> bool:
    """Line ``a`` already speaks for the traffic of line ``b`` whatever their TLS types: both local
    or both TCP, and ``a`` covers ``b``'s databases, users and addresses. The generator adds no
    line of its own (a replica's) for traffic a spec line decides."""
    return (a.type == "local") == (b.type == "local") and _who_covers(a, b)


def shadowed_by(records: Sequence[Record]) -> list[int | None]:
    """For each line, the index of the first earlier line that covers it (None: it can match)."""
    out: list[int | None] = []
    for i, b in enumerate(records):
        out.append(next((j for j in range(i) if covers(records[j], b)), None))
    return out


# --------------------------------------------------------------------------- reach


def is_local_only(r: Record) -> bool:
    """A line only the server's own machine can use: local, loopback addresses, samehost, localhost."""
    a = r.address
    if a is None:
        return True
    if a.kind == "keyword":
        return a.text == "samehost"
    if a.kind == "hostname":
        return a.text.lower() == "localhost"
    return a.network is not None and is_loopback_network(a.network)


def open_to_world(r: Record) -> bool:
    """Address ``all``, 0.0.0.0/0, ::/0 or a 0.0.0.0 mask: every address on the Internet."""
    a = r.address
    if a is None:
        return False
    if a.kind == "keyword":
        return a.text == "all"
    return a.kind == "ip" and a.network is not None and a.network.prefixlen == 0


def is_wide(r: Record) -> bool:
    """Open to the world, or an IPv4 range wider than /16 or IPv6 wider than /48."""
    if open_to_world(r):
        return True
    a = r.address
    if a is None or a.kind != "ip" or a.network is None:
        return False
    return a.network.prefixlen < (WIDE_V4 if a.network.version == 4 else WIDE_V6)


# --------------------------------------------------------------------------- verdicts

TLS_CODE = "PGF206"
SHADOW_CODE = "PGF207"


@dataclass(frozen=True)
class Verdict:
    """What pgforge says about a line's method: the audit check that reports it, its severity
    (``error`` and ``warning`` are generator warnings too; ``info`` is a note in the file), and
    which case it is (each side words it for its reader)."""

    code: str
    severity: str
    case: str


def method_verdict(r: Record, *, scram: bool) -> Verdict | None:
    """The verdict on ``r``'s method, ``scram`` being whether password_encryption is scram-sha-256.

    * ``trust``: an error on a TCP line that reaches beyond this machine (``trust-network``), a
      warning on a local line (``trust-local``) or a loopback/samehost line (``trust-loopback``);
    * ``password``: an error where the connection may be unencrypted (host, hostnossl,
      hostnogssenc: ``password-cleartext``), a warning elsewhere (hostssl, hostgssenc, local: the
      channel is protected but the server receives the password itself, ``password-received``);
    * ``md5``: information when password_encryption is scram-sha-256 (SCRAM secrets use SCRAM
      anyway, ``md5-scram``), a warning otherwise (``md5``).
    """
    if r.method == "trust":
        if r.type == "local":
            return Verdict("PGF201", "warning", "trust-local")
        if is_local_only(r):
            return Verdict("PGF201", "warning", "trust-loopback")
        return Verdict("PGF201", "error", "trust-network")
    if r.method == "password":
        if r.type in PLAIN_TYPES:
            return Verdict("PGF202", "error", "password-cleartext")
        return Verdict("PGF202", "warning", "password-received")
    if r.method == "md5":
        return Verdict("PGF203", "info", "md5-scram") if scram else Verdict("PGF203", "warning", "md5")
    return None


def admits_plaintext(r: Record) -> bool:
    """A line that accepts unencrypted connections from beyond this machine: a non-reject
    ``host``, ``hostnossl`` or ``hostnogssenc`` line whose address is not local-only. With ssl on,
    PGF206 reports it and the generator warns."""
    return r.type in PLAIN_TYPES and r.method != "reject" and not is_local_only(r)
