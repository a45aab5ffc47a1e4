"""The server binaries and process behind a data directory.

Finding the cluster's ``postgres``/``pg_ctl`` (:func:`find_bindir`) and its ``$libdir``
(:func:`libdir_for`), whether its postmaster runs (:func:`postmaster_pid`), and running the
binaries as the data directory's owner: letting the server's own parser check a configuration
(:func:`server_check`) and asking it to reload (:func:`reload_server`).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgforge.errors import UserError


def postmaster_pid(data_dir: Path) -> int | None:
    """PID of the postmaster running on ``data_dir``, or None when it is not running."""
    try:
        from pgforge.inputs import read_bytes

        first = read_bytes(data_dir / "postmaster.pid", limit=4096).decode("ascii").splitlines()[0]
        pid = int(first.strip())
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _binary_major(postgres: Path) -> int | None:
    try:
        out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\)\s+(\d+)", out)
    return int(m.group(1)) if m else None


def find_bindir(data_dir: Path, major: int, explicit: Path | None = None) -> tuple[Path | None, str]:
    """The directory of ``postgres``/``pg_ctl`` for this cluster, and how it was found."""
    if explicit is not None:
        if not os.access(explicit / "postgres", os.X_OK):
            raise UserError("no postgres binary here", str(explicit))
        return explicit, "--bindir"
    pid = postmaster_pid(data_dir)
    if pid is not None:
        try:
            exe = Path(os.readlink(f"/proc/{pid}/exe"))
            if os.access(exe.parent / "pg_ctl", os.X_OK):
                return exe.parent, f"the running postmaster (pid {pid})"
        except OSError:
            pass
    for candidate in (Path(f"/usr/lib/postgresql/{major}/bin"), Path(f"/usr/pgsql-{major}/bin"),
                      Path(f"/usr/local/pgsql-{major}/bin")):
        if os.access(candidate / "postgres", os.X_OK):
            return candidate, str(candidate)
    import shutil

    found = shutil.which("postgres") or shutil.which("pg_ctl")
    if found:
        bindir = Path(found).resolve().parent
        if _binary_major(bindir / "postgres") == major:
            return bindir, "PATH"
    return None, f"no PostgreSQL {major} binaries found (pass --bindir)"


def libdir_for(bindir: Path) -> Path | None:
    """The server's ``$libdir``: ``pg_config --pkglibdir``, else ``../lib`` beside the binaries."""
    pg_config = bindir / "pg_config"
    if os.access(pg_config, os.X_OK):
        try:
            out = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and Path(out.stdout.strip()).is_dir():
                return Path(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for candidate in (bindir.parent / "lib" / "postgresql", bindir.parent / "lib"):
        if any(candidate.glob("plpgsql.*")):
            return candidate
    return None


def data_dir_owner(data_dir: Path) -> tuple[int, int]:
    st = data_dir.stat()
    return st.st_uid, st.st_gid


def run_as_owner(argv: Sequence[str], owner: tuple[int, int], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a server binary as the data directory's owner (PostgreSQL refuses to run as root)."""
    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0 and owner[0] != 0:
        kwargs = {"user": owner[0], "group": owner[1], "extra_groups": []}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, cwd="/", env=env, timeout=timeout,
                              check=False, **kwargs)
    except (OSError, subprocess.SubprocessError) as exc:
        return subprocess.CompletedProcess(list(argv), 127, "", str(exc))


def server_check(bindir: Path, data_dir: Path, config_file: Path) -> str | None:
    """Let the server's own parser read the configuration; the reason it refuses, or None.

    ``postgres -C`` reads every file the server would (includes, postgresql.auto.conf) and checks
    each value, and may run next to a live server for ordinary settings.
    """
    proc = run_as_owner([str(bindir / "postgres"), "-D", str(data_dir), "-c", f"config_file={config_file}",
                         "-C", "shared_buffers"], data_dir_owner(data_dir))
    if proc.returncode == 0:
        return None
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip() and "LOG:" not in ln]
    return "; ".join(lines[-3:]) or f"postgres -C exited {proc.returncode}"


def reload_server(bindir: Path, data_dir: Path) -> tuple[bool, str]:
    """``pg_ctl reload`` as the owner: (sent, message)."""
    if postmaster_pid(data_dir) is None:
        return False, "the server is not running; the new settings apply when it starts"
    proc = run_as_owner([str(bindir / "pg_ctl"), "reload", "-D", str(data_dir)], data_dir_owner(data_dir), timeout=60)
    if proc.returncode != 0:
        return False, f"pg_ctl reload failed: {(proc.stderr or proc.stdout).strip()}"
    return True, "server signalled to reload its configuration"
