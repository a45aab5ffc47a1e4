"""WAL and checkpoint rules: min_wal_size, max_wal_size, checkpoint_timeout,
checkpoint_completion_target, wal_compression."""

from __future__ import annotations

from pgforge.rules.base import PG_DOCS_WAL, PG_DOCS_WAL_CONFIG, Kind, Recommendation, rule
from pgforge.rules.context import Context
from pgforge.units import GB, MB, clean_bytes, format_bytes_human as h

# WAL between checkpoints per workload. Larger than PGTune's (4GB web, 8GB oltp) so that
# checkpoint_timeout, not WAL volume, triggers checkpoints: each checkpoint restarts full-page
# writes, and requested checkpoints under load cost throughput (tuning-anchors.md §7 #21).
MAX_WAL = {"web": 4 * GB, "oltp": 16 * GB, "dw": 16 * GB, "mixed": 8 * GB, "desktop": 2 * GB}


def _wal_room(ctx: Context) -> tuple[int, str]:
    """Room the WAL may take: half the WAL disk when known, else a RAM-based proxy for small hosts."""
    if ctx.spec.wal_disk:
        return ctx.spec.wal_disk // 2, f"half the {h(ctx.spec.wal_disk)} WAL disk"
    return max(1 * GB, ctx.ram * 4), "4x RAM as a proxy for a small host's disk (set wal_disk to be exact)"


@rule("max_wal_size", Kind.memory, "wal", tolerance=0.5)
def max_wal_size(ctx: Context) -> Recommendation:
    """WAL allowed to accumulate before a checkpoint is forced.

    Sized so that checkpoints come from checkpoint_timeout, not from WAL volume: each checkpoint
    makes the next change to every page write a full page image, so frequent ones multiply WAL.
    web 4GB, mixed 8GB, oltp and dw 16GB, desktop 2GB; never more than half the WAL disk when
    ``wal_disk`` is given (it is a soft limit and WAL can overshoot it).
    """
    want = MAX_WAL[ctx.workload]
    room, why = _wal_room(ctx)
    value = clean_bytes(max(min(want, room), 128 * MB))
    capped = f"; capped to {why}" if value < want else ""
    return ctx.make("max_wal_size", value,
                    f"{h(value)} for {ctx.workload} so checkpoints are timed, not forced by WAL volume{capped}",
                    PG_DOCS_WAL_CONFIG, workload=ctx.workload, wal_disk=ctx.spec.wal_disk)


@rule("min_wal_size", Kind.memory, "wal", tolerance=0.5)
def min_wal_size(ctx: Context) -> Recommendation:
    """WAL segments kept for reuse instead of being removed: a quarter of max_wal_size, so bursts
    reuse preallocated segments instead of creating new files."""
    value = clean_bytes(max(ctx.value("max_wal_size") / 4, 80 * MB))
    return ctx.make("min_wal_size", value, f"a quarter of max_wal_size ({h(value)}): recycled segments absorb write bursts",
                    PG_DOCS_WAL, max_wal_size=ctx.value("max_wal_size"))


@rule("checkpoint_timeout", Kind.time, "wal", tolerance=0.34)
def checkpoint_timeout(ctx: Context) -> Recommendation:
    """Time between automatic checkpoints.

    15 minutes for servers: fewer checkpoints mean fewer full-page images in WAL and less write
    amplification, at the cost of longer crash recovery (a few minutes of replay at most for this
    interval). A desktop keeps the 5 minute default for quick restarts.
    """
    minutes = 5 if ctx.workload == "desktop" else 15
    return ctx.make("checkpoint_timeout", minutes * 60_000,
                    f"{minutes}min: fewer full-page writes; crash recovery replays at most about that much WAL",
                    PG_DOCS_WAL_CONFIG, workload=ctx.workload)


@rule("checkpoint_completion_target", Kind.real, "wal", tolerance=0.12)
def checkpoint_completion_target(ctx: Context) -> Recommendation:
    """Spread checkpoint writes over 90% of the interval (the default since PostgreSQL 14; 13's
    0.5 bunches I/O into the first half)."""
    return ctx.make("checkpoint_completion_target", 0.9,
                    "0.9 spreads checkpoint I/O over the interval instead of bursts", PG_DOCS_WAL_CONFIG)


@rule("wal_compression", Kind.enum, "wal", tolerance=0.0)
def wal_compression(ctx: Context) -> Recommendation:
    """Compress full-page images in WAL.

    Full-page images dominate WAL right after each checkpoint; compressing them cuts WAL volume
    (and archive and replication traffic) for some CPU. lz4 is the cheapest, but only builds
    configured ``--with-lz4`` accept it, so pgforge uses it only when the spec's ``pg_build`` says
    the target has it, and otherwise the built-in pglz, which every build accepts.
    """
    if ctx.major < 15:
        return ctx.make("wal_compression", "on", "compress full-page images (pglz; the only method before 15)",
                        PG_DOCS_WAL, major=ctx.major)
    if ctx.spec.pg_build.lz4:
        return ctx.make("wal_compression", "lz4", "lz4: least CPU per byte saved; the target build has lz4",
                        PG_DOCS_WAL, lz4=True)
    return ctx.make("wal_compression", "pglz",
                    "pglz: built into every build; lz4 is cheaper but needs a --with-lz4 build (set pg_build.lz4: true)",
                    PG_DOCS_WAL, lz4=ctx.spec.pg_build.lz4)
