"""WAL archiving and point-in-time recovery on real servers, with the bundle's own files.

A PostgreSQL 17 primary runs the generated postgresql.conf (archive_mode, archive_command calling
the generated archive_wal.sh), the generated base_backup.sh takes a base backup, rows are written,
a target is noted, more rows are written, and the generated recovery kit (pitr_restore.sh)
rebuilds a data directory that, once started, holds exactly the rows up to the target. Once with a
local archive directory and a named restore point, once with S3 (a moto server on loopback, reached
through the aws CLI as the postgres user) and a time target.

This module also holds the helpers the other real-server bundle tests import (bundle writing,
running generated scripts as postgres, a started data directory, the local S3 server).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pgharness import (
    PgCluster,
    client_bindir,
    free_port,
    in_ci,
    pg_bindir,
    pg_user_tmpdir,
    run_as_postgres,
)

MAJOR = 17
pytestmark = [pytest.mark.realpg, pytest.mark.slow]


# --------------------------------------------------------------------------- helpers (shared)


def host_spec(port: int, **sections: Any) -> dict[str, Any]:
    """A small loopback host with the given bundle sections, as a spec file would hold it."""
    return {"memory": "1GB", "cpus": 2, "storage": "ssd", "workload": "oltp", "pg_version": MAJOR,
            "listen_addresses": ["127.0.0.1"], "port": port, "extensions": [], **sections}


def write_spec_bundle(spec: dict[str, Any], dest: Path) -> dict[str, Any]:
    """Tune ``spec``, write its whole bundle under ``dest``; return the OutFiles by path."""
    from pgforge.bundle import build_bundle
    from pgforge.spec import HostSpec
    from pgforge.tuning import tune
    from pgforge.writer import write_bundle

    files = build_bundle(tune(HostSpec.model_validate(spec)))
    write_bundle(dest, files)
    return {f.path: f for f in files}


def _pg_ids() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(os.environ.get("PGFORGE_PG_OS_USER", "postgres"))
    return entry.pw_uid, entry.pw_gid


def pg_mkdir(path: Path) -> Path:
    """A directory the postgres user owns (mode 0700)."""
    path.mkdir(mode=0o700, exist_ok=True)
    ids = _pg_ids()
    if ids:
        os.chown(path, *ids)
    return path


def script_env(home: Path, cluster: PgCluster | None = None, **extra: str) -> dict[str, str]:
    """Environment of a generated script run by hand or cron: libpq variables pointing at the
    test server, PGBIN at the test binaries, the aws credentials of the test, nothing of root's."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "HOME": str(home), "TMPDIR": str(home),
           "PGBIN": str(pg_bindir(MAJOR))}
    if cluster is not None:
        env.update(PGHOST=str(cluster.sockdir), PGPORT=str(cluster.port), PGUSER="postgres")
    env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
    env.update(extra)
    return env


def run_script(argv: list[str | os.PathLike[str]], env: dict[str, str], *, timeout: float = 180,
               ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a generated script as the postgres OS user; with ``ok`` a failure shows its output."""
    ids = _pg_ids()
    kwargs: dict[str, Any] = {"user": ids[0], "group": ids[1], "extra_groups": []} if ids else {}
    proc = subprocess.run([str(a) for a in argv], env=env, cwd=env["HOME"], capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)
    if ok and proc.returncode != 0:
        raise AssertionError(f"{argv[0]} failed (rc={proc.returncode})\n--- stdout ---\n{proc.stdout}\n"
                             f"--- stderr ---\n{proc.stderr}")
    return proc


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def psql_at(sockdir: Path, port: int, sql: str, db: str = "postgres") -> str:
    proc = subprocess.run([str(client_bindir() / "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                           "-h", str(sockdir), "-p", str(port), "-U", "postgres", "-d", db, "-c", sql],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    if proc.returncode != 0:
        raise AssertionError(f"psql on port {port} failed: {proc.stderr}\n{sql}")
    return proc.stdout.strip()


class DataDirServer:
    """A server started on a data directory a generated script produced (a restored backup, a
    replica), on its own loopback port and socket directory; stopped on exit."""

    def __init__(self, datadir: Path, sockdir: Path, port: int | None = None, major: int = MAJOR) -> None:
        self.datadir, self.sockdir, self.major = datadir, sockdir, major
        self.port = port or free_port()
        self.log = datadir.parent / f"{datadir.name}.log"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_as_postgres([pg_bindir(self.major) / "pg_ctl", "-D", self.datadir, *args], check=check, timeout=120)

    def __enter__(self) -> DataDirServer:
        opts = f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1"
        proc = self._ctl("-l", str(self.log), "-o", opts, "-w", "-t", "60", "start", check=False)
        if proc.returncode != 0:
            self.stop()
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise AssertionError(f"server on {self.datadir} did not start:\n{proc.stdout}{proc.stderr}\n{tail}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            if self._ctl("-w", "-t", "30", "-m", "fast", "stop", check=False).returncode != 0:
                self._ctl("-w", "-m", "immediate", "stop", check=False)

    def psql(self, sql: str, db: str = "postgres") -> str:
        return psql_at(self.sockdir, self.port, sql, db)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


RESTORE_POINT = "pgforge_before_more"
TABLE_DIGEST = "SELECT md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM t"


def rows_around_a_restore_point(primary: PgCluster) -> str:
    """100 rows, a named restore point, 50 more rows; returns the digest of the first 100."""
    primary.psql("CREATE TABLE t (id int PRIMARY KEY, note text);"
                 "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 100) g;")
    expected = primary.psql(TABLE_DIGEST)
    primary.psql(f"SELECT pg_create_restore_point('{RESTORE_POINT}')")
    primary.psql("INSERT INTO t SELECT g, 'after the target' FROM generate_series(101, 150) g;")
    return expected


def paused_at_the_restore_point(copy: DataDirServer, expected: str, timeout: float = 90) -> None:
    """The recovered server paused at the restore point holds exactly the rows written before it."""
    wait_until(lambda: copy.psql("SELECT pg_is_in_recovery() AND pg_is_wal_replay_paused()") == "t",
               "recovery to pause at the restore point", timeout=timeout)
    assert copy.psql("SELECT count(*), max(id) FROM t") == "100|100"
    assert copy.psql(TABLE_DIGEST) == expected


def switch_wal_and_wait_archived(cluster: PgCluster, timeout: float = 90) -> str:
    """Close the current WAL segment and wait until the archiver has stored it."""
    segment = cluster.psql("SELECT pg_walfile_name(pg_switch_wal())")

    def archived() -> bool:
        row = cluster.psql("SELECT coalesce(last_archived_wal, ''), failed_count, coalesce(last_failed_wal, '') FROM pg_stat_archiver")
        last = row.split("|")[0]
        return last >= segment and not last.endswith(".backup")

    wait_until(archived, f"the archiver to store {segment} "
               f"({cluster.psql('SELECT * FROM pg_stat_archiver')})", timeout=timeout)
    return segment


def _stamp(days_ago: float) -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).strftime("%Y%m%dT%H%M%SZ")


def _chown(path: Path) -> None:
    ids = _pg_ids()
    if ids:
        os.chown(path, *ids)


def missing(message: str) -> None:
    """A missing tool fails in CI and skips elsewhere (the harness's rule)."""
    if in_ci():
        pytest.fail(f"{message} (CI=true, so this is a failure)")
    pytest.skip(message)


def postgres_aws_cli() -> str:
    """An aws CLI the postgres OS user can run (root's pyenv is out of its reach)."""
    for candidate in (os.environ.get("PGFORGE_AWS_CLI"), "/usr/bin/aws", "/usr/local/bin/aws", "/opt/pgforge/awscli/bin/aws"):
        if candidate and os.access(candidate, os.X_OK):
            if run_as_postgres([candidate, "--version"], check=False, timeout=60).returncode == 0:
                return candidate
    missing("no aws CLI usable by the postgres user (apt-get install awscli)")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """A moto S3 server on a free loopback port; yields (endpoint_url, boto3 client). Test
    credentials go into the environment, which the servers and scripts started later inherit."""
    try:
        import boto3
    except ImportError:
        missing("boto3 is not installed (pip install 'moto[server]')")
    server = shutil.which("moto_server")
    argv = [server] if server else [sys.executable, "-m", "moto.server"]
    port = free_port()
    for key, value in {"AWS_ACCESS_KEY_ID": "pgforge-test", "AWS_SECRET_ACCESS_KEY": "pgforge-test",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    proc = subprocess.Popen([*argv, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            if proc.poll() is not None:
                missing("moto_server did not start (pip install 'moto[server]')")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(up, "moto_server", timeout=30, step=0.1)
        url = f"http://127.0.0.1:{port}"
        yield url, boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- the tests


def test_pitr_local_archive_to_named_restore_point() -> None:
    root = pg_user_tmpdir("pgforge-pitr-local-")
    try:
        wal = pg_mkdir(root / "wal")
        home = pg_mkdir(root / "home")
        primary = PgCluster(MAJOR)
        bundle = root / "bundle"
        files = write_spec_bundle(host_spec(primary.port, archive={
            "target": "local", "local_dir": str(wal), "scripts_dir": str(bundle / "archive"), "archive_timeout": "1min"}), bundle)
        primary.conf_extra = files["postgresql.conf"].content
        with primary:
            assert primary.psql("SHOW archive_mode") == "on"
            assert primary.psql("SHOW archive_command") == f'{bundle}/archive/archive_wal.sh "%p" "%f"'
            env = script_env(home, primary)
            # An expired base backup and WAL only it needed; a history file that must stay.
            expired = pg_mkdir(pg_mkdir(wal / "base") / _stamp(20))
            for name, where in (("SHA256SUMS", expired), ("START_WAL", expired), ("000000010000000000000000", wal),
                                ("00000002.history", wal)):
                (where / name).write_text("000000010000000000000000\n" if name == "START_WAL" else "old\n")
                _chown(where / name)
            run_script([bundle / "archive/base_backup.sh"], env)
            stamps = [p.name for p in (wal / "base").iterdir()]
            assert len(stamps) == 1 and (wal / "base" / stamps[0] / "SHA256SUMS").is_file()
            start_wal = (wal / "base" / stamps[0] / "START_WAL").read_text().strip()
            segments = sorted(p.name for p in wal.iterdir() if len(p.name) == 24)
            assert segments and segments[0] >= start_wal  # older WAL went with the expired backup
            assert (wal / "00000002.history").exists()
            (wal / "00000002.history").unlink()  # the recovery below creates the real timeline 2

            expected = rows_around_a_restore_point(primary)
            switch_wal_and_wait_archived(primary)

            # The archive never overwrites: the same content again is a success, other content is refused.
            segment = sorted(p.name for p in wal.iterdir() if len(p.name) == 24)[0]
            same = run_script([bundle / "archive/archive_wal.sh", wal / segment, segment], env, ok=False)
            assert same.returncode == 0, same.stderr
            other = home / "other"
            other.write_bytes(b"not that segment")
            other.chmod(0o644)
            clash = run_script([bundle / "archive/archive_wal.sh", other, segment], env, ok=False)
            assert clash.returncode != 0 and "different content" in clash.stderr
            assert (wal / segment).stat().st_size == 16 * 1024 * 1024

            restored = root / "restored"
            run_script([bundle / "recovery/pitr_restore.sh", "-D", restored, "--name", RESTORE_POINT], env)
            assert (restored / "recovery.signal").exists()
            auto = (restored / "postgresql.auto.conf").read_text()
            assert f"restore_command = 'cp \"{wal}/%f\" \"%p\"'" in auto
            assert f"recovery_target_name = '{RESTORE_POINT}'" in auto

            with DataDirServer(restored, primary.sockdir) as copy:
                paused_at_the_restore_point(copy, expected)
                copy.psql("SELECT pg_wal_replay_resume()")
                wait_until(lambda: copy.psql("SELECT pg_is_in_recovery()") == "f", "promotion", timeout=60)
                copy.psql("INSERT INTO t VALUES (101, 'written after recovery')")
                # The recovered server archives its new timeline beside the old one.
                wait_until(lambda: (wal / "00000002.history").exists(), "timeline 2 history in the archive", timeout=60)
            # The primary is untouched by all of this.
            assert primary.psql("SELECT count(*) FROM t") == "150"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_pitr_s3_archive_to_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    aws = postgres_aws_cli()
    root = pg_user_tmpdir("pgforge-pitr-s3-")
    try:
        with moto_s3(monkeypatch) as (endpoint, s3):
            s3.create_bucket(Bucket="pgforge-wal")
            home = pg_mkdir(root / "home")
            primary = PgCluster(MAJOR)
            bundle = root / "bundle"
            files = write_spec_bundle(host_spec(primary.port, archive={
                "target": "s3", "s3": {"bucket": "pgforge-wal", "prefix": "prod/wal", "endpoint_url": endpoint,
                                       "region": "us-east-1", "aws_cli": aws},
                "scripts_dir": str(bundle / "archive")}), bundle)
            primary.conf_extra = files["postgresql.conf"].content
            with primary:
                env = script_env(home, primary)
                expired = _stamp(20)
                for key, body in ((f"prod/wal/base/{expired}/SHA256SUMS", ""),
                                  (f"prod/wal/base/{expired}/START_WAL", "000000010000000000000000\n"),
                                  ("prod/wal/000000010000000000000000", "old"), ("prod/wal/000000020000000000000000", "old"),
                                  ("prod/wal/00000003.history", "kept"), ("prod/walnut/000000010000000000000000", "kept")):
                    s3.put_object(Bucket="pgforge-wal", Key=key, Body=body.encode())
                result = run_script([bundle / "archive/base_backup.sh"], env)
                keys = [o["Key"] for o in s3.list_objects_v2(Bucket="pgforge-wal")["Contents"]]
                assert any(k.endswith("/SHA256SUMS") for k in keys) and any(k.endswith("/base.tar.gz") for k in keys)
                assert not [k for k in keys if expired in k]
                assert "prod/wal/000000010000000000000000" not in keys and "prod/wal/000000020000000000000000" not in keys
                assert {"prod/wal/00000003.history", "prod/walnut/000000010000000000000000"} <= set(keys)
                removed = re.search(r"removed (\d+) archived WAL file", result.stderr)
                assert removed and int(removed.group(1)) >= 2, result.stderr
                time.sleep(1.1)  # base backups are chosen by their start second: the target must come later

                primary.psql("CREATE TABLE t (id int PRIMARY KEY, note text);"
                             "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 80) g;")
                target = primary.psql("SELECT clock_timestamp()")
                time.sleep(0.2)
                primary.psql("INSERT INTO t SELECT g, 'after the target' FROM generate_series(81, 120) g;")
                segment = switch_wal_and_wait_archived(primary)
                s3.head_object(Bucket="pgforge-wal", Key=f"prod/wal/{segment}")

                restored = root / "restored"
                run_script([bundle / "recovery/pitr_restore.sh", "-D", restored, "--time", target,
                            "--action", "promote", "--no-archive"], env)
                auto = (restored / "postgresql.auto.conf").read_text()
                assert "s3 cp --only-show-errors \"s3://pgforge-wal/prod/wal/%f\" \"%p\"" in auto
                assert "archive_mode = off" in auto
                with DataDirServer(restored, primary.sockdir) as copy:
                    wait_until(lambda: copy.psql("SELECT pg_is_in_recovery()") == "f", "recovery to the target time",
                               timeout=120)
                    assert copy.psql("SELECT count(*), max(id) FROM t") == "80|80"
                    assert "recovery stopping before commit" in copy.log_text()
    finally:
        shutil.rmtree(root, ignore_errors=True)
