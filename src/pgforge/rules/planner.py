"""Planner and I/O rules: random_page_cost, effective_io_concurrency, maintenance_io_concurrency,
default_statistics_target, jit."""

from __future__ import annotations

from pgforge.rules.base import PG_DOCS_JIT, PG_DOCS_QUERY, PG_DOCS_RESOURCES, PGTUNE, Kind, Recommendation, rule
from pgforge.rules.context import Context

RANDOM_PAGE_COST = {"hdd": 4.0, "san": 1.5, "ssd": 1.1, "nvme": 1.1}
# Concurrent I/O requests one backend may issue ahead (prefetch depth). PGTune's per-storage
# values; NVMe gets the SSD value because a single backend rarely benefits from deeper queues.
IO_CONCURRENCY = {"hdd": 2, "san": 300, "ssd": 200, "nvme": 200}


@rule("random_page_cost", Kind.real, "planner", tolerance=0.3)
def random_page_cost(ctx: Context) -> Recommendation:
    """The planner's cost of a random page read, relative to a sequential one (1.0).

    The default 4.0 models spinning disks, where a seek costs many sequential reads. On SSD and
    NVMe a random read costs about as much as a sequential one, and keeping 4.0 there steers the
    planner away from index scans it should take: 1.1. SAN storage sits between (1.5: network
    latency on every random request); HDD keeps 4.0.
    """
    value = RANDOM_PAGE_COST[ctx.storage]
    return ctx.make("random_page_cost", value,
                    f"{value} for {ctx.storage}: random reads cost {'about as much as' if value < 2 else 'far more than'} sequential ones",
                    PG_DOCS_QUERY, storage=ctx.storage)


def _io_depth(ctx: Context) -> tuple[int, str]:
    if ctx.spec.os.value != "linux":
        return 0, f"{ctx.spec.os.value} has no posix_fadvise: the server refuses any value but 0"
    value = IO_CONCURRENCY[ctx.storage]
    return value, f"{value} for {ctx.storage}: prefetch depth the device can serve in parallel"


@rule("effective_io_concurrency", Kind.integer, "planner", tolerance=0.5)
def effective_io_concurrency(ctx: Context) -> Recommendation:
    """How many I/O requests a backend issues ahead during bitmap heap scans (and, from 18, read
    streams). HDD 2 per spindle pair, SSD and NVMe 200, SAN 300 (many devices behind one LUN);
    0 on systems without posix_fadvise, where other values are rejected."""
    value, why = _io_depth(ctx)
    return ctx.make("effective_io_concurrency", value, why, PGTUNE, storage=ctx.storage, os=ctx.spec.os.value)


@rule("maintenance_io_concurrency", Kind.integer, "planner", tolerance=0.5)
def maintenance_io_concurrency(ctx: Context) -> Recommendation:
    """Prefetch depth for maintenance work (VACUUM, recovery prefetch): the same as
    effective_io_concurrency, since it is the same device."""
    value, why = _io_depth(ctx)
    return ctx.make("maintenance_io_concurrency", value, f"same device as effective_io_concurrency: {why}",
                    PG_DOCS_RESOURCES, storage=ctx.storage)


@rule("default_statistics_target", Kind.integer, "planner", tolerance=0.5)
def default_statistics_target(ctx: Context) -> Recommendation:
    """Histogram and most-common-value sizes ANALYZE keeps. 100 (the default) for short queries;
    500 for dw, where skewed data in large tables makes misestimates costly and ANALYZE time is
    cheap next to query time."""
    value = 500 if ctx.workload == "dw" else 100
    return ctx.make("default_statistics_target", value,
                    f"{value} for {ctx.workload}: {'finer statistics for large skewed tables' if value > 100 else 'the default suits short queries'}",
                    PGTUNE, workload=ctx.workload)


@rule("jit", Kind.bool, "planner", tolerance=0.0)
def jit(ctx: Context) -> Recommendation:
    """LLVM JIT compilation of expressions. Off for web, oltp, mixed and desktop: compiling costs
    tens of milliseconds, which short queries never earn back, and the planner's cost thresholds
    misfire on large-but-quick queries. On for dw, where long scans profit."""
    on = ctx.workload == "dw"
    return ctx.make("jit", on,
                    "on: long analytic scans earn back compile time" if on
                    else f"off for {ctx.workload}: compile time exceeds the gain on short queries",
                    PG_DOCS_JIT, workload=ctx.workload)
