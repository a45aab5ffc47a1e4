"""Coherence checks: files that are each valid but do not work together.

PGF4xx. These need several files of one server audited together (a directory or a pgforge
bundle): pgbouncer.ini against postgresql.conf, postgresql.conf against pg_hba.conf, the two
directions of the WAL archive. The pool bound is pooling.check, the function the generator
proves its own pgbouncer.ini with: one rule, two directions.
"""

from __future__ import annotations

import os
import shlex
from typing import Iterable
from urllib.parse import parse_qs, unquote, urlparse

from pgforge import pooling
from pgforge.addresses import is_loopback
from pgforge.audit.checks.durability import archiving
from pgforge.audit.model import Hit, check
from pgforge.audit.target import Target
from pgforge.audit.values import at_value, effective_enum, effective_int
from pgforge.hba_semantics import is_keyword

# PgBouncer defaults (1.18-1.25, src/main.c).
DEFAULT_POOL_SIZE = 20


def _loc(node) -> str:
    return f"{os.path.basename(node.path)}:{node.line}" if node is not None and node.line else "the server default"


# --------------------------------------------------------------------------- PgBouncer pools


def _int(entry, default: int) -> int | None:
    from pgforge.parsers.pgbouncer_ini import parse_int

    if entry is None:
        return default
    return parse_int(entry.value)


def _local_host(host: str | None, listen: set[str]) -> bool:
    """True when a [databases] host is this server: unset (Unix socket), a socket directory,
    localhost, a loopback address, or one of the addresses the server listens on."""
    if not host:
        return True
    for h in host.split(","):
        h = h.strip()
        if h.startswith(("/", "@")) or h in listen or is_loopback(h):
            continue
        return False
    return True


def _userlist_users(t: Target) -> int | None:
    """Users in the auth_file audited with this target (a bound on distinct pool users)."""
    for path in t.secret_files:
        if "pgpass" in path.name:
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        return sum(1 for ln in text.splitlines() if ln.strip().startswith('"'))
    return None


def pool_limits(t: Target) -> list[tuple[pooling.PoolLimits, object]]:
    """(limits, the entry that sets its size) for each pooled database on this server."""
    main = t.bouncer_sections.get("pgbouncer", {})
    users_section = t.bouncer_sections.get("users", {})
    dflt_entry = main.get("default_pool_size")
    dflt = _int(dflt_entry, DEFAULT_POOL_SIZE)
    res_entry = main.get("reserve_pool_size") or main.get("reserve_pool")
    reserve = _int(res_entry, 0)
    maxdb_entry = main.get("max_db_connections")
    maxdb = _int(maxdb_entry, 0)
    if dflt is None or reserve is None or maxdb is None:
        return []  # an unreadable number is PGF001's
    user_pools = [p for e in users_section.values() if e.conn is not None
                  for p in [_int_text(e.conn.as_dict().get("pool_size"))] if p is not None]
    auth_query = "auth_user" in main or "auth_query" in main
    userlist = None if auth_query else _userlist_users(t)
    listen = {p.strip() for p in (t.text("listen_addresses") or "").split(",")}
    port = str(effective_int(t, "port") or 5432)
    out = []
    for name, e in t.bouncer_sections.get("databases", {}).items():
        params = e.conn.as_dict() if e.conn is not None else {}
        if not _local_host(params.get("host"), listen) or params.get("port", port).strip() != port:
            continue
        pool = _int_text(params.get("pool_size"), dflt)
        res = _int_text(params.get("reserve_pool_size", params.get("reserve_pool")), reserve)
        cap = _int_text(params.get("max_db_connections"), maxdb)
        if pool is None or res is None or cap is None:
            continue
        if "user" in params:
            users: int | None = 1
        elif name == "*" or "auth_user" in params:
            users = None
        else:
            users = userlist
        if user_pools and "user" not in params:
            pool = max([pool, *user_pools])
        if pool == 0 and cap == 0:
            users = None  # PgBouncer 1.24+: pool size 0 means unlimited
        size_entry = e if ({"pool_size", "max_db_connections"} & params.keys()) else (
            maxdb_entry if cap and maxdb_entry is not None else dflt_entry or e)
        out.append((pooling.PoolLimits(name, pool, res, cap, users), size_entry))
    return out


def _int_text(text: str | None, default: int | None = None) -> int | None:
    from pgforge.parsers.pgbouncer_ini import parse_int

    return default if text is None else parse_int(text)


@check("PGF401", "pgbouncer-pools-exceed-server", "error", "coherence", sets=("ci", "performance"))
def pools_exceed_server(t: Target) -> Iterable[Hit]:
    """PgBouncer's pools can open more server connections than max_connections allows.

    ## What it does
    Adds up, for each [databases] entry that points at this server (no host, a Unix socket,
    loopback, or an address it listens on, at its port), the most server connections PgBouncer
    may open: ``min(max_db_connections, users x (pool_size + reserve_pool_size))``, with the
    per-database ``pool_size``, ``reserve_pool_size`` and ``max_db_connections`` overriding
    the [pgbouncer] defaults (default_pool_size 20, reserve 0, no cap). Users are 1 when the
    entry forces ``user=``, the number of users in the auth_file audited with it, or unknown.
    The sum must fit ``max_connections - superuser_reserved_connections - reserved_connections``
    (error); a warning when it leaves fewer than 10 connections for maintenance (pg_dump,
    monitoring, an administrator's psql), which is what pgforge generates against. A database
    that nothing bounds (no max_db_connections, unknown users) is a warning of its own.

    ## Why is this bad?
    When the pools fill up, PostgreSQL refuses the extra connections with "sorry, too many
    clients already": PgBouncer's clients wait, then fail, while the server is not even busy.

    ## Example
    ```
    ; pgbouncer.ini                      # postgresql.conf: max_connections = 100
    [databases]
    app = host=127.0.0.1 dbname=app
    [pgbouncer]
    default_pool_size = 50
    reserve_pool_size = 10
    max_db_connections = 120
    ```

    ## Fix
    Cap each database with ``max_db_connections`` (pool + reserve) and keep the sum within
    max_connections, or raise max_connections within the memory budget.
    """
    if t.bouncer is None or (t.conf is None and t.live is None):
        return
    max_conn = effective_int(t, "max_connections")
    superuser = effective_int(t, "superuser_reserved_connections")
    reserved = effective_int(t, "reserved_connections") if t.catalog.get("reserved_connections") else 0
    if max_conn is None or superuser is None:
        return
    pools = pool_limits(t)
    if not pools:
        return
    limits = [p for p, _ in pools]
    where_of = {p.database: w for p, w in pools}
    mc = t.get("max_connections")
    for p in limits:
        if p.server_connections is None:  # pooling.check's own words for a pool nothing bounds
            unbounded = pooling.check([p], max_connections=2**31, superuser_reserved=0, maintenance=0)[0]
            yield Hit(t.bouncer_sections["databases"].get(p.database) or where_of[p.database],
                      f"PgBouncer {unbounded.message}", unbounded.fix, severity="warning")
    bounds = [(p.server_connections if p.server_connections is not None else p.pool_size + p.reserve_pool_size, p)
              for p in limits]
    total = sum(b for b, _ in bounds)
    available = max_conn - superuser - (reserved or 0)
    _, biggest = max(bounds, key=lambda bp: bp[0])
    where = where_of[biggest.database]
    detail = " + ".join(f"{p.database} {b}" for b, p in bounds[:6]) + (" ..." if len(bounds) > 6 else "")
    server = f"max_connections {max_conn} ({_loc(mc)}) - {superuser} superuser-reserved" + (
        f" - {reserved} reserved" if reserved else "")
    def exceeds(maintenance: int) -> bool:  # the generator's own bound (pooling.check), with or without headroom
        return any(f.code == "pools-exceed-max-connections" for f in pooling.check(
            limits, max_connections=max_conn, superuser_reserved=superuser, reserved_connections=reserved or 0,
            maintenance=maintenance))

    if exceeds(0):
        yield Hit(where, f"PgBouncer can open {total} server connections ({detail}) but the server admits "
                  f"{available}: {server}; clients get 'too many clients already'",
                  f"lower default_pool_size/max_db_connections so the pools sum to at most {available}, or raise "
                  f"max_connections to {total + superuser + (reserved or 0)}")
    elif exceeds(pooling.MAINTENANCE_HEADROOM):
        yield Hit(where, f"PgBouncer can open {total} server connections ({detail}), leaving {available - total} of "
                  f"{server} for direct connections (pg_dump, monitoring, administrators); keep "
                  f"{pooling.MAINTENANCE_HEADROOM}", f"lower the pools by {total - available + pooling.MAINTENANCE_HEADROOM} "
                  "or raise max_connections", severity="warning")


# --------------------------------------------------------------------------- replication


def _conninfo_user(value: str) -> str | None:
    """The user a primary_conninfo connects as, when it says (keyword/value or URI)."""
    text = value.strip()
    if text.startswith(("postgresql://", "postgres://")):
        try:
            url = urlparse(text)
        except ValueError:
            return None
        if url.username:
            return unquote(url.username)
        users = parse_qs(url.query).get("user")
        return users[-1] if users else None
    from pgforge.parsers.pgbouncer_ini import scan_connstr

    return scan_connstr(text, style="libpq").as_dict().get("user")


def _admits_replication(rule, user: str | None) -> bool:
    """True when ``rule`` may admit a physical replication connection of ``user`` (None: any user)."""
    if rule.method == "reject" or not any(is_keyword(d, "replication") for d in rule.databases):
        return False
    if user is None:
        return True
    for u in rule.users:
        if is_keyword(u, "all") or u.kind in ("group", "regex", "file") or (u.kind == "name" and u.text == user):
            return True  # +group / regex / unexpanded @file: may well include the user
    return False


@check("PGF402", "replication-without-hba", "warning", "coherence", sets=("ci",))
def replication_without_hba(t: Target) -> Iterable[Hit]:
    """Replication is configured but pg_hba.conf admits no replication connection for it.

    ## What it does
    With a pg_hba.conf audited beside postgresql.conf, flags:
    the ``user`` of ``primary_conninfo`` when no line admits that user to the ``replication``
    database (``all`` in the database column does not match physical replication);
    ``synchronous_standby_names`` or an explicit ``max_wal_senders`` above 0 when no line admits
    replication at all (with wal_level ``logical``, subscribers connect to a normal database
    and are not counted).

    ## Why is this bad?
    The standby's connection is refused ("no pg_hba.conf entry for replication connection"),
    so it falls behind until the primary's WAL is gone; with synchronous_standby_names every
    commit waits forever for a standby that cannot connect.

    ## Example
    ```
    primary_conninfo = 'host=10.0.2.1 user=replicator'
    # pg_hba.conf has only: hostssl all all 10.0.0.0/8 scram-sha-256
    ```

    ## Fix
    ```
    hostssl replication replicator 10.0.2.0/24 scram-sha-256
    ```
    """
    if t.hba is None or (t.conf is None and t.live is None):
        return
    rules = t.hba.rules
    pc = t.get("primary_conninfo")
    if pc is not None and pc.value.strip():
        user = _conninfo_user(pc.value)
        if user and not any(_admits_replication(r, user) for r in rules):
            yield Hit(at_value(pc), f"primary_conninfo connects as {user}, but pg_hba.conf ({os.path.basename(t.hba.root)}) "
                      f"has no line admitting {user} to the replication database", 
                      f"add: hostssl replication {user} <standby network> scram-sha-256")
    if any(_admits_replication(r, None) for r in rules):
        return
    ssn = t.get("synchronous_standby_names")
    if ssn is not None and ssn.value.strip():
        yield Hit(at_value(ssn), f"synchronous_standby_names = '{ssn.value}' waits for standbys, but pg_hba.conf admits "
                  "no replication connection: every commit would wait forever",
                  "add a 'hostssl replication <user> <standby network> scram-sha-256' line")
        return
    senders = t.get("max_wal_senders")
    if senders is not None and (effective_int(t, "max_wal_senders") or 0) > 0 and effective_enum(t, "wal_level") != "logical":
        yield Hit(at_value(senders), f"max_wal_senders = {senders.value} sets up streaming replicas, but pg_hba.conf "
                  "admits no replication connection", "add a 'hostssl replication <user> <standby network> "
                  "scram-sha-256' line, or leave max_wal_senders at its default")


# --------------------------------------------------------------------------- archive


def _words(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return []


def wal_locations(command: str) -> set[str]:
    """Where a command puts or gets WAL: the text before ``%f`` in each word that names one
    segment by file name (``/mnt/archive/%f`` -> ``/mnt/archive/``), not the local path ``%p``."""
    out = set()
    for w in _words(command):
        if "%f" in w and "%p" not in w:
            prefix = w[: w.index("%f")]
            while "//" in prefix.replace("://", ""):
                prefix = prefix.replace("://", "\0").replace("//", "/").replace("\0", "://")
            if prefix.strip("/"):
                out.add(prefix)
    return out


def tool_options(command: str) -> tuple[str, dict[str, str]]:
    """The program and its ``--stanza``/``--config`` options (pgBackRest, WAL-G)."""
    words = _words(command)
    if not words:
        return "", {}
    opts: dict[str, str] = {}
    for i, w in enumerate(words):
        for name in ("--stanza", "--config", "--repo1-path"):
            if w.startswith(name + "="):
                opts[name] = w.split("=", 1)[1]
            elif w == name and i + 1 < len(words):
                opts[name] = words[i + 1]
    return os.path.basename(words[0]), opts


@check("PGF403", "archive-restore-mismatch", "warning", "coherence", sets=("ci",))
def archive_restore_mismatch(t: Target) -> Iterable[Hit]:
    """``restore_command`` reads WAL from somewhere ``archive_command`` does not write to.

    ## What it does
    With archiving on and a ``restore_command`` in the same configuration, compares the two
    directions: the location before ``%f`` in each (``cp %p /mnt/archive/%f`` against
    ``cp /mnt/archive/%f %p``, also for ``s3://`` URLs and ``host:/dir`` targets), and for the
    same tool on both sides its ``--stanza`` (pgBackRest) or ``--config`` (WAL-G). Commands
    that call a script are not guessed at.

    ## Why is this bad?
    Recovery (point-in-time or a standby catching up from the archive) asks for segments
    where none were ever written and stops, usually discovered during the incident.

    ## Example
    ```
    archive_command = 'cp %p /mnt/wal_archive/%f'
    restore_command = 'cp /mnt/archive/%f %p'
    ```

    ## Fix
    Make both name the same place; pgforge generates both from one ``archive:`` section.
    """
    if not archiving(t):
        return
    ac, rc = t.get("archive_command"), t.get("restore_command")
    if ac is None or rc is None or not ac.value.strip() or not rc.value.strip():
        return
    put, get = wal_locations(ac.value), wal_locations(rc.value)
    if put and get and not put & get:
        yield Hit(at_value(rc), f"restore_command reads WAL from {', '.join(sorted(get))} but archive_command "
                  f"({_loc(ac)}) writes it to {', '.join(sorted(put))}", "make restore_command read where "
                  "archive_command writes")
        return
    tool_a, opts_a = tool_options(ac.value)
    tool_r, opts_r = tool_options(rc.value)
    if tool_a and tool_a == tool_r:
        for name in sorted(opts_a.keys() & opts_r.keys()):
            if opts_a[name] != opts_r[name]:
                yield Hit(at_value(rc), f"restore_command uses {tool_r} {name}={opts_r[name]} but archive_command "
                          f"({_loc(ac)}) pushes with {name}={opts_a[name]}",
                          f"use the same {name} in both commands")
