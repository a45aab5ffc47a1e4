"""Huge pages reserved on the host, for sizing ``huge_pages`` and ``vm.nr_hugepages``.

``/proc/meminfo`` gives the default huge page size (``Hugepagesize``, in kB) and how many pages of
that size are reserved (``HugePages_Total``) and unused (``HugePages_Free``). PostgreSQL's
``huge_pages = on`` only starts when enough free pages exist, so the generator needs both counts.
Transparent huge pages (``/sys/kernel/mm/transparent_hugepage/enabled``) do not back PostgreSQL's
shared memory the same way; their mode is reported in a note only, since ``always`` is a known
source of latency spikes a DBA may want to see.
"""

from __future__ import annotations

import re
from pathlib import Path

from pgforge.detect import Note, Probe, read_meminfo, read_text
from pgforge.units import format_bytes_human

FIELD = "huge_pages"
THP_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"


def transparent_mode(root: Path) -> str | None:
    """The selected THP mode (``always``, ``madvise`` or ``never``: the one in brackets), or ``None``."""
    m = re.search(r"\[(\w+)\]", read_text(root, THP_PATH) or "")
    return m.group(1) if m else None


def probe_huge_pages(root: Path = Path("/")) -> Probe:
    """``{"page_size": bytes, "total": pages, "free": pages}`` from ``/proc/meminfo``."""
    info = read_meminfo(root)
    page_size = info.get("Hugepagesize")
    thp = transparent_mode(root)
    thp_note = (
        [Note(FIELD, THP_PATH, f"transparent huge pages: {thp}" + (" (can cause latency spikes; madvise or never is safer)" if thp == "always" else ""))]
        if thp
        else []
    )
    if not page_size:
        return Probe.missing(FIELD, "/proc/meminfo has no Hugepagesize (kernel without hugetlbfs, or unreadable)", *thp_note)
    total = info.get("HugePages_Total", 0)
    free = info.get("HugePages_Free", 0)
    message = f"{total} huge pages of {format_bytes_human(page_size)} reserved ({free} free, {format_bytes_human(total * page_size)} in all)"
    if "HugePages_Total" not in info:
        message = f"huge page size {format_bytes_human(page_size)}; HugePages_Total missing, taken as 0"
    value = {"page_size": page_size, "total": total, "free": free}
    return Probe.found(FIELD, value, Note(FIELD, "/proc/meminfo", message), *thp_note)
