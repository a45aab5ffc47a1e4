"""The real-server harness itself works for every supported major.

Every realpg test trusts pgharness, so this proves the basics against real binaries: a cluster
initdb's, starts on loopback with our settings applied, answers SQL, reloads, stops and is
deleted; and ``postgres -C`` tells good files from bad ones.
"""

from __future__ import annotations

import os
import pwd
import shutil

import pytest

from pgharness import (
    MAJORS,
    ConfRejected,
    PgCluster,
    PsqlError,
    client_bindir,
    pg_bindir,
    pg_user_tmpdir,
    postgres_C,
)

pytestmark = pytest.mark.realpg


@pytest.mark.parametrize("major", MAJORS)
def test_cluster_round_trip(major: int) -> None:
    with PgCluster(major, conf_extra="work_mem = '8MB'\n") as pg:
        datadir, sockdir = pg.datadir, pg.sockdir
        assert datadir.is_dir()
        out = pg.psql(
            "SELECT current_setting('server_version_num')::int / 10000;"
            "SHOW work_mem; SHOW listen_addresses; SHOW port;"
        )
        assert out.splitlines() == [str(major), "8MB", "127.0.0.1", str(pg.port)]
        assert str(sockdir) in pg.conninfo()
        assert "host=127.0.0.1" in pg.conninfo(tcp=True)
    assert not datadir.exists(), "the cluster directory must be removed on exit"
    assert not sockdir.exists()


def test_write_conf_reload_restart_and_errors() -> None:
    major = MAJORS[-1]
    with PgCluster(major) as pg:
        # conf text that tries to move the port loses to the harness lines appended last
        pg.write_conf("work_mem = '12MB'\nport = 1\nshared_buffers = '32MB'\n")
        assert pg.reload() is True
        assert pg.psql("SHOW work_mem") == "12MB"
        assert pg.psql("SHOW shared_buffers") == "128MB"  # postmaster context: needs restart
        pg.restart()
        assert pg.psql("SHOW shared_buffers; SHOW port").splitlines() == ["32MB", str(pg.port)]
        with pytest.raises(PsqlError, match="no_such_table"):
            pg.psql("SELECT 1; SELECT * FROM no_such_table;")
        basedir = pg.basedir
    assert basedir is not None and not basedir.exists()


def test_cluster_is_removed_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with PgCluster(MAJORS[0]) as pg:
            basedir = pg.basedir
            raise RuntimeError("boom")
    assert basedir is not None and not basedir.exists()


def test_start_failure_reports_the_server_log() -> None:
    with pytest.raises(Exception, match="shared_buffers") as info:
        with PgCluster(MAJORS[-1], conf_extra="shared_buffers = 'lots'\n"):
            pass
    assert "server.log" in str(info.value)


def test_postgres_C_reports_values_in_base_units() -> None:
    values = postgres_C(
        17, "shared_buffers = '1GB'\nwork_mem = '4MB'\nmax_connections = 42\n",
        ["shared_buffers", "work_mem", "max_connections"],
    )
    assert values == {"shared_buffers": "131072", "work_mem": "4096", "max_connections": "42"}


@pytest.mark.parametrize(
    ("major", "conf", "needle"),
    [
        (16, "work_mem = 1mb\n", 'invalid value for parameter "work_mem"'),
        (13, "wal_keep_segments = 64\n", 'unrecognized configuration parameter "wal_keep_segments"'),
        (17, "io_method = worker\n", 'unrecognized configuration parameter "io_method"'),
    ],
)
def test_postgres_C_rejects_bad_files(major: int, conf: str, needle: str) -> None:
    with pytest.raises(ConfRejected) as info:
        postgres_C(major, conf, ["work_mem"])
    assert needle in info.value.stderr


def test_env_override_and_missing_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pg_bindir(17)
    monkeypatch.setenv("PGFORGE_PG_BIN_16", str(real))
    assert pg_bindir(16) == real
    assert (client_bindir() / "psql").exists()

    monkeypatch.setenv("PGFORGE_PG_BIN_16", "/nonexistent/pg16/bin")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="fetch_pg_binaries"):
        pg_bindir(16)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="fetch_pg_binaries"):
        pg_bindir(16)


def test_tmpdirs_belong_to_the_server_user() -> None:
    path = pg_user_tmpdir("pgforge-test-")
    try:
        st = path.stat()
        assert str(path).startswith("/tmp/")
        assert st.st_mode & 0o777 == 0o700
        if os.geteuid() == 0:
            assert st.st_uid == pwd.getpwnam("postgres").pw_uid
    finally:
        shutil.rmtree(path)
