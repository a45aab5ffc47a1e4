#!/usr/bin/env python3
"""Measure ``pgforge generate --inventory`` on a large generated fleet (target: 10,000 hosts < 30 s).

Why: a fleet run is only useful if a CI job can regenerate every host's bundle on each commit.
This script writes an Ansible YAML inventory shaped like a real one (``all.vars``, nested groups
with vars, per-host overrides, a few profiles, varied memory/CPUs/majors), runs the same code path
as the CLI (:func:`pgforge.fleet.generate_inventory`) into a temporary directory, checks that every
host has its bundle, and prints the figure. ``--profile`` runs it under cProfile (one worker, so
the profile sees the work) and prints the top functions.

    python bench/fleet.py                 # 10,000 hosts, all cores
    python bench/fleet.py --hosts 2000 --jobs 1 --profile

The last line is ``fleet: hosts=N seconds=S hosts_per_s=R``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = ("web", "oltp", "dw", "mixed")
STORAGE = ("ssd", "nvme", "hdd", "san")
PROFILES = ("web-small", "legacy-13", "mixed-hdd", "oltp-nvme-32core")


def write_inventory(path: Path, hosts: int, groups: int = 20) -> None:
    """A realistic inventory: every 7th host overrides memory and CPUs, every 50th uses a profile."""
    lines = ["all:", "  vars:", "    ansible_user: deploy", "    pgforge_extensions: [pg_stat_statements]",
             "  children:"]
    per_group = -(-hosts // groups)
    n = 0
    for g in range(groups):
        if n >= hosts:
            break
        region = f"region{g % 4}"
        lines += [
            f"    {region}_{g}:",
            "      vars:",
            f"        pgforge_workload: {WORKLOADS[g % len(WORKLOADS)]}",
            f"        pgforge_storage: {STORAGE[g % len(STORAGE)]}",
            f"        pgforge_pg_version: {13 + g % 6}",
            f"        pgforge_memory: {[8, 16, 32, 64, 128][g % 5]}GB",
            f"        pgforge_cpus: {[2, 4, 8, 16, 32][g % 5]}",
            "      hosts:",
        ]
        for _ in range(per_group):
            if n >= hosts:
                break
            name = f"db{n:05d}.{region}.example.com"
            if n % 50 == 0:
                # A profile sets its own major; the group's pgforge_pg_version wins over it, as
                # Ansible group vars would, so only the profile's other keys show through.
                lines += [f"        {name}:", f"          pgforge_profile: {PROFILES[n // 50 % len(PROFILES)]}",
                          f"          pgforge_connections: {50 + n % 400}"]
            elif n % 7 == 0:
                lines += [f"        {name}:", f"          pgforge_memory: {2 + n % 250}GB",
                          f"          pgforge_cpus: {1 + n % 64}", f"          ansible_host: 10.{n // 65536}.{n // 256 % 256}.{n % 256}"]
            else:
                lines.append(f"        {name}:")
            n += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cpu_seconds() -> float:
    """User+system CPU of this process and its reaped children (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: the CPUs available)")
    ap.add_argument("--profile", action="store_true", help="run under cProfile with one worker")
    ap.add_argument("--keep", action="store_true", help="keep the output directory and print it")
    ap.add_argument("--limit", type=float, default=30.0, help="exit 1 when slower than this many seconds")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from pgforge.fleet import generate_inventory

    work = Path(tempfile.mkdtemp(prefix="pgforge-fleet-bench-", dir="/tmp"))
    try:
        inv = work / "hosts.yaml"
        write_inventory(inv, args.hosts)
        out = work / "out"
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            result = generate_inventory(inv, out, jobs=1, progress=False)
            prof.disable()
            elapsed = time.perf_counter() - t0
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        else:
            cpu0 = _cpu_seconds()
            t0 = time.perf_counter()
            result = generate_inventory(inv, out, jobs=args.jobs)
            elapsed = time.perf_counter() - t0
            cpu = _cpu_seconds() - cpu0
            print(f"cpu: {cpu:.1f}s user+sys in this process and its workers "
                  f"({cpu / len(result.results) * 1000:.2f} ms per host); load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
        missing = [r.host for r in result.results if r.ok and not (out / r.host / "postgresql.conf").is_file()]
        print(result.summary(), file=sys.stderr)
        if result.failed:
            print(f"unexpected failures: {[(r.host, r.error) for r in result.failed[:3]]}", file=sys.stderr)
        if missing:
            print(f"hosts without a postgresql.conf: {missing[:3]}", file=sys.stderr)
        print(f"fleet: hosts={len(result.results)} seconds={elapsed:.2f} hosts_per_s={len(result.results) / elapsed:.0f} "
              f"jobs={result.jobs}")
        if args.keep:
            print(f"output kept in {out}", file=sys.stderr)
        ok = not result.failed and not missing and len(result.results) == args.hosts
        return 0 if ok and (args.profile or elapsed <= args.limit) else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
