"""Performance checks (PGF301-PGF303): the tuning rules judging existing values, a failing and a
passing example each, with the host described the way ``--memory/--cpus/--storage`` do."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pgforge.audit.discover import discover
from pgforge.audit.model import Finding
from pgforge.audit.runner import run_checks, select_checks
from pgforge.specload import build_spec

HOST = {"memory": "32GB", "cpus": "8", "storage": "ssd", "workload": "oltp", "pg_version": 17}


def audit(root: Path, files: dict[str, str], select: str, host: dict | None = HOST) -> list[Finding]:
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    targets = discover([root], major=17)
    for t in targets:
        t.spec = build_spec(flags=host) if host else None
    return run_checks(targets, select_checks([select], None)).findings


def test_pgf301_random_page_cost_4_on_ssd(tmp_path: Path) -> None:
    found = audit(tmp_path, {"postgresql.conf": "work_mem = 4MB\nrandom_page_cost = 4\n"}, "PGF301")
    assert [(f.code, f.line) for f in found] == [("PGF301", 2)]
    assert "random_page_cost = 1.1" in (found[0].fix or "")


def test_pgf301_passes_recommended_values_and_needs_a_host(tmp_path: Path) -> None:
    assert audit(tmp_path, {"postgresql.conf": "random_page_cost = 1.1\n"}, "PGF301") == []
    # without host facts there is nothing to judge against
    assert audit(tmp_path, {"postgresql.conf": "random_page_cost = 4\n"}, "PGF301", host=None) == []


def test_pgf301_hdd_keeps_4(tmp_path: Path) -> None:
    host = dict(HOST, storage="hdd")
    assert audit(tmp_path, {"postgresql.conf": "random_page_cost = 4\n"}, "PGF301", host=host) == []


def test_pgf302_memory_overcommit_points_at_work_mem(tmp_path: Path) -> None:
    conf = "max_connections = 1000\nshared_buffers = 8GB\nwork_mem = 64MB\n"
    found = audit(tmp_path, {"postgresql.conf": conf}, "PGF302")
    assert [(f.code, f.line, f.severity) for f in found] == [("PGF302", 3, "error")]
    assert "exceeds 90% of 32 GiB" in found[0].message or "exceeds 90%" in found[0].message


def test_pgf302_passes_a_budget_that_fits(tmp_path: Path) -> None:
    conf = "max_connections = 200\nshared_buffers = 8GB\nwork_mem = 16MB\n"
    assert audit(tmp_path, {"postgresql.conf": conf}, "PGF302") == []


def test_pgf303_many_connections_without_pooler(tmp_path: Path) -> None:
    found = audit(tmp_path, {"postgresql.conf": "max_connections = 2000\n"}, "PGF303")
    assert [(f.line, f.column) for f in found] == [(1, 1)]
    assert "over 200" in found[0].message  # max(200, 25 x 8 CPUs)


def test_pgf303_passes_with_a_pooler_or_few_connections(tmp_path: Path) -> None:
    assert audit(tmp_path, {"postgresql.conf": "max_connections = 150\n"}, "PGF303") == []
    files = {"postgresql.conf": "max_connections = 2000\n", "pgbouncer.ini": "[pgbouncer]\nlisten_port = 6432\n"}
    assert audit(tmp_path, files, "PGF303") == []


def cli():
    """The typer app with the command modules registered (pgforge.cli.main does this at start-up)."""
    from pgforge.cli import app
    from pgforge.commands import register_all

    if not any(c.name == "check" for c in app.registered_commands):
        register_all(app)
    return app


def test_performance_set_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "postgresql.conf").write_text("random_page_cost = 4\nmax_connections = 2000\n")
    result = CliRunner().invoke(cli(), ["check", str(tmp_path), "--select", "performance", "--memory", "32GB",
                                      "--cpus", "8", "--storage", "ssd", "--pg-version", "17", "--format", "json"])
    assert result.exit_code == 0, result.output  # warnings only; --fail-on error
    import json

    codes = sorted(f["code"] for f in json.loads(result.stdout)["findings"])
    assert codes == ["PGF301", "PGF303"]
