"""Coherence checks (PGF401-PGF403): files valid alone that do not work together."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgforge.audit.checks.coherence import wal_locations


def ini(databases: str, main: str) -> str:
    return f"[databases]\n{databases}\n[pgbouncer]\nlisten_port = 6432\n{main}\n"


# -- PGF401 pools against max_connections ---------------------------------------------------------

def test_pgf401_pools_exceed_max_connections(audit) -> None:
    found = audit({
        "postgresql.conf": "max_connections = 50\n",
        "pgbouncer.ini": ini("app = host=127.0.0.1 dbname=app user=app", "default_pool_size = 40\nreserve_pool_size = 10"),
    }, "PGF401")
    assert [(Path(f.path).name, f.line, f.severity) for f in found] == [("pgbouncer.ini", 5, "error")]
    assert "can open 50 server connections" in found[0].message and "admits 47" in found[0].message
    assert "postgresql.conf:1" in found[0].message


def test_pgf401_per_database_settings_override_defaults(audit) -> None:
    dbs = ("app = host=127.0.0.1 user=app pool_size=30\n"
           "shop = host=/var/run/postgresql max_db_connections=25\n"
           "remote = host=10.9.9.9 user=x pool_size=500")  # another server: not counted
    found = audit({"postgresql.conf": "max_connections = 50\n", "pgbouncer.ini": ini(dbs, "")}, "PGF401")
    assert len(found) == 1 and found[0].severity == "error"
    assert "app 30 + shop 25" in found[0].message
    assert (Path(found[0].path).name, found[0].line) == ("pgbouncer.ini", 2)  # the largest pool's entry


def test_pgf401_leaves_no_room_for_maintenance(audit) -> None:
    found = audit({
        "postgresql.conf": "max_connections = 50\nsuperuser_reserved_connections = 3\n",
        "pgbouncer.ini": ini("app = host=localhost user=app", "default_pool_size = 40"),
    }, "PGF401")
    assert [f.severity for f in found] == ["warning"]
    assert "leaving 7" in found[0].message


def test_pgf401_unbounded_pool_and_userlist_bound(audit, tmp_path: Path) -> None:
    files = {"postgresql.conf": "max_connections = 200\n",
             "pgbouncer.ini": ini("app = host=127.0.0.1 dbname=app", "default_pool_size = 20")}
    found = audit(files, "PGF401")
    assert [(f.line, f.severity) for f in found] == [(2, "warning")]
    assert "unlimited" in found[0].message
    # an auth_file beside it bounds the users: 3 users x 20 = 60, within 200
    (tmp_path / "userlist.txt").write_text('"a" "x"\n"b" "x"\n"c" "x"\n')
    (tmp_path / "userlist.txt").chmod(0o600)
    assert audit(files, "PGF401") == []
    # 12 users x 20 = 240: too many
    (tmp_path / "userlist.txt").write_text("".join(f'"u{i}" "x"\n' for i in range(12)))
    found = audit(files, "PGF401")
    assert [f.severity for f in found] == ["error"] and "240" in found[0].message


def test_pgf401_passes(audit, tmp_path: Path) -> None:
    files = {"postgresql.conf": "max_connections = 100\n",
             "pgbouncer.ini": ini("app = host=127.0.0.1 dbname=app", "default_pool_size = 20\nreserve_pool_size = 5\n"
                                  "max_db_connections = 25")}
    assert audit(files, "PGF401") == []
    # pgbouncer.ini alone: no server to compare with
    (tmp_path / "postgresql.conf").unlink()
    assert audit({}, "PGF401") == []


# -- PGF402 replication without pg_hba.conf lines -------------------------------------------------

def test_pgf402_primary_conninfo_user_has_no_line(audit) -> None:
    found = audit({
        "postgresql.conf": "primary_conninfo = 'host=10.0.2.1 port=5432 user=replicator sslmode=verify-full'\n",
        "pg_hba.conf": "hostssl all all 10.0.0.0/8 scram-sha-256\nhostssl replication other 10.0.0.0/8 scram-sha-256\n",
    }, "PGF402")
    assert [(Path(f.path).name, f.line, f.column) for f in found] == [("postgresql.conf", 1, 20)]
    assert "replicator" in found[0].message


@pytest.mark.parametrize("line", ["hostssl replication replicator 10.0.0.0/8 scram-sha-256",
                                  "hostssl replication all 10.0.0.0/8 scram-sha-256",
                                  "hostssl replication +replicators 10.0.0.0/8 scram-sha-256"])
def test_pgf402_passes_when_a_line_admits_the_user(audit, line: str) -> None:
    assert audit({"postgresql.conf": "primary_conninfo = 'postgresql://replicator@10.0.2.1/postgres'\n",
                            "pg_hba.conf": line + "\n"}, "PGF402") == []


def test_pgf402_uri_user_is_read(audit) -> None:
    found = audit({"postgresql.conf": "primary_conninfo = 'postgresql://rep%40x@10.0.2.1/postgres'\n",
                             "pg_hba.conf": "hostssl replication replicator 10.0.0.0/8 scram-sha-256\n"}, "PGF402")
    assert len(found) == 1 and "rep@x" in found[0].message


def test_pgf402_senders_and_sync_standbys_without_lines(audit) -> None:
    hba = "hostssl all all 10.0.0.0/8 scram-sha-256\nhostssl replication all 10.0.0.0/8 reject\n"
    found = audit({"postgresql.conf": "max_wal_senders = 5\n", "pg_hba.conf": hba}, "PGF402")
    assert [(f.line, f.column) for f in found] == [(1, 19)]
    found = audit({"postgresql.conf": "synchronous_standby_names = 'ANY 1 (a, b)'\n", "pg_hba.conf": hba},
                  "PGF402")
    assert len(found) == 1 and "wait forever" in found[0].message


def test_pgf402_passes_logical_and_defaults(audit) -> None:
    hba = "hostssl all all 10.0.0.0/8 scram-sha-256\n"
    # logical subscribers connect to a database, matched by normal lines
    assert audit({"postgresql.conf": "wal_level = logical\nmax_wal_senders = 5\n", "pg_hba.conf": hba},
                 "PGF402") == []
    # max_wal_senders left at its default says nothing about replicas
    assert audit({"postgresql.conf": "work_mem = 4MB\n", "pg_hba.conf": hba}, "PGF402") == []


# -- PGF403 archive against restore -----------------------------------------------------------------

def test_pgf403_directories_differ(audit) -> None:
    conf = ("archive_mode = on\narchive_command = 'test ! -f /mnt/wal_archive/%f && cp %p /mnt/wal_archive/%f'\n"
            "restore_command = 'cp /mnt/archive/%f \"%p\"'\n")
    found = audit({"postgresql.conf": conf}, "PGF403")
    assert [(f.line, f.column) for f in found] == [(3, 19)]
    assert "/mnt/archive/" in found[0].message and "/mnt/wal_archive/" in found[0].message


def test_pgf403_pgbackrest_stanza_differs(audit) -> None:
    conf = ("archive_mode = on\narchive_command = 'pgbackrest --stanza=main archive-push %p'\n"
            "restore_command = 'pgbackrest --stanza=prod archive-get %f \"%p\"'\n")
    found = audit({"postgresql.conf": conf}, "PGF403")
    assert len(found) == 1 and "--stanza=prod" in found[0].message


@pytest.mark.parametrize("archive,restore", [
    ("cp %p /mnt/archive/%f", "cp /mnt/archive/%f %p"),
    ("gzip < %p > /mnt/archive/%f.gz", "gunzip < /mnt/archive/%f.gz > %p"),
    ("aws s3 cp %p s3://bucket/wal/%f", "aws s3 cp s3://bucket//wal/%f %p"),
    ("pgbackrest --stanza=main archive-push %p", "pgbackrest --stanza=main archive-get %f %p"),
    ("/usr/local/lib/pgforge/archive_wal.sh %p %f", "cp /somewhere/%f %p"),  # a script: not guessed at
])
def test_pgf403_passes(audit, archive: str, restore: str) -> None:
    conf = f"archive_mode = on\narchive_command = '{archive}'\nrestore_command = '{restore}'\n"
    assert audit({"postgresql.conf": conf}, "PGF403") == []


def test_wal_locations() -> None:
    assert wal_locations("cp %p /mnt/a/%f") == {"/mnt/a/"}
    assert wal_locations("rsync -a %p backup:/wal/%f") == {"backup:/wal/"}
    assert wal_locations("scripts/archive.sh %p %f") == set()
