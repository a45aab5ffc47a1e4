"""How many huge pages the tuned server needs: the ``vm.nr_hugepages`` line for sysctl.

PostgreSQL's main shared memory segment is a little larger than ``shared_buffers``: buffer
descriptors, the lock table, per-backend slots, WAL buffers and the shared memory of preloaded
libraries come on top. PostgreSQL 15 and later compute the exact figure themselves
(``postgres -C shared_memory_size_in_huge_pages``), but only on an initdb'ed data directory and
only while that server is stopped, because the computation takes the data directory's lock.
:func:`exact_huge_pages` therefore asks the server's own binary on a scratch directory holding a
copy of ``PG_VERSION`` and ``global/pg_control`` and an ``include`` of the real configuration, so
the real cluster may stay up. Everywhere else :func:`estimate_shared_memory` gives a figure that
errs on the large side (measured on 15, 17 and 18: 0.7% to 5% above the server's own number for
shared_buffers of 1GB and more), and says that it is an estimate.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pgforge.units import MB, format_bytes_human

#: Linux's default huge page size on x86-64 and most arm64 kernels.
DEFAULT_PAGE_SIZE = 2 * MB

# Estimate, fitted to ``postgres -C shared_memory_size`` of PostgreSQL 15-18 and rounded up:
# per-buffer overhead (descriptors, strategy hash, checkpoint sort array) is about 2.6% of
# shared_buffers; fixed structures about 40MB; every backend slot (connections, autovacuum and
# background workers, WAL senders) about 100kB with the default max_locks_per_transaction.
_PER_BUFFER_OVERHEAD = 0.03
_FIXED = 40 * MB
_PER_BACKEND = 100 * 1024
# pg_stat_statements keeps a hash entry of roughly 450 bytes per tracked statement.
_PGSS_ENTRY = 450


@dataclass(frozen=True)
class HugePages:
    """The huge pages one server needs, and how the number was found."""

    pages: int
    page_size: int
    shared_memory: int  # bytes of the main shared memory segment (estimated or exact)
    exact: bool
    source: str  # "postgres -C shared_memory_size_in_huge_pages (PostgreSQL 17)" or "estimate: ..."
    available: int | None = None  # HugePages_Total on this host, when known

    @property
    def sysctl_line(self) -> str:
        return f"vm.nr_hugepages = {self.pages}"

    @property
    def enough_reserved(self) -> bool | None:
        return None if self.available is None else self.available >= self.pages

    def describe(self) -> str:
        """One paragraph for a terminal: the figure, where it comes from, what to do with it."""
        how = "exact" if self.exact else "an estimate, rounded up"
        lines = [
            f"huge pages: {self.pages} pages of {format_bytes_human(self.page_size)} for "
            f"{format_bytes_human(self.shared_memory)} of shared memory ({how}; {self.source})",
            f"  add to /etc/sysctl.d/30-postgresql.conf, then `sysctl --system`:  {self.sysctl_line}",
        ]
        if self.available is not None:
            state = "enough" if self.available >= self.pages else "too few"
            lines.append(f"  this host reserves {self.available} now ({state})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "nr_hugepages": self.pages,
            "page_size": self.page_size,
            "shared_memory": self.shared_memory,
            "exact": self.exact,
            "source": self.source,
            "available": self.available,
            "sysctl": self.sysctl_line,
        }


def pages_for(shared_memory: int, page_size: int = DEFAULT_PAGE_SIZE) -> int:
    """Huge pages that hold ``shared_memory`` bytes (the server rounds the segment up the same way)."""
    return max(1, math.ceil(shared_memory / page_size))


def estimate_shared_memory(
    shared_buffers: int,
    max_connections: int,
    *,
    autovacuum_max_workers: int = 3,
    max_worker_processes: int = 8,
    max_wal_senders: int = 10,
    pgss_max: int | None = None,
) -> int:
    """Bytes of shared memory a server with these settings allocates, erring on the large side."""
    backends = max_connections + autovacuum_max_workers + max_worker_processes + max_wal_senders + 5
    total = shared_buffers * (1 + _PER_BUFFER_OVERHEAD) + _FIXED + backends * _PER_BACKEND
    if pgss_max:
        total += pgss_max * _PGSS_ENTRY
    return int(math.ceil(total))


def estimate_from_values(values: Mapping[str, int | None], page_size: int = DEFAULT_PAGE_SIZE,
                         available: int | None = None) -> HugePages:
    """An estimate from rule-form values (bytes for shared_buffers); missing ones use the defaults."""

    def get(name: str, default: int) -> int:
        value = values.get(name)
        return int(value) if value is not None else default

    shm = estimate_shared_memory(
        get("shared_buffers", 128 * MB),
        get("max_connections", 100),
        autovacuum_max_workers=get("autovacuum_max_workers", 3),
        max_worker_processes=get("max_worker_processes", 8),
        max_wal_senders=get("max_wal_senders", 10),
        pgss_max=values.get("pg_stat_statements.max"),
    )
    return HugePages(pages_for(shm, page_size), page_size, shm, False,
                     "estimate: shared_buffers + 3% + 40MB + 100kB per backend slot", available)


def for_tuning(t, page_size: int | None = None, available: int | None = None) -> HugePages:
    """The estimate for a :class:`pgforge.tuning.Tuning` (no server needed)."""
    values: dict[str, int | None] = {}
    for name in ("shared_buffers", "max_connections", "autovacuum_max_workers", "max_worker_processes",
                 "max_wal_senders"):
        s = t.get(name)
        values[name] = int(s.value) if s is not None else None
    pgss = t.get("pg_stat_statements.max")
    preload = t.get("shared_preload_libraries")
    if pgss is not None and preload is not None and "pg_stat_statements" in str(preload.value):
        values["pg_stat_statements.max"] = int(pgss.value)
    return estimate_from_values(values, page_size or DEFAULT_PAGE_SIZE, available)


def host_huge_pages(root: Path = Path("/")) -> tuple[int | None, int | None]:
    """(page size in bytes, pages reserved) on this host, each None when unknown."""
    from pgforge.detect.hugepages import probe_huge_pages

    probe = probe_huge_pages(root)
    if not isinstance(probe.value, dict):
        return None, None
    return probe.value.get("page_size"), probe.value.get("total")


def exact_huge_pages(
    bindir: Path,
    data_dir: Path,
    config_file: Path,
    overrides: Mapping[str, str],
    *,
    owner: tuple[int, int] | None,
    page_size: int,
    available: int | None = None,
    major: int,
) -> HugePages | str:
    """Ask PostgreSQL 15+ itself, on a scratch directory; returns the reason as a string on failure.

    The scratch directory gets ``PG_VERSION`` and ``global/pg_control`` copied from ``data_dir``
    and a postgresql.conf that includes the real ``config_file`` (so every setting the cluster
    has counts); ``overrides`` (the new values) come as ``-c`` options, which win over files.
    ``data_directory`` is pinned to the scratch directory so a Debian-style config pointing at
    the real data directory does not make postgres take the live cluster's lock.
    """
    if major < 15:
        return f"PostgreSQL {major} cannot compute shared_memory_size_in_huge_pages (15 and later can)"
    postgres = bindir / "postgres"
    if not os.access(postgres, os.X_OK):
        return f"no postgres binary in {bindir}"
    scratch = Path(tempfile.mkdtemp(prefix="pgforge-hugepages-", dir="/tmp"))
    try:
        data = scratch / "data"
        (data / "global").mkdir(parents=True)
        shutil.copyfile(data_dir / "PG_VERSION", data / "PG_VERSION")
        shutil.copyfile(data_dir / "global" / "pg_control", data / "global" / "pg_control")
        quoted = str(config_file).replace("'", "''")
        (data / "postgresql.conf").write_text(f"include '{quoted}'\n", encoding="utf-8")
        (data / "postgresql.auto.conf").write_text("", encoding="utf-8")
        for path in (scratch, data, data / "global"):
            os.chmod(path, 0o700)
        if owner is not None:
            for dirpath, _dirs, files in os.walk(scratch):
                os.chown(dirpath, *owner)
                for f in files:
                    os.chown(os.path.join(dirpath, f), *owner)
        argv = [str(postgres), "-D", str(data), "-c", f"data_directory={data}"]
        for name, value in overrides.items():
            argv += ["-c", f"{name}={value}"]
        argv += ["-C", "shared_memory_size_in_huge_pages"]
        size_argv = argv[:-1] + ["shared_memory_size"]
        try:
            pages = _run(argv, owner, scratch)
            size = _run(size_argv, owner, scratch)
        except RuntimeError as exc:
            return str(exc)
    except OSError as exc:
        return f"could not prepare a scratch directory: {exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        n = int(pages)
        shm = int(size) * MB  # shared_memory_size is reported in MB
    except ValueError:
        return f"postgres -C printed {pages!r}"
    if n <= 0:  # -1: huge pages unsupported on this platform
        return "the server reports huge pages as unsupported here"
    return HugePages(n, page_size, shm, True,
                     f"postgres -C shared_memory_size_in_huge_pages (PostgreSQL {major})", available)


def _run(argv: list[str], owner: tuple[int, int] | None, cwd: Path) -> str:
    kwargs: dict[str, object] = {}
    if owner is not None and os.geteuid() == 0 and owner[0] != 0:
        kwargs = {"user": owner[0], "group": owner[1], "extra_groups": []}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=60, check=False,
                              **kwargs)  # type: ignore[call-overload]
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"could not run postgres -C: {exc}") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "FATAL" in ln or "ERROR" in ln] or proc.stderr.splitlines()
        raise RuntimeError("postgres -C failed: " + (lines[-1].strip() if lines else f"exit {proc.returncode}"))
    return proc.stdout.strip()
