"""Running the measurements: interleaved rounds, restart per run, load and outside-CPU sampling."""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from .candidates import Candidate
from .report import Record
from .server import Server
from .workloads import Ctx, Workload, explain_summary, prewarm


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _busy_jiffies() -> int:
    """All CPUs' non-idle time so far, from the first line of /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = f
    return user + nice + system + irq + softirq + steal


def _own_jiffies(server: Server) -> int:
    """CPU used so far by this bench: its server (postmaster, live children, reaped children)
    and this process with its reaped children (pgbench, psql)."""
    tick = os.sysconf("SC_CLK_TCK")
    t = os.times()
    total = int((t.user + t.system + t.children_user + t.children_system) * tick)
    try:
        pm = int((server.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return total
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(proc.name), int(fields[1])
        if pid == pm:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        elif ppid == pm:
            total += int(fields[11]) + int(fields[12])
    return total


class CpuWatch:
    """Share of all CPUs used by *other* processes during a run: the noise the load average hides
    (the load average also counts the bench's own pgbench clients and backends)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.t0 = time.monotonic()
        self.busy0 = _busy_jiffies()
        self.own0 = _own_jiffies(server)

    def others_pct(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        elapsed = time.monotonic() - self.t0
        capacity = elapsed * tick * len(os.sched_getaffinity(0))
        foreign = (_busy_jiffies() - self.busy0) - (_own_jiffies(self.server) - self.own0)
        return round(max(0.0, 100.0 * foreign / capacity), 1) if capacity > 0 else 0.0


def run_measurement(ctx: Ctx, wl: Workload, cand: Candidate, rnd: int, experiment: str,
                    sink: list[Record], out_path: Path | None) -> None:
    srv = ctx.server
    srv.apply(cand.settings)
    phases = ["steady"] if ctx.args.skip_first_touch else ["first_touch", "steady"]
    if ctx.args.skip_first_touch:
        # still warm up: the first run after a restart pays first-touch costs
        prewarm(ctx, wl.relations)
        wl.run(ctx, "first_touch")
    for phase in phases:
        if phase == "steady":
            prewarm(ctx, wl.relations)
        before = load1()
        started = now()
        watch = CpuWatch(srv)
        outcomes = wl.run(ctx, phase)
        others = watch.others_pct()
        after = load1()
        for oc in outcomes:
            rec = Record(experiment, rnd, wl.name, oc.metric, cand.name, phase, oc.value, oc.unit,
                         oc.higher_is_better, before, after, started, oc.p95_ms, oc.wal_bytes, oc.checkpoints,
                         dict(oc.detail), others)
            sink.append(rec)
            if out_path:
                with open(out_path, "a") as fh:
                    fh.write(json.dumps(asdict(rec)) + "\n")
            extra = f" p95={oc.p95_ms:.1f}ms" if oc.p95_ms is not None else ""
            if oc.checkpoints is not None:
                extra += f" ckpts={oc.checkpoints} wal={oc.wal_bytes / 1e6:.0f}MB"
            print(f"  r{rnd} {wl.name:10s} {cand.name:24s} {phase:11s} {oc.metric}={oc.value:.3f}{oc.unit}"
                  f"{extra} load={before}->{after} others_cpu={others}%", flush=True)
    if wl.explain and rnd == 0 and not ctx.args.no_explain:
        summ = explain_summary(srv, wl.explain)
        rec = Record(experiment, rnd, wl.name, "explain", cand.name, "steady", float("nan"), "", False,
                     load1(), load1(), now(), detail=summ)
        sink.append(rec)
        if out_path:
            with open(out_path, "a") as fh:
                fh.write(json.dumps(asdict(rec)) + "\n")


def run_all(ctx: Ctx, candidates: list[Candidate], workloads: list[Workload], rounds: int,
            experiment: str, out_path: Path | None) -> list[Record]:
    records: list[Record] = []
    srv = ctx.server
    if out_path:
        with open(out_path, "a") as fh:
            for c in candidates:
                fh.write(json.dumps({"kind": "candidate", **asdict(c)}) + "\n")
    srv.apply({"maintenance_work_mem": "1GB", "max_wal_size": "8GB"})  # fast, neutral data loading
    for wl in workloads:
        t0 = time.perf_counter()
        wl.setup(ctx)
        print(f"setup {wl.name}: {time.perf_counter() - t0:.0f}s", flush=True)
    srv.execute("vacuum analyze")
    srv.execute("checkpoint")
    for rnd in range(rounds):
        for wl in workloads:
            for cand in candidates:
                run_measurement(ctx, wl, cand, rnd, experiment, records, out_path)
    return records
