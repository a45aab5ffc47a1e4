"""Durability checks (PGF101-PGF106): a failing and a passing example each, at the causing line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgforge.audit.checks.durability import noop_reason
from pgforge.audit.model import Finding


def lines(found: list[Finding]) -> list[tuple[str, int, int]]:
    return [(Path(f.path).name, f.line, f.column) for f in found]


@pytest.mark.parametrize("code,name", [("PGF101", "fsync"), ("PGF102", "full_page_writes")])
def test_off_switches_fail(audit, code: str, name: str) -> None:
    found = audit({"postgresql.conf": f"work_mem = 4MB\n{name} = off   # fast\n"}, code)
    assert lines(found) == [("postgresql.conf", 2, len(name) + 4)]
    assert found[0].severity == "error"


@pytest.mark.parametrize("code,name", [("PGF101", "fsync"), ("PGF102", "full_page_writes")])
def test_off_switches_pass_when_on_or_unset(audit, code: str, name: str) -> None:
    assert audit({"postgresql.conf": f"{name} = on\n"}, code) == []
    assert audit({"postgresql.conf": "work_mem = 4MB\n"}, code) == []


def test_later_line_wins_for_durability(audit) -> None:
    # fsync off then on: the server uses the last one, so nothing to report
    assert audit({"postgresql.conf": "fsync = off\nfsync = true\n"}, "PGF101") == []
    found = audit({"postgresql.conf": "fsync = on\n", "postgresql.auto.conf": "fsync = 'false'\n"}, "PGF101")
    assert lines(found) == [("postgresql.auto.conf", 1, 9)]


def test_pgf103_synchronous_commit_off(audit) -> None:
    found = audit({"postgresql.conf": "synchronous_commit = off\n"}, "PGF103")
    assert lines(found) == [("postgresql.conf", 1, 22)] and found[0].severity == "warning"


@pytest.mark.parametrize("value", ["on", "local", "remote_apply"])
def test_pgf103_passes_other_levels(audit, value: str) -> None:
    assert audit({"postgresql.conf": f"synchronous_commit = {value}\n"}, "PGF103") == []


def test_pgf104_autovacuum_off_and_track_counts_off(audit) -> None:
    found = audit({"postgresql.conf": "autovacuum = off\n"}, "PGF104")
    assert lines(found) == [("postgresql.conf", 1, 14)]
    found = audit({"postgresql.conf": "track_counts = off\n"}, "PGF104")
    assert lines(found) == [("postgresql.conf", 1, 16)] and "track_counts" in found[0].message


def test_pgf104_passes(audit) -> None:
    assert audit({"postgresql.conf": "autovacuum = on\ntrack_counts = on\n"}, "PGF104") == []


@pytest.mark.parametrize("command", ["", "/bin/true", "true", ":", "exit 0", "/usr/local/bin/true", "echo %p",
                                     "/usr/local/bin/archive.sh"])
def test_pgf105_unusable_archive_commands(audit, command: str) -> None:
    text = "archive_mode = on\n" + (f"archive_command = '{command}'\n" if command else "")
    found = audit({"postgresql.conf": text}, "PGF105")
    assert len(found) == 1
    # an empty command is the default: the finding points at archive_mode; otherwise at the command
    assert lines(found) == ([("postgresql.conf", 1, 1)] if not command else [("postgresql.conf", 2, 19)])


@pytest.mark.parametrize("text", [
    "archive_mode = on\narchive_command = 'test ! -f /mnt/a/%f && cp %p /mnt/a/%f'\n",
    "archive_mode = on\narchive_command = 'pgbackrest --stanza=main archive-push %p'\n",
    "archive_mode = on\narchive_library = 'basic_archive'\n",  # PG15+: a library instead of a command
    "archive_mode = off\narchive_command = '/bin/true'\n",      # not archiving at all: not this check's business
])
def test_pgf105_passes(audit, text: str) -> None:
    assert audit({"postgresql.conf": text}, "PGF105") == []


def test_noop_reason_is_conservative() -> None:
    assert noop_reason("cp %p /mnt/archive/%f") is None
    assert noop_reason("rsync -a %p backup:/wal/%f") is None
    assert noop_reason("echo %p >> /tmp/list && cp %p /x/%f") is None  # echo into a pipeline is real work
    assert noop_reason("'unbalanced") is None  # cannot tell: no finding


def test_pgf106_minimal_wal_with_archive_and_senders(audit) -> None:
    found = audit({"postgresql.conf": "wal_level = minimal\narchive_mode = on\narchive_command = 'cp %p /a/%f'\n"},
                  "PGF106")
    assert lines(found) == [("postgresql.conf", 1, 13)]
    assert "archive_mode is on (postgresql.conf:2)" in found[0].message
    assert "max_wal_senders is 10 (the default for PostgreSQL 17)" in found[0].message


def test_pgf106_replication_lines_without_senders(audit) -> None:
    found = audit({"postgresql.conf": "wal_level = minimal\nmax_wal_senders = 0\n",
                             "pg_hba.conf": "hostssl replication rep 10.0.0.0/24 scram-sha-256\n"}, "PGF106")
    assert len(found) == 1 and "pg_hba.conf:1" in found[0].message


def test_pgf106_passes(audit) -> None:
    # minimal WAL is fine when nothing needs more (a bulk-load server)
    assert audit({"postgresql.conf": "wal_level = minimal\nmax_wal_senders = 0\n"}, "PGF106") == []
    assert audit({"postgresql.conf": "wal_level = replica\narchive_mode = on\n"}, "PGF106") == []
