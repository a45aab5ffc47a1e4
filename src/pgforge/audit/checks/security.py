"""Security checks: who may connect, how, from where, and who may read the secrets.

PGF2xx. pg_hba.conf is judged the way the server evaluates it: the first line that matches
connection type, database, user and address decides, and there is no fall-through. Anchors: the
CIS PostgreSQL benchmark as pgdsat implements it (5.3, 5.4, 5.8-5.12, 6.8), the pg_hba.conf
chapter of the PostgreSQL docs, and PgBouncer's config.md; their known false positives are
avoided on purpose (listen_addresses ``::`` is checked too; loopback lines are not "open";
an md5 line with SCRAM secrets authenticates with SCRAM; a root-owned 0640 key is accepted).
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from pgforge.audit.model import Hit, Where, check
from pgforge.audit.target import Target
from pgforge.audit.values import at_value, effective_bool, effective_enum

HOST_TYPES = frozenset({"host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"})
#: Types that accept connections without TLS.
PLAIN_TYPES = frozenset({"host", "hostnossl", "hostnogssenc"})
#: IPv4 prefixes shorter than this (more than 65,536 hosts) and IPv6 shorter than /48 are "wide"
#: (pgdsat 5.9 and go_hba_rules use the same bounds).
WIDE_V4, WIDE_V6 = 16, 48


# --------------------------------------------------------------------------- pg_hba semantics


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


def is_keyword(name, word: str) -> bool:
    return name.kind == "keyword" and name.text == word


def is_local_only(r) -> bool:
    """A host line that only the server's own machine can use (loopback addresses, samehost)."""
    a = r.address
    if a is None:
        return True
    if a.kind == "keyword":
        return a.text == "samehost"
    if a.kind == "hostname":
        return a.text.lower() == "localhost"
    return a.network is not None and _loopback_network(a.network)


def _loopback_network(network) -> bool:
    """127.0.0.0/8 or a part of it, or ::1/128 (integer tests: ipaddress's is_loopback is slow)."""
    if network.version == 4:
        return network.prefixlen >= 8 and int(network.network_address) >> 24 == 127
    return network.prefixlen == 128 and int(network.network_address) == 1


def open_to_world(r) -> bool:
    """Address ``all``, 0.0.0.0/0, ::/0 or a 0.0.0.0 mask: every address on the Internet."""
    a = r.address
    if a is None:
        return False
    if a.kind == "keyword":
        return a.text == "all"
    return a.kind == "ip" and a.network is not None and a.network.prefixlen == 0


def is_wide(r) -> bool:
    """Open to the world, or an IPv4 range wider than /16 or IPv6 wider than /48."""
    if open_to_world(r):
        return True
    a = r.address
    if a is None or a.kind != "ip" or a.network is None:
        return False
    return a.network.prefixlen < (WIDE_V4 if a.network.version == 4 else WIDE_V6)


def _same(a, b) -> bool:
    def norm(n):
        text = "samerole" if n.kind == "keyword" and n.text == "samegroup" else n.text
        return n.kind, text

    return norm(a) == norm(b)


def _db_item_covers(a, b) -> bool:
    """Every connection database item ``b`` matches is matched by ``a``.

    ``all`` matches every database except physical replication connections, which only the
    ``replication`` keyword matches; anything else (names, sameuser, samerole, regular
    expressions, unexpanded @files) covers only itself.
    """
    if _same(a, b):
        return True
    return is_keyword(a, "all") and not is_keyword(b, "replication")


def _user_item_covers(a, b) -> bool:
    """``all`` covers every user item; a name, +group or regular expression only itself."""
    return _same(a, b) or is_keyword(a, "all")


def _list_covers(a_items, b_items, item_covers) -> bool:
    return all(any(item_covers(a, b) for a in a_items) for b in b_items)


def _address_covers(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if a.kind == "keyword" and a.text == "all":
        return True
    if a.kind == "ip" and b.kind == "ip":
        if a.network is None or b.network is None:  # non-contiguous masks: only identical ones
            return a.network is None and b.network is None and (a.text, a.mask) == (b.text, b.mask)
        return a.network.version == b.network.version and b.network.subnet_of(a.network)  # type: ignore[arg-type]
    if a.kind == "hostname" and b.kind == "hostname":
        x, y = a.text.lower(), b.text.lower()
        # ".example.com" matches every name ending in it (after a confirmed reverse lookup)
        return x == y or (x.startswith(".") and y.endswith(x))
    return a.kind == b.kind and a.text == b.text  # samehost / samenet cover only themselves


def _type_covers(a: str, b: str) -> bool:
    return a == b or (a == "host" and b in HOST_TYPES)


def covers(a, b) -> bool:
    """Every connection hba line ``b`` could match, line ``a`` matches too (so ``b`` after ``a`` is dead).

    Only provable supersets: unknown memberships (+group, @file, regular expressions, host
    names, samenet) make it False unless the items are identical.
    """
    return (_type_covers(a.type, b.type)
            and _list_covers(a.databases, b.databases, _db_item_covers)
            and _list_covers(a.users, b.users, _user_item_covers)
            and _address_covers(a.address, b.address))


def _hba_rules(t: Target):
    return t.hba.rules if t.hba is not None else ()


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
    for r in _hba_rules(t):
        if r.method != "trust":
            continue
        users = ",".join(n.text for n in r.users)
        if r.type == "local":
            yield Hit(_where_method(r), f"trust on a local line: every OS account on the server logs in as {users} "
                      "without a password", "use peer (OS user = database user) or scram-sha-256", severity="warning")
        elif is_local_only(r):
            yield Hit(_where_method(r), f"trust on a loopback line ({r.address.text}): every process on the server's "
                      f"machine logs in as {users} without a password", "use scram-sha-256", severity="warning")
        else:
            yield Hit(_where_method(r), f"TRUST ON A TCP LINE: anyone who can reach the server from {r.address.text} "
                      f"logs in as {users} WITHOUT A PASSWORD", "use scram-sha-256 (on a hostssl line)")


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
    for r in _hba_rules(t):
        if r.method != "password":
            continue
        if r.type in PLAIN_TYPES:
            yield Hit(_where_method(r), f"password in clear text over a connection that may be unencrypted ({r.type} line)",
                      "use scram-sha-256 on a hostssl line")
        else:
            yield Hit(_where_method(r), f"password method on a {r.type} line: the server receives the password itself",
                      "use scram-sha-256", severity="warning")


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
    scram = effective_enum(t, "password_encryption") == "scram-sha-256" if (t.conf or t.live) else False
    for r in _hba_rules(t):
        if r.method != "md5":
            continue
        if scram:
            yield Hit(_where_method(r), "md5 method: with password_encryption = scram-sha-256 roles with SCRAM secrets "
                      "use SCRAM here anyway, but roles with old MD5 secrets still use the MD5 exchange",
                      "write scram-sha-256 once every role has a SCRAM secret", severity="info")
        else:
            yield Hit(_where_method(r), "md5 method: the stored MD5 hash is password-equivalent and MD5 passwords are "
                      "deprecated in PostgreSQL 18", "set password_encryption = scram-sha-256, reset passwords, "
                      "then use scram-sha-256")


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
        if r.type not in PLAIN_TYPES or r.method == "reject" or is_local_only(r):
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
    for i, b in enumerate(rules):
        for a in rules[:i]:
            if covers(a, b):
                same = a.path == b.path
                where = f"line {a.line}" if same else f"{a.path}:{a.line}"
                what = "repeats" if _desc(a) == _desc(b) else "matches every connection of"
                yield Hit(b, f"this line never matches: {where} ('{_desc(a)}') {what} this one ('{_desc(b)}') and "
                          "the first matching line decides", f"move it above {where}, or delete it")
                break


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
    parts = {p.strip() for p in s.value.split(",")}
    return s if parts & {"*", "0.0.0.0", "::"} else None


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


# --------------------------------------------------------------------------- PgBouncer


def bouncer_main(t: Target) -> dict:
    """The [pgbouncer] section's winning entries (key -> BouncerEntry)."""
    return t.bouncer_sections.get("pgbouncer", {})


@lru_cache(maxsize=1024)
def is_loopback_address(text: str) -> bool:
    """``localhost`` or a loopback IP address (cached: a fleet repeats a handful of addresses)."""
    import ipaddress

    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _loopback_listen(value: str) -> bool:
    return all(is_loopback_address(part.strip()) for part in value.split(","))


@check("PGF210", "pgbouncer-weak-auth-type", "error", "security", sets=("cis", "ci"))
def pgbouncer_weak_auth(t: Target) -> Iterable[Hit]:
    """PgBouncer ``auth_type`` of ``any``, ``trust`` or ``plain``.

    ## What it does
    Flags ``auth_type = any`` (error), ``trust`` (error when PgBouncer listens on a network
    address with ``listen_addr``, a warning when only its Unix socket or a loopback address is
    open) and ``plain`` (warning).

    ## Why is this bad?
    ``any`` ignores the user name and admits everyone, and makes every client an admin of the
    console (``SHUTDOWN``, ``RECONFIGURE``). ``trust`` checks only that the user is listed in
    auth_file. ``plain`` sends the password in clear text and is deprecated.

    ## Example
    ```
    [pgbouncer]
    listen_addr = *
    auth_type = trust
    ```

    ## Fix
    ```
    auth_type = scram-sha-256
    ```
    """
    main = bouncer_main(t)
    e = main.get("auth_type")
    if e is None:
        return
    value = e.value.strip().lower()
    where = Where(e.path, e.line, e.value_column)
    listen = main.get("listen_addr")
    tcp = listen is not None and listen.value.strip() != ""
    if value == "any":
        yield Hit(where, "auth_type = any: PgBouncer ignores the user name, admits every client and makes each an "
                  "admin of its console", "use auth_type = scram-sha-256")
    elif value == "trust":
        if tcp and not _loopback_listen(listen.value):
            yield Hit(where, f"auth_type = trust with listen_addr = {listen.value}: anyone who reaches port "
                      "PgBouncer listens on logs in as any user in auth_file without a password",
                      "use auth_type = scram-sha-256")
        else:
            how = f"the loopback address {listen.value}" if tcp else "the Unix socket"
            yield Hit(where, f"auth_type = trust: every local account reaching {how} logs in as any user in "
                      "auth_file without a password", "use auth_type = scram-sha-256", severity="warning")
    elif value == "plain":
        yield Hit(where, "auth_type = plain: passwords cross the network in clear text (deprecated in PgBouncer)",
                  "use auth_type = scram-sha-256", severity="warning")


# --------------------------------------------------------------------------- files and TLS


def _installed(t: Target) -> bool:
    """True when the audited files are a live installation on this machine (so absolute paths
    they name are this installation's files, not some other machine's)."""
    if t.conf is None:
        return False
    conf_dir = Path(t.conf.root).parent
    return (conf_dir / "PG_VERSION").is_file() or str(conf_dir).startswith("/etc/postgresql/")


def _data_dir(t: Target) -> Path | None:
    """The data directory relative server paths resolve against, when known on this machine."""
    if t.conf is None:
        return None
    dd = t.get("data_directory")
    if dd is not None and os.path.isabs(dd.value):
        return Path(dd.value) if _installed(t) else None
    conf_dir = Path(t.conf.root).parent
    return conf_dir if (conf_dir / "PG_VERSION").is_file() else None


def _server_file(t: Target, value: str) -> Path | None:
    """A file named by a server setting (relative to the data directory), if it can be judged here."""
    if not value:
        return None
    if os.path.isabs(value):
        return Path(value) if _installed(t) else None
    dd = _data_dir(t)
    return dd / value if dd is not None else None


def _has_entries(path: Path, kind: str) -> bool:
    """True when a userlist.txt / .pgpass holds at least one credential line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if kind == "userlist" and s.startswith('"'):
            return True
        if kind == "pgpass" and not s.startswith("#"):
            return True
    return False


def _mode_problem(path: Path, kind: str) -> tuple[str, str] | None:
    """(severity, message) when ``path``'s mode lets others read it; None when fine or missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    shown = f"{mode:04o}"
    if kind == "key":
        if mode & 0o004:
            return "error", f"mode {shown}: every local account can read the server's private TLS key"
        if mode & 0o070 and (st.st_uid != 0 or mode & 0o030):
            return "error", (f"mode {shown}: the group can access the private key; PostgreSQL refuses to start unless "
                             "the key is 0600 (or 0640 owned by root)")
        return None
    if mode & 0o004:
        return "error", f"mode {shown}: every local account can read the credentials in it"
    if mode & 0o077:
        extra = "; libpq ignores a .pgpass that group or others can access" if kind == "pgpass" else ""
        return "warning", f"mode {shown}: the file's group can read the credentials in it{extra}"
    return None


@check("PGF211", "secret-file-readable", "error", "security", sets=("cis", "ci"))
def secret_file_readable(t: Target) -> Iterable[Hit]:
    """A file holding secrets that other accounts can read: userlist.txt, .pgpass, the TLS key.

    ## What it does
    Checks the permission bits (``st_mode``) of the PgBouncer auth_file (``userlist.txt``) and
    ``.pgpass`` files found among the audited files when they hold at least one credential
    line, and of the server's private key named by ``ssl_key_file`` when the audited files are
    an installation on this machine (a data directory, or /etc/postgresql). World-readable is
    an error; group-readable a warning, and an error for the TLS key unless root owns it with
    mode 0640, which PostgreSQL accepts.

    ## Why is this bad?
    userlist.txt holds SCRAM secrets or MD5 hashes that log in as those users; .pgpass holds
    passwords (and libpq ignores it when others can read it); whoever reads the TLS key can
    impersonate the server.

    ## Example
    ```
    -rw-r--r--  userlist.txt
    ```

    ## Fix
    ```
    chmod 0600 userlist.txt && chown postgres: userlist.txt
    ```
    """
    for path in t.secret_files:
        kind = "pgpass" if "pgpass" in path.name else "userlist"
        if not _has_entries(path, kind):
            continue
        problem = _mode_problem(path, kind)
        if problem is not None:
            severity, message = problem
            yield Hit(Where(str(path), 1, 1), f"{path.name}: {message}", f"chmod 0600 {path}", severity=severity)
    s = t.get("ssl_key_file")
    if s is not None and t.conf is not None and effective_bool(t, "ssl"):
        key = _server_file(t, s.value)
        problem = _mode_problem(key, "key") if key is not None else None
        if problem is not None:
            severity, message = problem
            yield Hit(at_value(s), f"{key}: {message}", f"chmod 0600 {key} (owner postgres)", severity=severity)


@check("PGF212", "ssl-without-cert-key", "error", "security", sets=("cis", "ci"))
def ssl_without_cert_key(t: Target) -> Iterable[Hit]:
    """TLS is turned on but there is no certificate or key to serve: the server does not start.

    ## What it does
    With ``ssl = on``, flags an empty ``ssl_cert_file`` or ``ssl_key_file``, and, when the
    audited directory is a data directory (PG_VERSION beside postgresql.conf), a certificate
    or key that does not exist where the server will look. In PgBouncer, flags
    ``client_tls_sslmode`` other than ``disable`` without ``client_tls_key_file`` and
    ``client_tls_cert_file``.

    ## Why is this bad?
    PostgreSQL refuses to start (and keeps the old settings on reload) when it cannot load
    the certificate and key; PgBouncer refuses to start as well.

    ## Example
    ```
    ssl = on
    ssl_cert_file = ''
    ```

    ## Fix
    Point ``ssl_cert_file``/``ssl_key_file`` at the files (relative paths are in the data
    directory) and install them before the restart.
    """
    if t.conf is not None and effective_bool(t, "ssl"):
        ssl = t.get("ssl")
        for name in ("ssl_cert_file", "ssl_key_file"):
            s = t.get(name)
            value = t.text(name) or ""
            if not value.strip():
                yield Hit(at_value(s) if s is not None else at_value(ssl) if ssl is not None else t.anchor(),
                          f"ssl is on but {name} is empty: the server does not start", f"set {name}")
                continue
            path = _server_file(t, value)
            if path is not None and not path.exists():
                where = at_value(s) if s is not None else at_value(ssl) if ssl is not None else t.anchor()
                yield Hit(where, f"ssl is on but {name} {path} does not exist: the server does not start",
                          f"install the file at {path} or point {name} at it")
    main = bouncer_main(t)
    mode = main.get("client_tls_sslmode")
    if mode is not None and mode.value.strip().lower() not in ("", "disable"):
        missing = [k for k in ("client_tls_key_file", "client_tls_cert_file")
                   if k not in main or not main[k].value.strip()]
        if missing:
            yield Hit(Where(mode.path, mode.line, mode.value_column),
                      f"client_tls_sslmode = {mode.value} without {' and '.join(missing)}: PgBouncer does not start",
                      f"set {' and '.join(missing)}")
