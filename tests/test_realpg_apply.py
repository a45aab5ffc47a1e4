"""pgforge apply against real initdb'ed clusters of every available major.

For each major: apply through the CLI (drop-in plus one include line), the reload takes the
reload-context values, a restart takes the rest, SHOW returns the new values, a comment and an
unrelated setting in postgresql.conf survive, the second apply is a no-op, the rollback restores
postgresql.conf byte for byte and the server comes back to its old values. On 15 and later the
huge pages figure pgforge reports equals what the restarted server itself computes. And the
ALTER SYSTEM path over a connection, once.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pgharness import MAJORS, PgCluster

pytestmark = pytest.mark.realpg

EXTRA = "# a comment pgforge must keep\nlog_connections = on\n"
HOST = ("--memory", "2GB", "--cpus", "2", "--workload", "oltp")


def _pgforge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgforge", *args], capture_output=True, text=True, timeout=180)


def _json(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stderr}\n{proc.stdout}"
    return json.loads(proc.stdout)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wait_for(pg: PgCluster, sql: str, expected: str, timeout: float = 10.0) -> str:
    """pg_ctl reload only signals: poll until the server shows the value (or time runs out)."""
    deadline = time.monotonic() + timeout
    value = pg.psql(sql)
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        value = pg.psql(sql)
    return value


@pytest.mark.parametrize("major", MAJORS)
def test_apply_reload_restart_noop_rollback(major: int) -> None:
    with PgCluster(major, conf_extra=EXTRA) as pg:
        conf = pg.datadir / "postgresql.conf"
        original = conf.read_bytes()
        auto_before = _sha(pg.datadir / "postgresql.auto.conf")
        before = dict(zip(("shared_buffers", "effective_cache_size", "random_page_cost"),
                          pg.psql("SHOW shared_buffers; SHOW effective_cache_size; SHOW random_page_cost").splitlines()))

        first = _json(_pgforge("apply", "-D", str(pg.datadir), *HOST, "--yes", "--reload", "--format", "json"))
        assert first["changed"] and first["applied"] and first["reloaded"], first
        assert first["pg_version"] == major
        changes = {c["name"]: c for c in first["settings"]}
        assert "shared_buffers" in first["restart"] and "random_page_cost" in first["reload"]
        assert changes["shared_buffers"]["action"] == "restart"
        assert {e["name"] for e in first["excluded"]} >= {"port", "listen_addresses"}

        # Reload-context values are live after the reload; shared_buffers waits for the restart.
        rpc = changes["random_page_cost"]["new"]
        assert _wait_for(pg, "SHOW random_page_cost", rpc) == rpc
        assert pg.psql("SHOW shared_buffers") == before["shared_buffers"]
        pg.restart()
        shown = pg.psql("SHOW shared_buffers; SHOW effective_cache_size; SHOW random_page_cost; "
                        "SHOW log_connections; SHOW port")
        assert shown.splitlines() == [changes["shared_buffers"]["new"], changes["effective_cache_size"]["new"],
                                      rpc, "on", str(pg.port)]
        if major >= 15:
            assert first["huge_pages"]["exact"] is True
            assert pg.psql("SHOW shared_memory_size_in_huge_pages") == str(first["huge_pages"]["nr_hugepages"])
        else:
            assert first["huge_pages"]["exact"] is False

        text = conf.read_bytes()
        assert text.startswith(original), "every existing line and comment stays as it was"
        assert b"# a comment pgforge must keep\nlog_connections = on\n" in text
        assert text.count(b"include_dir") - original.count(b"include_dir") == 1

        second = _json(_pgforge("apply", "-D", str(pg.datadir), *HOST, "--yes", "--reload", "--format", "json"))
        assert second["changed"] is False and second["applied"] is False and second["files"] == []
        assert len(list((pg.datadir / ".pgforge-backup").iterdir())) == 1

        back = _json(_pgforge("apply", "-D", str(pg.datadir), "--rollback", "--yes", "--format", "json"))
        assert back["applied"]
        assert conf.read_bytes() == original
        assert _sha(pg.datadir / "postgresql.auto.conf") == auto_before
        assert not (pg.datadir / "conf.d").exists()
        pg.restart()
        after = pg.psql("SHOW shared_buffers; SHOW effective_cache_size; SHOW random_page_cost").splitlines()
        assert after == [before["shared_buffers"], before["effective_cache_size"], before["random_page_cost"]]


def test_server_refusal_rolls_back(tmp_path: Path) -> None:
    """A value the catalog accepts but this server's build does not (a preload library that
    pgforge finds on disk is fine; here an unknown setting planted in the drop-in directory after
    pgforge's file) makes postgres -C refuse, and apply undoes its write."""
    major = MAJORS[-1]
    with PgCluster(major) as pg:
        conf = pg.datadir / "postgresql.conf"
        original = conf.read_bytes()
        (pg.datadir / "conf.d").mkdir()
        bogus = pg.datadir / "conf.d" / "zz-bogus.conf"
        bogus.write_text("shared_buffers = 'plenty'\n")
        proc = _pgforge("apply", "-D", str(pg.datadir), *HOST, "--yes", "--format", "json")
        result = json.loads(proc.stdout)
        assert proc.returncode == 1 and result["rolled_back"] and "refused" in result["error"]
        assert conf.read_bytes() == original
        assert not (pg.datadir / "conf.d" / "pgforge.conf").exists()


def test_alter_system_over_a_connection() -> None:
    major = MAJORS[-1]
    state = Path(tempfile.mkdtemp(prefix="pgforge-state-", dir="/tmp"))
    try:
        with PgCluster(major) as pg:
            dsn = pg.conninfo()
            before = pg.psql("SHOW random_page_cost; SHOW effective_cache_size").splitlines()
            common = ("apply", "--dsn", dsn, *HOST, "--state-dir", str(state), "--format", "json")
            first = _json(_pgforge(*common, "--yes", "--reload"))
            assert first["mode"] == "sql" and first["changed"] and first["statements"]
            assert any(s.startswith("ALTER SYSTEM SET shared_buffers") for s in first["statements"])
            changes = {c["name"]: c["new"] for c in first["settings"]}
            rpc = changes["random_page_cost"]
            assert _wait_for(pg, "SHOW random_page_cost", rpc) == rpc
            auto = (pg.datadir / "postgresql.auto.conf").read_text()
            assert f"random_page_cost = '{rpc}'" in auto

            # Configured but not yet live (shared_buffers waits for a restart): still a no-op.
            second = _json(_pgforge(*common, "--yes"))
            assert second["changed"] is False and second["statements"] == []

            back = _json(_pgforge("apply", "--dsn", dsn, "--rollback", "--state-dir", str(state), "--yes", "--reload",
                                  "--format", "json"))
            assert back["applied"] and all(s.startswith("ALTER SYSTEM RESET") for s in back["statements"])
            assert _wait_for(pg, "SHOW random_page_cost", before[0]) == before[0]
            assert pg.psql("SHOW effective_cache_size") == before[1]
    finally:
        import shutil

        shutil.rmtree(state, ignore_errors=True)
