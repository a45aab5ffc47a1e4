"""PgBouncer pool sizing, as pure functions: one rule, two directions.

:func:`recommend` sizes the pools for a host (the generator); :func:`check` judges pools someone
wrote against a server's max_connections and a file-descriptor limit (the audit, and the
generator's own self-check). Both use the same constants and the same bound, so what pgforge
writes always passes what pgforge checks.

Counterparts: the plan for a host is computed once, by rules/connections.py (``pool_sizing``, which
the max_connections rule sizes the server from), and carried on the tuning result as
``Tuning.pools`` (:class:`PoolSizing`); bundle/pgbouncer.py writes pgbouncer.ini from it and
audit/checks/coherence.py (PGF401) judges a written pgbouncer.ini with :func:`check`.

The facts this rests on (shared/research/audit-anchors.md §2, PgBouncer's config docs and source):

* every (database, user) pair is its own pool of at most ``pool_size`` server connections, plus
  ``reserve_pool_size`` once a client has waited ``reserve_pool_timeout``;
* ``max_db_connections`` caps a database's server connections whatever the number of users, and
  it applies to the reserve too (launch_new_connection checks it after the reserve decision), so
  pgforge sets it to ``pool_size + reserve_pool_size`` and the bound holds without knowing users;
* active connections worth having ~ ``cores x 2 + effective spindles`` (PostgreSQL wiki, "Number
  Of Database Connections"): beyond that, more connections only queue inside the server;
* WAL senders have had their own slots since PostgreSQL 12 (max_wal_senders is not counted in
  max_connections; checked on a real PostgreSQL 13: with every max_connections slot taken a
  replication connection still got in), so replication needs no headroom here;
* PgBouncer estimates its descriptors as max_client_conn + pooled server connections + 10
  (src/main.c, logged at start-up; it never refuses), and distro units often leave the soft
  limit at 1024.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgforge.spec import HostSpec

#: Direct (non-pooled) server connections kept free beside the pools: a pg_dump and a
#: pg_dumpall from the backup scripts, a monitoring agent, a migration, an administrator's psql.
MAINTENANCE_HEADROOM = 10
#: Extra client slots beyond the stated clients, so the admin console still answers when the
#: application has taken every client slot.
ADMIN_CLIENT_SLACK = 10
#: The constant in PgBouncer's own descriptor estimate (listening sockets, log, DNS, pidfile).
FD_OVERHEAD = 10
#: Smallest per-database pool in transaction/statement mode: one slow query must not block the rest.
MIN_POOL_SIZE = 2
#: Effective spindle count the wiki formula adds; unknown for arrays, so the smallest mirror is assumed.
SPINDLES = {"hdd": 2, "san": 2, "ssd": 0, "nvme": 0}
#: Seconds a client waits before the reserve pool opens (PgBouncer's default, written explicitly).
RESERVE_POOL_TIMEOUT = 5


class PoolingError(ValueError):
    """The pools cannot fit the server's connection budget (input to fix, not a bug)."""


@dataclass(frozen=True)
class PoolLimits:
    """What one [databases] entry may open on the server, as written in a pgbouncer.ini.

    ``max_db_connections`` 0 means unlimited (PgBouncer's default); ``users`` is the number of
    distinct users that connect to it, or None when unknown.
    """

    database: str
    pool_size: int
    reserve_pool_size: int = 0
    max_db_connections: int = 0
    users: int | None = None

    @property
    def server_connections(self) -> int | None:
        """Most server connections this database can hold open, or None if nothing bounds it."""
        per_users = None if self.users is None else self.users * (self.pool_size + self.reserve_pool_size)
        if self.max_db_connections > 0:
            return self.max_db_connections if per_users is None else min(self.max_db_connections, per_users)
        return per_users


@dataclass(frozen=True)
class PoolPlan:
    """Pool sizes pgforge writes into pgbouncer.ini, with what limited them."""

    databases: tuple[str, ...]
    pool_mode: str
    default_pool_size: int
    reserve_pool_size: int
    max_client_conn: int
    client_connections: int
    active_target: int
    limited_by: str  # "cpus" | "clients" | "spec" | "server connections"

    @property
    def max_db_connections(self) -> int:
        """Per-database cap: one user's pool plus its reserve, so more users never mean more server load."""
        return self.default_pool_size + self.reserve_pool_size

    @property
    def server_connections(self) -> int:
        return len(self.databases) * self.max_db_connections

    @property
    def fd_needed(self) -> int:
        return fd_needed(self.max_client_conn, self.server_connections)

    @property
    def fd_limit(self) -> int:
        """The LimitNOFILE pgforge states: the need plus 10% (at least 64), rounded up to 1024."""
        need = self.fd_needed
        return math.ceil((need + max(64, need // 10)) / 1024) * 1024

    def limits(self) -> list[PoolLimits]:
        """The plan as :func:`check` reads a written file."""
        return [PoolLimits(db, self.default_pool_size, self.reserve_pool_size, self.max_db_connections)
                for db in self.databases]


@dataclass(frozen=True)
class PoolSizing:
    """A plan with the server slots it was fitted beside: computed once per host by the
    max_connections rule (rules/connections.py ``pool_sizing``) and carried on the tuning result
    (``Tuning.pools``), so pgbouncer.ini (bundle/pgbouncer.py), max_connections and ``explain`` all
    read this one plan; the audit (PGF401) judges the written file with :func:`check`.
    """

    plan: PoolPlan
    superuser_reserved: int
    reserved_connections: int
    #: Server connections the memory budget left for the pools beside the reserved slots.
    capacity: int

    @property
    def required_max_connections(self) -> int:
        return required_max_connections(self.plan, self.superuser_reserved, self.reserved_connections)

    def check(self, max_connections: int) -> list[Finding]:
        """:func:`check` of this plan in front of ``max_connections``, with its descriptor limit."""
        return check(self.plan.limits(), max_connections=max_connections, superuser_reserved=self.superuser_reserved,
                     reserved_connections=self.reserved_connections, max_client_conn=self.plan.max_client_conn,
                     fd_limit=self.plan.fd_limit)


@dataclass(frozen=True)
class Finding:
    """One thing :func:`check` objects to: a stable code, what is wrong, how to fix it."""

    code: str
    message: str
    fix: str


# --------------------------------------------------------------------------- shared formulas


def active_target(cpus: int, storage: str) -> int:
    """Server connections that keep the CPUs busy: cores x 2 + effective spindles (wiki formula)."""
    return cpus * 2 + SPINDLES.get(storage, 0)


def reserve_for(pool_size: int, pool_mode: str) -> int:
    """Reserve pool: a quarter of the pool (at least 1) for bursts in transaction/statement mode.

    In session mode a client holds its server connection until it disconnects, so a reserve
    only delays the queue it cannot drain; it is 0 there.
    """
    if pool_mode == "session":
        return 0
    return max(1, math.ceil(pool_size / 4))


def server_reserved(superuser_reserved: int, reserved_connections: int = 0,
                    maintenance: int = MAINTENANCE_HEADROOM) -> int:
    """Slots of max_connections the pools must leave alone."""
    return superuser_reserved + reserved_connections + maintenance


def fd_needed(max_client_conn: int, server_connections: int) -> int:
    """PgBouncer's own estimate, with the reserve pool counted (its log line leaves it out)."""
    return max_client_conn + server_connections + FD_OVERHEAD


def version_at_least(version: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    return tuple(version) >= tuple(wanted)


# --------------------------------------------------------------------------- recommend


def recommend(*, cpus: int, storage: str, pool_mode: str, databases: Sequence[str], client_connections: int,
              capacity: int, pool_size: int | None = None) -> PoolPlan:
    """Pool sizes for ``databases`` within ``capacity`` server connections.

    Transaction/statement mode: the active target (cores x 2 + spindles, never more than the
    clients) split over the databases, at least :data:`MIN_POOL_SIZE` each, plus a reserve.
    Session mode: one server connection per client, since each client keeps its own.
    ``pool_size`` (from the spec) replaces the formula. Then, if the pools do not fit
    ``capacity``, the largest pool whose pool + reserve fits is taken. Feeding the resulting
    total back as ``capacity`` gives the same plan (the part relies on that).
    """
    n = len(databases)
    if n == 0:
        raise PoolingError("no databases to pool")
    active = active_target(cpus, storage)
    if pool_size is not None:
        per_db, limited_by = pool_size, "spec"
    elif pool_mode == "session":
        per_db, limited_by = math.ceil(client_connections / n), "clients"
    else:
        total = min(active, client_connections)
        limited_by = "cpus" if active <= client_connections else "clients"
        per_db = max(MIN_POOL_SIZE, math.ceil(total / n))
    per_db = max(1, per_db)
    reserve = reserve_for(per_db, pool_mode)
    room = capacity // n
    if per_db + reserve > room:
        if room < 1:
            raise PoolingError(
                f"{n} pooled database(s) need at least {n} server connections, and the server's connection budget "
                f"leaves {max(0, capacity)} beside its reserved slots: give the host more memory or pool fewer databases")
        limited_by = "server connections"
        per_db = min(per_db, room)
        while per_db > 1 and per_db + reserve_for(per_db, pool_mode) > room:
            per_db -= 1
        reserve = reserve_for(per_db, pool_mode)
        if per_db + reserve > room:
            reserve = 0
    return PoolPlan(tuple(databases), pool_mode, per_db, reserve, client_connections + ADMIN_CLIENT_SLACK,
                    client_connections, active, limited_by)


def required_max_connections(plan: PoolPlan, superuser_reserved: int, reserved_connections: int = 0,
                             maintenance: int = MAINTENANCE_HEADROOM) -> int:
    """The server's max_connections that holds every pool plus its reserved slots."""
    return plan.server_connections + server_reserved(superuser_reserved, reserved_connections, maintenance)


def plan_for_spec(spec: HostSpec, capacity: int) -> PoolPlan:
    """:func:`recommend` with the inputs a host spec gives (its ``pgbouncer`` section must be enabled)."""
    pgb = spec.pgbouncer
    if pgb is None or not pgb.enabled:
        raise PoolingError("pgbouncer is not enabled in this spec")
    return recommend(cpus=spec.cpus, storage=spec.storage.value, pool_mode=pgb.pool_mode, databases=pgb.databases,
                     client_connections=pgb.client_connections, capacity=capacity, pool_size=pgb.pool_size)


# --------------------------------------------------------------------------- check


def check(pools: Sequence[PoolLimits], *, max_connections: int, superuser_reserved: int = 3,
          reserved_connections: int = 0, maintenance: int = MAINTENANCE_HEADROOM,
          max_client_conn: int | None = None, fd_limit: int | None = None) -> list[Finding]:
    """What is wrong with ``pools`` in front of a server with ``max_connections``; [] when coherent.

    The bound per database is min(max_db_connections, users x (pool_size + reserve)); a database
    with neither is unbounded. The pools together plus the reserved slots and ``maintenance``
    direct connections must fit max_connections, and PgBouncer's descriptor need must fit
    ``fd_limit`` (LimitNOFILE / ulimit -n) when one is stated.
    """
    findings: list[Finding] = []
    total = 0
    for pool in pools:
        bound = pool.server_connections
        if bound is None:
            findings.append(Finding(
                "pool-unbounded",
                f"database {pool.database}: max_db_connections is 0 (unlimited) and the number of users is unknown, "
                f"so each user adds up to {pool.pool_size + pool.reserve_pool_size} server connections",
                f"set max_db_connections = {pool.pool_size + pool.reserve_pool_size} for {pool.database}"))
            bound = pool.pool_size + pool.reserve_pool_size
        total += bound
    reserved = server_reserved(superuser_reserved, reserved_connections, maintenance)
    if total + reserved > max_connections:
        findings.append(Finding(
            "pools-exceed-max-connections",
            f"the pools can open {total} server connections; with {superuser_reserved} superuser-reserved, "
            f"{reserved_connections} reserved and {maintenance} maintenance slots the server needs "
            f"max_connections >= {total + reserved}, not {max_connections}",
            f"raise max_connections to {total + reserved} or lower default_pool_size / max_db_connections"))
    if fd_limit is not None and max_client_conn is not None:
        need = fd_needed(max_client_conn, total)
        if need > fd_limit:
            findings.append(Finding(
                "fd-limit",
                f"max_client_conn {max_client_conn} + {total} server connections + {FD_OVERHEAD} need {need} file "
                f"descriptors; the limit is {fd_limit}",
                f"raise LimitNOFILE (systemd) or ulimit -n to at least {need}, or lower max_client_conn"))
    return findings


# --------------------------------------------------------------------------- caveats


def caveats(pool_mode: str, version: tuple[int, ...]) -> list[str]:
    """What an application must not rely on in this pool mode, one item each; empty for session mode."""
    if pool_mode == "session":
        return []
    unit = "transaction" if pool_mode == "transaction" else "statement"
    items = [
        f"session SET does not survive the {unit} (use SET LOCAL inside a transaction, or set it per role/database)",
        "LISTEN/NOTIFY listeners lose their notifications (listen on a direct server connection)",
        "session advisory locks are taken and released on different server connections "
        "(use pg_advisory_xact_lock)",
        f"temporary tables and WITH HOLD cursors do not outlive the {unit}",
    ]
    if version_at_least(version, (1, 21)):
        items.append("protocol-level prepared statements are tracked by max_prepared_statements (set in pgbouncer.ini)")
    else:
        items.append(
            "protocol-level prepared statements break before PgBouncer 1.21 (\"prepared statement ... does not "
            "exist\"): turn them off in the driver (JDBC prepareThreshold=0, psycopg prepare_threshold=None, "
            "asyncpg statement_cache_size=0) or run PgBouncer >= 1.21")
    return items


def caveat_summary(pool_mode: str, version: tuple[int, ...]) -> str | None:
    """The caveats in one line, for the warnings a run prints (the file lists them one by one)."""
    if pool_mode == "session":
        return None
    unit = "transaction" if pool_mode == "transaction" else "statement"
    prepared = ("" if version_at_least(version, (1, 21))
                else ", and protocol-level prepared statements (before PgBouncer 1.21; turn them off in the driver)")
    return (f"PgBouncer {pool_mode} mode: session state does not outlive a {unit}: session SET (use SET LOCAL), "
            f"LISTEN/NOTIFY, session advisory locks (use pg_advisory_xact_lock), temporary tables{prepared}; "
            "see the caveats in pgbouncer/pgbouncer.ini")
