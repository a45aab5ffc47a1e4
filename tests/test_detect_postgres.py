"""Postgres probe: data directory, major version and build options, with injected commands."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fakeroot import FakeRoot, fake_runner

from pgforge.detect.postgres import (
    SUPPORTED_MAJORS,
    find_postmasters,
    parse_configure,
    parse_lsclusters,
    parse_version_output,
    probe_postgres,
    run_command,
)

# Captured from this machine (Debian 12, postgresql-common).
LSCLUSTERS = """\
Ver Cluster Port Status Owner    Data directory              Log file
15  main    5432 down   postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log
17  main    5433 online postgres /var/lib/postgresql/17/main /var/log/postgresql/postgresql-17-main.log
"""
CONFIGURE_15 = (
    " '--build=x86_64-linux-gnu' '--prefix=/usr' '--with-icu' '--with-llvm' "
    "'LLVM_CONFIG=/usr/bin/llvm-config-14' '--with-lz4' '--with-zstd' '--with-systemd' "
    "'--with-extra-version= (Debian 15.18-0+deb12u1)'\n"
)
CONFIGURE_18 = "'--prefix=/usr/local/pgsql' '--with-zstd' '--with-liburing' 'CFLAGS=-O2'\n"


@pytest.fixture
def fr(tmp_path: Path) -> FakeRoot:
    return FakeRoot(tmp_path / "root")


def values(probes: dict) -> dict:
    return {k: p.value for k, p in probes.items()}


def test_pgdata_env_and_pg_version_file(fr: FakeRoot) -> None:
    fr.data_dir("/srv/pg/main", "17")
    probes = probe_postgres(fr.path, env={"PGDATA": "/srv/pg/main"})
    assert probes["data_dir"].value == "/srv/pg/main"
    assert probes["data_dir"].notes[0].source == "PGDATA"
    assert probes["pg_version"].value == 17
    assert probes["pg_version"].notes[0].source == "/srv/pg/main/PG_VERSION"


def test_explicit_data_dir_beats_pgdata(fr: FakeRoot) -> None:
    fr.data_dir("/a", "16")
    fr.data_dir("/b", "17")
    probes = probe_postgres(fr.path, data_dir="/b", env={"PGDATA": "/a"})
    assert values(probes)["data_dir"] == "/b"
    assert values(probes)["pg_version"] == 17
    assert probes["data_dir"].notes[0].source == "--data-dir"


def test_running_postmaster_with_dash_d(fr: FakeRoot) -> None:
    fr.data_dir("/var/lib/postgresql/16/main", "16")
    fr.process(
        812,
        ["/usr/lib/postgresql/16/bin/postgres", "-D", "/var/lib/postgresql/16/main",
         "-c", "config_file=/etc/postgresql/16/main/postgresql.conf"],
    )
    fr.process(813, ["postgres: 16/main: checkpointer "])
    fr.process(900, ["/usr/bin/python3", "-D", "/nope"])
    probes = probe_postgres(fr.path)
    assert probes["data_dir"].value == "/var/lib/postgresql/16/main"
    assert probes["data_dir"].notes[0].source == "running postmaster (pid 812)"
    assert probes["pg_version"].value == 16


def test_postmaster_unreadable_data_dir_uses_binary_path(fr: FakeRoot) -> None:
    # As a non-root user PG_VERSION (mode 0600 in a 0700 dir) is unreadable: the bindir names the major.
    fr.process(77, ["postgres", "-D", "/var/lib/postgresql/17/main"], exe="/usr/lib/postgresql/17/bin/postgres")
    probes = probe_postgres(fr.path)
    assert probes["pg_version"].value == 17
    assert probes["pg_version"].notes[0].source == "running postmaster"


def test_postmaster_version_from_postgres_version_when_path_says_nothing(fr: FakeRoot) -> None:
    fr.process(77, ["/opt/pg/bin/postgres", "-D/data"])
    run = fake_runner({("/opt/pg/bin/postgres", "--version"): "postgres (PostgreSQL) 18.1\n"})
    probes = probe_postgres(fr.path, run=run)
    assert values(probes)["data_dir"] == "/data"
    assert values(probes)["pg_version"] == 18


def test_postmaster_data_directory_option_and_environ(fr: FakeRoot) -> None:
    fr.process(10, ["/usr/pgsql-15/bin/postmaster", "-D", "/etc/pg", "-c", "data_directory=/var/lib/pgsql/15/data"])
    fr.process(20, ["/usr/pgsql-14/bin/postgres"], environ={"HOME": "/x", "PGDATA": "/var/lib/pgsql/14/data"})
    found = find_postmasters(fr.path)
    assert [(p.pid, p.data_dir) for p in found] == [(10, "/var/lib/pgsql/15/data"), (20, "/var/lib/pgsql/14/data")]
    probes = probe_postgres(fr.path)
    assert probes["pg_version"].value == 15
    assert "several postmasters" in probes["data_dir"].notes[-1].message


def test_pg_lsclusters_prefers_online_cluster(fr: FakeRoot) -> None:
    run = fake_runner({("pg_lsclusters",): LSCLUSTERS})
    probes = probe_postgres(fr.path, run=run)
    assert probes["data_dir"].value == "/var/lib/postgresql/17/main"
    assert probes["pg_version"].value == 17
    assert probes["pg_version"].notes[0].source == "pg_lsclusters"


def test_pg_lsclusters_gives_version_for_pgdata_dir(fr: FakeRoot) -> None:
    run = fake_runner({("pg_lsclusters",): LSCLUSTERS})
    probes = probe_postgres(fr.path, env={"PGDATA": "/var/lib/postgresql/15/main"}, run=run)
    assert values(probes)["pg_version"] == 15


def test_parse_lsclusters_without_header_and_with_noise() -> None:
    text = "15 main 5432 online,recovery postgres /data/my cluster /var/log/pg.log\nWarning: junk\n\n"
    (cluster,) = parse_lsclusters(text)
    assert cluster.data_dir == "/data/my cluster"
    assert cluster.online and cluster.version == "15"


def test_pg_config_version_is_the_last_resort(fr: FakeRoot) -> None:
    run = fake_runner({("pg_config", "--version"): "PostgreSQL 16.4 (Debian 16.4-1.pgdg120+1)\n"})
    probes = probe_postgres(fr.path, run=run)
    assert probes["data_dir"].value is None
    assert probes["pg_version"].value == 16
    assert probes["pg_version"].notes[0].source == "pg_config --version"


def test_pg_config_of_other_major_does_not_supply_build_flags(fr: FakeRoot) -> None:
    fr.data_dir("/pg", "17")
    run = fake_runner({
        ("pg_config", "--version"): "PostgreSQL 15.18 (Debian 15.18-0+deb12u1)\n",
        ("pg_config", "--configure"): CONFIGURE_15,
    })
    probes = probe_postgres(fr.path, data_dir="/pg", run=run)
    assert probes["pg_version"].value == 17
    assert probes["pg_build"].value is None
    assert "is PostgreSQL 15, not the server's 17" in (probes["pg_build"].reason or "")


def test_pg_build_from_configure_of_matching_pg_config(fr: FakeRoot) -> None:
    fr.data_dir("/pg", "15")
    run = fake_runner({
        ("/usr/lib/postgresql/15/bin/pg_config", "--version"): "PostgreSQL 15.18 (Debian 15.18-0+deb12u1)\n",
        ("/usr/lib/postgresql/15/bin/pg_config", "--configure"): CONFIGURE_15,
    })
    probes = probe_postgres(fr.path, data_dir="/pg", run=run)
    assert probes["pg_build"].value == {"lz4": True, "zstd": True, "io_uring": False}
    assert probes["pg_build"].notes[0].source == "pg_config --configure"


def test_postmaster_bindir_pg_config_is_tried_first(fr: FakeRoot) -> None:
    fr.data_dir("/data", "18")
    fr.process(5, ["/opt/pg18/bin/postgres", "-D", "/data"])
    run = fake_runner({
        ("/opt/pg18/bin/pg_config", "--version"): "PostgreSQL 18.0\n",
        ("/opt/pg18/bin/pg_config", "--configure"): CONFIGURE_18,
        ("pg_config", "--version"): "PostgreSQL 15.18\n",
    })
    probes = probe_postgres(fr.path, run=run)
    assert probes["pg_build"].value == {"lz4": False, "zstd": True, "io_uring": True}
    assert ("pg_config", "--version") not in run.calls


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CONFIGURE_15, {"lz4": True, "zstd": True, "io_uring": False}),
        (CONFIGURE_18, {"lz4": False, "zstd": True, "io_uring": True}),
        ("--prefix=/usr --with-lz4", {"lz4": True, "zstd": False, "io_uring": False}),
        ("-Dlz4=enabled -Dzstd=disabled", {"lz4": True, "zstd": False}),
        ("", None),
        ("\n", None),
    ],
)
def test_parse_configure(text: str, expected: dict | None) -> None:
    assert parse_configure(text) == expected


def test_empty_configure_output_leaves_pg_build_undetected(fr: FakeRoot) -> None:
    run = fake_runner({("pg_config", "--version"): "PostgreSQL 17.0\n", ("pg_config", "--configure"): "\n"})
    probe = probe_postgres(fr.path, run=run)["pg_build"]
    assert probe.value is None
    assert probe.reason == "pg_config --configure lists no build options"


@pytest.mark.parametrize(
    ("text", "major"),
    [("PostgreSQL 17.2 (Debian 17.2-1.pgdg120+1)", 17), ("postgres (PostgreSQL) 18beta1", 18), ("PostgreSQL 9.6.24", None), ("nope", None)],
)
def test_parse_version_output(text: str, major: int | None) -> None:
    assert parse_version_output(text) == major


def test_unsupported_major_is_undetected_with_reason(fr: FakeRoot) -> None:
    fr.data_dir("/old", "12")
    probe = probe_postgres(fr.path, data_dir="/old")["pg_version"]
    assert probe.value is None
    assert probe.reason == "/old/PG_VERSION says '12', not a supported major (13..18)"


def test_garbled_pg_version_falls_through_with_note(fr: FakeRoot) -> None:
    fr.data_dir("/pg", "seventeen")
    run = fake_runner({("pg_config", "--version"): "PostgreSQL 17.1\n"})
    probe = probe_postgres(fr.path, data_dir="/pg", run=run)["pg_version"]
    assert probe.value == 17
    assert any("ignored unreadable /pg/PG_VERSION" in n.message for n in probe.notes)


def test_nothing_found_is_undetected(fr: FakeRoot) -> None:
    probes = probe_postgres(fr.path)
    assert values(probes) == {"data_dir": None, "pg_version": None, "pg_build": None}
    assert all(p.reason for p in probes.values())


def test_data_dir_before_initdb_is_kept(fr: FakeRoot) -> None:
    probes = probe_postgres(fr.path, env={"PGDATA": "/var/lib/postgresql/18/main"})
    assert probes["data_dir"].value == "/var/lib/postgresql/18/main"
    assert probes["pg_version"].value is None


def test_supported_majors_match_the_spec() -> None:
    from pgforge.spec import SUPPORTED_MAJORS as SPEC_MAJORS

    assert tuple(SUPPORTED_MAJORS) == tuple(SPEC_MAJORS)


def test_run_command_handles_missing_failing_and_slow_binaries() -> None:
    assert run_command([sys.executable, "-c", "print('hello')"]) == "hello\n"
    assert run_command(["/nonexistent/pg_config", "--version"]) is None
    assert run_command([sys.executable, "-c", "raise SystemExit(3)"]) is None
    assert run_command([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.3) is None
