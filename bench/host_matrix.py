#!/usr/bin/env python3
"""Write docs/host-matrix.md: pgforge's key values for ~20 host shapes beside other tuners'.

For each host shape (512MB..4TB RAM, 1..256 CPUs, every workload and storage class, PostgreSQL
13-18, with and without a data size) this computes pgforge's values through the library
(``pgforge.spec.load.build_spec`` + ``pgforge.tuning.tune``, the same path as ``pgforge generate``)
and the values of PGTune (bench/pgtune_equiv.py), timescaledb-tune, pgconfig.org and AWS RDS's
default parameter group (bench/peers/). Where pgforge's value is more than a factor of
:data:`FACTOR` away from the median of the peers that set one, the page quotes pgforge's own
rationale for it and the regime its source covers; no reason is written here by hand.

Usage: ``python bench/host_matrix.py [--date YYYY-MM-DD] [--out docs/host-matrix.md]``.
The date defaults to the last commit's date, so running it twice gives the same file.
tests/test_host_matrix.py regenerates the page in memory and compares, and checks that every
shape's generated bundle passes ``pgforge check --against`` its own spec.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import pgtune_equiv  # noqa: E402
from peers import pgconfig, rds, timescaledb_tune  # noqa: E402

from pgforge.gucvalues import Kind, display  # noqa: E402
from pgforge.rules import REGISTRY  # noqa: E402
from pgforge.spec import HostSpec  # noqa: E402
from pgforge.spec.load import build_spec  # noqa: E402
from pgforge.tuning import Tuning, tune  # noqa: E402

ROOT = HERE.parent
OUT = ROOT / "docs" / "host-matrix.md"
GB = 1024**3
FACTOR = 2.0  # "more than a small factor": pgforge at least twice or at most half the peers' median

KEYS = (
    "shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem", "autovacuum_work_mem",
    "max_connections", "max_worker_processes", "max_parallel_workers", "max_parallel_workers_per_gather",
    "max_parallel_maintenance_workers", "random_page_cost", "effective_io_concurrency", "max_wal_size",
    "min_wal_size", "checkpoint_timeout", "wal_buffers",
)
PEERS = ("PGTune", "timescaledb-tune", "pgconfig", "RDS default")
NOT_SET = "·"


@dataclass(frozen=True)
class Shape:
    """One host: the spec fields pgforge reads (``extra`` for optional sections such as pgbouncer)."""

    memory: str
    cpus: int
    workload: str
    storage: str
    pg_version: int
    data_size: str | None = None
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def title(self) -> str:
        data = f", data {self.data_size}" if self.data_size else ""
        pool = ", PgBouncer" if "pgbouncer" in self.extra else ", network access" if "access" in self.extra else ""
        cpu = "CPU" if self.cpus == 1 else "CPUs"
        return (f"{self.memory} RAM, {self.cpus} {cpu}, {self.workload}, {self.storage}, "
                f"PostgreSQL {self.pg_version}{data}{pool}")


_ACCESS = {"access": [{"type": "hostssl", "database": "app", "user": "app", "address": "10.0.0.0/16"}]}
_POOL = {"pgbouncer": {"enabled": True, "pool_mode": "transaction", "databases": ["app"], "client_connections": 2000},
         **_ACCESS}

SHAPES: tuple[Shape, ...] = (
    Shape("512MB", 1, "web", "ssd", 13),
    Shape("1GB", 1, "desktop", "hdd", 14),
    Shape("2GB", 2, "web", "ssd", 15, "less_than_ram"),
    Shape("4GB", 2, "oltp", "nvme", 16, extra=_POOL),
    Shape("8GB", 2, "desktop", "ssd", 18),
    Shape("8GB", 4, "mixed", "san", 17, "about_ram"),
    Shape("16GB", 4, "oltp", "ssd", 18),
    Shape("16GB", 8, "dw", "hdd", 16, "more_than_ram"),
    Shape("32GB", 8, "web", "nvme", 17, "20GB", extra=_POOL),
    Shape("64GB", 16, "oltp", "nvme", 18, "200GB", extra=_ACCESS),
    Shape("64GB", 16, "dw", "san", 15, "2TB"),
    Shape("128GB", 32, "mixed", "ssd", 16),
    Shape("128GB", 32, "dw", "nvme", 17, "about_ram"),
    Shape("256GB", 48, "oltp", "san", 14, "500GB", extra=_POOL),
    Shape("256GB", 64, "dw", "hdd", 13, "10TB"),
    Shape("512GB", 64, "dw", "nvme", 18, "20TB"),
    Shape("512GB", 96, "web", "ssd", 17),
    Shape("1TB", 128, "mixed", "nvme", 16, "about_ram"),
    Shape("2TB", 192, "dw", "san", 18, "50TB"),
    Shape("4TB", 256, "oltp", "nvme", 17, "less_than_ram"),
)


def has_data_size() -> bool:
    """Whether this pgforge's HostSpec takes ``data_size`` (issue 14 adds it)."""
    return "data_size" in HostSpec.model_fields


def spec_dict(shape: Shape) -> dict:
    """The spec for ``shape`` as a spec file would hold it (data_size only where pgforge takes it)."""
    data = {"memory": shape.memory, "cpus": shape.cpus, "workload": shape.workload,
            "storage": shape.storage, "pg_version": shape.pg_version, **shape.extra}
    if shape.data_size and has_data_size():
        data["data_size"] = shape.data_size
    return data


def spec_for(shape: Shape) -> HostSpec:
    return build_spec(flags=spec_dict(shape))


# -- the peers --------------------------------------------------------------------------------------

_UNIT = {"kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def _memory_bytes(text: str) -> int:
    for unit, size in _UNIT.items():
        if text.endswith(unit):
            return int(text[: -len(unit)]) * size
    raise ValueError(f"not a memory value: {text!r}")


def pgtune_db_size(shape: Shape, memory: int) -> str:
    """PGTune's dbSize for a data size: below half the RAM is ``less_ram``, above twice the RAM
    ``greater_ram``, otherwise (or unknown) ``mid_ram``, PGTune's default."""
    size = shape.data_size
    if size in (None, "about_ram"):
        return "mid_ram"
    if size == "less_than_ram":
        return "less_ram"
    if size == "more_than_ram":
        return "greater_ram"
    ratio = _memory_bytes(size) / memory
    return "less_ram" if ratio < 0.5 else "greater_ram" if ratio > 2 else "mid_ram"


def pgtune_values(shape: Shape, memory: int) -> dict[str, float]:
    inp = pgtune_equiv.PgTuneInput(total_memory_kb=memory // 1024, db_version=shape.pg_version, db_type=shape.workload,
                                   cpu_num=shape.cpus, hd_type=shape.storage, db_size=pgtune_db_size(shape, memory))
    out: dict[str, float] = {}
    for name, text in pgtune_equiv.compute(inp).items():
        if name not in KEYS:
            continue
        out[name] = _memory_bytes(text) if text[-2:] in _UNIT else float(text) if "." in text else int(text)
    return out


def peer_values(shape: Shape, memory: int) -> dict[str, dict[str, float]]:
    return {
        "PGTune": pgtune_values(shape, memory),
        "timescaledb-tune": timescaledb_tune.settings(memory, shape.cpus, shape.pg_version),
        "pgconfig": pgconfig.settings(memory, shape.cpus, shape.workload, shape.storage, shape.pg_version),
        "RDS default": rds.settings(memory),
    }


# -- the page ---------------------------------------------------------------------------------------

def regime(source: str) -> str:
    """The regime a rule's source covers, in a few words."""
    title = source.split(" <")[0]
    if title.startswith("measured on this project's bench host"):
        return "measured on the 2-CPU bench host, data in the page cache (docs/benchmarks.md)"
    return title


def _fmt(name: str, value) -> str:
    if value is None:
        return NOT_SET
    kind = REGISTRY[name].kind if name in REGISTRY else Kind.integer
    if kind == Kind.real or (kind == Kind.integer and float(value) != int(value)):
        return f"{float(value):g}"
    if kind == Kind.memory:
        value = int(value) // 1024 * 1024  # whole kB, as postgresql.conf takes them
    return display(kind, int(value) if kind in (Kind.memory, Kind.integer, Kind.time) else value)


@dataclass
class Row:
    name: str
    cells: list[str]
    note: str | None = None


def shape_rows(shape: Shape, tuning: Tuning, peers: dict[str, dict[str, float]]) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    for name in KEYS:
        setting = tuning.get(name)
        ours = setting.value if setting is not None else None
        theirs = [peers[p].get(name) for p in PEERS]
        row = Row(name, [_fmt(name, ours)] + [_fmt(name, v) for v in theirs])
        given = [float(v) for v in theirs if v is not None]
        if setting is not None and given and isinstance(ours, (int, float)) and not isinstance(ours, bool):
            median = statistics.median(given)
            ratio = float(ours) / median if median else float("inf")
            if ratio >= FACTOR or ratio <= 1 / FACTOR:
                row.note = f"[{len(notes) + 1}]"
                notes.append(f"{row.note} {name}: pgforge {_fmt(name, ours)}, peers' median {_fmt(name, median)}"
                             f" ({ratio:.2g}x). Why: {setting.rationale} (source: {regime(setting.source)})")
        rows.append(row)
    return rows, notes


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table padded to its column widths, so it reads in a terminal too."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)]


def render(date: str) -> str:
    data_size = has_data_size()
    out = [
        "# Host matrix: pgforge beside PGTune, timescaledb-tune, pgconfig and RDS",
        "",
        f"Generated by `bench/host_matrix.py --date {date}` from pgforge's rules (`build_spec` + `tune`, the path",
        "`pgforge generate` takes); do not edit by hand: run the script again. `tests/test_host_matrix.py` fails when",
        "this page is not what the script writes, and checks that each shape's generated bundle passes",
        "`pgforge check --against` its own spec with no finding.",
        "",
        "How the peers are computed (each from its published formulas, restated in `bench/`):",
        "",
        "- **PGTune**: `bench/pgtune_equiv.py` (le0pard/pgtune, anchors §1), Linux, the CPU count given, its default",
        "  connections per workload; a data size maps to its dbSize (below RAM/2 `less_ram`, above 2x RAM `greater_ram`).",
        "- **timescaledb-tune**: `bench/peers/timescaledb_tune.py` (v0.19.0, anchors §2): no workload or storage input,",
        "  its RAM step function for max_connections, no `--wal-disk-size`.",
        "- **pgconfig**: `bench/peers/pgconfig.py` (pgconfig/api, anchors §3): 100 connections, NVMe entered as SSD.",
        "- **RDS default**: `bench/peers/rds.py`, AWS RDS for PostgreSQL's default parameter-group formulas; the",
        "  instance's whole RAM stands for `DBInstanceClassMemory` (AWS subtracts an unpublished reserve, so RDS's real",
        "  values are a few percent lower). Settings the group leaves out are not claimed.",
        "",
        f"`{NOT_SET}` = the tool does not set it (PostgreSQL's default applies). Memory is shown in one format for all",
        "columns (not each tool's own printing). A note `[n]` marks a value where pgforge is at least"
        f" {FACTOR:g}x above or",
        "below the median of the peers that set one; the note quotes pgforge's own rationale and the regime its",
        "evidence covers (a *measured* source is the 2-CPU bench host with its data cached; it says nothing beyond that).",
    ]
    if not data_size:
        out += ["",
                "This pgforge has no `data_size` input yet: the shapes' data sizes feed PGTune's dbSize only, and pgforge",
                "tunes those hosts as if the size were unknown."]
    for i, shape in enumerate(SHAPES, 1):
        spec = spec_for(shape)
        tuning = tune(spec)
        rows, notes = shape_rows(shape, tuning, peer_values(shape, spec.memory))
        out += ["", f"## {i}. {shape.title}", ""]
        out += table(["setting", "pgforge", *PEERS, "note"], [[r.name, *r.cells, r.note or ""] for r in rows])
        if notes:
            out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def last_commit_date() -> str:
    res = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%cs"], capture_output=True, text=True)
    return res.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--date", help="date for the header (default: the last commit's date)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    text = render(args.date or last_commit_date())
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(SHAPES)} host shapes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
