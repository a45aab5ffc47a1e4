#!/usr/bin/env python3
"""Benchmark candidate PostgreSQL configs on real servers: defaults, PGTune, pgforge, ablations.

Why: a tuner's advice is only as good as its measured effect. This harness starts a real
PostgreSQL cluster, loads the data sets once, then for each candidate config restarts the
server with that config and runs the same workloads (pgbench TPC-B and select-only, a long
write run that crosses checkpoints, bulk COPY + CREATE INDEX, a large ORDER BY, a hash
aggregate, a hash join, VACUUM after updates). Rounds are interleaved (for every round, for
every workload: A B C ...), so slow drift on a shared machine hits every candidate alike; the
report gives medians, the spread, pgbench p95 latency and each candidate's speed ratio against
the defaults and against PGTune.

One cluster, many configs: every candidate runs against the same on-disk data (restart between
candidates), so the config is the only thing that differs. Each measurement starts with a
restart; the first run after it is recorded separately as "first touch" (fresh shared memory,
cold shared buffers) and the measured "steady" run follows a warm-up (pg_prewarm of the
relations the workload reads, plus that first run).

Run ``python bench/tuning.py --help``; ``--quick`` finishes in under three minutes and prints
``quick: tpcb_ratio_vs_defaults=X.XX tpcb_ratio_vs_pgtune=Y.YY`` as its last line.
matplotlib is needed only for the chart (bench-only dependency).

The code is in ``bench/benchlib/`` (host, candidates, server, workloads, runner, report,
diagnose); this file is the command line.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib and pgtune_equiv live next to this file
from benchlib import REPO  # noqa: E402
from benchlib.candidates import (  # noqa: E402
    CANDIDATE_SOURCES,
    Candidate,
    parse_ablation,
    parse_variant,
    split_bench_owned,
)
from benchlib.diagnose import diagnose_sort  # noqa: E402
from benchlib.host import Host, detect_memory_bytes, parse_size  # noqa: E402
from benchlib.report import (  # noqa: E402
    fmt_ratio,
    fmt_value,
    load_records,
    render_chart,
    render_markdown,
    speed_ratio,
    summarize,
    upsert_section,
)
from benchlib.runner import run_all  # noqa: E402
from benchlib.server import Server, _on_signal, pick_bin_dir, server_version  # noqa: E402
from benchlib.workloads import FULL_WORKLOADS, WORKLOADS, Ctx  # noqa: E402


# --------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--pg-version", type=int, default=None, help="major under $PGFORGE_PG_ROOT (default: 17, else 18, else Debian 15)")
    p.add_argument("--memory", default=None, help="host RAM for the tuners, e.g. 24GB (default: /proc/meminfo)")
    p.add_argument("--cpus", type=int, default=None, help="host CPUs for the tuners (default: sched_getaffinity)")
    p.add_argument("--storage", default="ssd", choices=["ssd", "hdd", "san", "nvme"])
    p.add_argument("--workload-type", default="oltp", help="workload type given to pgforge and PGTune")
    p.add_argument("--candidates", default="defaults,pgtune,pgforge", help="comma list of candidate sources; '' for none")
    p.add_argument("--ablate", action="append", default=[], help="name=v1,v2,...: one candidate per value (defaults + it)")
    p.add_argument("--variant", action="append", default=[], help="label:k=v;k=v : defaults + several settings")
    p.add_argument("--workloads", default=",".join(FULL_WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--scale", type=int, default=80, help="pgbench scale (80 = ~1.2 GB: > 128MB shared_buffers, < RAM)")
    p.add_argument("--rows", type=int, default=4_000_000, help="rows for sort/hash/index/vacuum/bulk tables")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--duration", type=int, default=60, help="seconds per measured pgbench run")
    p.add_argument("--warmup-seconds", type=int, default=15, help="seconds of the first-touch pgbench run")
    p.add_argument("--write-duration", type=int, default=240, help="seconds of the checkpoint-crossing write run")
    p.add_argument("--sampling-rate", type=float, default=0.1, help="pgbench -l sampling rate for p95")
    p.add_argument("--skip-first-touch", action="store_true", help="do not record the first run after restart (still run it)")
    p.add_argument("--no-explain", action="store_true")
    p.add_argument("--experiment", default="tuning", help="name of this run (section name in the Markdown)")
    p.add_argument("--title", default=None)
    p.add_argument("--results", type=Path, default=None, help="append raw JSON-lines records here")
    p.add_argument("--md-out", type=Path, default=None, help="Markdown file to upsert this run's section into")
    p.add_argument("--img-dir", type=Path, default=REPO / "docs" / "img")
    p.add_argument("--report-from", type=Path, nargs="*", default=None, help="re-render from saved JSON lines; no runs")
    p.add_argument("--keep", action="store_true", help="keep the cluster directory")
    p.add_argument("--quick", action="store_true", help="TPC-B only, small scale, < 3 minutes")
    p.add_argument("--diagnose-sort", default=None, metavar="WORK_MEMS",
                   help="e.g. 4MB,16MB,64MB,256MB,1GB: explain the large-sort timings (trace_sort, faults) instead of benchmarking")
    return p


def apply_quick(args: argparse.Namespace) -> None:
    args.workloads = "tpcb"
    args.scale = min(args.scale, 15)
    args.duration = 8
    args.warmup_seconds = 2
    args.rounds = 3
    args.skip_first_touch = True
    args.no_explain = True
    args.sampling_rate = 0.2
    args.experiment = "quick"


def collect_candidates(args: argparse.Namespace, host: Host, bin_dir: Path) -> list[Candidate]:
    cands: list[Candidate] = []
    for src in [s.strip() for s in args.candidates.split(",") if s.strip()]:
        if src not in CANDIDATE_SOURCES:
            raise SystemExit(f"unknown candidate source {src!r}; known: {', '.join(CANDIDATE_SOURCES)}")
        cand = CANDIDATE_SOURCES[src](host, bin_dir)
        if cand is not None:
            cands.append(cand)
    for spec in args.ablate:
        cands.extend(parse_ablation(spec))
    for spec in args.variant:
        cands.append(parse_variant(spec))
    if not any(c.name == "defaults" for c in cands):
        cands.insert(0, Candidate("defaults", {}, "PostgreSQL built-in defaults (reference)"))
    for c in cands:
        split_bench_owned(c)
    return cands


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        apply_quick(args)
    signal.signal(signal.SIGTERM, _on_signal)
    bin_dir = pick_bin_dir(args.pg_version)
    major, full = server_version(bin_dir)
    host = Host(
        memory_bytes=parse_size(args.memory) if args.memory else detect_memory_bytes(),
        cpus=args.cpus or len(os.sched_getaffinity(0)),
        storage=args.storage,
        workload=args.workload_type,
        pg_version=major,
    )
    candidates = collect_candidates(args, host, bin_dir)
    workloads = [WORKLOADS[w.strip()] for w in args.workloads.split(",") if w.strip()]
    title = args.title or f"{args.experiment}: PostgreSQL {full}, {host.memory_text} / {host.cpus} CPU host"

    if args.diagnose_sort:
        md = diagnose_sort(args, bin_dir)
        print(md)
        if args.md_out:
            upsert_section(args.md_out, "sort-diagnosis", md)
        return 0
    if args.report_from is not None:
        records, stored = load_records(args.report_from)
        if stored:  # the configs actually measured, not a fresh (possibly changed) pgforge answer
            candidates = stored
        seen = {r.workload for r in records}
        workloads = [w for w in WORKLOADS.values() if w.name in seen]
    else:
        print(f"PostgreSQL {full} from {bin_dir}; host {host}; candidates: {', '.join(c.name for c in candidates)}")
        for c in candidates:
            print(f"  {c.name}: {c.settings} {c.notes or ''}")
        if args.results:
            args.results.parent.mkdir(parents=True, exist_ok=True)
        srv = Server(bin_dir, keep=args.keep)
        try:
            srv.initdb()
            ctx = Ctx(srv, args)
            records = run_all(ctx, candidates, workloads, args.rounds, args.experiment, args.results)
        finally:
            srv.cleanup()

    chart_rel = None
    if args.md_out:
        img = args.img_dir / f"bench-{re.sub(r'[^a-z0-9]+', '-', args.experiment.lower()).strip('-')}.png"
        if render_chart(img, title, records, candidates):
            try:
                chart_rel = os.path.relpath(img, args.md_out.parent)
            except ValueError:
                chart_rel = str(img)
        md = render_markdown(title, records, candidates, workloads, args, bin_dir, chart_rel)
        upsert_section(args.md_out, args.experiment, md)
        print(f"wrote {args.md_out}" + (f" and {img}" if chart_rel else ""))

    summ = summarize(records)
    for (metric, name, phase), s in summ.items():
        if phase == "steady":
            print(f"{metric:14s} {name:24s} median {fmt_value(s.median, s.unit):>14s}  spread {s.spread * 100:4.0f}%  "
                  f"vs defaults {fmt_ratio(speed_ratio(s, summ.get((metric, 'defaults', phase))))}  "
                  f"vs pgtune {fmt_ratio(speed_ratio(s, summ.get((metric, 'pgtune', phase))))}")
    if args.quick:
        pf = summ.get(("tpcb_tps", "pgforge", "steady"))
        vs_d = speed_ratio(pf, summ.get(("tpcb_tps", "defaults", "steady"))) if pf else None
        vs_p = speed_ratio(pf, summ.get(("tpcb_tps", "pgtune", "steady"))) if pf else None
        if pf is None:
            print("note: no pgforge candidate was measured, so the quick ratios are nan")
        print(f"quick: tpcb_ratio_vs_defaults={vs_d if vs_d is not None else float('nan'):.2f} "
              f"tpcb_ratio_vs_pgtune={vs_p if vs_p is not None else float('nan'):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
