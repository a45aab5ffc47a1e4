"""timescaledb-tune's formulas (timescale/timescaledb-tune v0.19.0), restated for the host matrix.

Source: ``/work/shared/research/tuning-anchors.md`` §2.2, read from timescale/timescaledb-tune
``pkg/pgtune/*`` (memory, parallel, WAL, misc settings groups) at commit c7a642b (2026-05-26).
Restated in our own code from those notes; no upstream code is copied.

Inputs are what the CLI takes: ``--memory``, ``--cpus``, ``--pg-version`` and ``--max-conns``
(0 = its RAM step function); no ``--wal-disk-size`` and the default profile. The tool has no
storage or workload input (random_page_cost is fixed at 1.1, anchors §2.2 and its issue #70).
Bench-only: pgforge never imports this module.
"""

from __future__ import annotations

import math

KB = 1024
MB = 1024 * KB
GB = 1024 * MB
MAX_BG_WORKERS = 16  # --max-bg-workers default
_UNITS = ((1024 * GB, "TB"), (GB, "GB"), (MB, "MB"), (KB, "kB"))


def _go_round(x: float) -> int:
    """Go's math.Round: halves away from zero (Python's round() rounds halves to even)."""
    return int(math.floor(x + 0.5))


def max_connections(memory: int, max_conns: int = 0) -> int:
    """The user's value, else a step function of RAM (anchors §2.2, its PR #71)."""
    if max_conns:
        return max_conns
    if memory <= 2 * GB:
        return 25
    if memory <= 4 * GB:
        return 50
    if memory <= 6 * GB:
        return 75
    return 100


def settings(memory: int, cpus: int, pg_version: int, max_conns: int = 0) -> dict[str, float]:
    """timescaledb-tune's recommendations for a host (bytes, ms, numbers)."""
    ram_gb = memory / GB
    conns = max_connections(memory, max_conns)
    out: dict[str, float] = {"max_connections": conns}
    out["shared_buffers"] = memory // 4
    out["effective_cache_size"] = memory * 3 // 4
    out["maintenance_work_mem"] = min(int(ram_gb * 128 * MB), 2047 * MB)
    cpu_factor = max(1, _go_round(cpus / 2))
    out["work_mem"] = max(int(ram_gb * (400 * MB / conns) / cpu_factor), 64 * KB)
    if cpus > 1:
        out["max_worker_processes"] = 3 + MAX_BG_WORKERS + cpus
        out["max_parallel_workers_per_gather"] = _go_round(cpus / 2)
        out["max_parallel_workers"] = cpus
    out["wal_buffers"] = int(ram_gb * 7864 * KB) if memory < 2 * GB else 16 * MB
    out["max_wal_size"] = 1 * GB
    out["min_wal_size"] = out["max_wal_size"] // 2
    out["random_page_cost"] = 1.1
    out["effective_io_concurrency"] = 256 if pg_version >= 13 else 200
    out["autovacuum_max_workers"] = 10
    return out


def format_bytes(value: int) -> str:
    """Its ``BytesToPGFormat``: the largest unit not above the value; one unit down if the
    fraction exceeds 0.001 (truncated); kB rounded; under 1kB prints 1kB."""
    if value < KB:
        return "1kB"
    for i, (size, name) in enumerate(_UNITS):
        if value >= size:
            whole = value / size
            if name != "kB" and whole - math.floor(whole) > 0.001:
                size, name = _UNITS[i + 1]
                return f"{int(value / size)}{name}" if name != "kB" else f"{round(value / size)}kB"
            return f"{round(whole)}kB" if name == "kB" else f"{int(whole)}{name}"
    raise AssertionError("unreachable")  # pragma: no cover
