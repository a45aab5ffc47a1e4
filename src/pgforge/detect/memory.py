"""Memory available to PostgreSQL: host RAM, capped by the tightest cgroup limit.

psutil and ``/proc/meminfo`` report the *host's* RAM even inside a container limited to a
fraction of it, and sizing shared_buffers from host RAM there gets the server OOM-killed. So the
host total is capped by the smallest cgroup limit from this process's cgroup up to the top of the
visible hierarchy:

* cgroup v2 ``memory.max`` (``max`` = no limit), the hard limit at which the OOM killer runs;
* cgroup v2 ``memory.high`` as well. It is a throttle, not a kill limit, but above it the kernel
  reclaims and stalls the group's allocations continuously; a database sized past it would live
  in permanent reclaim, so pgforge treats it as the usable ceiling and says which file set it;
* cgroup v1 ``memory.limit_in_bytes``, where values of 2**62 and above mean "unlimited" (the
  kernel reports 9223372036854771712, LONG_MAX rounded down to a page, when nothing is set).
"""

from __future__ import annotations

from pathlib import Path

from pgforge.detect import CgroupDir, Note, Probe, cgroup_dirs, is_live_root, read_meminfo, read_text
from pgforge.units import format_bytes_human

FIELD = "memory"
V1_UNLIMITED = 2**62
_V2_FILES = ("memory.max", "memory.high")
_V1_FILES = ("memory.limit_in_bytes",)


def _parse_limit(text: str, version: int) -> int | None:
    """Bytes from a limit file; ``None`` for "no limit". Raises ValueError when garbled."""
    value = text.strip()
    if version == 2 and value == "max":
        return None
    number = int(value)
    if number < 0 or (version == 1 and number >= V1_UNLIMITED):
        return None
    return number


def cgroup_memory_limit(root: Path) -> tuple[int | None, str | None, list[Note]]:
    """The smallest cgroup memory limit in bytes and the file that set it (``cgroup v2 memory.max``).

    Returns ``(None, None, notes)`` when no cgroup limits memory; notes mention unreadable files.
    """
    best: int | None = None
    best_source: str | None = None
    notes: list[Note] = []
    groups: list[CgroupDir] = cgroup_dirs(root, "memory")
    for group in groups:
        files = _V2_FILES if group.version == 2 else _V1_FILES
        for directory in group.chain():
            for name in files:
                text = read_text(root, directory / name)
                if text is None:
                    continue
                try:
                    limit = _parse_limit(text, group.version)
                except ValueError:
                    notes.append(Note(FIELD, f"{group.label} {name}", f"ignored unreadable value {text.strip()[:40]!r} in {directory / name}"))
                    continue
                if limit is not None and (best is None or limit < best):
                    best, best_source = limit, f"{group.label} {name}"
    return best, best_source, notes


def _host_total(root: Path, use_psutil: bool) -> tuple[int | None, str]:
    if use_psutil and is_live_root(root):
        try:
            import psutil  # lazy: only the live path needs it

            return int(psutil.virtual_memory().total), "psutil.virtual_memory"
        except Exception:  # noqa: BLE001 - psutil missing or failing: /proc/meminfo says the same
            pass
    total = read_meminfo(root).get("MemTotal")
    return (total if total and total > 0 else None), "/proc/meminfo"


def probe_memory(root: Path = Path("/"), *, use_psutil: bool = False) -> Probe:
    """RAM PostgreSQL may use, in bytes: host total capped by the tightest cgroup limit.

    psutil is consulted only on the live root (``root`` is ``/``) and when ``use_psutil`` is set;
    it reads the same MemTotal, so the result does not depend on it.
    """
    total, total_source = _host_total(root, use_psutil)
    limit, limit_source, notes = cgroup_memory_limit(root)
    if total is None and limit is None:
        return Probe.missing(FIELD, "neither /proc/meminfo MemTotal nor a cgroup memory limit could be read", *notes)
    if total is None:
        assert limit is not None and limit_source is not None
        message = f"memory limited by {limit_source} to {format_bytes_human(limit)}; host total unknown ({total_source} unreadable)"
        return Probe.found(FIELD, limit, Note(FIELD, limit_source, message), *notes)
    if limit is not None and limit < total:
        assert limit_source is not None
        message = f"memory limited by {limit_source} to {format_bytes_human(limit)} of {format_bytes_human(total)}"
        return Probe.found(FIELD, limit, Note(FIELD, limit_source, message), *notes)
    if limit is not None:
        message = (
            f"{format_bytes_human(total)} from {total_source}; {limit_source} limit "
            f"{format_bytes_human(limit)} is not below it"
        )
    else:
        message = f"{format_bytes_human(total)} from {total_source}; no cgroup memory limit"
    return Probe.found(FIELD, total, Note(FIELD, total_source, message), *notes)
