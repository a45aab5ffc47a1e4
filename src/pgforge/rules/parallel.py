"""Parallelism rules: max_worker_processes, max_parallel_workers,
max_parallel_workers_per_gather, max_parallel_maintenance_workers."""

from __future__ import annotations

from pgforge.rules.base import MEASURED, PG_DOCS_PARALLEL, PG_DOCS_RESOURCES, Kind, Recommendation, rule
from pgforge.mechanics import index_build
from pgforge.rules.context import Context
from pgforge.units import KB, format_bytes_human as h

# Workers one query may add, by workload: OLTP and web run many short queries at once, where
# parallel plans steal cores from other sessions; analytics wants them.
GATHER_CAP = {"web": 2, "oltp": 2, "mixed": 4, "dw": 8, "desktop": 2}
# Background workers extensions start on their own.
EXTENSION_WORKERS = {"pg_cron": 1, "pg_partman_bgw": 1, "timescaledb": 8, "pg_wait_sampling": 1}


@rule("max_worker_processes", Kind.integer, "parallel", tolerance=0.0)
def max_worker_processes(ctx: Context) -> Recommendation:
    """Background worker slots for parallel query, logical replication and extensions.

    One per CPU, at least the default 8, plus the workers enabled extensions start themselves.
    It needs a restart to change, and an unused slot costs almost nothing, so it is not trimmed.
    """
    extra = sum(EXTENSION_WORKERS.get(e, 0) for e in ctx.spec.extensions)
    value = max(8, ctx.cpus) + extra
    return ctx.make("max_worker_processes", value,
                    f"max(8, {ctx.cpus} CPUs) + {extra} for extensions: restart-only, so sized with room",
                    PG_DOCS_RESOURCES, cpus=ctx.cpus, extension_workers=extra)


@rule("max_parallel_workers", Kind.integer, "parallel", tolerance=0.0)
def max_parallel_workers(ctx: Context) -> Recommendation:
    """Parallel workers all queries may use at once: one per CPU, so parallel plans cannot
    oversubscribe the cores."""
    value = min(ctx.cpus, ctx.value("max_worker_processes"))
    return ctx.make("max_parallel_workers", value, f"{value}: one per CPU so parallel plans cannot oversubscribe cores",
                    PG_DOCS_PARALLEL, cpus=ctx.cpus)


@rule("max_parallel_workers_per_gather", Kind.integer, "parallel", tolerance=0.0)
def max_parallel_workers_per_gather(ctx: Context) -> Recommendation:
    """Workers one query node may add: half the CPUs, capped by workload (web/oltp 2, mixed 4,
    dw 8). 0 on one CPU, where a parallel plan only adds coordination overhead.

    Half, not the default 2, because the leader works too: on the 2-CPU bench host (PostgreSQL
    17) one worker sorted 4M rows 1.05x the defaults' speed where two workers (three processes on
    two cores) ran 0.78x, all else equal (ablation-pgforge-groups in docs/benchmarks-tuning.md);
    the hash join was 1.22x with one worker in the full run."""
    cap = GATHER_CAP[ctx.workload]
    value = min(ctx.cpus // 2, cap, ctx.value("max_parallel_workers"))
    return ctx.make("max_parallel_workers_per_gather", value,
                    f"half of {ctx.cpus} CPUs, at most {cap} for {ctx.workload}: the leader works too, and other "
                    "sessions keep their cores (2 CPUs, measured: 1 worker sorted 1.05x the defaults, 2 workers 0.78x)",
                    MEASURED, cpus=ctx.cpus, workload=ctx.workload)


def cpu_maintenance_workers(ctx: Context) -> int:
    """The maintenance workers the CPUs call for: half of them, at most 4, within max_parallel_workers.

    The one home of that formula: maintenance_work_mem (rules/memory.py) sizes its memory for it,
    and max_parallel_maintenance_workers keeps what that memory then allows.
    """
    return min(ctx.cpus // 2, 4, ctx.value("max_parallel_workers"))


@rule("max_parallel_maintenance_workers", Kind.integer, "parallel", tolerance=0.0)
def max_parallel_maintenance_workers(ctx: Context) -> Recommendation:
    """Workers a CREATE INDEX or VACUUM may add: half the CPUs, at most 4. Each shares the
    command's maintenance_work_mem, so more workers do not raise memory use.

    The planner gives every CREATE INDEX participant, the leader included, at least 32MB of
    maintenance_work_mem (planner.c, plan_create_index_workers; mechanics/index_build.py), so a
    worker the memory cannot feed is never started. maintenance_work_mem is raised for these
    workers where the memory budget allows; where it does not, this value is lowered to what
    the memory allows, so the setting says what index builds can really use.
    """
    wanted = cpu_maintenance_workers(ctx)
    mwm_kb = int(ctx.value("maintenance_work_mem")) // KB
    value = index_build.create_index_workers(mwm_kb, wanted)
    why = f"half of {ctx.cpus} CPUs, at most 4; workers share maintenance_work_mem"
    if value < wanted:
        why += (f"; lowered from {wanted} to {value}: maintenance_work_mem {h(mwm_kb * KB)} (see its rationale) "
                "feeds only that many, as the planner gives each CREATE INDEX participant at least 32MB "
                "(planner.c plan_create_index_workers), a property of the server's code, so it holds on every host")
    elif value > 1:
        why += (f", and maintenance_work_mem {h(mwm_kb * KB)} gives each of the {value + 1} CREATE INDEX participants "
                "the 32MB the planner requires (planner.c plan_create_index_workers)")
    return ctx.make("max_parallel_maintenance_workers", value, why, PG_DOCS_PARALLEL, cpus=ctx.cpus,
                    wanted=wanted, maintenance_work_mem_kb=mwm_kb)
