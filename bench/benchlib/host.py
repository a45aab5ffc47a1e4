"""The host: RAM and CPUs given to every tuner, sizes, and the machine lines of a report."""

from __future__ import annotations

import datetime as _dt
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .server import server_version


GIB = 1024**3


def parse_size(text: str) -> int:
    """Bytes from a PostgreSQL-style size such as ``24GB``, ``512MB``, ``7864kB``."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB)?\s*", text)
    if not m:
        raise ValueError(f"not a size: {text!r}")
    mult = {"B": 1, None: 1, "kB": 1024, "KB": 1024, "MB": 1024**2, "GB": GIB, "TB": 1024**4}
    return int(float(m.group(1)) * mult[m.group(2)])


def detect_memory_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("MemTotal not found in /proc/meminfo")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def cpu_caches() -> str:
    """L1d/L2/L3 sizes from lscpu: the sort results depend on them, so the report shows them."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    parts = []
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("L1d cache", "L2 cache", "L3 cache"):
            parts.append(f"{key.strip().split()[0]} {value.strip()}")
    return ", ".join(parts) or "unknown"


@dataclass(frozen=True)
class Host:
    """The inputs every tuner gets for this machine."""

    memory_bytes: int
    cpus: int
    storage: str = "ssd"
    workload: str = "oltp"
    pg_version: int = 17

    @property
    def memory_text(self) -> str:
        """Whole GB, as a user types it into a tuner (MemTotal is a little under the DIMM size)."""
        return f"{max(1, round(self.memory_bytes / GIB))}GB"


def machine_lines(bin_dir: Path, when: str | None = None) -> list[str]:
    """Date (of the measurements when known), machine and server lines for a report header."""
    _, full = server_version(bin_dir)
    date = when or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return [
        f"- date: {date}",
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"RAM {detect_memory_bytes() / GIB:.1f} GiB (MemTotal), CPU {cpu_model()}; caches: {cpu_caches()}",
        f"- PostgreSQL {full} ({bin_dir}), initdb --locale=C -E UTF8, fsync on, data on the root disk",
    ]
