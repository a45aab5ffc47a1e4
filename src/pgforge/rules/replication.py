"""Replication rules: the primary-side settings the ``replication:`` and ``archive:`` sections drive
(wal_level, WAL senders and slots, WAL kept for standbys, synchronous standbys) and the standby-side
settings (hot_standby, hot_standby_feedback) that the replicas inherit with the same postgresql.conf.

Without replicas, publications or an archive these rules leave the server defaults.

Counterparts: the spec's ``replication:`` section is spec/replication.py; the files (primary
setup SQL, one bootstrap script per replica, the passfile shape, logical replication SQL) are
bundle/replication.py, whose :func:`~pgforge.bundle.replication.standby_settings` writes the
:data:`STANDBY_RULES` values computed here into each replica's postgresql.auto.conf; the audit's
replication checks are in audit/checks/coherence.py and audit/checks/durability.py.
"""

from __future__ import annotations

from pgforge.rules.base import Kind, Recommendation, Source, rule
from pgforge.rules.context import Context
from pgforge.units import GB, MB, clean_bytes, format_bytes_human as h

PG_DOCS_REPLICATION = Source("PostgreSQL docs, 20.6 Replication", "https://www.postgresql.org/docs/current/runtime-config-replication.html")
PG_DOCS_WAL_LEVEL = Source("PostgreSQL docs, 20.5 Write Ahead Log: wal_level", "https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-WAL-LEVEL")
PG_DOCS_HOT_STANDBY = Source("PostgreSQL docs, 26.4 Hot Standby", "https://www.postgresql.org/docs/current/hot-standby.html")
PG_DOCS_REWIND = Source("PostgreSQL docs, pg_rewind", "https://www.postgresql.org/docs/current/app-pgrewind.html")

#: WAL senders a pg_basebackup -X stream holds while it runs (one for the files, one for the WAL).
BASEBACKUP_SENDERS = 2
#: Spare senders and slots: a replica being rebuilt while its old connection lingers, a manual pg_receivewal.
SPARE = 2
#: The standby-side rules. The replicas inherit them with postgresql.conf, and each replica's bootstrap
#: script also writes them, with these rules' values, into its postgresql.auto.conf (bundle/replication.py).
STANDBY_RULES = ("hot_standby", "hot_standby_feedback")


def _replicas(ctx: Context) -> int:
    return len(ctx.spec.replication.replicas) if ctx.spec.replication else 0


def _publications(ctx: Context) -> int:
    rep = ctx.spec.replication
    if rep is None or not rep.wants_logical:
        return 0
    return max(1, len(rep.publications))


def _streams(ctx: Context) -> bool:
    """Whether anything streams from this server (replicas or logical subscribers)."""
    return _replicas(ctx) > 0 or _publications(ctx) > 0


@rule("wal_level", Kind.enum, "replication", tolerance=0.0)
def wal_level(ctx: Context) -> Recommendation | None:
    """How much information WAL carries.

    ``replica`` when the bundle archives WAL or has replicas: both need the full WAL that
    ``minimal`` omits, and a server with ``wal_level = minimal`` refuses to start with archive_mode
    on or max_wal_senders above 0. ``logical`` when logical replication (publications) is asked
    for; it adds the row identity logical decoding needs, at some extra WAL. ``minimal`` is never
    chosen. Without archive or replication the default (replica) stays.
    """
    rep = ctx.spec.replication
    if rep is not None and rep.wants_logical:
        return ctx.make("wal_level", "logical", "logical: publications need logical decoding (also serves replicas and the archive)",
                        PG_DOCS_WAL_LEVEL, logical=True)
    if ctx.spec.archive is not None or _replicas(ctx):
        why = " and ".join(w for w, on in (("WAL archiving", ctx.spec.archive is not None), ("streaming replicas", _replicas(ctx) > 0)) if on)
        return ctx.make("wal_level", "replica", f"replica: {why} need full WAL (minimal would stop the server from starting)",
                        PG_DOCS_WAL_LEVEL, archive=ctx.spec.archive is not None, replicas=_replicas(ctx))
    return None


@rule("max_wal_senders", Kind.integer, "replication", tolerance=0.0)
def max_wal_senders(ctx: Context) -> Recommendation | None:
    """WAL sender processes: one per replica and logical subscriber, two for a running
    ``pg_basebackup -X stream`` (a replica bootstrap or a base backup), and two spare; never below
    the default of 10. A restart is needed to change it, so it is sized with headroom."""
    if not _streams(ctx):
        return None
    need = _replicas(ctx) + _publications(ctx) + BASEBACKUP_SENDERS + SPARE
    value = max(10, need)
    return ctx.make("max_wal_senders", value,
                    f"{value}: {_replicas(ctx)} replica(s) + {_publications(ctx)} subscriber(s) + {BASEBACKUP_SENDERS} for a "
                    f"pg_basebackup + {SPARE} spare (at least the default 10)",
                    PG_DOCS_REPLICATION, replicas=_replicas(ctx), publications=_publications(ctx))


@rule("max_replication_slots", Kind.integer, "replication", tolerance=0.0)
def max_replication_slots(ctx: Context) -> Recommendation | None:
    """Replication slots: one physical slot per replica (so the primary keeps the WAL a
    disconnected replica still needs), one logical slot per subscription, two spare; at least
    the default of 10."""
    if not _streams(ctx):
        return None
    need = _replicas(ctx) + _publications(ctx) + SPARE
    value = max(10, need)
    return ctx.make("max_replication_slots", value,
                    f"{value}: a slot per replica and subscription + {SPARE} spare (at least the default 10)",
                    PG_DOCS_REPLICATION, replicas=_replicas(ctx), publications=_publications(ctx))


@rule("wal_keep_size", Kind.memory, "replication", tolerance=0.5)
def wal_keep_size(ctx: Context) -> Recommendation | None:
    """WAL kept in pg_wal for standbys regardless of slots: 1GB (a tenth of the WAL disk when
    that is smaller). Slots already hold what each replica needs; this is the safety net for a
    replica whose slot was invalidated by max_slot_wal_keep_size or that runs without one."""
    if not _replicas(ctx):
        return None
    value = 1 * GB
    if ctx.spec.wal_disk:
        value = min(value, clean_bytes(ctx.spec.wal_disk / 10, minimum=16 * MB))
    return ctx.make("wal_keep_size", value, f"{h(value)} of WAL kept for a replica that lost its slot",
                    PG_DOCS_REPLICATION, wal_disk=ctx.spec.wal_disk)


@rule("max_slot_wal_keep_size", Kind.memory, "replication", tolerance=0.5)
def max_slot_wal_keep_size(ctx: Context) -> Recommendation | None:
    """The most WAL a replication slot may hold back. The default, unlimited, lets one dead
    replica fill the primary's WAL disk and stop the primary. Half the WAL disk when ``wal_disk``
    is given (max_wal_size is capped to the other half); otherwise four times max_wal_size, with
    a warning to state the disk size. A replica that falls further behind loses its slot and is
    rebuilt with its bootstrap script (or catches up from the WAL archive)."""
    if not _streams(ctx):
        return None
    if ctx.spec.wal_disk:
        value = clean_bytes(ctx.spec.wal_disk / 2, minimum=64 * MB)
        return ctx.make("max_slot_wal_keep_size", value, f"{h(value)}: half the WAL disk, so a dead replica cannot fill it",
                        PG_DOCS_REPLICATION, wal_disk=ctx.spec.wal_disk)
    value = clean_bytes(4 * ctx.value("max_wal_size"), minimum=64 * MB)
    return ctx.make("max_slot_wal_keep_size", value,
                    f"{h(value)} (4x max_wal_size) so a dead replica cannot fill the disk; set wal_disk to size it exactly",
                    PG_DOCS_REPLICATION, max_wal_size=ctx.value("max_wal_size"),
                    notes=(f"max_slot_wal_keep_size is {h(value)} (4x max_wal_size) because the spec gives no wal_disk: "
                           "make sure the WAL volume holds that much, or set wal_disk",))


@rule("synchronous_standby_names", Kind.string, "replication", tolerance=0.0)
def synchronous_standby_names(ctx: Context) -> Recommendation | None:
    """Standbys a commit waits for in ``mode: sync``: ``ANY n (replica, ...)``, a quorum of
    ``sync_count`` (default 1) among the listed replicas, matched by their application_name. Any
    of them may answer, so one slow or lost replica does not stall commits while another is up.
    With a single replica, commits stop when it is down: the bundle warns about that."""
    rep = ctx.spec.replication
    if rep is None or rep.mode != "sync" or not rep.replicas:
        return None
    names = ", ".join(r.name for r in rep.replicas)
    value = f"ANY {rep.sync_count} ({names})"
    notes: tuple[str, ...] = ()
    if len(rep.replicas) == rep.sync_count:
        notes = (f"synchronous replication waits for all {rep.sync_count} replica(s): when one is down, commits on the "
                 "primary block until it returns (add a replica or use mode: async)",)
    return ctx.make("synchronous_standby_names", value,
                    f"commits wait for {rep.sync_count} of {len(rep.replicas)} replica(s) to confirm (quorum)",
                    PG_DOCS_REPLICATION, replicas=[r.name for r in rep.replicas], sync_count=rep.sync_count, notes=notes)


@rule("hot_standby", Kind.bool, "replication", tolerance=0.0)
def hot_standby(ctx: Context) -> Recommendation | None:
    """Read-only queries on a standby. The replicas run with this same postgresql.conf, so it
    is set explicitly (on, the default) where replicas exist; the primary ignores it."""
    if not _replicas(ctx):
        return None
    return ctx.make("hot_standby", True, "replicas answer read-only queries (ignored on the primary)", PG_DOCS_HOT_STANDBY)


@rule("hot_standby_feedback", Kind.bool, "replication", tolerance=0.0)
def hot_standby_feedback(ctx: Context) -> Recommendation | None:
    """Standbys tell the primary which rows their queries still see. On where replicas serve
    reads: otherwise vacuum on the primary removes rows a replica query needs and the query is
    cancelled ("conflict with recovery"). The price is that long replica queries delay vacuum on
    the primary (bloat), which is why the slot is capped by max_slot_wal_keep_size and why
    desktop profiles keep it off."""
    if not _replicas(ctx):
        return None
    on = ctx.workload != "desktop"
    return ctx.make("hot_standby_feedback", on,
                    "on: replica queries are not cancelled by vacuum on the primary (costs some bloat there)" if on
                    else "off on a desktop profile: no replica read traffic worth delaying vacuum for",
                    PG_DOCS_HOT_STANDBY, workload=ctx.workload)


@rule("wal_log_hints", Kind.bool, "replication", tolerance=0.0)
def wal_log_hints(ctx: Context) -> Recommendation | None:
    """WAL-log hint-bit changes so that pg_rewind can turn a failed-over old primary into a replica
    of the new one instead of a full re-clone (data checksums imply it). Small WAL cost; a
    restart is needed, so it is set from the start where replicas exist."""
    if not _replicas(ctx):
        return None
    return ctx.make("wal_log_hints", True, "on: lets pg_rewind resync an old primary after a failover", PG_DOCS_REWIND)
