#!/usr/bin/env python3
"""Benchmark candidate PostgreSQL configs on real servers: defaults, PGTune, pgforge, ablations.

Why: a tuner's advice is only as good as its measured effect. This harness starts a real
PostgreSQL cluster, loads the data sets once, then for each candidate config restarts the
server with that config and runs the same workloads (pgbench TPC-B and select-only, a long
write run that crosses checkpoints, bulk COPY + CREATE INDEX, a large ORDER BY, a hash
aggregate, a hash join, VACUUM after updates). Rounds are interleaved (for every round, for
every workload: A B C ...), so slow drift on a shared machine hits every candidate alike; the
report gives medians, the spread, pgbench p95 latency and each candidate's speed ratio against
the defaults and against PGTune.

One cluster, many configs: every candidate runs against the same on-disk data (restart between
candidates), so the config is the only thing that differs. Each measurement starts with a
restart; the first run after it is recorded separately as "first touch" (fresh shared memory,
cold shared buffers) and the measured "steady" run follows a warm-up (pg_prewarm of the
relations the workload reads, plus that first run).

Run ``python bench/tuning.py --help``; ``--quick`` finishes in under three minutes and prints
``quick: tpcb_ratio_vs_defaults=X.XX tpcb_ratio_vs_pgtune=Y.YY`` as its last line.
matplotlib is needed only for the chart (bench-only dependency).
"""

from __future__ import annotations

import argparse
import atexit
import datetime as _dt
import json
import math
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pgtune_equiv  # noqa: E402  (bench-local module next to this file)

REPO = Path(__file__).resolve().parents[1]
PG_ROOT = Path(os.environ.get("PGFORGE_PG_ROOT", "/opt/pgforge/pg"))
FALLBACK_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = os.environ.get("PGFORGE_PG_OS_USER", "postgres")
GIB = 1024**3

#: Settings a candidate may not change here: they wire the bench cluster to its port, socket,
#: log and files, or point at infrastructure (archive, replication, TLS files) the bench lacks.
#: They are listed in the report as "not applied", never silently dropped.
BENCH_OWNED = frozenset(
    {
        "listen_addresses", "port", "unix_socket_directories", "unix_socket_group",
        "unix_socket_permissions", "data_directory", "hba_file", "ident_file", "config_file",
        "external_pid_file", "include", "include_dir", "include_if_exists",
        "logging_collector", "log_destination", "log_directory", "log_filename",
        "archive_mode", "archive_command", "archive_library", "restore_command",
        "primary_conninfo", "primary_slot_name", "ssl", "ssl_cert_file", "ssl_key_file",
        "ssl_ca_file", "ssl_crl_file", "ssl_crl_dir",
    }
)


# --------------------------------------------------------------------------------------------
# host and sizes


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


# --------------------------------------------------------------------------------------------
# candidates


@dataclass
class Candidate:
    """A named config: settings on top of PostgreSQL's defaults."""

    name: str
    settings: dict[str, str]
    source: str
    notes: list[str] = field(default_factory=list)


def defaults_candidate(host: Host, bin_dir: Path) -> Candidate | None:
    return Candidate("defaults", {}, "PostgreSQL built-in defaults (initdb)")


def has_liburing(bin_dir: Path) -> bool:
    pg_config = bin_dir / "pg_config"
    try:
        out = subprocess.run([str(pg_config), "--configure"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "liburing" in out


def pgtune_candidate(host: Host, bin_dir: Path) -> Candidate | None:
    settings = pgtune_equiv.pgtune_for_host(
        host.memory_bytes, host.cpus, host.storage, host.workload, host.pg_version
    )
    cand = Candidate(
        "pgtune",
        settings,
        f"PGTune formulas (bench/pgtune_equiv.py) for {host.memory_text}, {host.cpus} CPU, "
        f"{host.storage}, {host.workload}, PG {host.pg_version}, linux",
    )
    if settings.get("io_method") == "io_uring" and not has_liburing(bin_dir):
        del settings["io_method"]
        cand.notes.append("io_method=io_uring dropped: this build lacks --with-liburing (server would not start)")
    return cand


def pgforge_command() -> list[str] | None:
    exe = shutil.which("pgforge")
    if exe:
        return [exe]
    probe = subprocess.run([sys.executable, "-c", "import pgforge.cli"], capture_output=True, cwd=REPO)
    if probe.returncode == 0:
        return [sys.executable, "-m", "pgforge"]
    return None


def pgforge_candidate(host: Host, bin_dir: Path) -> Candidate | None:
    """pgforge's own answer for the host, from ``pgforge generate --format json``."""
    cmd = pgforge_command()
    if cmd is None:
        print("note: pgforge CLI not available (no `pgforge` on PATH, no pgforge.cli); skipping the pgforge candidate")
        return None
    args = cmd + [
        "generate", "--memory", host.memory_text, "--cpus", str(host.cpus), "--storage", host.storage,
        "--workload", host.workload, "--pg-version", str(host.pg_version), "--format", "json",
    ]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        print(f"note: `{' '.join(args)}` failed ({proc.returncode}): {proc.stderr.strip()[:400]}; skipping pgforge")
        return None
    try:
        doc = json.loads(proc.stdout)
        settings = {str(s["name"]): str(s["value"]) for s in doc["settings"]}
    except (ValueError, KeyError, TypeError) as exc:
        print(f"note: pgforge JSON not understood ({exc}); skipping pgforge")
        return None
    return Candidate("pgforge", settings, "`" + " ".join(["pgforge"] + args[len(cmd):]) + "`")


#: Pluggable candidate sources: name -> factory(host, bin_dir) returning a Candidate or None (skip).
CANDIDATE_SOURCES: dict[str, Callable[[Host, Path], Candidate | None]] = {
    "defaults": defaults_candidate,
    "pgtune": pgtune_candidate,
    "pgforge": pgforge_candidate,
}


def parse_ablation(spec: str) -> list[Candidate]:
    """``work_mem=8MB,16MB`` -> one candidate per value: defaults plus that one setting."""
    name, sep, values = spec.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise ValueError(f"--ablate wants name=v1,v2,...; got {spec!r}")
    return [
        Candidate(f"{name.strip()}={v.strip()}", {name.strip(): v.strip()}, "ablation: defaults + one setting")
        for v in values.split(",")
        if v.strip()
    ]


def parse_variant(spec: str) -> Candidate:
    """``label:k1=v1;k2=v2`` -> one candidate: defaults plus those settings."""
    label, sep, body = spec.partition(":")
    if not sep:
        raise ValueError(f"--variant wants label:k=v;k=v; got {spec!r}")
    settings = {}
    for item in body.split(";"):
        if item.strip():
            k, eq, v = item.partition("=")
            if not eq:
                raise ValueError(f"bad setting {item!r} in {spec!r}")
            settings[k.strip()] = v.strip()
    return Candidate(label.strip(), settings, "variant: defaults + " + ", ".join(f"{k}={v}" for k, v in settings.items()))


def split_bench_owned(cand: Candidate) -> None:
    """Move settings the bench must own out of the candidate, with a note in the report."""
    for name in sorted(set(cand.settings) & BENCH_OWNED):
        value = cand.settings.pop(name)
        cand.notes.append(f"not applied (bench-owned): {name} = {value}")
    if "shared_preload_libraries" in cand.settings:
        cand.notes.append("shared_preload_libraries applied as given")


# --------------------------------------------------------------------------------------------
# server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pick_bin_dir(version: int | None) -> Path:
    if version is not None:
        cand = PG_ROOT / str(version) / "bin"
        if (cand / "postgres").exists():
            return cand
        raise SystemExit(f"no PostgreSQL {version} binaries at {cand}")
    for v in (17, 18):
        cand = PG_ROOT / str(v) / "bin"
        if (cand / "postgres").exists() and (cand / "pgbench").exists():
            return cand
    if (FALLBACK_BIN / "postgres").exists():
        return FALLBACK_BIN
    raise SystemExit("no PostgreSQL binaries found (see bench/README.md)")


def server_version(bin_dir: Path) -> tuple[int, str]:
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    full = out.strip().split()[-1]
    return int(full.split(".")[0]), full


def as_os_user(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a server-side binary as the postgres OS user (PostgreSQL refuses root)."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", OS_USER, "--"] + args
    return subprocess.run(args, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


_LIVE_SERVERS: list["Server"] = []


def _stop_all() -> None:
    for srv in list(_LIVE_SERVERS):
        srv.stop(quiet=True)


atexit.register(_stop_all)


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


class Server:
    """One throwaway cluster under /tmp, owned by the postgres user, on 127.0.0.1:<free port>."""

    def __init__(self, bin_dir: Path, keep: bool = False) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="pgforge-bench-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(OS_USER)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.keep = keep
        self.running = False
        self.applied: dict[str, str] | None = None

    # lifecycle ---------------------------------------------------------------------------
    def initdb(self) -> None:
        proc = as_os_user(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-sync"]
        )
        if proc.returncode != 0:
            raise RuntimeError(f"initdb failed: {proc.stderr}")
        base = (
            "\n# --- pgforge bench wiring (not part of any candidate) ---\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.root}'\n"
            "log_checkpoints = on\n"
            "log_line_prefix = '%m [%p] '\n"
            "include_if_exists = 'bench_candidate.conf'\n"
        )
        with open(self.data / "postgresql.conf", "a") as fh:
            fh.write(base)
        self.write_candidate({})

    def write_candidate(self, settings: dict[str, str]) -> None:
        lines = ["# written by bench/tuning.py for the current candidate"]
        for k, v in settings.items():
            escaped = v.replace("'", "''")
            lines.append(f"{k} = '{escaped}'")
        path = self.data / "bench_candidate.conf"
        path.write_text("\n".join(lines) + "\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam(OS_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self) -> None:
        if self.running:
            return
        _LIVE_SERVERS.append(self)
        proc = as_os_user(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "300", "start"]
        )
        if proc.returncode != 0:
            _LIVE_SERVERS.remove(self)
            tail = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"server failed to start: {proc.stderr}\n{tail}")
        self.running = True

    def stop(self, quiet: bool = False) -> None:
        if not self.running:
            return
        proc = as_os_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "300", "stop"])
        if proc.returncode != 0 and not quiet:
            print(f"warning: pg_ctl stop failed: {proc.stderr.strip()}", file=sys.stderr)
        self.running = False
        if self in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(self)

    def apply(self, settings: dict[str, str]) -> None:
        """Restart with ``settings``: a fresh shared-memory segment every time (first touch is measured)."""
        self.stop()
        self.write_candidate(settings)
        self.start()
        self.applied = dict(settings)

    def cleanup(self) -> None:
        self.stop(quiet=True)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            print(f"kept cluster at {self.root}")

    # SQL ----------------------------------------------------------------------------------
    def connect(self, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True, connect_timeout=30
        )

    def execute(self, sql: str, dbname: str = "bench") -> list[tuple]:
        with self.connect(dbname) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def scalar(self, sql: str, dbname: str = "bench") -> object:
        rows = self.execute(sql, dbname)
        return rows[0][0] if rows else None

    def timed(self, sql: str, dbname: str = "bench") -> float:
        with self.connect(dbname) as conn:
            t0 = time.perf_counter()
            conn.execute(sql)
            return time.perf_counter() - t0

    def pgbench_bin(self) -> Path:
        for cand in (self.bin / "pgbench", PG_ROOT / "18" / "bin" / "pgbench", FALLBACK_BIN / "pgbench"):
            if cand.exists():
                return cand
        raise RuntimeError("pgbench not found")


# --------------------------------------------------------------------------------------------
# measurements and workloads


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
class Ctx:
    server: Server
    args: argparse.Namespace
    ready: set[str] = field(default_factory=set)
    update_counter: int = 0


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _busy_jiffies() -> int:
    """All CPUs' non-idle time so far, from the first line of /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = f
    return user + nice + system + irq + softirq + steal


def _own_jiffies(server: Server) -> int:
    """CPU used so far by this bench: its server (postmaster, live children, reaped children)
    and this process with its reaped children (pgbench, psql)."""
    tick = os.sysconf("SC_CLK_TCK")
    t = os.times()
    total = int((t.user + t.system + t.children_user + t.children_system) * tick)
    try:
        pm = int((server.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return total
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(proc.name), int(fields[1])
        if pid == pm:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        elif ppid == pm:
            total += int(fields[11]) + int(fields[12])
    return total


class CpuWatch:
    """Share of all CPUs used by *other* processes during a run: the noise the load average hides
    (the load average also counts the bench's own pgbench clients and backends)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.t0 = time.monotonic()
        self.busy0 = _busy_jiffies()
        self.own0 = _own_jiffies(server)

    def others_pct(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        elapsed = time.monotonic() - self.t0
        capacity = elapsed * tick * len(os.sched_getaffinity(0))
        foreign = (_busy_jiffies() - self.busy0) - (_own_jiffies(self.server) - self.own0)
        return round(max(0.0, 100.0 * foreign / capacity), 1) if capacity > 0 else 0.0


# data sets -----------------------------------------------------------------------------------


def ensure_database(ctx: Ctx) -> None:
    if "db" in ctx.ready:
        return
    ctx.server.execute("create database bench", dbname="postgres")
    ctx.server.execute("create extension if not exists pg_prewarm")
    ctx.ready.add("db")


def ensure_sort_tables(ctx: Ctx) -> None:
    """t: ``rows`` rows (int id, float r, int k with rows/4 distinct values, md5 text s);
    u: rows/4 rows joining t.id, for the hash join."""
    if "t" in ctx.ready:
        return
    n = ctx.args.rows
    ctx.server.execute(
        "create table t as select g as id, random() as r, (random()*%d)::int as k, md5(g::text) as s "
        "from generate_series(1,%d) g" % (max(1, n // 4), n)
    )
    ctx.server.execute(
        "create table u as select g*4 as id, md5((g*7)::text) as p from generate_series(1,%d) g" % max(1, n // 4)
    )
    ctx.server.execute("vacuum analyze t")
    ctx.server.execute("vacuum analyze u")
    ctx.ready.add("t")


def ensure_vacuum_table(ctx: Ctx) -> None:
    if "v" in ctx.ready:
        return
    n = ctx.args.rows
    ctx.server.execute(
        "create table v with (autovacuum_enabled = off) as "
        "select g as id, (random()*1000000)::int as k, 0 as n, md5(g::text) as s from generate_series(1,%d) g" % n
    )
    ctx.server.execute("alter table v add primary key (id)")
    ctx.server.execute("create index v_k_idx on v (k)")
    ctx.server.execute("vacuum analyze v")
    ctx.ready.add("v")


def ensure_bulk_file(ctx: Ctx) -> None:
    if "bulkfile" in ctx.ready:
        return
    path = ctx.server.root / "bulk.csv"
    ctx.server.execute(
        "copy (select g, random(), (random()*1000000)::int, md5(g::text) from generate_series(1,%d) g) to '%s' csv"
        % (ctx.args.rows, path)
    )
    ctx.ready.add("bulkfile")


def ensure_pgbench(ctx: Ctx) -> None:
    if "pgbench" in ctx.ready:
        return
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(ctx.server.pgbench_bin()), "-i", "-s", str(ctx.args.scale), "-I", "dtGvp", "-q",
         "-h", "127.0.0.1", "-p", str(ctx.server.port), "-U", "postgres", "bench"],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench -i failed: {proc.stderr}")
    size = ctx.server.scalar("select pg_size_pretty(pg_database_size('bench'))")
    print(f"  pgbench -i -s {ctx.args.scale}: {time.perf_counter() - t0:.0f}s, database now {size}")
    ctx.ready.add("pgbench")


def prewarm(ctx: Ctx, relations: Iterable[str]) -> None:
    """Load the relations into shared buffers (as much as fits): the steady-state warm-up."""
    for rel in relations:
        ctx.server.execute(f"select pg_prewarm('{rel}')")


# pgbench -------------------------------------------------------------------------------------


def checkpoint_counts(server: Server) -> int:
    try:
        return int(server.scalar("select num_timed + num_requested from pg_stat_checkpointer") or 0)
    except Exception:  # noqa: BLE001  (pg_stat_checkpointer is PG 17+; older has pg_stat_bgwriter)
        return int(server.scalar("select checkpoints_timed + checkpoints_req from pg_stat_bgwriter") or 0)


def wal_lsn(server: Server) -> str:
    return str(server.scalar("select pg_current_wal_insert_lsn()"))


def wal_diff(server: Server, start: str) -> int:
    return int(server.scalar(f"select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '{start}')") or 0)


def run_pgbench(ctx: Ctx, seconds: int, select_only: bool) -> tuple[float, float | None, int, int]:
    """One pgbench run; returns (tps, p95 latency ms, WAL bytes, checkpoints during the run)."""
    srv = ctx.server
    logdir = Path(tempfile.mkdtemp(prefix="pgbench-log-", dir="/tmp"))
    try:
        ck0 = checkpoint_counts(srv)
        lsn0 = wal_lsn(srv)
        cmd = [str(srv.pgbench_bin()), "-h", "127.0.0.1", "-p", str(srv.port), "-U", "postgres",
               "-c", str(ctx.args.clients), "-j", str(ctx.args.jobs), "-T", str(seconds), "-M", "prepared",
               "-l", "--sampling-rate", str(ctx.args.sampling_rate)]
        if select_only:
            cmd.append("-S")
        cmd.append("bench")
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=logdir)
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench failed: {proc.stderr[-2000:]}")
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", proc.stdout)
        if not m:
            raise RuntimeError(f"no tps in pgbench output: {proc.stdout[-1000:]}")
        lat: list[float] = []
        for logf in logdir.glob("pgbench_log.*"):
            for line in logf.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1000.0)
        p95 = percentile(lat, 95) if lat else None
        return float(m.group(1)), p95, wal_diff(srv, lsn0), checkpoint_counts(srv) - ck0
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def percentile(values: list[float], pct: float) -> float:
    vals = sorted(values)
    k = (len(vals) - 1) * pct / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


# workload definitions ------------------------------------------------------------------------


@dataclass
class Outcome:
    metric: str
    value: float
    unit: str
    higher_is_better: bool
    p95_ms: float | None = None
    wal_bytes: int | None = None
    checkpoints: int | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class Workload:
    """A measured operation: ``setup`` once per cluster, ``run`` per measurement.

    ``run(ctx, phase)`` returns one or more outcomes (bulk load yields COPY and CREATE INDEX).
    ``relations`` are prewarmed before the steady run. ``explain`` (if any) is captured once per
    candidate with EXPLAIN (ANALYZE, BUFFERS) so the report can show sort/hash methods.
    """

    name: str
    description: str
    setup: Callable[[Ctx], None]
    run: Callable[[Ctx, str], list[Outcome]]
    relations: tuple[str, ...] = ()
    explain: str | None = None


def _pgbench_workload(select_only: bool, metric: str) -> Callable[[Ctx, str], list[Outcome]]:
    def run(ctx: Ctx, phase: str) -> list[Outcome]:
        ctx.server.execute("checkpoint")
        seconds = ctx.args.warmup_seconds if phase == "first_touch" else ctx.args.duration
        tps, p95, wal, ck = run_pgbench(ctx, seconds, select_only)
        return [Outcome(metric, tps, "tps", True, p95, wal, ck)]

    return run


def run_write_checkpoint(ctx: Ctx, phase: str) -> list[Outcome]:
    """A TPC-B run long enough to cross checkpoints; starts right after a CHECKPOINT."""
    ctx.server.execute("checkpoint")
    seconds = ctx.args.warmup_seconds if phase == "first_touch" else ctx.args.write_duration
    tps, p95, wal, ck = run_pgbench(ctx, seconds, False)
    return [Outcome("write_ckpt_tps", tps, "tps", True, p95, wal, ck)]


def _query_workload(metric: str, sql: str) -> Callable[[Ctx, str], list[Outcome]]:
    def run(ctx: Ctx, phase: str) -> list[Outcome]:
        return [Outcome(metric, ctx.server.timed(sql), "s", False)]

    return run


def _index_workload(metric: str, column: str) -> Callable[[Ctx, str], list[Outcome]]:
    def run(ctx: Ctx, phase: str) -> list[Outcome]:
        ctx.server.execute("drop index if exists t_bench_idx")
        secs = ctx.server.timed(f"create index t_bench_idx on t ({column})")
        ctx.server.execute("drop index t_bench_idx")
        return [Outcome(metric, secs, "s", False)]

    return run


def run_bulk(ctx: Ctx, phase: str) -> list[Outcome]:
    srv = ctx.server
    srv.execute("drop table if exists bl")
    srv.execute("create table bl (id int, r float8, k int, s text)")
    lsn0 = wal_lsn(srv)
    load = srv.timed(f"copy bl from '{srv.root / 'bulk.csv'}' csv")
    wal = wal_diff(srv, lsn0)
    idx = srv.timed("create index bl_k_idx on bl (k)")
    srv.execute("drop table bl")
    return [Outcome("bulk_load_s", load, "s", False, wal_bytes=wal), Outcome("bulk_index_s", idx, "s", False)]


def run_vacuum(ctx: Ctx, phase: str) -> list[Outcome]:
    """Update 20% of v's rows (untimed), CHECKPOINT (untimed), then time a plain VACUUM."""
    srv = ctx.server
    slot = ctx.update_counter % 5
    ctx.update_counter += 1
    srv.execute(f"update v set n = n + 1 where id % 5 = {slot}")
    srv.execute("checkpoint")
    secs = srv.timed("vacuum v")
    return [Outcome("vacuum_s", secs, "s", False)]


SORT_SQL = "select * from t order by r offset 100000000"
HASHAGG_SQL = "select k, count(*), sum(r) from t group by k offset 100000000"
HASHJOIN_SQL = "select count(*), sum(length(u.p)) from t join u on t.id = u.id"


def _setup_all(*steps: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ensure_database(ctx)
        for step in steps:
            step(ctx)

    return setup


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("tpcb", "pgbench TPC-B-like read/write", _setup_all(ensure_pgbench),
                 _pgbench_workload(False, "tpcb_tps"), ("pgbench_accounts", "pgbench_accounts_pkey")),
        Workload("select", "pgbench select-only (-S)", _setup_all(ensure_pgbench),
                 _pgbench_workload(True, "select_tps"), ("pgbench_accounts", "pgbench_accounts_pkey")),
        Workload("write_ckpt", "pgbench TPC-B for --write-duration s from a fresh checkpoint", _setup_all(ensure_pgbench),
                 run_write_checkpoint, ("pgbench_accounts", "pgbench_accounts_pkey")),
        Workload("bulk", "COPY --rows rows from CSV into a new table, then CREATE INDEX on an int column",
                 _setup_all(ensure_bulk_file), run_bulk),
        Workload("sort", f"large ORDER BY, no rows returned: `{SORT_SQL}`", _setup_all(ensure_sort_tables),
                 _query_workload("sort_s", SORT_SQL), ("t",), SORT_SQL),
        Workload("hashagg", f"GROUP BY with rows/4 groups: `{HASHAGG_SQL}`", _setup_all(ensure_sort_tables),
                 _query_workload("hashagg_s", HASHAGG_SQL), ("t",), HASHAGG_SQL),
        Workload("hashjoin", f"join with a rows/4 inner side: `{HASHJOIN_SQL}`", _setup_all(ensure_sort_tables),
                 _query_workload("hashjoin_s", HASHJOIN_SQL), ("t", "u"), HASHJOIN_SQL),
        Workload("index_int", "CREATE INDEX on t(k), int key", _setup_all(ensure_sort_tables),
                 _index_workload("index_int_s", "k"), ("t",)),
        Workload("index_text", "CREATE INDEX on t(s), md5 text key (C collation)", _setup_all(ensure_sort_tables),
                 _index_workload("index_text_s", "s"), ("t",)),
        Workload("vacuum", "VACUUM after updating 20% of rows (table with 2 indexes, autovacuum off)",
                 _setup_all(ensure_vacuum_table), run_vacuum, ("v",)),
    ]
}

FULL_WORKLOADS = ("tpcb", "select", "write_ckpt", "bulk", "sort", "hashagg", "hashjoin", "index_int", "index_text", "vacuum")

_EXPLAIN_DETAIL = ("Sort Method", "Batches:", "Disk Usage", "Workers Launched", "Peak Memory", "Execution Time")


def explain_summary(server: Server, sql: str) -> dict:
    rows = server.execute("explain (analyze, buffers) " + sql)
    text = "\n".join(r[0] for r in rows)
    keys = []
    for line in text.splitlines():
        if "(cost=" in line:
            keys.append(line.split("(cost=")[0].replace("->", "").strip())
        elif any(d in line for d in _EXPLAIN_DETAIL):
            keys.append(line.strip())
    return {"explain_keys": keys, "explain": text}


# --------------------------------------------------------------------------------------------
# runner


def run_measurement(ctx: Ctx, wl: Workload, cand: Candidate, rnd: int, experiment: str,
                    sink: list[Record], out_path: Path | None) -> None:
    srv = ctx.server
    srv.apply(cand.settings)
    phases = ["steady"] if ctx.args.skip_first_touch else ["first_touch", "steady"]
    if ctx.args.skip_first_touch:
        # still warm up: the first run after a restart pays first-touch costs
        prewarm(ctx, wl.relations)
        wl.run(ctx, "first_touch")
    for phase in phases:
        if phase == "steady":
            prewarm(ctx, wl.relations)
        before = load1()
        started = now()
        watch = CpuWatch(srv)
        outcomes = wl.run(ctx, phase)
        others = watch.others_pct()
        after = load1()
        for oc in outcomes:
            rec = Record(experiment, rnd, wl.name, oc.metric, cand.name, phase, oc.value, oc.unit,
                         oc.higher_is_better, before, after, started, oc.p95_ms, oc.wal_bytes, oc.checkpoints,
                         dict(oc.detail), others)
            sink.append(rec)
            if out_path:
                with open(out_path, "a") as fh:
                    fh.write(json.dumps(asdict(rec)) + "\n")
            extra = f" p95={oc.p95_ms:.1f}ms" if oc.p95_ms is not None else ""
            if oc.checkpoints is not None:
                extra += f" ckpts={oc.checkpoints} wal={oc.wal_bytes / 1e6:.0f}MB"
            print(f"  r{rnd} {wl.name:10s} {cand.name:24s} {phase:11s} {oc.metric}={oc.value:.3f}{oc.unit}"
                  f"{extra} load={before}->{after} others_cpu={others}%", flush=True)
    if wl.explain and rnd == 0 and not ctx.args.no_explain:
        summ = explain_summary(srv, wl.explain)
        rec = Record(experiment, rnd, wl.name, "explain", cand.name, "steady", float("nan"), "", False,
                     load1(), load1(), now(), detail=summ)
        sink.append(rec)
        if out_path:
            with open(out_path, "a") as fh:
                fh.write(json.dumps(asdict(rec)) + "\n")


def run_all(ctx: Ctx, candidates: list[Candidate], workloads: list[Workload], rounds: int,
            experiment: str, out_path: Path | None) -> list[Record]:
    records: list[Record] = []
    srv = ctx.server
    if out_path:
        with open(out_path, "a") as fh:
            for c in candidates:
                fh.write(json.dumps({"kind": "candidate", **asdict(c)}) + "\n")
    srv.apply({"maintenance_work_mem": "1GB", "max_wal_size": "8GB"})  # fast, neutral data loading
    for wl in workloads:
        t0 = time.perf_counter()
        wl.setup(ctx)
        print(f"setup {wl.name}: {time.perf_counter() - t0:.0f}s", flush=True)
    srv.execute("vacuum analyze")
    srv.execute("checkpoint")
    for rnd in range(rounds):
        for wl in workloads:
            for cand in candidates:
                run_measurement(ctx, wl, cand, rnd, experiment, records, out_path)
    return records


# --------------------------------------------------------------------------------------------
# summary and report


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


# --------------------------------------------------------------------------------------------
# sort diagnosis: why is a bigger work_mem sometimes slower?


def _proc_counters(pid: int) -> tuple[int, float]:
    """(minor page faults, CPU seconds user+sys) of a backend, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    # after the ")": state=0, ppid=1, ..., minflt=7, majflt=9, utime=11, stime=12
    return int(fields[7]), (int(fields[11]) + int(fields[12])) / tick


_TRACE_ELAPSED = re.compile(r"elapsed: ([\d.]+) s")


def diagnose_query(server: Server, sql: str, work_mem: str, serial: bool, reps: int) -> dict:
    """Run ``sql`` ``reps`` times in one session with trace_sort on; report time, faults, phases."""
    times, faults, cpus, runs, phase_gen, phase_end = [], [], [], [], [], []
    method = ""
    with server.connect("bench") as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(f"set work_mem = '{work_mem}'")
        if serial:
            conn.execute("set max_parallel_workers_per_gather = 0")
        pid = int(conn.execute("select pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        plan = "\n".join(r[0] for r in conn.execute("explain (analyze, buffers) " + sql).fetchall())
        method = "; ".join(
            line.split("(cost=")[0].replace("->", "").strip() if "(cost=" in line else line.strip()
            for line in plan.splitlines()
            if "Sort Method" in line or "Batches:" in line or "Gather" in line
            or ("Aggregate" in line and "(cost=" in line)
        )
        conn.execute("set trace_sort = on")
        conn.execute("set client_min_messages = log")
        for _ in range(reps):
            notices.clear()
            f0, c0 = _proc_counters(pid)
            t0 = time.perf_counter()
            conn.execute(sql)
            times.append(time.perf_counter() - t0)
            f1, c1 = _proc_counters(pid)
            faults.append(f1 - f0)
            cpus.append(c1 - c0)
            # leader's own trace only (workers' messages go to the server log, not the client)
            runs.append(sum(1 for n in notices if "finished writing run" in n))
            gen = [n for n in notices if "performsort" in n and "done" in n]
            end = [n for n in notices if "sort of worker" in n and "ended" in n]
            if gen and (m := _TRACE_ELAPSED.search(gen[-1])):
                phase_gen.append(float(m.group(1)))
            if end and (m := _TRACE_ELAPSED.search(end[-1])):
                phase_end.append(float(m.group(1)))
    med = statistics.median
    return {
        "work_mem": work_mem,
        "mode": "serial" if serial else "parallel (default)",
        "time_s": med(times),
        "times": times,
        "minflt": med(faults),
        "leader_cpu_s": med(cpus),
        "runs": med(runs) if runs else 0,
        "runs_phase_s": med(phase_gen) if phase_gen else None,
        "sort_total_s": med(phase_end) if phase_end else None,
        "method": method,
    }


#: (label, SQL, modes) for the diagnosis: the sort is run serial and parallel because the
#: planner's choice between them changes with work_mem; the hash aggregate plan is serial anyway.
DIAGNOSE_QUERIES = (
    ("ORDER BY", SORT_SQL, (True, False)),
    ("hash aggregate", HASHAGG_SQL, (True,)),
)


def diagnose_sort(args: argparse.Namespace, bin_dir: Path) -> str:
    """Run the large ORDER BY and the hash aggregate at each work_mem and explain the timings."""
    values = [v.strip() for v in args.diagnose_sort.split(",") if v.strip()]
    srv = Server(bin_dir, keep=args.keep)
    rows_out: list[dict] = []
    try:
        srv.initdb()
        srv.apply({"maintenance_work_mem": "1GB"})
        ctx = Ctx(srv, args)
        ensure_database(ctx)
        ensure_sort_tables(ctx)
        srv.execute("checkpoint")
        prewarm(ctx, ["t"])
        for rnd in range(args.rounds):
            for label, sql, modes in DIAGNOSE_QUERIES:
                for serial in modes:
                    for wm in values:
                        r = diagnose_query(srv, sql, wm, serial, reps=1)
                        r["query"] = label
                        r["round"] = rnd
                        r["load1"] = load1()
                        rows_out.append(r)
                        print(f"  r{rnd} {label:14s} {r['mode']:18s} work_mem={wm:6s} {r['time_s']:.3f}s "
                              f"minflt={r['minflt']} runs={r['runs']} phases={r['runs_phase_s']}/{r['sort_total_s']} "
                              f"load={r['load1']} {r['method']}", flush=True)
    finally:
        srv.cleanup()
    loads = [r["load1"] for r in rows_out]
    lines = ["## Why more work_mem can make a large sort or hash aggregate slower", ""]
    lines += machine_lines(bin_dir)
    lines += [
        f"- queries over {args.rows:,} rows of t: `{SORT_SQL}` and `{HASHAGG_SQL}`; "
        f"{args.rounds} interleaved rounds; one session per run with `trace_sort = on`",
        "- serial = `max_parallel_workers_per_gather = 0` (one process: isolates the algorithm); "
        "parallel = the plan PostgreSQL picks by default (its choice changes with work_mem)",
        "- minor faults = minor page faults of the leader backend during the query (fresh memory it touched); "
        "runs / phase times are the leader's own trace_sort figures (workers' go to the server log)",
        f"- load average (1 min) at the runs: min {min(loads, default=0):.2f}, max {max(loads, default=0):.2f}",
        "",
        "| query | mode | work_mem | median s | min – max | leader CPU s | minor faults | runs written | runs done at s | sort done at s | plan (EXPLAIN ANALYZE) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    med = statistics.median
    for label, _sql, modes in DIAGNOSE_QUERIES:
        for mode in ("serial" if m else "parallel (default)" for m in modes):
            for wm in values:
                grp = [r for r in rows_out if r["query"] == label and r["mode"] == mode and r["work_mem"] == wm]
                if not grp:
                    continue
                ts = [r["time_s"] for r in grp]

                def opt(key: str, rows: list[dict] = grp) -> str:
                    vals = [r[key] for r in rows if r[key] is not None]
                    return f"{med(vals):.2f}" if vals else ""

                runs = med([r["runs"] for r in grp])
                lines.append(
                    f"| {label} | {mode} | {wm} | {med(ts):.2f} | {min(ts):.2f} – {max(ts):.2f} | {opt('leader_cpu_s')} | "
                    f"{med([r['minflt'] for r in grp]):,.0f} | {runs:.0f} | {opt('runs_phase_s')} | "
                    f"{opt('sort_total_s')} | {grp[0]['method']} |"
                )
    lines.append("")
    if args.results:
        with open(args.results, "a") as fh:
            for r in rows_out:
                fh.write(json.dumps({"diagnosis": "work_mem", **r}) + "\n")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--pg-version", type=int, default=None, help="major under $PGFORGE_PG_ROOT (default: 17, else 18, else Debian 15)")
    p.add_argument("--memory", default=None, help="host RAM for the tuners, e.g. 24GB (default: /proc/meminfo)")
    p.add_argument("--cpus", type=int, default=None, help="host CPUs for the tuners (default: sched_getaffinity)")
    p.add_argument("--storage", default="ssd", choices=["ssd", "hdd", "san", "nvme"])
    p.add_argument("--workload-type", default="oltp", help="workload type given to pgforge and PGTune")
    p.add_argument("--candidates", default="defaults,pgtune,pgforge", help="comma list of candidate sources; '' for none")
    p.add_argument("--ablate", action="append", default=[], help="name=v1,v2,...: one candidate per value (defaults + it)")
    p.add_argument("--variant", action="append", default=[], help="label:k=v;k=v : defaults + several settings")
    p.add_argument("--workloads", default=",".join(FULL_WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--scale", type=int, default=80, help="pgbench scale (80 = ~1.2 GB: > 128MB shared_buffers, < RAM)")
    p.add_argument("--rows", type=int, default=4_000_000, help="rows for sort/hash/index/vacuum/bulk tables")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--duration", type=int, default=60, help="seconds per measured pgbench run")
    p.add_argument("--warmup-seconds", type=int, default=15, help="seconds of the first-touch pgbench run")
    p.add_argument("--write-duration", type=int, default=240, help="seconds of the checkpoint-crossing write run")
    p.add_argument("--sampling-rate", type=float, default=0.1, help="pgbench -l sampling rate for p95")
    p.add_argument("--skip-first-touch", action="store_true", help="do not record the first run after restart (still run it)")
    p.add_argument("--no-explain", action="store_true")
    p.add_argument("--experiment", default="tuning", help="name of this run (section name in the Markdown)")
    p.add_argument("--title", default=None)
    p.add_argument("--results", type=Path, default=None, help="append raw JSON-lines records here")
    p.add_argument("--md-out", type=Path, default=None, help="Markdown file to upsert this run's section into")
    p.add_argument("--img-dir", type=Path, default=REPO / "docs" / "img")
    p.add_argument("--report-from", type=Path, nargs="*", default=None, help="re-render from saved JSON lines; no runs")
    p.add_argument("--keep", action="store_true", help="keep the cluster directory")
    p.add_argument("--quick", action="store_true", help="TPC-B only, small scale, < 3 minutes")
    p.add_argument("--diagnose-sort", default=None, metavar="WORK_MEMS",
                   help="e.g. 4MB,16MB,64MB,256MB,1GB: explain the large-sort timings (trace_sort, faults) instead of benchmarking")
    return p


def apply_quick(args: argparse.Namespace) -> None:
    args.workloads = "tpcb"
    args.scale = min(args.scale, 15)
    args.duration = 8
    args.warmup_seconds = 2
    args.rounds = 3
    args.skip_first_touch = True
    args.no_explain = True
    args.sampling_rate = 0.2
    args.experiment = "quick"


def collect_candidates(args: argparse.Namespace, host: Host, bin_dir: Path) -> list[Candidate]:
    cands: list[Candidate] = []
    for src in [s.strip() for s in args.candidates.split(",") if s.strip()]:
        if src not in CANDIDATE_SOURCES:
            raise SystemExit(f"unknown candidate source {src!r}; known: {', '.join(CANDIDATE_SOURCES)}")
        cand = CANDIDATE_SOURCES[src](host, bin_dir)
        if cand is not None:
            cands.append(cand)
    for spec in args.ablate:
        cands.extend(parse_ablation(spec))
    for spec in args.variant:
        cands.append(parse_variant(spec))
    if not any(c.name == "defaults" for c in cands):
        cands.insert(0, Candidate("defaults", {}, "PostgreSQL built-in defaults (reference)"))
    for c in cands:
        split_bench_owned(c)
    return cands


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        apply_quick(args)
    signal.signal(signal.SIGTERM, _on_signal)
    bin_dir = pick_bin_dir(args.pg_version)
    major, full = server_version(bin_dir)
    host = Host(
        memory_bytes=parse_size(args.memory) if args.memory else detect_memory_bytes(),
        cpus=args.cpus or len(os.sched_getaffinity(0)),
        storage=args.storage,
        workload=args.workload_type,
        pg_version=major,
    )
    candidates = collect_candidates(args, host, bin_dir)
    workloads = [WORKLOADS[w.strip()] for w in args.workloads.split(",") if w.strip()]
    title = args.title or f"{args.experiment}: PostgreSQL {full}, {host.memory_text} / {host.cpus} CPU host"

    if args.diagnose_sort:
        md = diagnose_sort(args, bin_dir)
        print(md)
        if args.md_out:
            upsert_section(args.md_out, "sort-diagnosis", md)
        return 0
    if args.report_from is not None:
        records, stored = load_records(args.report_from)
        if stored:  # the configs actually measured, not a fresh (possibly changed) pgforge answer
            candidates = stored
        seen = {r.workload for r in records}
        workloads = [w for w in WORKLOADS.values() if w.name in seen]
    else:
        print(f"PostgreSQL {full} from {bin_dir}; host {host}; candidates: {', '.join(c.name for c in candidates)}")
        for c in candidates:
            print(f"  {c.name}: {c.settings} {c.notes or ''}")
        if args.results:
            args.results.parent.mkdir(parents=True, exist_ok=True)
        srv = Server(bin_dir, keep=args.keep)
        try:
            srv.initdb()
            ctx = Ctx(srv, args)
            records = run_all(ctx, candidates, workloads, args.rounds, args.experiment, args.results)
        finally:
            srv.cleanup()

    chart_rel = None
    if args.md_out:
        img = args.img_dir / f"bench-{re.sub(r'[^a-z0-9]+', '-', args.experiment.lower()).strip('-')}.png"
        if render_chart(img, title, records, candidates):
            try:
                chart_rel = os.path.relpath(img, args.md_out.parent)
            except ValueError:
                chart_rel = str(img)
        md = render_markdown(title, records, candidates, workloads, args, bin_dir, chart_rel)
        upsert_section(args.md_out, args.experiment, md)
        print(f"wrote {args.md_out}" + (f" and {img}" if chart_rel else ""))

    summ = summarize(records)
    for (metric, name, phase), s in summ.items():
        if phase == "steady":
            print(f"{metric:14s} {name:24s} median {fmt_value(s.median, s.unit):>14s}  spread {s.spread * 100:4.0f}%  "
                  f"vs defaults {fmt_ratio(speed_ratio(s, summ.get((metric, 'defaults', phase))))}  "
                  f"vs pgtune {fmt_ratio(speed_ratio(s, summ.get((metric, 'pgtune', phase))))}")
    if args.quick:
        pf = summ.get(("tpcb_tps", "pgforge", "steady"))
        vs_d = speed_ratio(pf, summ.get(("tpcb_tps", "defaults", "steady"))) if pf else None
        vs_p = speed_ratio(pf, summ.get(("tpcb_tps", "pgtune", "steady"))) if pf else None
        if pf is None:
            print("note: no pgforge candidate was measured, so the quick ratios are nan")
        print(f"quick: tpcb_ratio_vs_defaults={vs_d if vs_d is not None else float('nan'):.2f} "
              f"tpcb_ratio_vs_pgtune={vs_p if vs_p is not None else float('nan'):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
