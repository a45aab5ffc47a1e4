"""``--diagnose-sort``: why is a bigger work_mem sometimes slower for a large sort or hash aggregate?

Runs the queries at each work_mem with trace_sort on and reports time, the leader's CPU and
minor page faults, sort runs and phase times, and the plan.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from pathlib import Path

from .host import machine_lines
from .runner import load1
from .server import Server
from .workloads import HASHAGG_SQL, SORT_SQL, Ctx, ensure_database, ensure_sort_tables, prewarm


def _proc_counters(pid: int) -> tuple[int, float]:
    """(minor page faults, CPU seconds user+sys) of a backend, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    # after the ")": state=0, ppid=1, ..., minflt=7, majflt=9, utime=11, stime=12
    return int(fields[7]), (int(fields[11]) + int(fields[12])) / tick


_TRACE_ELAPSED = re.compile(r"elapsed: ([\d.]+) s")


def diagnose_query(server: Server, sql: str, work_mem: str, serial: bool, reps: int) -> dict:
    """Run ``sql`` ``reps`` times in one session with trace_sort on; report time, faults, phases."""
    times, faults, cpus, runs, phase_gen, phase_end = [], [], [], [], [], []
    method = ""
    with server.connect("bench") as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(f"set work_mem = '{work_mem}'")
        if serial:
            conn.execute("set max_parallel_workers_per_gather = 0")
        pid = int(conn.execute("select pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        plan = "\n".join(r[0] for r in conn.execute("explain (analyze, buffers) " + sql).fetchall())
        method = "; ".join(
            line.split("(cost=")[0].replace("->", "").strip() if "(cost=" in line else line.strip()
            for line in plan.splitlines()
            if "Sort Method" in line or "Batches:" in line or "Gather" in line
            or ("Aggregate" in line and "(cost=" in line)
        )
        conn.execute("set trace_sort = on")
        conn.execute("set client_min_messages = log")
        for _ in range(reps):
            notices.clear()
            f0, c0 = _proc_counters(pid)
            t0 = time.perf_counter()
            conn.execute(sql)
            times.append(time.perf_counter() - t0)
            f1, c1 = _proc_counters(pid)
            faults.append(f1 - f0)
            cpus.append(c1 - c0)
            # leader's own trace only (workers' messages go to the server log, not the client)
            runs.append(sum(1 for n in notices if "finished writing run" in n))
            gen = [n for n in notices if "performsort" in n and "done" in n]
            end = [n for n in notices if "sort of worker" in n and "ended" in n]
            if gen and (m := _TRACE_ELAPSED.search(gen[-1])):
                phase_gen.append(float(m.group(1)))
            if end and (m := _TRACE_ELAPSED.search(end[-1])):
                phase_end.append(float(m.group(1)))
    med = statistics.median
    return {
        "work_mem": work_mem,
        "mode": "serial" if serial else "parallel (default)",
        "time_s": med(times),
        "times": times,
        "minflt": med(faults),
        "leader_cpu_s": med(cpus),
        "runs": med(runs) if runs else 0,
        "runs_phase_s": med(phase_gen) if phase_gen else None,
        "sort_total_s": med(phase_end) if phase_end else None,
        "method": method,
    }


#: (label, SQL, modes) for the diagnosis: the sort is run serial and parallel because the
#: planner's choice between them changes with work_mem; the hash aggregate plan is serial anyway.
DIAGNOSE_QUERIES = (
    ("ORDER BY", SORT_SQL, (True, False)),
    ("hash aggregate", HASHAGG_SQL, (True,)),
)


def diagnose_sort(args: argparse.Namespace, bin_dir: Path) -> str:
    """Run the large ORDER BY and the hash aggregate at each work_mem and explain the timings."""
    values = [v.strip() for v in args.diagnose_sort.split(",") if v.strip()]
    srv = Server(bin_dir, keep=args.keep)
    rows_out: list[dict] = []
    try:
        srv.initdb()
        srv.apply({"maintenance_work_mem": "1GB"})
        ctx = Ctx(srv, args)
        ensure_database(ctx)
        ensure_sort_tables(ctx)
        srv.execute("checkpoint")
        prewarm(ctx, ["t"])
        for rnd in range(args.rounds):
            for label, sql, modes in DIAGNOSE_QUERIES:
                for serial in modes:
                    for wm in values:
                        r = diagnose_query(srv, sql, wm, serial, reps=1)
                        r["query"] = label
                        r["round"] = rnd
                        r["load1"] = load1()
                        rows_out.append(r)
                        print(f"  r{rnd} {label:14s} {r['mode']:18s} work_mem={wm:6s} {r['time_s']:.3f}s "
                              f"minflt={r['minflt']} runs={r['runs']} phases={r['runs_phase_s']}/{r['sort_total_s']} "
                              f"load={r['load1']} {r['method']}", flush=True)
    finally:
        srv.cleanup()
    loads = [r["load1"] for r in rows_out]
    lines = ["## Why more work_mem can make a large sort or hash aggregate slower", ""]
    lines += machine_lines(bin_dir)
    lines += [
        f"- queries over {args.rows:,} rows of t: `{SORT_SQL}` and `{HASHAGG_SQL}`; "
        f"{args.rounds} interleaved rounds; one session per run with `trace_sort = on`",
        "- serial = `max_parallel_workers_per_gather = 0` (one process: isolates the algorithm); "
        "parallel = the plan PostgreSQL picks by default (its choice changes with work_mem)",
        "- minor faults = minor page faults of the leader backend during the query (fresh memory it touched); "
        "runs / phase times are the leader's own trace_sort figures (workers' go to the server log)",
        f"- load average (1 min) at the runs: min {min(loads, default=0):.2f}, max {max(loads, default=0):.2f}",
        "",
        "| query | mode | work_mem | median s | min – max | leader CPU s | minor faults | runs written | runs done at s | sort done at s | plan (EXPLAIN ANALYZE) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    med = statistics.median
    for label, _sql, modes in DIAGNOSE_QUERIES:
        for mode in ("serial" if m else "parallel (default)" for m in modes):
            for wm in values:
                grp = [r for r in rows_out if r["query"] == label and r["mode"] == mode and r["work_mem"] == wm]
                if not grp:
                    continue
                ts = [r["time_s"] for r in grp]

                def opt(key: str, rows: list[dict] = grp) -> str:
                    vals = [r[key] for r in rows if r[key] is not None]
                    return f"{med(vals):.2f}" if vals else ""

                runs = med([r["runs"] for r in grp])
                lines.append(
                    f"| {label} | {mode} | {wm} | {med(ts):.2f} | {min(ts):.2f} – {max(ts):.2f} | {opt('leader_cpu_s')} | "
                    f"{med([r['minflt'] for r in grp]):,.0f} | {runs:.0f} | {opt('runs_phase_s')} | "
                    f"{opt('sort_total_s')} | {grp[0]['method']} |"
                )
    lines.append("")
    if args.results:
        with open(args.results, "a") as fh:
            for r in rows_out:
                fh.write(json.dumps({"diagnosis": "work_mem", **r}) + "\n")
    return "\n".join(lines)
