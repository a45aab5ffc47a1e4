"""The host-matrix page (docs/host-matrix.md, written by bench/host_matrix.py) and what it rests on.

- every host shape's generated bundle (postgresql.conf, plus pg_hba.conf and pgbouncer.ini where
  the shape has access lines and PgBouncer) passes ``pgforge check --against`` its own spec with no finding;
- the peers' restated formulas reproduce the worked examples of the research notes
  (tuning-anchors.md §2.2 for timescaledb-tune, §3.2 for pgconfig; PGTune's are in
  tests/test_bench_pgtune_equiv.py);
- the page is what the script writes today, so it cannot go stale silently.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import host_matrix  # noqa: E402
from peers import pgconfig, rds, timescaledb_tune  # noqa: E402

from pgforge.bundle import build_bundle  # noqa: E402
from pgforge.tuning import tune  # noqa: E402
from pgforge.writer import write_bundle  # noqa: E402

GB = 1024**3
MB = 1024**2


@pytest.mark.parametrize("shape", host_matrix.SHAPES, ids=lambda s: s.title.replace(" ", "_"))
def test_each_shape_checks_clean_against_its_own_spec(shape, tmp_path: Path, invoke) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(host_matrix.spec_dict(shape)), encoding="utf-8")
    bundle = tmp_path / "bundle"
    files = build_bundle(tune(host_matrix.spec_for(shape)))
    write_bundle(bundle, files, force=True)
    names = {f.path for f in files}
    assert "postgresql.conf" in names
    assert ("pg_hba.conf" in names) == ("access" in shape.extra)
    assert ("pgbouncer/pgbouncer.ini" in names) == ("pgbouncer" in shape.extra)
    result = invoke("check", bundle, "--against", spec_file)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("0 finding(s) in 1 target(s): 0 error, 0 warning, 0 info"), result.output


def test_the_clean_check_would_see_a_bad_value_in_each_file(tmp_path: Path, invoke) -> None:
    """Control for the test above: the same check over a PgBouncer shape's bundle reports a
    work_mem it would not accept and a pg_hba.conf line without a password."""
    shape = next(s for s in host_matrix.SHAPES if "pgbouncer" in s.extra)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(host_matrix.spec_dict(shape)), encoding="utf-8")
    write_bundle(tmp_path / "b", build_bundle(tune(host_matrix.spec_for(shape))), force=True)
    conf = tmp_path / "b" / "postgresql.conf"
    conf.write_text(conf.read_text().replace("work_mem = 4MB", "work_mem = 512MB"), encoding="utf-8")
    hba = tmp_path / "b" / "pg_hba.conf"
    hba.write_text(hba.read_text() + "hostssl all all 10.9.0.0/16 trust\n", encoding="utf-8")
    result = invoke("check", tmp_path / "b", "--against", spec_file)
    assert result.exit_code != 0
    assert "postgresql.conf" in result.output and "work_mem = 512MB" in result.output
    assert re.search(r"pg_hba\.conf:\d+:\d+: PGF2\d\d", result.output), result.output


def test_timescaledb_tune_reproduces_the_notes_worked_example() -> None:
    """tuning-anchors.md §2.2: 16 GB, 4 CPU, PG 16."""
    s = timescaledb_tune.settings(16 * GB, 4, 16)
    fmt = timescaledb_tune.format_bytes
    assert s["max_connections"] == 100
    assert [fmt(s[k]) for k in ("shared_buffers", "effective_cache_size", "maintenance_work_mem", "work_mem",
                                "wal_buffers", "min_wal_size", "max_wal_size")] == \
        ["4GB", "12GB", "2047MB", "32MB", "16MB", "512MB", "1GB"]
    assert (s["max_worker_processes"], s["max_parallel_workers_per_gather"], s["max_parallel_workers"]) == (23, 2, 4)


def test_timescaledb_tune_small_hosts_and_its_printing() -> None:
    """§2.2: under 2 GB wal_buffers is RAM/GB x 7864kB; 1 CPU keeps work_mem's factor at 1 (Go rounds
    0.5 up) and emits no parallel settings; the connection step function; its unit printing."""
    s = timescaledb_tune.settings(1 * GB, 1, 14)
    assert timescaledb_tune.format_bytes(s["wal_buffers"]) == "7864kB"
    assert s["work_mem"] == 16 * MB and "max_worker_processes" not in s
    assert [timescaledb_tune.max_connections(m * GB) for m in (2, 4, 6, 8)] == [25, 50, 75, 100]
    assert timescaledb_tune.settings(8 * GB, 3, 12)["effective_io_concurrency"] == 200


def test_pgconfig_formulas_and_its_rounding() -> None:
    """§3.2: R = RAM x profile factor; shared_buffers R/4 printed rounded (1.5GB shows as 2GB);
    work_mem = R x buffer share / connections; parallel settings fixed at 8/2/2; NVMe is SSD."""
    s = pgconfig.settings(6 * GB, 16, "web", "nvme", 17)
    assert pgconfig.format_bytes(s["shared_buffers"]) == "2GB"
    assert pgconfig.format_bytes(s["work_mem"]) == "15MB"  # 6GB x 0.25 / 100 = 15.36MB
    assert (s["max_worker_processes"], s["max_parallel_workers_per_gather"], s["max_parallel_workers"]) == (8, 2, 2)
    assert s["effective_io_concurrency"] == 200 and s["random_page_cost"] == 1.1
    mixed = pgconfig.settings(8 * GB, 4, "mixed", "hdd", 16)
    assert mixed["shared_buffers"] == 1 * GB and mixed["random_page_cost"] == 4.0
    assert pgconfig.settings(16 * GB, 4, "desktop", "ssd", 16)["shared_buffers"] == 1 * GB  # RAM/16


def test_rds_default_group_formulas() -> None:
    """The parameter-group expressions: a quarter and a half of the memory in 8kB pages, one
    connection per 9531392 bytes up to 5000, maintenance_work_mem at least 64MB."""
    s = rds.settings(16 * GB)
    assert s["shared_buffers"] == 4 * GB and s["effective_cache_size"] == 8 * GB
    assert s["max_connections"] == 16 * GB // 9531392 == 1802
    assert s["maintenance_work_mem"] == 16 * GB * 1024 // 63963136 * 1024
    assert rds.settings(1 * GB)["maintenance_work_mem"] == 64 * MB
    assert rds.settings(4096 * GB)["max_connections"] == 5000
    assert rds.settings(4096 * GB)["autovacuum_max_workers"] == 68


def test_the_page_is_what_the_script_writes_today() -> None:
    page = (ROOT / "docs" / "host-matrix.md").read_text(encoding="utf-8")
    date = re.search(r"host_matrix\.py --date (\S+?)`", page)
    assert date, "the page's header names the date it was generated with"
    assert page == host_matrix.render(date.group(1)), \
        "docs/host-matrix.md is stale: run .venv/bin/python bench/host_matrix.py"


def test_every_shape_is_listed_and_covers_the_range() -> None:
    shapes = host_matrix.SHAPES
    assert {s.workload for s in shapes} == {"web", "oltp", "dw", "mixed", "desktop"}
    assert {s.storage for s in shapes} == {"ssd", "nvme", "hdd", "san"}
    assert {s.pg_version for s in shapes} == {13, 14, 15, 16, 17, 18}
    assert min(s.cpus for s in shapes) == 1 and max(s.cpus for s in shapes) == 256
    assert any(s.data_size for s in shapes) and any(not s.data_size for s in shapes)
    memory = [host_matrix.spec_for(s).memory for s in shapes]
    assert min(memory) == 512 * MB and max(memory) == 4096 * GB
