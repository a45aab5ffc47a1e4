"""The benchmark's PGTune-equivalent must print what PGTune prints, or the comparison is unfair.

Expected values are the worked examples of tuning-anchors.md §1.8 (produced by running the real
PGTune selectors) plus single rules from §1.2-1.4 that those examples do not reach.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "pgtune_equiv.py"
_spec = importlib.util.spec_from_file_location("pgtune_equiv", _PATH)
assert _spec is not None and _spec.loader is not None
pgtune_equiv = importlib.util.module_from_spec(_spec)
sys.modules["pgtune_equiv"] = pgtune_equiv  # dataclasses look their module up here
_spec.loader.exec_module(pgtune_equiv)

GB = pgtune_equiv.KB_PER_GB
MB = pgtune_equiv.KB_PER_MB


def test_worked_example_pg18_web_64gb_16cpu() -> None:
    out = pgtune_equiv.compute(
        pgtune_equiv.PgTuneInput(total_memory_kb=64 * GB, db_version=18, db_type="web", cpu_num=16)
    )
    assert out == {
        "max_connections": "200",
        "shared_buffers": "16GB",
        "effective_cache_size": "48GB",
        "maintenance_work_mem": "4GB",
        "checkpoint_completion_target": "0.9",
        "wal_buffers": "16MB",
        "default_statistics_target": "100",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        "work_mem": "77672kB",
        "huge_pages": "try",
        "jit": "off",
        "wal_compression": "lz4",
        "autovacuum_max_workers": "4",
        "autovacuum_work_mem": "2GB",
        "io_method": "io_uring",
        "min_wal_size": "1GB",
        "max_wal_size": "4GB",
        "max_worker_processes": "16",
        "max_parallel_workers_per_gather": "4",
        "max_parallel_workers": "16",
        "max_parallel_maintenance_workers": "4",
    }
    # PGTune prints its settings in a fixed order; the bench's config listing follows it.
    assert list(out)[:4] == ["max_connections", "shared_buffers", "effective_cache_size", "maintenance_work_mem"]


def test_worked_example_pg16_web_1gb_1cpu() -> None:
    out = pgtune_equiv.compute(
        pgtune_equiv.PgTuneInput(total_memory_kb=1 * GB, db_version=16, db_type="web", cpu_num=1)
    )
    assert out["shared_buffers"] == "256MB"
    assert out["effective_cache_size"] == "768MB"
    assert out["maintenance_work_mem"] == "64MB"
    assert out["wal_buffers"] == "7864kB"
    assert out["work_mem"] == "4MB"  # the 4 MB floor
    assert out["huge_pages"] == "off"
    assert "max_worker_processes" not in out  # parallel block needs >= 4 CPUs
    assert "io_method" not in out  # PG 18 only
    assert out["wal_compression"] == "lz4"


def test_this_bench_host_24gb_2cpu_oltp_pg17() -> None:
    out = pgtune_equiv.pgtune_for_host(24684096 * 1024, cpus=2, storage="ssd", workload="oltp", pg_version=17)
    assert out["shared_buffers"] == "6GB"
    assert out["maintenance_work_mem"] == "1536MB"
    assert out["max_connections"] == "300"
    # (24 GB - 6 GB) / ((300 + 8) * 3) = 20426.8 kB, floored
    assert out["work_mem"] == "20426kB"
    assert (out["min_wal_size"], out["max_wal_size"]) == ("2GB", "8GB")
    assert "io_method" not in out


@pytest.mark.parametrize(
    ("kb", "text"),
    [(16 * GB, "16GB"), (1536 * MB, "1536MB"), (7864, "7864kB"), (GB + 1, f"{GB + 1}kB")],
)
def test_format_uses_largest_lossless_unit(kb: int, text: str) -> None:
    assert pgtune_equiv.format_kb(kb) == text


def test_wal_buffers_rounds_up_between_14_and_16mb() -> None:
    # 3% of 480 MB shared_buffers (RAM 1920 MB) is 14.4 MB: PGTune rounds that up to 16 MB.
    inp = pgtune_equiv.PgTuneInput(total_memory_kb=1920 * MB)
    assert pgtune_equiv.wal_buffers_kb(inp) == 16 * MB


def test_windows_caps_and_dw_type() -> None:
    inp = pgtune_equiv.PgTuneInput(total_memory_kb=64 * GB, db_version=17, os_type="windows", db_type="dw")
    out = pgtune_equiv.compute(inp)
    assert out["maintenance_work_mem"] == "2047MB"
    # PGTune compares the already-capped maintenance_work_mem with 2 GB, so Windows <= 17 never
    # gets autovacuum_work_mem; Linux with the same inputs does.
    assert "autovacuum_work_mem" not in out
    assert "effective_io_concurrency" not in out
    assert out["random_page_cost"] == "4"
    assert out["default_statistics_target"] == "500"
    assert "jit" not in out
    linux = pgtune_equiv.compute(pgtune_equiv.PgTuneInput(total_memory_kb=64 * GB, db_version=17, db_type="dw"))
    assert linux["maintenance_work_mem"] == "8GB"
    assert linux["autovacuum_work_mem"] == "2GB"


def test_io_workers_only_off_linux_with_many_cpus() -> None:
    mac = pgtune_equiv.compute(
        pgtune_equiv.PgTuneInput(total_memory_kb=64 * GB, db_version=18, os_type="mac", cpu_num=32)
    )
    assert mac["io_method"] == "worker"
    assert mac["io_workers"] == "8"
    assert mac["huge_pages"] == "off"
    linux = pgtune_equiv.compute(pgtune_equiv.PgTuneInput(total_memory_kb=64 * GB, db_version=18, cpu_num=32))
    assert "io_workers" not in linux


def test_desktop_profile_is_low_footprint() -> None:
    out = pgtune_equiv.compute(pgtune_equiv.PgTuneInput(total_memory_kb=16 * GB, db_type="desktop"))
    assert out["shared_buffers"] == "1GB"
    assert out["effective_cache_size"] == "4GB"
    assert out["wal_level"] == "minimal"
    assert out["max_wal_senders"] == "0"
    assert out["min_wal_size"] == "100MB"


def test_rejects_unknown_inputs() -> None:
    with pytest.raises(ValueError):
        pgtune_equiv.PgTuneInput(total_memory_kb=GB, db_type="analytics")
