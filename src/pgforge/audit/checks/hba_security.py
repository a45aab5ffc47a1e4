"""pg_hba.conf security checks (PGF201-PGF209): who may connect, how, and from where.

pg_hba.conf is judged the way the server evaluates it: the first line that matches connection
type, database, user and address decides, and there is no fall-through. What a line matches and
the verdict on its method come from hba_semantics.py, which the generator (bundle/pg_hba.py) uses
for its own warnings, so a generated file and this audit agree line by line. PGF208 and PGF209
judge postgresql.conf settings that decide what pg_hba.conf is exposed to.

Anchors: the CIS PostgreSQL benchmark as pgdsat implements it (5.3, 5.4, 5.8-5.12, 6.8), the
pg_hba.conf chapter of the PostgreSQL docs; their known false positives are avoided on purpose
(listen_addresses ``::`` is checked too; loopback lines are not "open"; an md5 line with SCRAM
secrets authenticates with SCRAM).

Counterparts: parsers/hba.py reads the file, hba_semantics.py holds the semantics,
bundle/pg_hba.py writes the file; PgBouncer's checks are pgbouncer_security.py, file modes and TLS
files file_security.py.
"""

from __future__ import annotations

import os
from typing import Iterable

from pgforge.addresses import is_wildcard
from pgforge.audit.model import Hit, Where, check
from pgforge.audit.target import Target
from pgforge.audit.values import at_value, effective_bool, effective_enum
from pgforge.hba_semantics import (
    admits_plaintext,
    is_keyword,
    is_local_only,
    is_wide,
    method_verdict,
    open_to_world,
    shadowed_by,
)


def _where_method(r) -> Where:
    return Where(r.path, r.method_line, r.method_column)


def _where_address(r) -> Where:
    a = r.address
    return Where(r.path, a.line, a.column) if a is not None else Where(r.path, r.line, r.column)


def _desc(r) -> str:
    db = ",".join(n.text for n in r.databases)
    user = ",".join(n.text for n in r.users)
    addr = "" if r.address is None else " " + r.address.text + (f" {r.address.mask}" if r.address.mask else "")
    return f"{r.type} {db} {user}{addr} {r.method}"


def _loc(r) -> str:
    return f"{os.path.basename(r.path)}:{r.line}"


def _hba_rules(t: Target):
    return t.hba.rules if t.hba is not None else ()


def _scram(t: Target) -> bool:
    """password_encryption is scram-sha-256 (False when no postgresql.conf or server says so)."""
    return effective_enum(t, "password_encryption") == "scram-sha-256" if (t.conf or t.live) else False


def _users(r) -> str:
    return ",".join(n.text for n in r.users)


#: Verdict case (hba_semantics.method_verdict) -> (message, fix) for a line of a file.
_METHOD_MESSAGES = {
    "trust-local": lambda r: (f"trust on a local line: every OS account on the server logs in as {_users(r)} "
                              "without a password", "use peer (OS user = database user) or scram-sha-256"),
    "trust-loopback": lambda r: (f"trust on a loopback line ({r.address.text}): every process on the server's "
                                 f"machine logs in as {_users(r)} without a password", "use scram-sha-256"),
    "trust-network": lambda r: (f"TRUST ON A TCP LINE: anyone who can reach the server from {r.address.text} "
                                f"logs in as {_users(r)} WITHOUT A PASSWORD", "use scram-sha-256 (on a hostssl line)"),
    "password-cleartext": lambda r: (f"password in clear text over a connection that may be unencrypted ({r.type} line)",
                                     "use scram-sha-256 on a hostssl line"),
    "password-received": lambda r: (f"password method on a {r.type} line: the server receives the password itself",
                                    "use scram-sha-256"),
    "md5-scram": lambda r: ("md5 method: with password_encryption = scram-sha-256 roles with SCRAM secrets "
                            "use SCRAM here anyway, but roles with old MD5 secrets still use the MD5 exchange",
                            "write scram-sha-256 once every role has a SCRAM secret"),
    "md5": lambda r: ("md5 method: the stored MD5 hash is password-equivalent and MD5 passwords are "
                      "deprecated in PostgreSQL 18", "set password_encryption = scram-sha-256, reset passwords, "
                      "then use scram-sha-256"),
}


def _method_hits(t: Target, code: str) -> Iterable[Hit]:
    """The hits of one method check (PGF201-PGF203): hba_semantics.method_verdict decides."""
    scram = _scram(t)
    for r in _hba_rules(t):
        v = method_verdict(r, scram=scram)
        if v is not None and v.code == code:
            message, fix = _METHOD_MESSAGES[v.case](r)
            yield Hit(_where_method(r), message, fix, severity=v.severity)


# --------------------------------------------------------------------------- pg_hba checks

@check("PGF201", "hba-trust", "error", "security", sets=("cis", "ci"))
def hba_trust(t: Target) -> Iterable[Hit]:
    """A pg_hba.conf line with method ``trust``: no password, no check at all.

    ## What it does
    Flags every line whose method is ``trust``. On a TCP line (``host``, ``hostssl`` ...) it is
    an error; on a ``local`` line (Unix socket) or a loopback-only line (127.0.0.1/32, ::1/128,
    ``localhost``, ``samehost``) a warning, since only accounts and processes on the server's
    own machine reach it (still every one of them, as any user).

    ## Why is this bad?
    ``trust`` lets whoever matches the line log in as any user the line names, the superuser
    included, without a password. On a TCP line that is anyone who can reach the port from the
    line's addresses; on a local line any operating-system account on the machine.

    ## Example
    ```
    host    all    all    10.0.0.0/8    trust
    ```

    ## Fix
    ```
    hostssl all    all    10.0.0.0/8    scram-sha-256
    local   all    postgres             peer
    ```
    """
    yield from _method_hits(t, "PGF201")


@check("PGF202", "hba-password-cleartext", "error", "security", sets=("cis", "ci"))
def hba_password_cleartext(t: Target) -> Iterable[Hit]:
    """A pg_hba.conf line with method ``password``: the password is sent in clear text.

    ## What it does
    Flags lines whose method is ``password``. On ``host``/``hostnossl``/``hostnogssenc`` lines,
    where the connection may be unencrypted, it is an error; on ``hostssl``, ``hostgssenc`` and
    ``local`` lines a warning (the channel is protected, but the server still sees and may log
    the plain password).

    ## Why is this bad?
    Anyone who can read the traffic reads the password. ``scram-sha-256`` proves knowledge of
    the password without sending it and works with every maintained client library.

    ## Example
    ```
    host    app    app    10.0.1.0/24    password
    ```

    ## Fix
    ```
    hostssl app    app    10.0.1.0/24    scram-sha-256
    ```
    """
    yield from _method_hits(t, "PGF202")


@check("PGF203", "hba-md5", "warning", "security", sets=("cis",))
def hba_md5(t: Target) -> Iterable[Hit]:
    """A pg_hba.conf line with method ``md5``: a weak, deprecated challenge.

    ## What it does
    Flags lines whose method is ``md5``. When ``password_encryption`` is ``scram-sha-256``
    (the default since PostgreSQL 14) the finding is informational: for a role whose stored
    secret is SCRAM, an md5 line authenticates with SCRAM anyway, so only roles with old MD5
    secrets use the MD5 exchange.

    ## Why is this bad?
    The MD5 hash stored on the server is password-equivalent (whoever steals it can log in),
    the exchange is open to replay, and PostgreSQL 18 deprecates MD5 passwords.

    ## Example
    ```
    host    all    app    10.0.1.0/24    md5
    ```

    ## Fix
    Set ``password_encryption = scram-sha-256``, have users reset their passwords, then
    write ``scram-sha-256`` on the line.
    """
    yield from _method_hits(t, "PGF203")


@check("PGF204", "hba-open-to-world", "error", "security", sets=("cis", "ci"))
def hba_open_to_world(t: Target) -> Iterable[Hit]:
    """A pg_hba.conf line that admits every address: ``0.0.0.0/0``, ``::/0`` or ``all``.

    ## What it does
    Flags non-``reject`` host lines whose address is ``all``, ``0.0.0.0/0``, ``::/0`` or an
    address with the netmask ``0.0.0.0``: an error, or a warning when the line demands a client
    certificate (``cert``, ``clientcert=verify-full``), a deliberate pattern for services
    reached from anywhere.

    ## Why is this bad?
    The password (or certificate) is then the only barrier between the whole Internet and the
    database, whenever the port is reachable: a firewall change or a cloud security group
    away. Brute-force attempts and exploits of authentication bugs come from anywhere.

    ## Example
    ```
    hostssl all    all    0.0.0.0/0    scram-sha-256
    ```

    ## Fix
    Name the networks the clients are in:
    ```
    hostssl app    app    10.0.1.0/24  scram-sha-256
    ```
    """
    for r in _hba_rules(t):
        if r.type == "local" or r.method == "reject" or not open_to_world(r):
            continue
        strong = r.method == "cert" or r.option_map.get("clientcert") == "verify-full"
        yield Hit(_where_address(r), f"{r.address.text}{' ' + r.address.mask if r.address.mask else ''} admits every "
                  f"address: only {r.method} stands between the Internet and the server",
                  "replace it with the client networks (CIDR such as 10.0.1.0/24)",
                  severity="warning" if strong else None)


@check("PGF205", "hba-all-all", "warning", "security", sets=("cis",))
def hba_all_all(t: Target) -> Iterable[Hit]:
    """A TCP pg_hba.conf line for every database and every user.

    ## What it does
    Flags non-``reject`` host lines whose database and user columns both contain ``all``,
    except lines only the server's own machine can use (loopback addresses, ``samehost``),
    which distribution defaults ship, and lines open to every address (PGF204 reports those).

    ## Why is this bad?
    Every role, superusers included, may try to log in to every database from those
    addresses: a stolen application password reaches the other applications' data, and
    ``postgres`` can be brute-forced remotely. Least privilege names the database and users.

    ## Example
    ```
    hostssl all    all    10.0.1.0/24    scram-sha-256
    ```

    ## Fix
    ```
    hostssl app    app    10.0.1.0/24    scram-sha-256
    ```
    """
    for r in _hba_rules(t):
        if r.type == "local" or r.method == "reject" or is_local_only(r) or open_to_world(r):
            continue  # open-to-world lines are PGF204's, a stronger finding
        if any(is_keyword(d, "all") for d in r.databases) and any(is_keyword(u, "all") for u in r.users):
            yield Hit(r, f"'{_desc(r)}': every user, superusers included, may log in to every database from "
                      f"{r.address.text}", "name the databases and users the clients need")


@check("PGF206", "hba-no-tls-where-ssl-on", "warning", "security", sets=("cis", "ci"))
def hba_no_tls(t: Target) -> Iterable[Hit]:
    """A ``host``/``hostnossl`` line accepts unencrypted connections although ``ssl = on``.

    ## What it does
    When ``ssl`` is on, flags non-``reject`` ``host``, ``hostnossl`` and ``hostnogssenc`` lines
    for addresses beyond the server's own machine (loopback and ``samehost`` lines are fine:
    that traffic never leaves the host).

    ## Why is this bad?
    TLS is offered but not required: a client with ``sslmode=prefer`` (libpq's default) is
    silently downgraded by anyone in the path, and queries, results and (with ``password``)
    passwords cross the network readable.

    ## Example
    ```
    ssl = on
    host    app    app    10.0.1.0/24    scram-sha-256
    ```

    ## Fix
    ```
    hostssl app    app    10.0.1.0/24    scram-sha-256
    ```
    (and ``hostnossl all all 0.0.0.0/0 reject`` to refuse plain text explicitly).
    """
    if t.hba is None or effective_bool(t, "ssl") is not True:
        return
    ssl = t.get("ssl")
    where_ssl = f" ({os.path.basename(ssl.path)}:{ssl.line})" if ssl is not None and ssl.line else ""
    for r in _hba_rules(t):
        if not admits_plaintext(r):
            continue
        yield Hit(r, f"{r.type} line accepts connections without TLS from {r.address.text} although ssl is on"
                  f"{where_ssl}", f"use hostssl instead of {r.type}")


@check("PGF207", "hba-shadowed-line", "warning", "security", sets=("cis", "ci"))
def hba_shadowed(t: Target) -> Iterable[Hit]:
    """A pg_hba.conf line that can never match: an earlier line matches every connection it would.

    ## What it does
    For each line, looks for an earlier line that provably matches a superset of its
    connections: a type that covers it (``host`` covers ``hostssl``, ``hostnossl``,
    ``hostgssenc``, ``hostnogssenc``), databases, users and addresses that contain it. Keyword
    semantics follow the server: ``all`` in the database column does not match physical
    replication connections (only ``replication`` does), ``all`` users match every role,
    CIDR ranges contain narrower ranges of the same family. Unknown memberships (``+group``,
    ``sameuser``, ``samerole``, regular expressions, host names, ``samenet``) never count as
    containing anything but themselves, so there are no guesses. The method does not matter:
    an earlier ``reject`` shadows too.

    ## Why is this bad?
    The first matching line decides and a failed authentication does not fall through, so
    the later line is dead configuration; usually it was meant to be an exception (a
    ``reject``, a stronger method for one user) and silently is not.

    ## Example
    ```
    hostssl all    all    10.0.0.0/8     scram-sha-256
    hostssl app    bob    10.0.1.0/24    reject        # never used
    ```

    ## Fix
    Move the specific line above the general one, or delete it.
    """
    rules = list(_hba_rules(t))
    for b, first in zip(rules, shadowed_by(rules)):
        if first is None:
            continue
        a = rules[first]
        where = f"line {a.line}" if a.path == b.path else f"{a.path}:{a.line}"
        what = "repeats" if _desc(a) == _desc(b) else "matches every connection of"
        yield Hit(b, f"this line never matches: {where} ('{_desc(a)}') {what} this one ('{_desc(b)}') and "
                  "the first matching line decides", f"move it above {where}, or delete it")


# --------------------------------------------------------------------------- postgresql.conf


@check("PGF208", "password-encryption-md5", "warning", "security", sets=("cis", "ci"))
def password_encryption_md5(t: Target) -> Iterable[Hit]:
    """``password_encryption = md5``: new passwords are stored as MD5 hashes.

    ## What it does
    Flags ``password_encryption`` set to ``md5`` (or ``on``, which meant md5 up to PostgreSQL
    13), and PostgreSQL 13's default when the major is known to be 13 and nothing sets it.

    ## Why is this bad?
    An MD5 hash is enough to log in with (it is what the md5 exchange proves), and MD5
    passwords are deprecated in PostgreSQL 18. SCRAM secrets cannot be replayed.

    ## Example
    ```
    password_encryption = md5
    ```

    ## Fix
    ```
    password_encryption = scram-sha-256
    ```
    then have each role set its password again (``\\password`` in psql).
    """
    if t.conf is None and t.live is None:
        return
    value = effective_enum(t, "password_encryption")
    if value not in ("md5", "on", "true", "yes", "1"):
        return
    s = t.get("password_encryption")
    where = at_value(s) if s is not None else t.anchor()
    said = f"password_encryption = {s.value}" if s is not None else f"PostgreSQL {t.major}'s default password_encryption (md5)"
    yield Hit(where, f"{said}: new passwords are stored as MD5 hashes, which are password-equivalent",
              "set password_encryption = scram-sha-256 and reset the passwords")


def _listens_everywhere(t: Target):
    s = t.get("listen_addresses")
    if s is None:
        return None
    return s if any(is_wildcard(p.strip()) for p in s.value.split(",")) else None


@check("PGF209", "listen-all-with-wide-hba", "warning", "security", sets=("cis",))
def listen_all_wide_hba(t: Target) -> Iterable[Hit]:
    """``listen_addresses = '*'`` together with pg_hba.conf lines open to wide networks.

    ## What it does
    When the server listens on every interface (``*``, ``0.0.0.0`` or ``::``, which pgdsat
    misses) and pg_hba.conf admits an IPv4 range wider than /16 or an IPv6 range wider than
    /48 (or every address), flags listen_addresses and names the wide line. Listening on every
    interface alone is not flagged: with narrow pg_hba.conf lines it is the usual set-up.

    ## Why is this bad?
    The two together expose the authentication step to a large network: any host in those
    ranges can attempt logins, probe for roles and exploit authentication bugs.

    ## Example
    ```
    listen_addresses = '*'
    host    all    all    10.0.0.0/8    scram-sha-256
    ```

    ## Fix
    Listen only on the interfaces clients use (``listen_addresses = '10.0.1.5'``), and narrow
    the pg_hba.conf lines to the client networks.
    """
    s = _listens_everywhere(t)
    if s is None or t.hba is None:
        return
    wide = [r for r in _hba_rules(t) if r.type != "local" and r.method != "reject" and is_wide(r)]
    if wide:
        r = wide[0]
        more = f" and {len(wide) - 1} more" if len(wide) > 1 else ""
        yield Hit(at_value(s), f"listen_addresses = '{s.value}' listens on every interface and pg_hba.conf admits wide "
                  f"networks: {_loc(r)} '{_desc(r)}'{more}",
                  "listen on the client-facing interface only and narrow the pg_hba.conf lines")
