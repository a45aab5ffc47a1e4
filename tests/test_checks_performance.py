"""Performance checks (PGF301-PGF303): the tuning rules judging existing values, a failing and a
passing example each, with the host described the way ``--memory/--cpus/--storage`` do."""

from __future__ import annotations

from pathlib import Path

import pytest



HOST = {"memory": "32GB", "cpus": "8", "storage": "ssd", "workload": "oltp", "pg_version": 17}


@pytest.fixture
def audit(audit):
    """The shared fixture with this module's host as the default (``host=None``: no host facts)."""
    return lambda files, select, host=HOST: audit(files, select, host=host)


def test_pgf301_random_page_cost_4_on_ssd(audit) -> None:
    found = audit({"postgresql.conf": "work_mem = 4MB\nrandom_page_cost = 4\n"}, "PGF301")
    assert [(f.code, f.line) for f in found] == [("PGF301", 2)]
    assert "random_page_cost = 1.1" in (found[0].fix or "")


def test_pgf301_passes_recommended_values_and_needs_a_host(audit) -> None:
    assert audit({"postgresql.conf": "random_page_cost = 1.1\n"}, "PGF301") == []
    # without host facts there is nothing to judge against
    assert audit({"postgresql.conf": "random_page_cost = 4\n"}, "PGF301", host=None) == []


def test_pgf301_hdd_keeps_4(audit) -> None:
    host = dict(HOST, storage="hdd")
    assert audit({"postgresql.conf": "random_page_cost = 4\n"}, "PGF301", host=host) == []


def test_pgf302_memory_overcommit_points_at_work_mem(audit) -> None:
    conf = "max_connections = 1000\nshared_buffers = 8GB\nwork_mem = 64MB\n"
    found = audit({"postgresql.conf": conf}, "PGF302")
    assert [(f.code, f.line, f.severity) for f in found] == [("PGF302", 3, "error")]
    # the sum, the limit it breaks and each term of the worst case, so the owner sees what to lower
    assert found[0].message.startswith("worst-case memory 70.8 GiB exceeds 90% of 32 GiB RAM: ")
    assert "shared_buffers 8 GiB + 1000 connections x work_mem 64 MiB" in found[0].message


def test_pgf302_passes_a_budget_that_fits(audit) -> None:
    conf = "max_connections = 200\nshared_buffers = 8GB\nwork_mem = 16MB\n"
    assert audit({"postgresql.conf": conf}, "PGF302") == []


def test_pgf303_many_connections_without_pooler(audit) -> None:
    found = audit({"postgresql.conf": "max_connections = 2000\n"}, "PGF303")
    assert [(f.line, f.column) for f in found] == [(1, 1)]
    assert "over 200" in found[0].message  # max(200, 25 x 8 CPUs)


def test_pgf303_passes_with_a_pooler_or_few_connections(audit) -> None:
    assert audit({"postgresql.conf": "max_connections = 150\n"}, "PGF303") == []
    files = {"postgresql.conf": "max_connections = 2000\n", "pgbouncer.ini": "[pgbouncer]\nlisten_port = 6432\n"}
    assert audit(files, "PGF303") == []


def test_performance_set_through_the_cli(tmp_path: Path, invoke) -> None:
    (tmp_path / "postgresql.conf").write_text("random_page_cost = 4\nmax_connections = 2000\n")
    result = invoke("check", tmp_path, "--select", "performance", "--memory", "32GB",
                    "--cpus", "8", "--storage", "ssd", "--pg-version", "17", "--format", "json")
    assert result.exit_code == 0, result.output  # warnings only; --fail-on error
    import json

    codes = sorted(f["code"] for f in json.loads(result.stdout)["findings"])
    assert codes == ["PGF301", "PGF303"]
