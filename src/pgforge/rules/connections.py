"""Connection rules: max_connections (fitted to the memory budget), superuser_reserved_connections,
and password_encryption; and the PgBouncer pool plan max_connections is sized from.

The pool plan is computed here once per host (:func:`pool_sizing`, with pooling.py's pure
formulas) and carried on the tuning result (``Tuning.pools``): bundle/pgbouncer.py writes it into
pgbouncer.ini, ``explain max_connections`` shows it through this rule's inputs, and the audit
(PGF401 in audit/checks/coherence.py) judges a written pgbouncer.ini with the same pooling.check.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from pgforge import pooling
from pgforge.budget import BUDGET_PERCENT
from pgforge.errors import UserError
from pgforge.rules.base import PG_DOCS_CONNECTIONS, PGTUNE, Kind, Recommendation, Source, rule
from pgforge.rules.context import Context
from pgforge.rules.memory import connection_memory
from pgforge.units import format_bytes_human as h

MIN_CONNECTIONS = 10
BUDGET_SOURCE = Source(f"pgforge memory budget: shared_buffers + connections x work_mem + autovacuum + maintenance <= {BUDGET_PERCENT} RAM (src/pgforge/budget.py)")


def direct_connection_limit(cpus: int) -> int:
    """Most server connections pgforge accepts without a pooler in front: 25 per CPU, at least 200.

    Beyond that, idle backends cost memory and every snapshot scans them; a pooler serves the
    same clients with far fewer server connections. The audit (PGF303) uses this same limit.
    """
    return max(200, 25 * cpus)


@rule("max_connections", Kind.integer, "connections", tolerance=0.5)
def max_connections(ctx: Context) -> Recommendation:
    """Server connection slots, fitted to the memory budget.

    The spec's connections (or the workload's default: web 200, oltp 200, dw 40, mixed 100,
    desktop 20) when ``connections x work_mem`` fits what the budget leaves after shared_buffers,
    maintenance and autovacuum memory. When it does not, pgforge lowers the server's slots to what
    fits and says so: the clients belong behind PgBouncer, which multiplexes them onto fewer
    server connections, rather than in an overcommitted server that the OOM killer ends.

    With PgBouncer enabled the server is sized from the pools instead of the clients
    (src/pgforge/pooling.py): per database default_pool_size + reserve_pool_size (the
    max_db_connections pgforge writes), plus superuser_reserved_connections, reserved_connections
    (PostgreSQL 16+) and 10 direct maintenance connections (backups, monitoring, migrations). WAL
    senders need no slots here: since PostgreSQL 12 they have their own (max_wal_senders). The
    memory budget still bounds the result; when the pools do not fit, the pools shrink, not the
    budget. An explicit ``connections`` in the spec is kept when it is larger.
    """
    requested = ctx.spec.requested_connections
    wm, available, fits = _connection_fit(ctx)
    sizing = pool_sizing(ctx)
    if sizing is not None:
        return _pooled_max_connections(ctx, sizing, wm, available, fits)
    direct_limit = direct_connection_limit(ctx.cpus)
    value, notes, why, source = requested, [], "", PGTUNE if ctx.spec.connections is None else PG_DOCS_CONNECTIONS
    if value > direct_limit:
        value, source = direct_limit, PG_DOCS_CONNECTIONS
        why = f"lowered from {requested} to {direct_limit} (25 per CPU, at least 200, without a pooler)"
        notes.append(f"max_connections lowered from {requested} to {direct_limit} for {ctx.cpus} CPUs without a pooler; "
                     f"enable pgbouncer in the spec (pgbouncer: {{enabled: true, databases: [...]}}) to serve {requested} clients")
    if value > fits:
        why = f"lowered from {requested} to {fits}: {value} x work_mem {h(wm)} would overcommit the {h(available)} the budget leaves"
        notes = [f"max_connections lowered from {requested} to {fits} to keep the memory budget within {BUDGET_PERCENT} of RAM; "
                 f"put PgBouncer in front (pgbouncer: {{enabled: true, databases: [...]}}) to serve {requested} clients"]
        value, source = int(fits), BUDGET_SOURCE
    if not why:
        origin = "the spec" if ctx.spec.connections is not None else f"the {ctx.workload} default"
        why = f"{requested} from {origin}; {requested} x work_mem {h(wm)} fits the {h(available)} the budget leaves"
    else:
        why += "; PgBouncer in front serves more clients"
    return ctx.make("max_connections", value, why, source, notes=tuple(notes), requested=requested, work_mem=wm,
                    available=available, cpus=ctx.cpus)


def _connection_fit(ctx: Context) -> tuple[int, int, int]:
    """(work_mem, the memory the budget leaves for connections, the connections that fit in it);
    a host that cannot hold :data:`MIN_CONNECTIONS` is refused."""
    wm = ctx.value("work_mem")
    available = connection_memory(ctx)
    fits = max(0, available // wm)
    if fits < MIN_CONNECTIONS:
        raise UserError(
            f"{h(ctx.ram)} of RAM cannot hold {MIN_CONNECTIONS} connections at work_mem {h(wm)} beside "
            f"shared_buffers and maintenance memory; give the host more memory",
            "memory")
    return wm, available, fits


#: The one plan per evaluation context (a Context is one host spec and one catalog).
_SIZINGS: WeakKeyDictionary[Context, pooling.PoolSizing | None] = WeakKeyDictionary()


def pool_sizing(ctx: Context) -> pooling.PoolSizing | None:
    """The PgBouncer pools for ``ctx``'s host, or None without PgBouncer: computed once per context.

    The pools get what the memory budget leaves for connections minus the superuser-reserved,
    reserved (PostgreSQL 16+) and maintenance slots (pooling.plan_for_spec); max_connections is
    then sized from them. tune() carries the result as ``Tuning.pools``.
    """
    if ctx in _SIZINGS:
        return _SIZINGS[ctx]
    sizing = None
    if ctx.spec.pgbouncer is not None and ctx.spec.pgbouncer.enabled:
        _, _, fits = _connection_fit(ctx)
        superuser = int(ctx.value("superuser_reserved_connections"))
        reserved = int(ctx.value("reserved_connections") or 0)  # PostgreSQL 16+; None before
        capacity = fits - pooling.server_reserved(superuser, reserved)
        try:
            plan = pooling.plan_for_spec(ctx.spec, capacity)
        except pooling.PoolingError as exc:
            raise UserError(str(exc), "pgbouncer.databases") from None
        sizing = pooling.PoolSizing(plan, superuser, reserved, capacity)
    _SIZINGS[ctx] = sizing
    return sizing


def _pooled_max_connections(ctx: Context, sizing: pooling.PoolSizing, wm: int, available: int,
                            fits: int) -> Recommendation:
    """max_connections when PgBouncer is in front: the pools plus the reserved and maintenance slots."""
    plan, superuser, reserved = sizing.plan, sizing.superuser_reserved, sizing.reserved_connections
    need = sizing.required_max_connections
    value = need
    asked = ctx.spec.connections
    if asked is not None and asked > need:
        value = min(asked, fits, direct_connection_limit(ctx.cpus))
        value = max(value, need)
    pools = (f"{len(plan.databases)} pool(s) x ({plan.default_pool_size} + {plan.reserve_pool_size} reserve) = "
             f"{plan.server_connections}")
    rationale = (f"sized from PgBouncer: {pools} + {superuser} superuser-reserved"
                 + (f" + {reserved} reserved" if reserved else "")
                 + f" + {pooling.MAINTENANCE_HEADROOM} maintenance = {need}")
    if value > need:
        rationale += f"; raised to the spec's {value}"
    summary = pooling.caveat_summary(plan.pool_mode, ctx.spec.pgbouncer.version_tuple)
    notes = [summary] if summary else []
    if plan.limited_by == "server connections":
        notes.append(f"PgBouncer pools shrunk to {plan.default_pool_size} (+{plan.reserve_pool_size} reserve) per database "
                     f"to fit the memory budget ({fits} server connections at work_mem {h(wm)}); clients queue in PgBouncer")
    if plan.pool_mode == "session" and plan.client_connections > plan.active_target:
        notes.append(f"PgBouncer session mode holds one server connection per client ({plan.client_connections} clients); "
                     f"transaction mode would need about {plan.active_target} for {ctx.cpus} CPUs")
    return ctx.make("max_connections", value, rationale + f"; work_mem {h(wm)} x {value} fits the {h(available)} the budget leaves",
                    BUDGET_SOURCE, notes=tuple(notes), pooled=plan.server_connections,
                    default_pool_size=plan.default_pool_size, reserve_pool_size=plan.reserve_pool_size,
                    databases=len(plan.databases), superuser_reserved=superuser, reserved_connections=reserved,
                    maintenance=pooling.MAINTENANCE_HEADROOM, work_mem=wm, available=available)


@rule("superuser_reserved_connections", Kind.integer, "connections", tolerance=0.0)
def superuser_reserved_connections(ctx: Context) -> Recommendation:
    """Slots kept for superusers when the others are full: 3, enough for an admin session, a
    monitoring agent and a replication fix-up when the application has exhausted the rest."""
    return ctx.make("superuser_reserved_connections", 3,
                    "3 slots stay free for an administrator when clients exhaust the rest",
                    PG_DOCS_CONNECTIONS)


@rule("password_encryption", Kind.enum, "security", tolerance=0.0)
def password_encryption(ctx: Context) -> Recommendation:
    """How new passwords are hashed: scram-sha-256.

    MD5 hashes are replayable and crackable; SCRAM is the default since PostgreSQL 14 and is set
    explicitly so a PostgreSQL 13 server (default md5) matches the scram-sha-256 lines of pg_hba.conf.
    """
    return ctx.make("password_encryption", "scram-sha-256",
                    "SCRAM hashes; md5 is replayable and deprecated (PostgreSQL 13 still defaults to md5)",
                    PG_DOCS_CONNECTIONS, major=ctx.major)
