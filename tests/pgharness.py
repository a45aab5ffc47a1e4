"""Shared harness for tests that run a real PostgreSQL server or binary.

Why a harness: every real-server test needs the same chores done the same safe way.
PostgreSQL refuses to run as root, so processes are started as the ``postgres`` OS user in
directories under /tmp that user owns; servers listen only on loopback and on a free port;
every server started is stopped and its directory removed, even when the test fails; and a
missing binary is a *failure* in CI (env ``CI=true``) but a skip on a developer machine.

Binaries live in ``${PGFORGE_PG_ROOT:-/opt/pgforge/pg}/<major>/bin`` (installed by
``bash scripts/fetch_pg_binaries.sh``); ``PGFORGE_PG_BIN_<major>`` points one major elsewhere.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import pytest

MAJORS: tuple[int, ...] = (13, 14, 15, 16, 17, 18)

#: The major whose client tools (psql, pg_dump, pg_basebackup, pgbench) are used against every
#: server: the newest client speaks to all older servers, and the 13 build ships no clients.
CLIENT_MAJOR = 18

#: OS account that owns data directories and runs the servers when the tests run as root.
PG_OS_USER = os.environ.get("PGFORGE_PG_OS_USER", "postgres")

INSTALL_HINT = "install them with: bash scripts/fetch_pg_binaries.sh"

#: initdb arguments: trust only over the Unix socket (the harness's own psql), SCRAM for TCP so
#: tests of host lines exercise real password auth; C locale and no fsync keep it fast and stable.
DEFAULT_INITDB_ARGS: tuple[str, ...] = (
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
)

_START_TIMEOUT_S = 60
_LOG_TAIL_CHARS = 4000


class PgHarnessError(RuntimeError):
    """A harness step (initdb, start, stop, psql) failed; the message carries the evidence."""


class ConfRejected(PgHarnessError):
    """``postgres -C`` refused a postgresql.conf; ``stderr`` is the server's explanation."""

    def __init__(self, stderr: str) -> None:
        super().__init__(f"postgres rejected the configuration:\n{stderr}")
        self.stderr = stderr


class PsqlError(PgHarnessError):
    """psql exited non-zero (SQL error with ON_ERROR_STOP, or connection failure)."""

    def __init__(self, sql: str, returncode: int, stderr: str) -> None:
        super().__init__(f"psql failed (rc={returncode}) running:\n{sql}\n--- stderr ---\n{stderr}")
        self.sql = sql
        self.returncode = returncode
        self.stderr = stderr


# --------------------------------------------------------------------------- locating binaries


def in_ci() -> bool:
    """CI sets CI=true; there a missing binary must fail the run instead of hiding behind a skip."""
    return os.environ.get("CI", "").strip().lower() == "true"


def _missing(message: str) -> None:
    if in_ci():
        pytest.fail(f"{message} (CI=true, so this is a failure; {INSTALL_HINT})")
    pytest.skip(f"{message}; {INSTALL_HINT}")


def pg_root() -> Path:
    """Root holding one ``<major>/bin`` per installed major."""
    return Path(os.environ.get("PGFORGE_PG_ROOT", "/opt/pgforge/pg"))


def pg_bindir(major: int) -> Path:
    """Directory with the real ``postgres``/``initdb``/``pg_ctl`` of ``major`` (skip/fail if absent)."""
    override = os.environ.get(f"PGFORGE_PG_BIN_{major}")
    bindir = Path(override) if override else pg_root() / str(major) / "bin"
    if not os.access(bindir / "postgres", os.X_OK):
        _missing(f"PostgreSQL {major} binaries not found in {bindir}")
    return bindir


def client_bindir() -> Path:
    """Directory with psql, pg_dump, pg_basebackup and pgbench that work against servers 13+."""
    bindir = pg_bindir(CLIENT_MAJOR)
    for tool in ("psql", "pg_dump", "pg_basebackup", "pgbench"):
        if not os.access(bindir / tool, os.X_OK):
            _missing(f"client tool {tool} not found in {bindir}")
    return bindir


# --------------------------------------------------------------------------- running as postgres


def _pg_account() -> tuple[int, int] | None:
    """(uid, gid) to switch to, or None when we are not root and simply run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        _missing(f"OS user {PG_OS_USER!r} does not exist (PostgreSQL will not run as root)")
        raise  # unreachable: _missing always raises
    return entry.pw_uid, entry.pw_gid


def _clean_env() -> dict[str, str]:
    """Environment without the caller's PG* variables, so no test talks to a stray server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


def run_as_postgres(
    argv: Sequence[str | os.PathLike[str]],
    *,
    input: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command as the postgres OS user (setuid via subprocess, cheaper than runuser/PAM).

    With ``check=True`` a non-zero exit raises PgHarnessError including stdout and stderr.
    """
    account = _pg_account()
    kwargs: dict[str, object] = {}
    if account is not None:
        kwargs = {"user": account[0], "group": account[1], "extra_groups": []}
    proc = subprocess.run(
        [str(a) for a in argv],
        input=input,
        capture_output=True,
        text=True,
        cwd=str(cwd) if cwd is not None else "/tmp",
        env=_clean_env(),
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    if check and proc.returncode != 0:
        raise PgHarnessError(
            f"command failed (rc={proc.returncode}): {' '.join(map(str, argv))}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


def pg_user_tmpdir(prefix: str = "pgforge-") -> Path:
    """A fresh directory under /tmp owned by the postgres user, mode 0700 (what initdb demands).

    pytest's tmp_path sits below a root-only directory, so the server could not reach it.
    The caller removes it (``shutil.rmtree``); PgCluster does so itself.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    account = _pg_account()
    if account is not None:
        os.chown(path, *account)
    path.chmod(0o700)
    return path


def _make_pg_owned(path: Path, mode: int = 0o700) -> None:
    path.mkdir(mode=mode, exist_ok=True)
    account = _pg_account()
    if account is not None:
        os.chown(path, *account)
    path.chmod(mode)


def _write_pg_owned(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    account = _pg_account()
    if account is not None:
        os.chown(path, *account)
    path.chmod(0o600)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it; a race remains, start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- postgres -C


def postgres_C(major: int, conf_text: str, names: Sequence[str]) -> dict[str, str]:
    """Let the real ``postgres`` of ``major`` parse ``conf_text`` and report each GUC in ``names``.

    The file is written as postgresql.conf into an empty postgres-owned directory; no initdb is
    needed for parsing. Values come back as postgres prints them (base units, no suffix:
    shared_buffers='1GB' -> '131072'). ``postgres -C`` accepts one name per run, so this is one
    process per name (a few ms each). Raises ConfRejected if the server refuses the file
    (unknown parameter, bad unit, syntax error) or does not know a requested name.
    """
    bindir = pg_bindir(major)
    workdir = pg_user_tmpdir("pgforge-C-")
    try:
        datadir = workdir / "data"
        _make_pg_owned(datadir)
        _write_pg_owned(datadir / "postgresql.conf", conf_text)
        # An empty auto.conf keeps a "skipping missing configuration file" line out of stderr.
        _write_pg_owned(datadir / "postgresql.auto.conf", "")
        values: dict[str, str] = {}
        for name in names:
            proc = run_as_postgres(
                [bindir / "postgres", "-D", datadir, "-C", name], cwd=workdir, check=False
            )
            if proc.returncode != 0:
                raise ConfRejected(proc.stderr.strip() or proc.stdout.strip())
            values[name] = proc.stdout.strip()
        return values
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- a real cluster


class PgCluster:
    """A throwaway real PostgreSQL cluster: initdb, start on loopback, query, stop, delete.

    Use as a context manager; the server is stopped and the directory removed on exit, also
    when the body raises. Layout inside one postgres-owned /tmp dir: ``data/`` (datadir),
    ``sock/`` (Unix socket directory) and ``server.log``.
    """

    def __init__(
        self,
        major: int,
        conf_extra: str = "",
        hba: str | None = None,
        initdb_args: Sequence[str] = DEFAULT_INITDB_ARGS,
    ) -> None:
        self.major = major
        self.bindir = pg_bindir(major)
        self.conf_extra = conf_extra
        self.hba = hba
        self.initdb_args = tuple(initdb_args)
        self.port = free_port()
        self.basedir: Path | None = None
        self.datadir = Path()
        self.sockdir = Path()
        self.logfile = Path()
        #: postgresql.conf as initdb wrote it, for tests that want to append to the stock file
        self.initdb_conf = ""
        self._running = False

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> PgCluster:
        try:
            self._init()
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def _init(self) -> None:
        self.basedir = pg_user_tmpdir(f"pgforge-pg{self.major}-")
        self.datadir = self.basedir / "data"
        self.sockdir = self.basedir / "sock"
        self.logfile = self.basedir / "server.log"
        _make_pg_owned(self.sockdir)
        run_as_postgres(
            [self.bindir / "initdb", "-D", self.datadir, *self.initdb_args], cwd=self.basedir
        )
        self.initdb_conf = (self.datadir / "postgresql.conf").read_text(encoding="utf-8")
        self.write_conf(self.initdb_conf + "\n" + self.conf_extra)
        if self.hba is not None:
            self.write_hba(self.hba)

    def _harness_lines(self) -> str:
        return (
            "\n# --- pgforge test harness: keep last so these win ---\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.sockdir}'\n"
        )

    def write_conf(self, text: str) -> None:
        """Replace postgresql.conf with ``text`` plus the harness's listen/port/socket lines last.

        The stock file is in ``initdb_conf`` for callers that want to extend it.
        Takes effect on the next reload()/restart().
        """
        _write_pg_owned(self.datadir / "postgresql.conf", text + "\n" + self._harness_lines())

    def write_hba(self, text: str) -> None:
        """Replace pg_hba.conf (takes effect on the next reload()/restart())."""
        _write_pg_owned(self.datadir / "pg_hba.conf", text)

    def log_tail(self) -> str:
        """Last part of the server log, for error messages."""
        try:
            return self.logfile.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL_CHARS:]
        except OSError:
            return "(no server log)"

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = run_as_postgres(
            [self.bindir / "pg_ctl", "-D", self.datadir, *args],
            cwd=self.basedir,
            check=False,
            timeout=_START_TIMEOUT_S + 30,
        )
        if check and proc.returncode != 0:
            raise PgHarnessError(
                f"pg_ctl {' '.join(args)} failed for PostgreSQL {self.major} (rc={proc.returncode})\n"
                f"--- pg_ctl ---\n{proc.stdout}{proc.stderr}\n--- server.log ---\n{self.log_tail()}"
            )
        return proc

    def start(self) -> None:
        """Start and wait until it accepts connections; retries on a port lost to a race."""
        for attempt in range(3):
            proc = self._pg_ctl(
                "-l", str(self.logfile), "-w", "-t", str(_START_TIMEOUT_S), "start", check=False
            )
            if proc.returncode == 0:
                self._running = True
                return
            log = self.log_tail()
            if "could not bind" in log and attempt < 2:
                self.port = free_port()
                current = (self.datadir / "postgresql.conf").read_text(encoding="utf-8")
                marker = "\n# --- pgforge test harness"
                self.write_conf(current.split(marker)[0].rstrip("\n"))
                continue
            raise PgHarnessError(
                f"PostgreSQL {self.major} failed to start (rc={proc.returncode})\n"
                f"--- pg_ctl ---\n{proc.stdout}{proc.stderr}\n--- server.log ---\n{log}"
            )

    def stop(self) -> None:
        """Fast shutdown; idempotent. Falls back to immediate mode if fast does not finish.

        Also acts when a failed start left a postmaster.pid behind, so nothing is orphaned.
        """
        if self.basedir is None:
            return
        if not self._running and not (self.datadir / "postmaster.pid").exists():
            return
        proc = self._pg_ctl("-w", "-t", "30", "-m", "fast", "stop", check=False)
        if proc.returncode != 0:
            self._pg_ctl("-w", "-m", "immediate", "stop", check=False)
        self._running = False

    def restart(self) -> None:
        """Stop and start again (needed for postmaster-context settings)."""
        self.stop()
        self.start()

    def reload(self, timeout: float = 10.0) -> bool:
        """Send SIGHUP and wait until the server reports a newer pg_conf_load_time().

        Returns False if the load time did not change in ``timeout`` seconds, which happens
        when the new file has errors the server refuses to apply.
        """
        before = self.psql("SELECT pg_conf_load_time()")
        self.psql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.psql("SELECT pg_conf_load_time()") != before:
                return True
            time.sleep(0.05)
        return False

    def cleanup(self) -> None:
        """Stop the server (if running) and remove its whole directory."""
        try:
            self.stop()
        finally:
            if self.basedir is not None:
                shutil.rmtree(self.basedir, ignore_errors=True)
                self.basedir = None

    # ---------------------------------------------------------------- talking to it

    def conninfo(
        self,
        db: str = "postgres",
        user: str = "postgres",
        *,
        tcp: bool = False,
        password: str | None = None,
    ) -> str:
        """libpq keyword/value string: Unix socket (trust) by default, 127.0.0.1 (SCRAM) with tcp."""
        host = "127.0.0.1" if tcp else str(self.sockdir)
        parts = [f"host={host}", f"port={self.port}", f"dbname={db}", f"user={user}"]
        if password is not None:
            escaped = password.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"password='{escaped}'")
        return " ".join(parts)

    def psql(self, sql: str, db: str = "postgres", user: str = "postgres") -> str:
        """Run ``sql`` with the client psql over the Unix socket; return unaligned, tuples-only output.

        The script is fed on stdin with ON_ERROR_STOP, so every statement's rows are printed and
        the first error raises PsqlError.
        """
        psql = client_bindir() / "psql"
        proc = subprocess.run(
            [
                str(psql),
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.sockdir),
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                db,
                "-f",
                "-",
            ],
            input=sql,
            capture_output=True,
            text=True,
            env=_clean_env(),
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise PsqlError(sql, proc.returncode, proc.stderr)
        return proc.stdout.rstrip("\n")
