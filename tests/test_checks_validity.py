"""Validity checks (PGF001-PGF004): each with a failing and a passing example, positions included."""

from __future__ import annotations

from pathlib import Path

from pgforge.audit.model import Finding


def at(f: Finding) -> tuple[str, int, int]:
    return Path(f.path).name, f.line, f.column


# -- PGF001 parse-error --------------------------------------------------------------------------

def test_pgf001_syntax_error_points_at_the_token(audit) -> None:
    found = audit({"postgresql.conf": "work_mem = 4MB\nshared_buffers = 128 MB\n"}, "PGF001")
    assert [(f.code, at(f), f.severity) for f in found] == [("PGF001", ("postgresql.conf", 2, 22), "error")]
    assert "MB" in found[0].message


def test_pgf001_hba_and_pgbouncer_errors(audit) -> None:
    found = audit({"pg_hba.conf": "hots all all 10.0.0.0/8 scram-sha-256\n",
                             "pgbouncer.ini": "[pgbouncer]\nlisten_port = 6432\n[databasez]\n"}, "PGF001")
    assert {at(f) for f in found} == {("pg_hba.conf", 1, 1), ("pgbouncer.ini", 3, 1)}


def test_pgf001_passes_clean_files(audit) -> None:
    assert audit({"postgresql.conf": "shared_buffers = '128MB'\n",
                            "pg_hba.conf": "local all postgres peer\n",
                            "pgbouncer.ini": "[databases]\napp = host=127.0.0.1\n[pgbouncer]\nlisten_port = 6432\n"},
                 "PGF001") == []


# -- PGF002 unknown-parameter ---------------------------------------------------------------------

def test_pgf002_unknown_and_removed_parameters(audit) -> None:
    found = audit({"postgresql.conf": "checkpoint_segments = 32\nstats_temp_directory = 'x'\n"}, "PGF002")
    assert [at(f) for f in found] == [("postgresql.conf", 1, 1), ("postgresql.conf", 2, 1)]
    assert "exists in PostgreSQL 13, 14" in found[1].message  # removed in 15


def test_pgf002_passes_known_and_extension_settings(audit) -> None:
    assert audit({"postgresql.conf": "work_mem = 4MB\nauto_explain.log_min_duration = '1s'\n"},
                 "PGF002") == []


def test_pgf002_unknown_major_only_notes_version_specific_names(audit) -> None:
    found = audit({"postgresql.conf": "stats_temp_directory = 'x'\n"}, "PGF002", major=None)
    assert [f.severity for f in found] == ["info"]


# -- PGF003 invalid-value ----------------------------------------------------------------------

def test_pgf003_bad_unit_points_at_the_value(audit) -> None:
    found = audit({"postgresql.conf": "work_mem = 64mb\nmax_connections = 0\n"}, "PGF003")
    assert [at(f) for f in found] == [("postgresql.conf", 1, 12), ("postgresql.conf", 2, 19)]


def test_pgf003_passes_valid_values(audit) -> None:
    assert audit({"postgresql.conf": "work_mem = 64MB\nmax_connections = 100\nwal_level = replica\n"},
                 "PGF003") == []


def test_pgf003_unknown_major_needs_every_major_to_refuse(audit) -> None:
    # io_method exists only in 18; an invalid value there is invalid for every major that knows it
    found = audit({"postgresql.conf": "wal_level = hot\n"}, "PGF003", major=None)
    assert len(found) == 1 and found[0].code == "PGF003"


# -- PGF004 overridden-setting ---------------------------------------------------------------

def test_pgf004_points_at_the_line_without_effect(audit) -> None:
    found = audit({"postgresql.conf": "shared_buffers = 4GB\nwork_mem = 4MB\n",
                             "postgresql.auto.conf": "shared_buffers = '1GB'\n"}, "PGF004")
    assert [at(f) for f in found] == [("postgresql.conf", 1, 1)]
    assert "postgresql.auto.conf:1" in found[0].message


def test_pgf004_passes_a_repeat_of_the_same_value(audit) -> None:
    assert audit({"postgresql.conf": "work_mem = 4MB\nwork_mem = 4MB\n"}, "PGF004") == []
