"""How long ``pgforge generate`` takes end to end, against a bare interpreter start.

Issue 2 sets the target: ``pgforge generate --profile web-small -o DIR --force`` under 150 ms
median on the 2-core machine, about 15x ``python -c pass``. Both are timed in the same run,
interleaved, so a busy machine slows both alike and the ratio stays meaningful; the median of N
runs is the figure. ``python -X importtime`` then names the imports that dominate, and an
in-process breakdown (import, spec, tune, render, write) says where the rest goes.

    python bench/generate_speed.py                  # 15 runs, prints the table, writes docs/benchmarks-speed.md
    python bench/generate_speed.py --runs 5 --no-write
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks-speed.md"
TARGET_MS = 150.0
PROFILE = "web-small"


def pgforge_argv() -> list[str]:
    """The installed console script beside this interpreter (what a user runs), else ``-m pgforge``."""
    script = Path(sys.executable).with_name("pgforge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pgforge"]


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall ms, CPU ms = user + sys of the child) of one run.

    CPU time is reported beside wall time because this machine is shared: other processes
    stretch the wall clock, while the CPU a run itself consumes barely moves with load.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err}")
    return elapsed, (usage.ru_utime + usage.ru_stime) * 1000


#: The libraries a generate cannot do without under the design card, imported cumulatively in
#: the order a generate meets them: validating the spec needs pydantic's BaseModel, the CLI is
#: typer, templates are Jinja2, profiles and spec files are YAML (ruamel). Timed like the
#: generate itself, these rows are the floor no change inside pgforge can go below.
_PYDANTIC_MODEL = "from pydantic import BaseModel, Field\nclass M(BaseModel):\n    x: int = Field(1)\n"
LIBRARY_FLOOR: list[tuple[str, str]] = [
    # pydantic imports much of itself lazily (fields, the plugin loader), so a one-field model
    # is the honest floor of "validating with pydantic", not the bare import.
    ("pydantic (a one-field model)", _PYDANTIC_MODEL),
    ("+ typer", _PYDANTIC_MODEL + "import typer"),
    ("+ jinja2", _PYDANTIC_MODEL + "import typer, jinja2"),
    ("+ ruamel.yaml", _PYDANTIC_MODEL + "import typer, jinja2, ruamel.yaml"),
]


def time_runs(runs: int, out_dir: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]], list[str],
                                                  dict[str, list[tuple[float, float]]]]:
    gen = [*pgforge_argv(), "generate", "--profile", PROFILE, "-o", str(out_dir), "--force"]
    bare = [sys.executable, "-c", "pass"]
    floors = {label: [sys.executable, "-c", code] for label, code in LIBRARY_FLOOR}
    timed(gen), timed(bare)  # warm the page cache and .pyc files; not counted
    for argv in floors.values():
        timed(argv)
    gen_runs, bare_runs = [], []
    floor_runs: dict[str, list[tuple[float, float]]] = {label: [] for label in floors}
    for _ in range(runs):
        bare_runs.append(timed(bare))
        gen_runs.append(timed(gen))
        for label, argv in floors.items():
            floor_runs[label].append(timed(argv))
    if not (out_dir / "postgresql.conf").is_file():
        raise SystemExit("pgforge generate did not write postgresql.conf")
    return gen_runs, bare_runs, gen, floor_runs


_IMPORT_RE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_profile(out_dir: Path) -> list[tuple[str, int, int, int]]:
    """(module, self_us, cumulative_us, depth) for every import of one generate run."""
    code = ("import sys; from pgforge.cli import main; "
            f"sys.argv = ['pgforge', 'generate', '--profile', {PROFILE!r}, '-o', {str(out_dir)!r}, '--force']; main()")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        m = _IMPORT_RE.match(line)
        if m:
            rows.append((m.group(4), int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2))
    return rows


def stage_breakdown(out_dir: Path, runs: int = 5) -> list[tuple[str, float]]:
    """Median milliseconds per stage of a generate, each run in a fresh interpreter."""
    code = f"""
import time, json
t0 = time.perf_counter()
from pgforge.cli import app
t1 = time.perf_counter()
from pgforge.spec.load import build_spec
spec = build_spec(profile={PROFILE!r})
t2 = time.perf_counter()
from pgforge.tuning import tune
t = tune(spec)
t3 = time.perf_counter()
from pgforge.bundle import build_bundle
files = build_bundle(t)
t4 = time.perf_counter()
from pgforge.writer import write_bundle
write_bundle({str(out_dir)!r}, files, force=True)
t5 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]))
"""
    import json

    samples = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        samples.append(json.loads(proc.stdout))
    names = ["import pgforge.cli (typer)", "spec: pydantic + spec models + ruamel + profile",
             "tune: rules + catalog", "render: jinja2 + formats", "write: atomic bundle"]
    return [(name, statistics.median(s[i] for s in samples) * 1000) for i, name in enumerate(names)]


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": f"{platform.python_version()} ({sys.executable})",
        "load": load,
    }


def top_imports(rows: list[tuple[str, int, int, int]], n: int = 12) -> list[tuple[str, int, int, int]]:
    """Top-level imports (depth 0) by cumulative time: what a command pays for, grouped."""
    return sorted((r for r in rows if r[3] == 0), key=lambda r: -r[2])[:n]


def top_self(rows: list[tuple[str, int, int, int]], n: int = 8) -> list[tuple[str, int, int, int]]:
    return sorted(rows, key=lambda r: -r[1])[:n]


def report(runs: int, gen_runs, bare_runs, argv: list[str], imports, stages, info, floor_runs) -> str:
    gen, bare = [w for w, _ in gen_runs], [w for w, _ in bare_runs]
    gen_cpu, bare_cpu = [c for _, c in gen_runs], [c for _, c in bare_runs]
    med_gen, med_bare = statistics.median(gen), statistics.median(bare)
    ratio = med_gen / med_bare
    cpu_gen, cpu_bare = statistics.median(gen_cpu), statistics.median(bare_cpu)
    verdict = "meets" if med_gen < TARGET_MS else "misses"
    launcher = "pgforge" if Path(argv[0]).name == "pgforge" else "python -m pgforge"
    floor_med = {label: statistics.median(w for w, _ in rs) for label, rs in floor_runs.items()}
    floor_total = floor_med[LIBRARY_FLOOR[-1][0]] if floor_med else float("nan")
    shown = f"{launcher} generate --profile {PROFILE} -o OUT --force"
    lines = [
        "# pgforge generate: speed",
        "",
        "Written by `python bench/generate_speed.py` (do not edit by hand; re-run it).",
        "",
        f"Command: `{shown}`",
        f"timed from process start to exit (files written), median of {runs} runs, interleaved with",
        "`python -c pass` in the same run so machine load affects both.",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| date | {info['date']} |",
        f"| CPUs (nproc) | {info['nproc']} |",
        f"| CPU model | {info['cpu']} |",
        f"| Python | {info['python']} |",
        f"| load average at start (1, 5, 15 min) | {info['load']} |",
        "",
        "| measure | median wall ms | min wall ms | max wall ms | median CPU ms (user+sys) |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| `{shown}` | {med_gen:.0f} | {min(gen):.0f} | {max(gen):.0f} | {cpu_gen:.0f} |",
        f"| `python -c pass` | {med_bare:.0f} | {min(bare):.0f} | {max(bare):.0f} | {cpu_bare:.0f} |",
        f"| ratio (generate / bare) | {ratio:.1f}x | | | {cpu_gen / cpu_bare:.1f}x |",
        "",
        f"Target (issue 2): under {TARGET_MS:.0f} ms median, about 15x a bare start. This run **{verdict}** it "
        f"({med_gen:.0f} ms wall, {ratio:.1f}x; {cpu_gen:.0f} ms of CPU). The load average above says how busy the "
        "shared machine was; the CPU column is the figure least moved by that.",
        "",
        "`python -c pass` here includes this interpreter's `site` start-up hooks (`.pth` files of the environment), "
        "which every Python command pays alike; run the script with a clean venv's interpreter to leave them out.",
        "",
        "## The floor: importing the libraries a generate needs",
        "",
        "Each row is a fresh `python -c` that only imports, timed in the same interleaved loop as the",
        "generate above (median of the same runs). No change inside pgforge can make a generate faster",
        "than the last row, because a generate must validate the spec with pydantic, parse its command",
        "line with typer, render Jinja2 templates and read a YAML profile.",
        "",
        "| imports | median wall ms | over a bare start |",
        "| --- | ---: | ---: |",
        *[f"| {label} | {ms:.0f} | +{ms - med_bare:.0f} |" for label, ms in floor_med.items()],
        "",
        f"Of the generate's {med_gen:.0f} ms, {floor_total:.0f} ms are this floor and {med_gen - floor_total:.0f} ms "
        "are pgforge's own work plus what the libraries do beyond importing (typer builds a pydantic "
        "TypeAdapter per option, pydantic builds the spec models' validators, Jinja2 compiles or loads templates).",
        "",
        "## Where the time goes",
        "",
        "A generate in a fresh interpreter, by stage (median of 5; the stages add up to less than the",
        "wall time above, which also counts interpreter start, `site` and process exit):",
        "",
        "| stage | ms |",
        "| --- | ---: |",
        *[f"| {name} | {ms:.0f} |" for name, ms in stages],
        "",
        f"Largest stage: {max(stages, key=lambda kv: kv[1])[0]} ({max(v for _, v in stages):.0f} ms); imports "
        f"altogether take {sum(r[1] for r in imports) / 1000:.0f} ms of one run, pgforge's own modules "
        f"{sum(r[1] for r in imports if r[0].split('.')[0] == 'pgforge') / 1000:.0f} ms of that.",
        "",
        "Top-level imports by cumulative time (`python -X importtime`, one run):",
        "",
        "| module | cumulative ms | self ms |",
        "| --- | ---: | ---: |",
        *[f"| `{m}` | {cum / 1000:.1f} | {self_ / 1000:.1f} |" for m, self_, cum, _ in top_imports(imports)],
        "",
        "Single modules with the most own import time:",
        "",
        "| module | self ms |",
        "| --- | ---: |",
        *[f"| `{m}` | {self_ / 1000:.1f} |" for m, self_, _, _ in top_self(imports)],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks-speed.md alone")
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args()

    info = machine()
    work = Path(tempfile.mkdtemp(prefix="pgforge-speed-"))
    try:
        gen, bare, argv, floors = time_runs(args.runs, work / "out")
        imports = import_profile(work / "out")
        stages = stage_breakdown(work / "out")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(args.runs, gen, bare, argv, imports, stages, info, floors)
    print(text)
    if not args.no_write:
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(text, encoding="utf-8")
        print(f"wrote {args.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
