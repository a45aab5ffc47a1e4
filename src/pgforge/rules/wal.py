"""WAL and checkpoint rules: min_wal_size, max_wal_size, checkpoint_timeout,
checkpoint_completion_target, wal_compression."""

from __future__ import annotations

from pgforge.rules.base import MEASURED, PG_DOCS_WAL, PG_DOCS_WAL_CONFIG, Kind, Recommendation, rule
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
    ``wal_disk`` is given (it is a soft limit and WAL can overshoot it). Measured on the bench
    host: with 15min/16GB a 180 s TPC-B write run took no forced checkpoint (the defaults took
    6-10), and wrote a third of the WAL (1.3-1.6 GB against 3.4-5.9 GB); TPS was unchanged within
    noise (0.97-0.99x in a clean 5-round re-run).
    """
    want = MAX_WAL[ctx.workload]
    room, why = _wal_room(ctx)
    value = clean_bytes(max(min(want, room), 128 * MB))
    capped = f"; capped to {why}" if value < want else ""
    return ctx.make("max_wal_size", value,
                    f"{h(value)} for {ctx.workload} so checkpoints are timed, not forced by WAL volume (measured with "
                    f"15min/16GB: no forced checkpoints, 1/3 of the WAL, same TPS){capped}",
                    MEASURED, workload=ctx.workload, wal_disk=ctx.spec.wal_disk)


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
    interval). A desktop keeps the 5 minute default for quick restarts. Measured together with
    max_wal_size (see there): no forced checkpoints and a third of the WAL on a TPC-B write run.
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

    lz4 when the target build has it (PostgreSQL 15+, ``pg_build.lz4`` or ``--auto``): on the
    bench host's TPC-B run it kept 0.98x of the uncompressed TPS (noise) while writing about an
    eighth of the WAL, which also spares checkpoints, archive and replicas. Without lz4 it stays
    off: pglz (``on``) cost 0.87x TPS and 25% more p95 latency on the same 2-core run. Turn pglz
    on by hand where WAL volume (archive, replica bandwidth) matters more than CPU.
    """
    if ctx.major >= 15 and ctx.spec.pg_build.lz4:
        return ctx.make("wal_compression", "lz4",
                        "lz4: measured 0.98x TPS (noise) with about 1/8 of the WAL; the target build has lz4",
                        MEASURED, lz4=True)
    why = ("PostgreSQL 13/14 only have pglz" if ctx.major < 15 else
           "the target build is not known to have lz4 (set pg_build.lz4: true)")
    return ctx.make("wal_compression", "off",
                    f"off: {why}, and pglz measured 0.87x TPS on 2 cores; enable pglz where WAL volume matters more",
                    MEASURED, lz4=ctx.spec.pg_build.lz4, major=ctx.major)
