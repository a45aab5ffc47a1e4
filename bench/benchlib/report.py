"""Results and report: raw records, medians and speed ratios, the Markdown section, the chart."""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .candidates import Candidate
from .host import machine_lines
from .workloads import Workload


@dataclass
class Record:
    """One measured run; JSON lines of these are the raw results."""

    experiment: str
    round: int
    workload: str
    metric: str
    candidate: str
    phase: str  # "first_touch" or "steady"
    value: float
    unit: str
    higher_is_better: bool
    load1_before: float
    load1_after: float
    started_at: str
    p95_ms: float | None = None
    wal_bytes: int | None = None
    checkpoints: int | None = None
    detail: dict = field(default_factory=dict)
    others_cpu_pct: float | None = None  # CPU used by processes outside the bench, % of all CPUs


@dataclass
class Summary:
    metric: str
    candidate: str
    phase: str
    unit: str
    higher_is_better: bool
    values: list[float]
    p95s: list[float]
    loads: list[float]
    wal: list[int]
    ckpts: list[int]
    others: list[float] = field(default_factory=list)
    clean: list[float] = field(default_factory=list)  # values of runs with little outside CPU use

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """(max - min) / median: the honest noise figure across rounds."""
        return (max(self.values) - min(self.values)) / self.median if self.median else float("nan")


#: A run is "clean" when other jobs used less than this share of the CPUs during it.
CLEAN_OTHERS_PCT = 10.0


def summarize(records: list[Record]) -> dict[tuple[str, str, str], Summary]:
    out: dict[tuple[str, str, str], Summary] = {}
    for r in records:
        if r.metric == "explain":
            continue
        key = (r.metric, r.candidate, r.phase)
        s = out.setdefault(key, Summary(r.metric, r.candidate, r.phase, r.unit, r.higher_is_better, [], [], [], [], []))
        s.values.append(r.value)
        if r.p95_ms is not None:
            s.p95s.append(r.p95_ms)
        s.loads.extend([r.load1_before, r.load1_after])
        if r.wal_bytes is not None:
            s.wal.append(r.wal_bytes)
        if r.checkpoints is not None:
            s.ckpts.append(r.checkpoints)
        if r.others_cpu_pct is not None:
            s.others.append(r.others_cpu_pct)
            if r.others_cpu_pct < CLEAN_OTHERS_PCT:
                s.clean.append(r.value)
    return out


def speed_ratio(s: Summary, ref: Summary | None) -> float | None:
    """>1 means faster than ``ref`` (TPS ratio, or inverse time ratio)."""
    if ref is None or not ref.median or not s.median:
        return None
    return s.median / ref.median if s.higher_is_better else ref.median / s.median


def clean_cell(s: Summary) -> str:
    return f"{fmt_value(statistics.median(s.clean), s.unit)} ({len(s.clean)})" if s.clean else ""


def clean_ratio(s: Summary, ref: Summary | None) -> float | None:
    """Speed ratio using only clean runs of both sides (None when either has none)."""
    if ref is None or not s.clean or not ref.clean:
        return None
    a, b = statistics.median(s.clean), statistics.median(ref.clean)
    return a / b if s.higher_is_better else b / a


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}x"


def fmt_value(v: float, unit: str) -> str:
    return f"{v:,.0f} tps" if unit == "tps" else f"{v:.2f} s"


def render_markdown(title: str, records: list[Record], candidates: list[Candidate], workloads: list[Workload],
                    args: argparse.Namespace, bin_dir: Path, chart: str | None) -> str:
    summ = summarize(records)
    loads = [x for r in records for x in (r.load1_before, r.load1_after)]
    lines = [f"## {title}", ""]
    starts = sorted(r.started_at for r in records)
    when = f"{starts[0].replace('T', ' ')[:16]} to {starts[-1].replace('T', ' ')[11:16]}" if starts else None
    lines += machine_lines(bin_dir, when)
    lines += [
        f"- rounds: {args.rounds}, interleaved per round and workload ({' '.join(c.name for c in candidates)} ...); "
        f"each measurement starts with a server restart",
        *(
            [f"- pgbench: scale {args.scale}, {args.clients} clients, {args.jobs} threads, -M prepared, "
             f"{args.duration}s measured after a {args.warmup_seconds}s first-touch run"
             + (f"; write run {args.write_duration}s" if any(w.name == "write_ckpt" for w in workloads) else "")]
            if any(w.name in ("tpcb", "select", "write_ckpt") for w in workloads) else []
        ),
        *(
            [f"- rows for sort/hash/index/vacuum/bulk tables: {args.rows:,}"]
            if any(w.name not in ("tpcb", "select", "write_ckpt") for w in workloads) else []
        ),
        f"- load average (1 min) during the runs: min {min(loads, default=0):.2f}, median "
        f"{statistics.median(loads) if loads else 0:.2f}, max {max(loads, default=0):.2f} (2-core machine shared with "
        "other jobs; it also counts the bench's own pgbench clients and backends)",
        *(
            [f"- CPU used by other jobs during the measured runs (share of both CPUs): median "
             f"{statistics.median(others):.0f}%, max {max(others):.0f}%"]
            if (others := [r.others_cpu_pct for r in records if r.others_cpu_pct is not None]) else []
        ),
        "- ratios are speed ratios: >1.00x is faster than the reference (TPS ratio, or inverse time ratio)",
        f"- \"others' CPU\": share of both CPUs used by processes outside the bench during the run; \"clean\" "
        f"columns use only runs where it was under {CLEAN_OTHERS_PCT:.0f}%",
        "",
        "Workloads: " + "; ".join(f"**{w.name}**: {w.description}" for w in workloads),
        "",
    ]
    metrics = list(dict.fromkeys(r.metric for r in records if r.metric != "explain"))
    names = [c.name for c in candidates]
    for phase in ("steady", "first_touch"):
        rows = [(m, n) for m in metrics for n in names if (m, n, phase) in summ]
        if not rows:
            continue
        lines += [f"### {'Steady state' if phase == 'steady' else 'First touch (first run after a restart)'}", ""]
        lines += ["| metric | candidate | median | min – max | spread | p95 ms | WAL MB | ckpts | vs defaults | vs pgtune "
                  "| load1 | others' CPU | clean median (n) | clean vs defaults |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for m, n in rows:
            s = summ[(m, n, phase)]
            ref_d = summ.get((m, "defaults", phase))
            ref_p = summ.get((m, "pgtune", phase))
            p95 = f"{statistics.median(s.p95s):.1f}" if s.p95s else ""
            wal = f"{statistics.median(s.wal) / 1e6:,.0f}" if s.wal else ""
            ck = "/".join(str(c) for c in s.ckpts) if s.ckpts else ""
            lines.append(
                f"| {m} | {n} | {fmt_value(s.median, s.unit)} | {fmt_value(min(s.values), s.unit)} – "
                f"{fmt_value(max(s.values), s.unit)} | {s.spread * 100:.0f}% | {p95} | {wal} | {ck} | "
                f"{fmt_ratio(speed_ratio(s, ref_d))} | {fmt_ratio(speed_ratio(s, ref_p))} | "
                f"{min(s.loads):.1f}–{max(s.loads):.1f} | "
                + (f"{min(s.others):.0f}–{max(s.others):.0f}% |" if s.others else "|")
                + f" {clean_cell(s)} | {fmt_ratio(clean_ratio(s, ref_d))} |"
            )
        lines.append("")
    explains = [r for r in records if r.metric == "explain"]
    if explains:
        lines += ["### Plans (EXPLAIN ANALYZE, round 0)", ""]
        for r in explains:
            keys = "; ".join(r.detail.get("explain_keys", []))
            lines.append(f"- {r.workload} / {r.candidate}: {keys}")
        lines.append("")
    if chart:
        lines += [f"![{title}]({chart})", ""]
    lines += ["### Configs", ""]
    for c in candidates:
        body = ", ".join(f"`{k} = {v}`" for k, v in c.settings.items()) or "(none: built-in defaults)"
        lines.append(f"- **{c.name}** ({c.source}): {body}")
        for note in c.notes:
            lines.append(f"  - {note}")
    lines.append("")
    return "\n".join(lines)


def render_chart(path: Path, title: str, records: list[Record], candidates: list[Candidate]) -> bool:
    """Grouped bars of the steady-state speed ratio vs defaults, with min/max whiskers."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib not installed (pip install matplotlib); no chart written")
        return False
    summ = summarize(records)
    metrics = list(dict.fromkeys(r.metric for r in records if r.metric != "explain"))
    names = [c.name for c in candidates if c.name != "defaults"]
    if not names or not metrics:
        return False
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.0, 0.9 * len(metrics) * max(1, len(names)) ** 0.5 + 2)), 4.8))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        xs, ys, lo, hi = [], [], [], []
        for j, m in enumerate(metrics):
            s, ref = summ.get((m, n, "steady")), summ.get((m, "defaults", "steady"))
            r = speed_ratio(s, ref) if s else None
            if r is None or s is None or ref is None:
                continue
            if s.higher_is_better:
                rmin, rmax = min(s.values) / ref.median, max(s.values) / ref.median
            else:
                rmin, rmax = ref.median / max(s.values), ref.median / min(s.values)
            xs.append(j + (i - (len(names) - 1) / 2) * width)
            ys.append(r)
            lo.append(max(0.0, r - rmin))
            hi.append(max(0.0, rmax - r))
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=n)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(metrics)))
    ax.set_xticklabels(metrics, rotation=20, ha="right")
    ax.set_ylabel("speed vs defaults (median; whiskers: min/max round)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def upsert_section(path: Path, name: str, text: str) -> None:
    """Replace the block between this section's markers (or append it), keeping hand-written prose."""
    start, end = f"<!-- bench:{name} start -->", f"<!-- bench:{name} end -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    old = path.read_text() if path.exists() else ""
    if start in old and end in old:
        pre, rest = old.split(start, 1)
        _, post = rest.split(end, 1)
        new = pre + block + post.lstrip("\n")
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def load_records(paths: list[Path]) -> tuple[list[Record], list[Candidate]]:
    """Measured runs and the exact candidate configs they used, from ``--results`` files."""
    recs: list[Record] = []
    cands: dict[str, Candidate] = {}
    for p in paths:
        for line in p.read_text().splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            if doc.get("kind") == "candidate":
                cands[doc["name"]] = Candidate(doc["name"], doc["settings"], doc["source"], doc["notes"])
            elif "diagnosis" not in doc:
                recs.append(Record(**doc))
    return recs, list(cands.values())
