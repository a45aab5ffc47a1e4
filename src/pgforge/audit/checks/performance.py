"""Performance checks: existing values judged by the same tuning rules that generate them.

PGF3xx. Each asks ``Rule.judge`` (rules/base.py) with the value read from the file, so the
recommendation, tolerance and rationale are the generator's own: there is no second formula.
They need to know the host (``--memory/--cpus/...``, ``--auto``, or a spec).
"""

from __future__ import annotations

from typing import Iterable

from pgforge.audit.model import Hit, check
from pgforge.audit.target import Target
from pgforge.audit.values import effective_int
from pgforge.budget import BUDGET_PERCENT, budget_from_values
from pgforge.gucvalues import BadValue, rule_value
from pgforge.rules import REGISTRY
from pgforge.units import format_bytes_human as h

# Rules whose values are performance tuning (site, logging, security and extension rules are
# judged by the drift check against a spec, not as performance problems).
PERFORMANCE_CATEGORIES = {"memory", "wal", "planner", "parallel", "io", "autovacuum"}


def _context(t: Target):
    from pgforge.rules.context import Context

    return Context(t.spec, t.catalog if t.major_known else None)


def judgements(t: Target, categories: set[str] | None):
    """(rule, setting or None, Judgement or None, Recommendation) for each rule with a recommendation."""
    ctx = _context(t)
    for name, rule in REGISTRY.items():
        if categories is not None and rule.category not in categories:
            continue
        rec = ctx.rec(name)
        if rec is None:
            continue
        setting = t.get(name)
        if setting is None:
            yield rule, None, None, rec
            continue
        guc = ctx.catalog.get(name)
        try:
            actual = rule_value(guc, rule.kind, setting.value)
        except BadValue:
            continue  # invalid values are PGF003's
        yield rule, setting, rule.judge(ctx, actual), rec


@check("PGF301", "far-from-recommendation", "warning", "performance", sets=("performance",))
def far_from_recommendation(t: Target) -> Iterable[Hit]:
    """A tuning value far from what pgforge's rule recommends for this host.

    ## What it does
    Reads each tuned parameter that is set in the files and asks the rule that would generate
    it (``pgforge explain NAME``) to judge it, within that rule's tolerance: for example
    ``random_page_cost = 4`` on SSD, or ``shared_buffers = 128MB`` on a 64 GB server.

    ## Why is this bad?
    Defaults are sized for a small machine with spinning disks; left alone on a large SSD host
    they waste memory and mislead the planner.

    ## Example
    ```
    random_page_cost = 4     # on NVMe storage
    ```

    ## Fix
    Use the recommended value (the finding says which and why), or suppress the finding on
    that line with ``# pgforge: ignore[PGF301]`` when the deviation is deliberate.
    """
    if t.spec is None or t.desired:
        return
    for rule, setting, judgement, rec in judgements(t, PERFORMANCE_CATEGORIES):
        if setting is None or judgement is None or judgement.ok:
            continue
        yield Hit(setting, f"{judgement.message} ({rec.rationale})", f"set {rule.name} = {_display(rule, rec.value)}")


def _display(rule, value) -> str:
    from pgforge.gucvalues import display

    return display(rule.kind, value)


def _bytes(t: Target, ctx, name: str) -> int | None:
    guc = ctx.catalog.get(name)
    text = t.text(name)
    if guc is None or text is None:
        return None
    try:
        return int(rule_value(guc, REGISTRY[name].kind, text))
    except BadValue:
        return None


@check("PGF302", "memory-overcommit", "error", "performance", sets=("performance", "ci"))
def memory_overcommit(t: Target) -> Iterable[Hit]:
    """shared_buffers plus max_connections x work_mem plus maintenance memory exceeds 90% of RAM.

    ## What it does
    Adds up what the server may allocate at worst, with the same budget pgforge generates
    against: ``shared_buffers + max_connections x work_mem + autovacuum_max_workers x
    (autovacuum_work_mem, or maintenance_work_mem when it is -1) + maintenance_work_mem``, and
    compares it with 90% of the host's RAM.

    ## Why is this bad?
    When every connection sorts at once the kernel runs out of memory and the OOM killer ends a
    backend, which restarts the whole server. A pooler serves the same clients with fewer
    server connections.

    ## Example
    ```
    max_connections = 1000
    work_mem = 64MB          # 64 GB at worst, on a 32 GB host
    ```

    ## Fix
    Lower work_mem or max_connections (put PgBouncer in front), or run ``pgforge explain
    --budget`` for the host to see a budget that fits.
    """
    if t.spec is None:
        return
    ctx = _context(t)
    values = {}
    for name in ("shared_buffers", "work_mem", "maintenance_work_mem", "autovacuum_work_mem"):
        values[name] = _bytes(t, ctx, name)
    for name in ("max_connections", "autovacuum_max_workers"):
        values[name] = 0 if t.text(name) is None else effective_int(t, name)  # read as the server reads it
    if any(v is None for v in values.values()):
        return
    b = budget_from_values(t.spec.memory, values)
    if b.fits:
        return
    culprit = t.get("work_mem") or t.get("max_connections") or t.get("shared_buffers") or t.anchor()
    yield Hit(culprit, f"worst-case memory {h(b.total)} exceeds {BUDGET_PERCENT} of {h(b.ram)} RAM: shared_buffers {h(b.shared_buffers)}"
              f" + {b.max_connections} connections x work_mem {h(b.work_mem)} + autovacuum {h(b.autovacuum_total)}"
              f" + maintenance_work_mem {h(b.maintenance_work_mem)}",
              "lower work_mem or max_connections (PgBouncer in front), see `pgforge explain --budget`")


@check("PGF303", "connections-without-pooler", "warning", "performance", sets=("performance",))
def connections_without_pooler(t: Target) -> Iterable[Hit]:
    """Many server connections and no connection pooler in front.

    ## What it does
    Flags max_connections above 25 per CPU (at least 200; 500 when the host is unknown) when no
    pgbouncer.ini is part of the audited configuration: the same limit the generator keeps to
    (``direct_connection_limit`` in rules/connections.py).

    ## Why is this bad?
    Each connection is a process with its own memory and snapshot; hundreds of mostly idle
    connections cost memory, lengthen GetSnapshotData and make lock contention worse.

    ## Example
    ```
    max_connections = 2000
    ```

    ## Fix
    Put PgBouncer in transaction mode in front (``pgbouncer: {enabled: true, databases: [app]}``
    in the spec) and size max_connections to the pools.
    """
    if t.bouncer is not None:
        return
    s = t.get("max_connections")
    if s is None:
        return
    n = effective_int(t, "max_connections")  # 0x7D0 and 03720 are 2000 too
    if n is None:
        return
    from pgforge.rules.connections import direct_connection_limit

    limit = direct_connection_limit(t.spec.cpus) if t.spec else 500
    if n > limit:
        yield Hit(s, f"max_connections = {n} with no pooler in front (over {limit} for this host)",
                  "put PgBouncer in front and lower max_connections to the pool sizes")


@check("PGF304", "maintenance-memory-starves-workers", "warning", "performance", sets=("performance",))
def maintenance_memory_starves_workers(t: Target) -> Iterable[Hit]:
    """max_parallel_maintenance_workers more than maintenance_work_mem lets a CREATE INDEX use.

    ## What it does
    Compares the effective ``max_parallel_maintenance_workers`` with the workers the effective
    ``maintenance_work_mem`` lets the planner give a CREATE INDEX: every participant, the leader
    included, keeps at least 32MB (planner.c, ``plan_create_index_workers``; restated in
    src/pgforge/mechanics/index_build.py). The table's size, which can lower the count further,
    is not considered: the check judges the two settings alone, so it needs no host facts. It
    speaks only when the files set at least one of the two (PostgreSQL's own defaults, 2 workers
    and 64MB, already allow just 1; that is left to the server's authors).

    ## Why is this bad?
    The workers the memory cannot feed are never started, whatever the setting says: 64MB
    allows 1 worker, 96MB 2, 160MB 4. Index builds on a many-core host then run slower than the
    configuration promises.

    ## Example
    ```
    max_parallel_maintenance_workers = 4
    maintenance_work_mem = 64MB      # allows 1 worker
    ```

    ## Fix
    Raise maintenance_work_mem to (workers + 1) x 32MB (160MB for 4 workers) if the memory
    budget allows, or lower max_parallel_maintenance_workers to what the memory allows.
    """
    from pgforge.mechanics.index_build import create_index_workers, maintenance_mem_for_workers

    workers = effective_int(t, "max_parallel_maintenance_workers")
    mwm_kb = effective_int(t, "maintenance_work_mem")
    if workers is None or mwm_kb is None or workers < 0 or mwm_kb < 0:
        return
    allowed = create_index_workers(mwm_kb, workers)
    if allowed >= workers:
        return
    where = t.get("max_parallel_maintenance_workers") or t.get("maintenance_work_mem")
    if where is None:
        return
    need = maintenance_mem_for_workers(workers)
    yield Hit(where, f"max_parallel_maintenance_workers = {workers} but maintenance_work_mem {h(mwm_kb * 1024)} lets a "
              f"CREATE INDEX request only {allowed} (the planner keeps 32MB per participant, leader included; "
              "table size not considered)",
              f"set maintenance_work_mem = {need // 1024}MB, or max_parallel_maintenance_workers = {allowed}")
