#!/usr/bin/env python3
"""Build pgforge's per-major GUC catalog from real PostgreSQL servers.

Why from a running server: ``postgres --describe-config`` has no units, prints 0 as the default
of every numeric GUC and omits enum values, so the only trustworthy metadata is ``pg_settings``
of a live server of each major. For every major this initdb's a throwaway cluster as the
postgres OS user, starts it on a free loopback port, reads ``pg_settings`` and the version,
stops it, deletes it, and writes ``src/pgforge/data/catalog/<major>.json`` (sorted keys, indent
1, so regenerating gives small diffs).

usage: python scripts/build_catalog.py [MAJOR ...] [--pg-root DIR] [--out DIR] [--debian15 BINDIR]

Binaries come from ``bash scripts/fetch_pg_binaries.sh``. With no MAJOR, all of 13..18 are
built, plus ``15-debian.json`` when Debian's postgresql-15 is installed (a second 15 build whose
enum values differ: it has zstd; the canonical 15 catalog stays ``15.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MAJORS = (13, 14, 15, 16, 17, 18)
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "src" / "pgforge" / "data" / "catalog"
DEFAULT_PG_ROOT = Path(os.environ.get("PGFORGE_PG_ROOT", "/opt/pgforge/pg"))
DEBIAN15_BINDIR = Path("/usr/lib/postgresql/15/bin")
CLIENT_MAJOR = 18
PG_OS_USER = os.environ.get("PGFORGE_PG_OS_USER", "postgres")

#: Enum values that exist only when the server was built with an optional feature (configure
#: flag / library) or on some platforms, so a catalog made from one build must not treat their
#: absence as "not valid in this major". Sources: PostgreSQL docs for each GUC and the build
#: differences measured here (theseus-rs 15.19 lacks zstd, Debian 15 has it; no build here has
#: io_uring).
BUILD_DEPENDENT_ENUMVALS: dict[str, list[str]] = {
    "wal_compression": ["lz4", "zstd"],  # --with-lz4 / --with-zstd (enum since 15)
    "default_toast_compression": ["lz4"],  # --with-lz4 (14+)
    "io_method": ["io_uring"],  # --with-liburing (18+)
    "recovery_init_sync_method": ["syncfs"],  # only where the OS has syncfs() (14+)
    "wal_sync_method": ["fsync_writethrough"],  # Windows/macOS only
}

#: One JSON document per server: version plus every pg_settings row (parsing psql tables is fragile).
_QUERY = """
SELECT json_build_object(
  'server_version', current_setting('server_version'),
  'version', version(),
  'settings', (SELECT json_agg(json_build_object(
      'name', name, 'unit', unit, 'vartype', vartype, 'context', context,
      'category', category, 'boot_val', boot_val, 'min_val', min_val, 'max_val', max_val,
      'enumvals', enumvals, 'short_desc', short_desc) ORDER BY name)
    FROM pg_settings))
"""


def _pg_account() -> dict[str, Any]:
    """subprocess kwargs that switch to the postgres user when we are root (PG refuses root)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(PG_OS_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def _run(argv: list[str], *, as_pg: bool, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_env(),
        timeout=180,
        check=False,
        **(_pg_account() if as_pg else {}),
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (rc={proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_pg_settings(bindir: Path, psql: Path) -> dict[str, Any]:
    """Start a throwaway cluster of the server in ``bindir`` and return its raw pg_settings dump."""
    base = Path(tempfile.mkdtemp(prefix="pgforge-catalog-", dir="/tmp"))
    account = _pg_account()
    datadir, sockdir, log = base / "data", base / "sock", base / "server.log"
    sockdir.mkdir()
    if account:
        os.chown(base, account["user"], account["group"])
        os.chown(sockdir, account["user"], account["group"])
    base.chmod(0o700)
    started = False
    try:
        _run(
            [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            as_pg=True, cwd=base,
        )
        port = _free_port()
        with open(datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{sockdir}'\n"
            )
        start = _run(
            [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-w", "-t", "60", "start"],
            as_pg=True, cwd=base, check=False,
        )
        if start.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"server in {bindir} did not start:\n{start.stdout}{start.stderr}\n{tail}")
        started = True
        out = _run(
            [str(psql), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(sockdir),
             "-p", str(port), "-U", "postgres", "-d", "postgres", "-c", _QUERY],
            as_pg=False, cwd=base,
        )
        return json.loads(out.stdout)
    finally:
        if started:
            _run([str(bindir / "pg_ctl"), "-D", str(datadir), "-w", "-m", "fast", "stop"],
                 as_pg=True, cwd=base, check=False)
        shutil.rmtree(base, ignore_errors=True)


def _number(raw: str | None, vartype: str) -> int | float | None:
    if raw is None or vartype not in ("integer", "real"):
        return None
    return int(raw) if vartype == "integer" else float(raw)


def build_catalog(major: int, raw: dict[str, Any], build: str) -> dict[str, Any]:
    """Shape a raw pg_settings dump into the catalog document (pure; easy to test)."""
    settings: dict[str, dict[str, Any]] = {}
    for row in raw["settings"]:
        vartype = row["vartype"]
        settings[row["name"]] = {
            "vartype": vartype,
            "unit": row["unit"],
            "context": row["context"],
            "category": row["category"],
            "boot_val": row["boot_val"],
            "min": _number(row["min_val"], vartype),
            "max": _number(row["max_val"], vartype),
            "enumvals": list(row["enumvals"]) if row["enumvals"] is not None else None,
            "short_desc": row["short_desc"],
        }
    dependent = {
        name: values
        for name, values in BUILD_DEPENDENT_ENUMVALS.items()
        if name in settings and settings[name]["vartype"] == "enum"
    }
    return {
        "major": major,
        "server_version": raw["server_version"].split()[0],
        "build": build,
        "generated_by": "scripts/build_catalog.py",
        "build_dependent_enumvals": dependent,
        "settings": settings,
    }


def build_label(bindir: Path) -> str:
    """Where the binaries came from: fetch_pg_binaries.sh leaves PGFORGE_SOURCE next to bin/."""
    marker = bindir.parent / "PGFORGE_SOURCE"
    if marker.is_file():
        return marker.read_text(encoding="utf-8").strip()
    if bindir == DEBIAN15_BINDIR:
        version = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "postgresql-15"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()
        return f"Debian postgresql-15 {version} (apt, Debian 12)".replace("  ", " ")
    return f"unknown build in {bindir}"


def write_catalog(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("majors", nargs="*", type=int, help="majors to build (default 13..18)")
    parser.add_argument("--pg-root", type=Path, default=DEFAULT_PG_ROOT, help="holds <major>/bin")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="catalog directory")
    parser.add_argument(
        "--debian15", type=Path, default=None,
        help=f"bindir of Debian's 15 build for 15-debian.json (default {DEBIAN15_BINDIR} if present "
        "and no MAJOR given)",
    )
    args = parser.parse_args(argv)
    majors = args.majors or list(MAJORS)
    jobs: list[tuple[str, int, Path]] = [(str(m), m, args.pg_root / str(m) / "bin") for m in majors]
    debian = args.debian15 or (DEBIAN15_BINDIR if not args.majors and DEBIAN15_BINDIR.is_dir() else None)
    if debian is not None:
        jobs.append(("15-debian", 15, debian))
    psql = args.pg_root / str(CLIENT_MAJOR) / "bin" / "psql"
    if not psql.exists():
        print(f"client psql not found at {psql}; run: bash scripts/fetch_pg_binaries.sh", file=sys.stderr)
        return 1
    for label, major, bindir in jobs:
        if not (bindir / "postgres").exists():
            print(f"{label}: no postgres in {bindir}; run: bash scripts/fetch_pg_binaries.sh", file=sys.stderr)
            return 1
        t0 = time.monotonic()
        raw = read_pg_settings(bindir, psql)
        doc = build_catalog(major, raw, build_label(bindir))
        if not doc["server_version"].startswith(f"{major}."):
            print(f"{label}: {bindir} is {doc['server_version']}, not {major}", file=sys.stderr)
            return 1
        path = args.out / f"{label}.json"
        write_catalog(doc, path)
        print(
            f"{label}: {len(doc['settings'])} settings, {doc['server_version']} -> {path} "
            f"({time.monotonic() - t0:.1f}s)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
