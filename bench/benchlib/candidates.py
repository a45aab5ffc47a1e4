"""Candidate configs: PostgreSQL's defaults, PGTune, pgforge, one-setting ablations, variants."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pgtune_equiv  # bench-local module next to tuning.py (which puts bench/ on sys.path)

from . import REPO
from .host import Host


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


@dataclass
class Candidate:
    """A named config: settings on top of PostgreSQL's defaults."""

    name: str
    settings: dict[str, str]
    source: str
    notes: list[str] = field(default_factory=list)


def defaults_candidate(host: Host, bin_dir: Path) -> Candidate | None:
    return Candidate("defaults", {}, "PostgreSQL built-in defaults (initdb)")


def configure_flags(bin_dir: Path) -> str:
    """``pg_config --configure`` of the bench binaries ('' when it cannot be run)."""
    try:
        return subprocess.run([str(bin_dir / "pg_config"), "--configure"], capture_output=True, text=True).stdout
    except OSError:
        return ""


def has_liburing(bin_dir: Path) -> bool:
    return build_features(bin_dir).get("io_uring", False)


def build_features(bin_dir: Path) -> dict[str, bool]:
    """The optional build features pgforge's spec knows (``pg_build``), read off the bench binaries,
    so pgforge is told what a user running ``pgforge generate --auto`` on this host would detect."""
    flags = configure_flags(bin_dir)
    if not flags:
        return {}
    return {"lz4": "--with-lz4" in flags, "zstd": "--with-zstd" in flags, "io_uring": "--with-liburing" in flags}


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
    build = build_features(bin_dir)
    # The build's features go in as a spec on stdin (there is no flag for them).
    args = cmd + [
        "generate", *(["--spec", "-"] if build else []), "--memory", host.memory_text, "--cpus", str(host.cpus),
        "--storage", host.storage, "--workload", host.workload, "--pg-version", str(host.pg_version), "--format", "json",
    ]
    spec_in = json.dumps({"pg_build": build}) if build else None
    proc = subprocess.run(args, input=spec_in, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        print(f"note: `{' '.join(args)}` failed ({proc.returncode}): {proc.stderr.strip()[:400]}; skipping pgforge")
        return None
    try:
        doc = json.loads(proc.stdout)
        settings = {str(s["name"]): str(s["value"]) for s in doc["settings"]}
    except (ValueError, KeyError, TypeError) as exc:
        print(f"note: pgforge JSON not understood ({exc}); skipping pgforge")
        return None
    shown = "`" + " ".join(["pgforge"] + args[len(cmd):]) + "`"
    if build:
        shown += f" with pg_build {json.dumps(build)} on stdin (from pg_config --configure)"
    return Candidate("pgforge", settings, shown)


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
