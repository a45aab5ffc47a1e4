"""Autovacuum rules: workers, naptime, cost limit, scale factors."""

from __future__ import annotations

from pgforge.rules.base import PG_DOCS_AUTOVACUUM, Kind, Recommendation, rule
from pgforge.rules.context import Context

# Cost units per round for all workers together. With the default 2ms cost delay (PG 12+), a
# limit of 200 lets autovacuum dirty about 10 pages per 2ms, ~40 MB/s of writes at most, which
# leaves fast storage idle while tables bloat; slow disks keep the default.
COST_LIMIT = {"hdd": 200, "san": 800, "ssd": 1000, "nvme": 2000}


@rule("autovacuum_max_workers", Kind.integer, "autovacuum", tolerance=0.0)
def autovacuum_max_workers(ctx: Context) -> Recommendation:
    """Concurrent autovacuum workers: a quarter of the CPUs, between the default 3 and 8.

    More workers only help when many tables need vacuum at once; they share one cost budget
    (autovacuum_vacuum_cost_limit), which is raised with them.
    """
    value = min(max(3, ctx.cpus // 4), 8)
    return ctx.make("autovacuum_max_workers", value, f"a quarter of {ctx.cpus} CPUs within 3..8",
                    PG_DOCS_AUTOVACUUM, cpus=ctx.cpus)


@rule("autovacuum_naptime", Kind.time, "autovacuum", tolerance=0.0)
def autovacuum_naptime(ctx: Context) -> Recommendation:
    """Delay between autovacuum rounds per database: 30s for web and oltp, where hot tables
    collect dead rows quickly, the 1min default elsewhere."""
    seconds = 30 if ctx.workload in ("web", "oltp") else 60
    return ctx.make("autovacuum_naptime", seconds * 1000,
                    f"{seconds}s: {'hot OLTP tables are revisited sooner' if seconds == 30 else 'the default suffices'}",
                    PG_DOCS_AUTOVACUUM, workload=ctx.workload)


@rule("autovacuum_vacuum_cost_limit", Kind.integer, "autovacuum", tolerance=0.3)
def autovacuum_vacuum_cost_limit(ctx: Context) -> Recommendation:
    """I/O budget per cost-delay round, shared by all autovacuum workers.

    The default 200 throttles autovacuum to roughly 40 MB/s of dirtied pages (2ms delay, 20 per
    dirtied page): right for HDD, far below what SSD and NVMe absorb, so large tables outrun it.
    HDD 200, SAN 800, SSD 1000, NVMe 2000.
    """
    value = COST_LIMIT[ctx.storage]
    return ctx.make("autovacuum_vacuum_cost_limit", value,
                    f"{value} for {ctx.storage}: the 200 default caps autovacuum near 40 MB/s of dirtied pages",
                    PG_DOCS_AUTOVACUUM, storage=ctx.storage)


@rule("autovacuum_vacuum_scale_factor", Kind.real, "autovacuum", tolerance=0.5)
def autovacuum_vacuum_scale_factor(ctx: Context) -> Recommendation:
    """Fraction of a table that must be dead before autovacuum runs: 0.05 instead of 0.2 for
    web, oltp and mixed (a 100M-row table otherwise waits for 20M dead rows); dw keeps 0.1, its
    large tables change in bulk."""
    value = 0.1 if ctx.workload == "dw" else 0.05
    return ctx.make("autovacuum_vacuum_scale_factor", value,
                    f"{value}: vacuum large tables before bloat accumulates (default 0.2)", PG_DOCS_AUTOVACUUM,
                    workload=ctx.workload)


@rule("autovacuum_analyze_scale_factor", Kind.real, "autovacuum", tolerance=0.5)
def autovacuum_analyze_scale_factor(ctx: Context) -> Recommendation:
    """Fraction of a table that must change before it is re-analyzed: half the vacuum factor,
    so statistics follow growing tables (default 0.1)."""
    value = ctx.value("autovacuum_vacuum_scale_factor") / 2
    return ctx.make("autovacuum_analyze_scale_factor", value,
                    f"{value}: half the vacuum factor, fresher statistics on growing tables", PG_DOCS_AUTOVACUUM)


@rule("autovacuum_vacuum_insert_scale_factor", Kind.real, "autovacuum", tolerance=0.5)
def autovacuum_vacuum_insert_scale_factor(ctx: Context) -> Recommendation:
    """Fraction of inserted rows that triggers a vacuum of insert-only tables (PostgreSQL 13+):
    0.1, so append-only tables get their visibility map set and are frozen in smaller steps."""
    return ctx.make("autovacuum_vacuum_insert_scale_factor", 0.1,
                    "0.1: insert-only tables are frozen in smaller steps (default 0.2)", PG_DOCS_AUTOVACUUM)
