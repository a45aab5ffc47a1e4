#!/usr/bin/env python3
"""How long ``pgforge check`` takes on a fleet directory of 10,000 realistic files.

Issue 4 ("Speed") sets the target: auditing a fleet of 10,000 files (a mix of postgresql.conf,
pg_hba.conf and pgbouncer.ini) under 10 seconds on the 2-core machine. This script builds such a
fleet in a temporary directory, one directory per server holding its three files, runs the real
CLI (``pgforge check DIR --format json``) three times and reports the median.

Where the files come from, so they look like real ones:

* the real-world corpus next to the repository (``../shared/corpus``, read in place and copied
  only into the temporary fleet), minus templates (``.j2``);
* bundles that ``pgforge generate`` writes for every bundled profile and for specs with
  PgBouncer, access lines and replication (long commented postgresql.conf files);

each host's copy differs a little (a header comment naming the host, and for generated
postgresql.conf files a host-specific port), so no two hosts are byte-identical.

    python bench/audit_speed.py                         # 10,000 files, median of 3, writes docs/benchmarks-audit.md
    python bench/audit_speed.py --files 2000 --runs 1 --no-write
    python bench/audit_speed.py --profile               # cProfile of one in-process run, top functions

The last line is ``audit: files=N targets=T findings=F seconds=S``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DOC = REPO / "docs" / "benchmarks-audit.md"
TARGET_S = 10.0
KINDS = ("postgresql.conf", "pg_hba.conf", "pgbouncer.ini")
CORPUS_DIRS = {"postgresql.conf": "postgresql_conf", "pg_hba.conf": "pg_hba", "pgbouncer.ini": "pgbouncer_ini"}

BUNDLE_SPECS = [
    {"memory": "32GB", "cpus": 8, "storage": "nvme", "workload": "oltp", "pg_version": 17,
     "pgbouncer": {"enabled": True, "pool_mode": "transaction", "databases": ["app"], "client_connections": 2000},
     "access": [{"type": "hostssl", "database": "app", "user": "app", "address": "10.0.1.0/24"}],
     "replication": {"replicas": [{"name": "replica1", "host": "10.0.2.10"}]}},
    {"memory": "8GB", "cpus": 4, "storage": "ssd", "workload": "web", "pg_version": 16,
     "pgbouncer": {"enabled": True, "databases": ["shop", "blog"], "client_connections": 400},
     "access": [{"type": "hostssl", "database": "shop", "user": "shop", "address": "10.1.0.0/16"},
                {"type": "hostssl", "database": "blog", "user": "blog", "address": "10.2.0.0/16"}]},
    {"memory": "128GB", "cpus": 32, "storage": "san", "workload": "dw", "pg_version": 15,
     "pgbouncer": {"enabled": True, "pool_mode": "session", "databases": ["dw"], "client_connections": 60},
     "access": [{"type": "hostssl", "database": "dw", "user": "analyst", "address": "192.168.10.0/24"}]},
]


def pgforge_argv() -> list[str]:
    """The installed console script beside this interpreter (what a user runs), else ``-m pgforge``."""
    script = Path(sys.executable).with_name("pgforge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pgforge"]


def corpus_sources() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {k: [] for k in KINDS}
    for kind, sub in CORPUS_DIRS.items():
        d = CORPUS / sub
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if f.is_file() and not f.name.endswith(".j2"):
                out[kind].append(f.read_text(encoding="utf-8", errors="replace"))
    return out


def generated_sources() -> dict[str, list[str]]:
    """The three files of bundles pgforge generates for each profile and for BUNDLE_SPECS."""
    from pgforge.bundle import build_bundle
    from pgforge.spec import HostSpec
    from pgforge.spec.load import build_spec, list_profiles
    from pgforge.tuning import tune

    specs = [build_spec(profile=name) for name, _ in list_profiles()]
    specs += [HostSpec(**s) for s in BUNDLE_SPECS]
    names = {"postgresql.conf": "postgresql.conf", "pg_hba.conf": "pg_hba.conf",
             "pgbouncer/pgbouncer.ini": "pgbouncer.ini"}
    out: dict[str, list[str]] = {k: [] for k in KINDS}
    for spec in specs:
        for f in build_bundle(tune(spec)):
            if f.path in names:
                out[names[f.path]].append(f.content)
    return out


def build_fleet(root: Path, files: int) -> int:
    """Write ``files`` files into ``root``, three per host directory; returns the host count."""
    pools = corpus_sources()
    for kind, texts in generated_sources().items():
        pools[kind].extend(texts)
    for kind in KINDS:
        if not pools[kind]:
            raise SystemExit(f"no source files for {kind}")
    hosts = 0
    written = 0
    while written < files:
        d = root / f"dc{hosts % 10}" / f"db{hosts:05d}"
        d.mkdir(parents=True)
        for k, kind in enumerate(KINDS):
            if written >= files:
                break
            pool = pools[kind]
            text = pool[(hosts * 7 + k) % len(pool)]
            comment = ";" if kind == "pgbouncer.ini" else "#"
            text = f"{comment} fleet host db{hosts:05d}\n{text}"
            (d / kind).write_text(text, encoding="utf-8")
            written += 1
        hosts += 1
    return hosts


def timed_check(fleet: Path) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the run and its worker processes, summary) of one CLI run.

    CPU time is reported beside wall time because the machine is shared: other processes stretch
    the wall clock, while the CPU the audit itself consumes barely moves with load."""
    argv = pgforge_argv() + ["check", str(fleet), "--format", "json"]
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=out, stderr=err)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pgforge check failed (rc={proc.returncode}):\n{err.read().decode()[-3000:]}")
    # ru_* of wait4 cover the process itself; its pool workers are its children, counted once reaped
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, json.loads(out.read())["summary"]


def profile(fleet: Path) -> None:
    import cProfile
    import pstats

    from pgforge.audit.discover import discover
    from pgforge.audit.runner import run_checks, select_checks

    prof = cProfile.Profile()
    prof.enable()
    out = run_checks(discover([fleet]), select_checks(None, None))
    prof.disable()
    print(f"in-process: {len(out.findings)} findings")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


def write_doc(files: int, hosts: int, times: list[float], cpus: list[float], load: float, summary: dict) -> None:
    median = statistics.median(times)
    verdict = "meets" if median < TARGET_S else "MISSES"
    text = f"""# pgforge check: audit speed on a fleet

Measured with `python bench/audit_speed.py` on {dt.date.today().isoformat()}, {platform.machine()},
{os.cpu_count()} CPUs, Python {platform.python_version()}.

The fleet: {files:,} files in {hosts:,} server directories (postgresql.conf, pg_hba.conf and
pgbouncer.ini in each), taken from the real-world corpus (`shared/corpus`, templates left out)
and from bundles `pgforge generate` writes for every bundled profile and for specs with
PgBouncer, access lines and replication; every host's copy carries its own header line.

| measure | value |
|---|---|
| command | `pgforge check FLEET --format json` (the installed CLI, start-up included) |
| runs (wall) | {len(times)}: {", ".join(f"{t:.2f} s" for t in times)} |
| **median (wall)** | **{median:.2f} s** (target: under {TARGET_S:.0f} s; {verdict} it) |
| CPU time per run (user + sys, workers included) | median {statistics.median(cpus):.2f} s |
| load average when the runs started | {load:.1f} (the machine is shared; 2 cores) |
| files per second | {files / median:,.0f} |
| targets audited | {summary.get("targets", "?"):,} |
| findings | {summary.get("findings", "?"):,} |

Every check runs (no `--select`), with no host facts, so the performance checks that need
RAM and CPUs stay quiet.

What makes it fast enough: the files are grouped into targets without being read, then a pool
of one worker process per CPU parses and checks its share (parsing is most of the time and each
server's files are independent); catalog lookups of values (PGF002/PGF003 with an unknown major
try every major) are cached, since a fleet repeats the same values; pgbouncer.ini's merged
sections are computed once per target; suppression comments are looked for only in files that
contain `pgforge:`.

Reproduce: `python bench/audit_speed.py` (add `--profile` for a cProfile of one in-process run).
"""
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="build the fleet here and keep it")
    ap.add_argument("--profile", action="store_true", help="cProfile one in-process run instead of timing the CLI")
    ap.add_argument("--no-write", action="store_true", help=f"do not write {DOC.relative_to(REPO)}")
    args = ap.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="pgforge-fleet-", dir="/tmp"))
    try:
        if args.keep and any(root.iterdir()) if root.exists() else False:
            raise SystemExit(f"{root} is not empty")
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        hosts = build_fleet(root, args.files)
        print(f"fleet: {args.files} files in {hosts} host directories under {root} "
              f"(built in {time.perf_counter() - t0:.1f} s)")
        if args.profile:
            profile(root)
            return 0
        times, cpus, summary = [], [], {}
        load = os.getloadavg()[0]
        for i in range(args.runs):
            elapsed, cpu, summary = timed_check(root)
            times.append(elapsed)
            cpus.append(cpu)
            print(f"run {i + 1}: {elapsed:.2f} s wall, {cpu:.2f} s CPU ({summary.get('targets')} targets, "
                  f"{summary.get('findings')} findings)")
        median = statistics.median(times)
        if not args.no_write:
            write_doc(args.files, hosts, times, cpus, load, summary)
        print(f"audit: files={args.files} targets={summary.get('targets')} findings={summary.get('findings')} "
              f"seconds={median:.2f}")
        return 0 if median < TARGET_S else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
