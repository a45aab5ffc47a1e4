"""How much data the cluster holds: the ``data_size`` of the spec, from the data directory.

The relation files are what the data-size rules reason about (the largest table, whether the data
outgrows RAM), so the probe sums the file sizes under ``base/`` (the databases), ``global/`` (the
shared catalogs) and each tablespace linked from ``pg_tblspc/``; ``pg_wal/``, logs and the rest are
not data and are left out. A directory without ``base/`` is not a PostgreSQL data directory.

The walk is bounded, since a cluster of many small relations can hold millions of files: it stops
after :data:`MAX_ENTRIES` directory entries or :data:`MAX_SECONDS`. What it counted by then is a
lower bound: when that alone exceeds the host's RAM the value is ``more_than_ram``, which is all
the rules need to know; otherwise the size stays undetected and the note says where the walk
stopped (give ``--data-size``). Symbolic links are not followed except the tablespace links
themselves, so a link cannot lead the walk around the file system or count a file twice.

Part of :mod:`pgforge.detect` (host.py runs it with the data directory the postgres probe found and
the memory the memory probe found); the value's grammar is :mod:`pgforge.spec.grammar.sizes`.
"""

from __future__ import annotations

import math
import os
import stat
import time
from pathlib import Path, PurePosixPath

from pgforge.detect import Note, Probe, under
from pgforge.units import MB, format_bytes_human

FIELD = "data_size"
MAX_ENTRIES = 500_000
MAX_SECONDS = 5.0
#: Counted data this far above RAM is "more than RAM" even when the walk stopped early.
MORE_THAN_RAM = 1.0


def _tablespaces(root: Path, pgdata: Path) -> list[Path]:
    """The directories the tablespace links in ``pg_tblspc/`` point to (absolute targets read inside ``root``)."""
    out = []
    links = pgdata / "pg_tblspc"
    try:
        entries = list(os.scandir(links))
    except OSError:
        return out
    for entry in entries:
        try:
            target = os.readlink(entry.path) if entry.is_symlink() else entry.path
        except OSError:
            continue
        path = under(root, target) if os.path.isabs(target) else links / target
        if os.path.isdir(path):
            out.append(Path(path))
    return out


def walk_size(tops: list[Path], *, max_entries: int = MAX_ENTRIES, max_seconds: float = MAX_SECONDS,
              clock=time.monotonic) -> tuple[int, int, bool]:
    """(bytes of regular files, entries seen, complete) under ``tops``; links are not followed."""
    total = seen = 0
    deadline = clock() + max_seconds
    stack = list(tops)
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    seen += 1
                    if seen > max_entries or (seen % 1000 == 0 and clock() > deadline):
                        return total, seen, False
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(Path(entry.path))
                    elif stat.S_ISREG(st.st_mode):
                        total += st.st_size
        except OSError:
            continue
    return total, seen, True


def probe_data_size(root: Path, data_dir: str | PurePosixPath | None, memory: int | None = None, *,
                    max_entries: int = MAX_ENTRIES, max_seconds: float = MAX_SECONDS) -> Probe:
    """The data size under ``data_dir`` (a host path read inside ``root``) as spec text: ``23MB``
    (rounded up to whole MB), ``more_than_ram`` when a stopped walk already counted more than
    ``memory``, else missing with the reason."""
    if data_dir is None:
        return Probe.missing(FIELD, "no data directory was found (give --data-dir, or --data-size)")
    pgdata = under(root, data_dir)
    if not os.path.isdir(pgdata / "base"):
        return Probe.missing(FIELD, f"{data_dir} has no base/ directory: not a PostgreSQL data directory, or unreadable")
    tops = [pgdata / "base", pgdata / "global", *_tablespaces(root, pgdata)]
    total, seen, complete = walk_size([t for t in tops if os.path.isdir(t)], max_entries=max_entries,
                                      max_seconds=max_seconds)
    where = f"{data_dir}: base/, global/ and {len(tops) - 2} tablespace(s)"
    if complete:
        value = max(1, math.ceil(total / MB))
        return Probe.found(FIELD, f"{value}MB",
                           Note(FIELD, where, f"{format_bytes_human(total)} of relation files ({seen} entries)"))
    stopped = (f"the walk stopped after {seen} entries or {max_seconds:g}s with {format_bytes_human(total)} counted, "
               "a lower bound")
    if memory is not None and total > memory * MORE_THAN_RAM:
        return Probe.found(FIELD, "more_than_ram",
                           Note(FIELD, where, f"{stopped}: already more than the {format_bytes_human(memory)} of RAM"))
    return Probe.missing(FIELD, f"{stopped}; give --data-size", Note(FIELD, where, stopped))
