"""What is measured: the data sets (set up once per cluster) and the workloads run on them."""

from __future__ import annotations

import argparse
import math
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .server import Server


@dataclass
class Ctx:
    server: Server
    args: argparse.Namespace
    ready: set[str] = field(default_factory=set)
    update_counter: int = 0


# data sets -----------------------------------------------------------------------------------


def ensure_database(ctx: Ctx) -> None:
    if "db" in ctx.ready:
        return
    ctx.server.execute("create database bench", dbname="postgres")
    ctx.server.execute("create extension if not exists pg_prewarm")
    ctx.ready.add("db")


def ensure_sort_tables(ctx: Ctx) -> None:
    """t: ``rows`` rows (int id, float r, int k with rows/4 distinct values, md5 text s);
    u: rows/4 rows joining t.id, for the hash join."""
    if "t" in ctx.ready:
        return
    n = ctx.args.rows
    ctx.server.execute(
        "create table t as select g as id, random() as r, (random()*%d)::int as k, md5(g::text) as s "
        "from generate_series(1,%d) g" % (max(1, n // 4), n)
    )
    ctx.server.execute(
        "create table u as select g*4 as id, md5((g*7)::text) as p from generate_series(1,%d) g" % max(1, n // 4)
    )
    ctx.server.execute("vacuum analyze t")
    ctx.server.execute("vacuum analyze u")
    ctx.ready.add("t")


def ensure_vacuum_table(ctx: Ctx) -> None:
    if "v" in ctx.ready:
        return
    n = ctx.args.rows
    ctx.server.execute(
        "create table v with (autovacuum_enabled = off) as "
        "select g as id, (random()*1000000)::int as k, 0 as n, md5(g::text) as s from generate_series(1,%d) g" % n
    )
    ctx.server.execute("alter table v add primary key (id)")
    ctx.server.execute("create index v_k_idx on v (k)")
    ctx.server.execute("vacuum analyze v")
    ctx.ready.add("v")


def ensure_bulk_file(ctx: Ctx) -> None:
    if "bulkfile" in ctx.ready:
        return
    path = ctx.server.root / "bulk.csv"
    ctx.server.execute(
        "copy (select g, random(), (random()*1000000)::int, md5(g::text) from generate_series(1,%d) g) to '%s' csv"
        % (ctx.args.rows, path)
    )
    ctx.ready.add("bulkfile")


def ensure_pgbench(ctx: Ctx) -> None:
    if "pgbench" in ctx.ready:
        return
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(ctx.server.pgbench_bin()), "-i", "-s", str(ctx.args.scale), "-I", "dtGvp", "-q",
         "-h", "127.0.0.1", "-p", str(ctx.server.port), "-U", "postgres", "bench"],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench -i failed: {proc.stderr}")
    size = ctx.server.scalar("select pg_size_pretty(pg_database_size('bench'))")
    print(f"  pgbench -i -s {ctx.args.scale}: {time.perf_counter() - t0:.0f}s, database now {size}")
    ctx.ready.add("pgbench")


def prewarm(ctx: Ctx, relations: Iterable[str]) -> None:
    """Load the relations into shared buffers (as much as fits): the steady-state warm-up."""
    for rel in relations:
        ctx.server.execute(f"select pg_prewarm('{rel}')")


# pgbench -------------------------------------------------------------------------------------


def checkpoint_counts(server: Server) -> int:
    try:
        return int(server.scalar("select num_timed + num_requested from pg_stat_checkpointer") or 0)
    except Exception:  # noqa: BLE001  (pg_stat_checkpointer is PG 17+; older has pg_stat_bgwriter)
        return int(server.scalar("select checkpoints_timed + checkpoints_req from pg_stat_bgwriter") or 0)


def wal_lsn(server: Server) -> str:
    return str(server.scalar("select pg_current_wal_insert_lsn()"))


def wal_diff(server: Server, start: str) -> int:
    return int(server.scalar(f"select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '{start}')") or 0)


def run_pgbench(ctx: Ctx, seconds: int, select_only: bool) -> tuple[float, float | None, int, int]:
    """One pgbench run; returns (tps, p95 latency ms, WAL bytes, checkpoints during the run)."""
    srv = ctx.server
    logdir = Path(tempfile.mkdtemp(prefix="pgbench-log-", dir="/tmp"))
    try:
        ck0 = checkpoint_counts(srv)
        lsn0 = wal_lsn(srv)
        cmd = [str(srv.pgbench_bin()), "-h", "127.0.0.1", "-p", str(srv.port), "-U", "postgres",
               "-c", str(ctx.args.clients), "-j", str(ctx.args.jobs), "-T", str(seconds), "-M", "prepared",
               "-l", "--sampling-rate", str(ctx.args.sampling_rate)]
        if select_only:
            cmd.append("-S")
        cmd.append("bench")
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=logdir)
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench failed: {proc.stderr[-2000:]}")
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", proc.stdout)
        if not m:
            raise RuntimeError(f"no tps in pgbench output: {proc.stdout[-1000:]}")
        lat: list[float] = []
        for logf in logdir.glob("pgbench_log.*"):
            for line in logf.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1000.0)
        p95 = percentile(lat, 95) if lat else None
        return float(m.group(1)), p95, wal_diff(srv, lsn0), checkpoint_counts(srv) - ck0
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def percentile(values: list[float], pct: float) -> float:
    vals = sorted(values)
    k = (len(vals) - 1) * pct / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


# workload definitions ------------------------------------------------------------------------


@dataclass
class Outcome:
    metric: str
    value: float
    unit: str
    higher_is_better: bool
    p95_ms: float | None = None
    wal_bytes: int | None = None
    checkpoints: int | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class Workload:
    """A measured operation: ``setup`` once per cluster, ``run`` per measurement.

    ``run(ctx, phase)`` returns one or more outcomes (bulk load yields COPY and CREATE INDEX).
    ``relations`` are prewarmed before the steady run. ``explain`` (if any) is captured once per
    candidate with EXPLAIN (ANALYZE, BUFFERS) so the report can show sort/hash methods.
    """

    name: str
    description: str
    setup: Callable[[Ctx], None]
    run: Callable[[Ctx, str], list[Outcome]]
    relations: tuple[str, ...] = ()
    explain: str | None = None


def _pgbench_workload(select_only: bool, metric: str) -> Callable[[Ctx, str], list[Outcome]]:
    def run(ctx: Ctx, phase: str) -> list[Outcome]:
        ctx.server.execute("checkpoint")
        seconds = ctx.args.warmup_seconds if phase == "first_touch" else ctx.args.duration
        tps, p95, wal, ck = run_pgbench(ctx, seconds, select_only)
        return [Outcome(metric, tps, "tps", True, p95, wal, ck)]

    return run


def run_write_checkpoint(ctx: Ctx, phase: str) -> list[Outcome]:
    """A TPC-B run long enough to cross checkpoints; starts right after a CHECKPOINT."""
    ctx.server.execute("checkpoint")
    seconds = ctx.args.warmup_seconds if phase == "first_touch" else ctx.args.write_duration
    tps, p95, wal, ck = run_pgbench(ctx, seconds, False)
    return [Outcome("write_ckpt_tps", tps, "tps", True, p95, wal, ck)]


def _query_workload(metric: str, sql: str) -> Callable[[Ctx, str], list[Outcome]]:
    def run(ctx: Ctx, phase: str) -> list[Outcome]:
        return [Outcome(metric, ctx.server.timed(sql), "s", False)]

    return run


def _index_workload(metric: str, column: str) -> Callable[[Ctx, str], list[Outcome]]:
    def run(ctx: Ctx, phase: str) -> list[Outcome]:
        ctx.server.execute("drop index if exists t_bench_idx")
        secs = ctx.server.timed(f"create index t_bench_idx on t ({column})")
        ctx.server.execute("drop index t_bench_idx")
        return [Outcome(metric, secs, "s", False)]

    return run


def run_bulk(ctx: Ctx, phase: str) -> list[Outcome]:
    srv = ctx.server
    srv.execute("drop table if exists bl")
    srv.execute("create table bl (id int, r float8, k int, s text)")
    lsn0 = wal_lsn(srv)
    load = srv.timed(f"copy bl from '{srv.root / 'bulk.csv'}' csv")
    wal = wal_diff(srv, lsn0)
    idx = srv.timed("create index bl_k_idx on bl (k)")
    srv.execute("drop table bl")
    return [Outcome("bulk_load_s", load, "s", False, wal_bytes=wal), Outcome("bulk_index_s", idx, "s", False)]


def run_vacuum(ctx: Ctx, phase: str) -> list[Outcome]:
    """Update 20% of v's rows (untimed), CHECKPOINT (untimed), then time a plain VACUUM."""
    srv = ctx.server
    slot = ctx.update_counter % 5
    ctx.update_counter += 1
    srv.execute(f"update v set n = n + 1 where id % 5 = {slot}")
    srv.execute("checkpoint")
    secs = srv.timed("vacuum v")
    return [Outcome("vacuum_s", secs, "s", False)]


SORT_SQL = "select * from t order by r offset 100000000"
HASHAGG_SQL = "select k, count(*), sum(r) from t group by k offset 100000000"
HASHJOIN_SQL = "select count(*), sum(length(u.p)) from t join u on t.id = u.id"


def _setup_all(*steps: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ensure_database(ctx)
        for step in steps:
            step(ctx)

    return setup


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("tpcb", "pgbench TPC-B-like read/write", _setup_all(ensure_pgbench),
                 _pgbench_workload(False, "tpcb_tps"), ("pgbench_accounts", "pgbench_accounts_pkey")),
        Workload("select", "pgbench select-only (-S)", _setup_all(ensure_pgbench),
                 _pgbench_workload(True, "select_tps"), ("pgbench_accounts", "pgbench_accounts_pkey")),
        Workload("write_ckpt", "pgbench TPC-B for --write-duration s from a fresh checkpoint", _setup_all(ensure_pgbench),
                 run_write_checkpoint, ("pgbench_accounts", "pgbench_accounts_pkey")),
        Workload("bulk", "COPY --rows rows from CSV into a new table, then CREATE INDEX on an int column",
                 _setup_all(ensure_bulk_file), run_bulk),
        Workload("sort", f"large ORDER BY, no rows returned: `{SORT_SQL}`", _setup_all(ensure_sort_tables),
                 _query_workload("sort_s", SORT_SQL), ("t",), SORT_SQL),
        Workload("hashagg", f"GROUP BY with rows/4 groups: `{HASHAGG_SQL}`", _setup_all(ensure_sort_tables),
                 _query_workload("hashagg_s", HASHAGG_SQL), ("t",), HASHAGG_SQL),
        Workload("hashjoin", f"join with a rows/4 inner side: `{HASHJOIN_SQL}`", _setup_all(ensure_sort_tables),
                 _query_workload("hashjoin_s", HASHJOIN_SQL), ("t", "u"), HASHJOIN_SQL),
        Workload("index_int", "CREATE INDEX on t(k), int key", _setup_all(ensure_sort_tables),
                 _index_workload("index_int_s", "k"), ("t",)),
        Workload("index_text", "CREATE INDEX on t(s), md5 text key (C collation)", _setup_all(ensure_sort_tables),
                 _index_workload("index_text_s", "s"), ("t",)),
        Workload("vacuum", "VACUUM after updating 20% of rows (table with 2 indexes, autovacuum off)",
                 _setup_all(ensure_vacuum_table), run_vacuum, ("v",)),
    ]
}

FULL_WORKLOADS = ("tpcb", "select", "write_ckpt", "bulk", "sort", "hashagg", "hashjoin", "index_int", "index_text", "vacuum")

_EXPLAIN_DETAIL = ("Sort Method", "Batches:", "Disk Usage", "Workers Launched", "Peak Memory", "Execution Time")


def explain_summary(server: Server, sql: str) -> dict:
    rows = server.execute("explain (analyze, buffers) " + sql)
    text = "\n".join(r[0] for r in rows)
    keys = []
    for line in text.splitlines():
        if "(cost=" in line:
            keys.append(line.split("(cost=")[0].replace("->", "").strip())
        elif any(d in line for d in _EXPLAIN_DETAIL):
            keys.append(line.strip())
    return {"explain_keys": keys, "explain": text}
