"""CPUs PostgreSQL can use: the affinity mask, capped by a cgroup CPU quota.

A container commonly sees every host CPU in ``/proc/cpuinfo`` while it may run on two of them:
either its affinity mask is narrowed (cpuset, ``docker --cpuset-cpus``, ``taskset``) or a CFS quota
limits how much CPU time it gets (``docker --cpus``, Kubernetes limits). The count is therefore:

1. the affinity mask: ``os.sched_getaffinity`` on the live root, else ``Cpus_allowed_list`` in
   ``/proc/self/status`` (the same mask, as text), else ``/sys/devices/system/cpu/online``, else the
   ``processor`` lines of ``/proc/cpuinfo``;
2. capped by the tightest quota from this process's cgroup upwards: v2 ``cpu.max``
   (``max 100000`` = none, ``quota period`` = quota/period CPUs) or v1 ``cpu.cfs_quota_us`` /
   ``cpu.cfs_period_us`` (quota -1 = none), rounded *up*: 1.5 CPUs of quota can still keep two
   backends running at once, just not flat out;
3. never below 1.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from pgforge.detect import Note, Probe, cgroup_dirs, is_live_root, read_text

FIELD = "cpus"


def parse_cpu_list(text: str) -> set[int]:
    """CPU numbers from a kernel list such as ``0-3,8,10-11``. Raises ValueError when garbled or empty."""
    cpus: set[int] = set()
    for item in text.strip().split(","):
        item = item.strip()
        if not item:
            continue
        low, sep, high = item.partition("-")
        first, last = int(low), int(high) if sep else int(low)
        if first < 0 or last < first:
            raise ValueError(f"bad CPU range {item!r}")
        cpus.update(range(first, last + 1))
    if not cpus:
        raise ValueError("empty CPU list")
    return cpus


def _status_allowed(root: Path) -> int | None:
    for line in (read_text(root, "/proc/self/status") or "").splitlines():
        if line.startswith("Cpus_allowed_list:"):
            try:
                return len(parse_cpu_list(line.split(":", 1)[1]))
            except ValueError:
                return None
    return None


def _online(root: Path) -> tuple[int | None, str]:
    text = read_text(root, "/sys/devices/system/cpu/online")
    if text is not None:
        try:
            return len(parse_cpu_list(text)), "/sys/devices/system/cpu/online"
        except ValueError:
            pass
    cpuinfo = read_text(root, "/proc/cpuinfo") or ""
    count = sum(1 for line in cpuinfo.splitlines() if line.split(":", 1)[0].strip() == "processor")
    return (count or None), "/proc/cpuinfo"


def _affinity(root: Path) -> tuple[int | None, str]:
    """CPUs this process may run on, and where that came from."""
    if is_live_root(root) and hasattr(os, "sched_getaffinity"):
        try:
            return len(os.sched_getaffinity(0)), "sched_getaffinity"
        except OSError:
            pass
    allowed = _status_allowed(root)
    if allowed:
        return allowed, "/proc/self/status Cpus_allowed_list"
    return _online(root)


def _parse_quota(version: int, directory_texts: tuple[str | None, str | None]) -> tuple[int, int] | None:
    """(quota, period) in microseconds, or ``None`` for no quota. Raises ValueError when garbled."""
    if version == 2:
        text = directory_texts[0]
        assert text is not None
        fields = text.split()
        if not fields or len(fields) > 2:
            raise ValueError(text)
        if fields[0] == "max":
            return None
        quota, period = int(fields[0]), int(fields[1]) if len(fields) == 2 else 100_000
    else:
        quota_text, period_text = directory_texts
        assert quota_text is not None
        quota = int(quota_text.strip())
        if quota < 0:
            return None
        period = int(period_text.strip()) if period_text is not None else 100_000
    if quota <= 0 or period <= 0:
        raise ValueError(f"{quota} {period}")
    return quota, period


@dataclass(frozen=True)
class CpuQuota:
    """A cgroup CPU quota: ``quota`` µs of CPU time per ``period`` µs, from ``source``."""

    quota: int
    period: int
    source: str

    @property
    def cpus(self) -> int:
        return max(1, math.ceil(self.quota / self.period))

    def describe(self) -> str:
        exact = self.quota / self.period
        rounded = "" if exact == self.cpus else f", rounded up to {self.cpus}"
        return f"{self.source} quota {self.quota}/{self.period} µs = {exact:g} CPUs{rounded}"


def cgroup_cpu_quota(root: Path) -> tuple[CpuQuota | None, list[Note]]:
    """The tightest cgroup CPU quota from this process's cgroup upwards (``None``: unlimited)."""
    best: CpuQuota | None = None
    notes: list[Note] = []
    for group in cgroup_dirs(root, "cpu"):
        for directory in group.chain():
            if group.version == 2:
                name = "cpu.max"
                texts = (read_text(root, directory / name), None)
            else:
                name = "cpu.cfs_quota_us"
                texts = (read_text(root, directory / name), read_text(root, directory / "cpu.cfs_period_us"))
            if texts[0] is None:
                continue
            source = f"{group.label} {name}"
            try:
                quota_period = _parse_quota(group.version, texts)
            except (ValueError, IndexError):
                notes.append(Note(FIELD, source, f"ignored unreadable value {texts[0].strip()[:40]!r} in {directory / name}"))
                continue
            if quota_period is not None:
                found = CpuQuota(*quota_period, source)
                if best is None or found.quota / found.period < best.quota / best.period:
                    best = found
    return best, notes


def probe_cpus(root: Path = Path("/")) -> Probe:
    """Whole CPUs PostgreSQL can keep busy (>= 1); see the module docstring for the order."""
    allowed, allowed_source = _affinity(root)
    quota, notes = cgroup_cpu_quota(root)
    if allowed is None and quota is None:
        return Probe.missing(
            FIELD,
            "no CPU count: /proc/self/status, /sys/devices/system/cpu/online and /proc/cpuinfo are unreadable",
            *notes,
        )
    if quota is not None and (allowed is None or quota.cpus < allowed):
        of = f" of {allowed} allowed by {allowed_source}" if allowed is not None else ""
        message = f"{quota.cpus} CPUs: limited by {quota.describe()}{of}"
        return Probe.found(FIELD, quota.cpus, Note(FIELD, quota.source, message), *notes)
    assert allowed is not None
    online, online_source = _online(root)
    extra = f" of {online} online" if online and online > allowed and online_source != allowed_source else ""
    quota_text = f"; {quota.describe()} is not below it" if quota is not None else "; no cgroup CPU quota"
    message = f"{allowed} CPUs from {allowed_source}{extra}{quota_text}"
    return Probe.found(FIELD, max(1, allowed), Note(FIELD, allowed_source, message), *notes)
