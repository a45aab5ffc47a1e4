"""The throwaway PostgreSQL cluster: binaries, initdb, restart with a candidate's config, SQL.

Importing this module registers an atexit hook that stops every server still running.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


PG_ROOT = Path(os.environ.get("PGFORGE_PG_ROOT", "/opt/pgforge/pg"))
FALLBACK_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = os.environ.get("PGFORGE_PG_OS_USER", "postgres")


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
