"""pgconfig.org's formulas (pgconfig/api, ``pgconfigctl tune``), restated for the host matrix.

Source: ``/work/shared/research/tuning-anchors.md`` §3.1-3.2, read from pgconfig/api
``pkg/rules/*`` and ``pkg/category/*`` at commit 6cd37be (2025-12-28). Restated in our own code
from those notes; no upstream code is copied.

Its inputs: total RAM, CPUs, profile (WEB, OLTP, DW, Mixed, Desktop), disk type (SSD, HDD, SAN:
there is no NVMe choice, so NVMe is entered as SSD here), max_connections (default 100) and the
PostgreSQL version. Parallel settings do not scale with CPUs (8/2/2). Bench-only.
"""

from __future__ import annotations

import math

KB = 1024
MB = 1024 * KB
GB = 1024 * MB

PROFILE_FACTOR = {"web": 1.0, "oltp": 1.0, "dw": 1.0, "mixed": 0.5, "desktop": 0.2}
BUFFER_SHARE = {"web": 0.25, "oltp": 0.35, "dw": 0.50, "mixed": 0.20, "desktop": 0.10}
_EIO = {"ssd": 200, "san": 300, "hdd": 2}
DEFAULT_CONNECTIONS = 100


def disk_type(storage: str) -> str:
    """pgconfig offers SSD, HDD and SAN; NVMe is entered as SSD."""
    return "ssd" if storage == "nvme" else storage


def settings(memory: int, cpus: int, workload: str, storage: str, pg_version: int,
             max_connections: int = DEFAULT_CONNECTIONS) -> dict[str, float]:
    """pgconfig's recommendations for a Linux amd64 host (bytes, numbers)."""
    r = memory * PROFILE_FACTOR[workload]
    disk = disk_type(storage)
    out: dict[str, float] = {"max_connections": max_connections}
    out["shared_buffers"] = memory // 16 if workload == "desktop" else int(0.25 * r)
    out["effective_cache_size"] = int(0.75 * r)
    out["work_mem"] = int(r * BUFFER_SHARE[workload] / max_connections)
    out["maintenance_work_mem"] = int(0.05 * r)
    out["min_wal_size"] = 2 * GB
    out["max_wal_size"] = 3 * GB
    out["max_worker_processes"] = 8
    out["max_parallel_workers_per_gather"] = 2
    out["max_parallel_workers"] = 2
    out["random_page_cost"] = 4.0 if disk == "hdd" else 1.1
    out["effective_io_concurrency"] = _EIO[disk]
    # wal_buffers = -1 (PostgreSQL's automatic 1/32 of shared_buffers): left to the server here.
    return out


def format_bytes(value: float) -> str:
    """Its printing: the largest unit the value reaches, rounded (halves away from zero), so
    1.5GB prints as 2GB (anchors §3.2, a precision loss)."""
    for size, name in ((GB, "GB"), (MB, "MB"), (KB, "kB")):
        if value >= size:
            return f"{int(math.floor(value / size + 0.5))}{name}"
    return f"{int(value)}B"
