"""PGTune's published formulas, restated so the benchmark can compare pgforge against them.

Why this exists: PGTune (le0pard/pgtune, the web calculator) is the tool users compare
pgforge with, and it has no CLI. The benchmark needs "what PGTune would print for this host"
as a candidate config, so the formulas documented in
``/work/shared/research/tuning-anchors.md`` §1.2-1.4 are restated here in our own code.
All arithmetic is integer kB, as in PGTune, so values round the same way (``77672kB``).

This module is bench-only: pgforge itself never imports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KB_PER_MB = 1024
KB_PER_GB = 1024 * 1024

DB_TYPES = ("web", "oltp", "dw", "desktop", "mixed")
OS_TYPES = ("linux", "windows", "mac")
HD_TYPES = ("ssd", "hdd", "san", "nvme")
DB_SIZES = ("less_ram", "mid_ram", "greater_ram")

_DEFAULT_CONNECTIONS = {"web": 200, "oltp": 300, "dw": 40, "desktop": 20, "mixed": 100}
_WAL_SIZES_KB = {
    "web": (1 * KB_PER_GB, 4 * KB_PER_GB),
    "oltp": (2 * KB_PER_GB, 8 * KB_PER_GB),
    "dw": (4 * KB_PER_GB, 16 * KB_PER_GB),
    "desktop": (100 * KB_PER_MB, 2 * KB_PER_GB),
    "mixed": (1 * KB_PER_GB, 4 * KB_PER_GB),
}
_EIO = {"hdd": 2, "ssd": 200, "san": 300, "nvme": 1000}
_PG_DEFAULT_MAX_WORKER_PROCESSES = 8


@dataclass(frozen=True)
class PgTuneInput:
    """The PGTune form's fields (memory already converted to kB)."""

    total_memory_kb: int
    db_version: float = 18
    os_type: str = "linux"
    db_type: str = "web"
    cpu_num: int | None = None
    connection_num: int | None = None
    hd_type: str = "ssd"
    db_size: str = "mid_ram"

    def __post_init__(self) -> None:
        if self.db_type not in DB_TYPES:
            raise ValueError(f"db_type must be one of {DB_TYPES}, got {self.db_type!r}")
        if self.os_type not in OS_TYPES:
            raise ValueError(f"os_type must be one of {OS_TYPES}, got {self.os_type!r}")
        if self.hd_type not in HD_TYPES:
            raise ValueError(f"hd_type must be one of {HD_TYPES}, got {self.hd_type!r}")
        if self.db_size not in DB_SIZES:
            raise ValueError(f"db_size must be one of {DB_SIZES}, got {self.db_size!r}")
        if self.total_memory_kb <= 0:
            raise ValueError("total_memory_kb must be positive")


def format_kb(kb: int) -> str:
    """PGTune's memory formatting: the largest unit that represents the value exactly."""
    if kb % KB_PER_GB == 0:
        return f"{kb // KB_PER_GB}GB"
    if kb % KB_PER_MB == 0:
        return f"{kb // KB_PER_MB}MB"
    return f"{kb}kB"


def _windows_capped(inp: PgTuneInput) -> bool:
    """Windows before PG 18 rejects 2 GB for *_work_mem, so PGTune caps at 2047 MB."""
    return inp.os_type == "windows" and inp.db_version <= 17


def shared_buffers_kb(inp: PgTuneInput) -> int:
    ram = inp.total_memory_kb
    value = ram // 16 if inp.db_type == "desktop" else ram // 4
    if inp.db_version < 10 and inp.os_type == "windows":
        value = min(value, 512 * KB_PER_MB)
    return value


def effective_cache_size_kb(inp: PgTuneInput) -> int:
    ram = inp.total_memory_kb
    return ram // 4 if inp.db_type == "desktop" else ram * 3 // 4


def maintenance_work_mem_kb(inp: PgTuneInput) -> int:
    ram = inp.total_memory_kb
    value = ram // 8 if inp.db_type == "dw" else ram // 16
    value = min(value, 8 * KB_PER_GB)
    if _windows_capped(inp) and value >= 2 * KB_PER_GB:
        value = 2 * KB_PER_GB - KB_PER_MB
    return value


def wal_buffers_kb(inp: PgTuneInput) -> int:
    value = shared_buffers_kb(inp) * 3 // 100
    max_kb = 16 * KB_PER_MB
    value = min(value, max_kb)
    near = 14 * KB_PER_MB
    if near < value < max_kb:
        value = max_kb
    return max(value, 32)


def parallel_settings(inp: PgTuneInput) -> dict[str, int]:
    """Emitted only when the CPU count is given and at least 4 (else PG's defaults apply)."""
    cpu = inp.cpu_num
    if cpu is None or cpu < 4:
        return {}
    gather = math.ceil(cpu / 2)
    if inp.db_type != "dw":
        gather = min(gather, 4)
    out = {"max_worker_processes": cpu, "max_parallel_workers_per_gather": gather}
    if inp.db_version >= 10:
        out["max_parallel_workers"] = cpu
    if inp.db_version >= 11:
        out["max_parallel_maintenance_workers"] = min(math.ceil(cpu / 2), 4)
    return out


def max_connections(inp: PgTuneInput) -> int:
    return inp.connection_num if inp.connection_num else _DEFAULT_CONNECTIONS[inp.db_type]


def work_mem_kb(inp: PgTuneInput) -> int:
    """(RAM - shared_buffers) / ((connections + workers) * 3), scaled by type and db size."""
    par = parallel_settings(inp)
    workers = par.get("max_worker_processes", _PG_DEFAULT_MAX_WORKER_PROCESSES)
    base = (inp.total_memory_kb - shared_buffers_kb(inp)) / ((max_connections(inp) + workers) * 3)
    if inp.db_type in ("dw", "mixed"):
        value = math.floor(base / 2)
    elif inp.db_type == "desktop":
        value = math.floor(base / 6)
    else:
        value = math.floor(base)
    if inp.db_size == "less_ram":
        value = math.floor(value * 1.3)
    elif inp.db_size == "greater_ram":
        value = math.floor(value * 0.9)
    value = max(value, 4 * KB_PER_MB)
    if _windows_capped(inp):
        value = min(value, 2 * KB_PER_GB - KB_PER_MB)
    return value


def random_page_cost(inp: PgTuneInput) -> str:
    if inp.db_size == "less_ram":
        return "1.1"
    if inp.hd_type == "hdd" or inp.db_type == "dw":
        return "4"
    return "1.1"


def compute(inp: PgTuneInput) -> dict[str, str]:
    """Return PGTune's settings for ``inp`` in its output order, values formatted as it prints them."""
    out: dict[str, str] = {}
    sb = shared_buffers_kb(inp)
    mwm = maintenance_work_mem_kb(inp)
    out["max_connections"] = str(max_connections(inp))
    out["shared_buffers"] = format_kb(sb)
    out["effective_cache_size"] = format_kb(effective_cache_size_kb(inp))
    out["maintenance_work_mem"] = format_kb(mwm)
    out["checkpoint_completion_target"] = "0.9"
    out["wal_buffers"] = format_kb(wal_buffers_kb(inp))
    out["default_statistics_target"] = "500" if inp.db_type == "dw" else "100"
    out["random_page_cost"] = random_page_cost(inp)
    if inp.os_type == "linux":
        out["effective_io_concurrency"] = str(_EIO[inp.hd_type])
    out["work_mem"] = format_kb(work_mem_kb(inp))
    if inp.os_type == "mac":
        out["huge_pages"] = "off"
    else:
        out["huge_pages"] = "try" if sb >= 2 * KB_PER_GB else "off"
    if inp.db_version >= 12 and inp.db_type in ("web", "oltp", "mixed"):
        out["jit"] = "off"
    if inp.db_version >= 15:
        out["wal_compression"] = "lz4"
    elif inp.db_version >= 10:
        out["wal_compression"] = "on"
    cpu = inp.cpu_num or 0
    if cpu >= 32:
        out["autovacuum_max_workers"] = "5"
    elif cpu >= 16:
        out["autovacuum_max_workers"] = "4"
    if mwm >= 2 * KB_PER_GB:
        out["autovacuum_work_mem"] = "2047MB" if _windows_capped(inp) else "2GB"
    if inp.db_version >= 18:
        io_method = "io_uring" if inp.os_type == "linux" else "worker"
        out["io_method"] = io_method
        if inp.cpu_num is not None and io_method != "io_uring":
            io_workers = max(3, min(inp.cpu_num // 4, 32))
            if io_workers > 3:
                out["io_workers"] = str(io_workers)
    min_wal, max_wal = _WAL_SIZES_KB[inp.db_type]
    out["min_wal_size"] = format_kb(min_wal)
    out["max_wal_size"] = format_kb(max_wal)
    for name, value in parallel_settings(inp).items():
        out[name] = str(value)
    if inp.db_type == "desktop":
        out["wal_level"] = "minimal"
        out["max_wal_senders"] = "0"
    return out


def pgtune_for_host(
    memory_bytes: int,
    cpus: int,
    storage: str = "ssd",
    workload: str = "oltp",
    pg_version: int = 17,
) -> dict[str, str]:
    """PGTune's answer for a Linux host, with RAM entered as whole GB the way a user types it."""
    whole_gb = max(1, round(memory_bytes / (1024**3)))
    inp = PgTuneInput(
        total_memory_kb=whole_gb * KB_PER_GB,
        db_version=pg_version,
        os_type="linux",
        db_type=workload,
        cpu_num=cpus,
        hd_type=storage,
    )
    return compute(inp)
