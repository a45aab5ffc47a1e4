"""The data size as an input (issue 14, step 1) and the vacuum memory that follows it (step 2).

``data_size`` enters through a spec, ``--data-size`` (generate, explain, check, apply), Terraform's
query and ``--auto`` detection; each refuses a bad value with exit 2 naming the field. The
autovacuum_work_mem rule reads it on 13-16 through src/pgforge/mechanics/vacuum.py and keeps
today's value without it and on 17+; the memory budget still fits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgforge.budget import budget_for
from pgforge.detect.data_size import probe_data_size, walk_size
from pgforge.mechanics import vacuum
from pgforge.rules.context import Context
from pgforge.spec import HostSpec
from pgforge.spec.load import build_spec, list_profiles
from pgforge.tuning import tune

GB = 1024**3
MB = 1024**2


def _spec(**kw) -> HostSpec:
    return HostSpec(**{"memory": "64GB", "cpus": 16, **kw})


def _av(spec: HostSpec):
    return Context(spec).rec("autovacuum_work_mem")


# --------------------------------------------------------------------------- the spec field


@pytest.mark.parametrize("given_, kept", [
    ("2TB", "2TB"), ("2 tb", "2TB"), ("2TiB", "2TB"), (2 * 1024**4, "2TB"), ("1.5TB", "1536GB"), ("750GB", "750GB"),
    ("123456789", "123456789B"), ("1MB", "1MB"), (" about_ram ", "about_ram"), ("less_than_ram", "less_than_ram"),
    ("more_than_ram", "more_than_ram"),
])
def test_accepted_data_sizes_are_normalised(given_, kept) -> None:
    spec = _spec(data_size=given_)
    assert spec.data_size == kept
    assert spec.data_bytes == (None if kept.endswith("_ram") else vacuum_bytes(kept))


def vacuum_bytes(text: str) -> int:
    from pgforge.units import parse_memory

    return parse_memory(text)


REFUSED = [
    "9" * 400 + "TB",  # float() of it is inf: must not overflow
    "1e999", "inf", "nan", "-1", "0", "0.5kB", "20000TB", "17PB", "About_RAM", "more-than-ram", "less_ram",
    "2TB\n", "2TB; DROP DATABASE app", "$(id)", "", " ", "a" * 5000,
]


@pytest.mark.parametrize("bad", REFUSED)
def test_bad_data_size_flag_exits_2_naming_the_flag(invoke, tmp_path: Path, bad: str) -> None:
    out = tmp_path / "out"
    result = invoke("generate", "--memory", "16GB", "--cpus", "4", "--data-size", bad, "-o", out)
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stderr.startswith("pgforge: error: --data-size: "), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("bad", [True, -5, 0, 10**40, 1.5, [], {"a": 1}, "99999999999999999999999TB"])
def test_bad_data_size_in_a_spec_file_names_the_field(invoke, tmp_path: Path, bad) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"memory": "16GB", "cpus": 4, "data_size": bad}))
    result = invoke("generate", "--spec", path, "-o", tmp_path / "out")
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"{path}:1: data_size: " in result.stderr, result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_hostile_string_walker_covers_data_size() -> None:
    from test_hostile_strings import ALL_PATHS, string_paths

    assert ("data_size",) in string_paths(HostSpec, {})
    assert any(p == ("data_size",) for _, p in ALL_PATHS)


def test_terraform_takes_data_size_and_names_a_bad_one() -> None:
    def tf(query: dict) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pgforge", "terraform"], input=json.dumps(query),
                              capture_output=True, text=True, timeout=60)

    base = {"memory": "64GB", "cpus": "16", "pg_version": "15"}
    good = tf({**base, "data_size": "2TB"})
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["autovacuum_work_mem"] == "1GB"
    assert json.loads(tf(base).stdout)["autovacuum_work_mem"] == "256MB"
    bad = tf({**base, "data_size": "2TB\nshared_buffers = 1"})
    assert bad.returncode == 2 and bad.stdout == ""
    assert "query.data_size: " in bad.stderr


# --------------------------------------------------------------------------- the flag through the commands


def test_explain_shows_data_size_among_the_inputs(invoke) -> None:
    result = invoke("explain", "autovacuum_work_mem", "--memory", "64GB", "--cpus", "16", "--pg-version", "15",
                    "--data-size", "2TB")
    assert result.exit_code == 0, result.output
    assert "autovacuum_work_mem = 1GB" in result.stdout
    assert "data_size=2TB" in result.stdout and "vacuumlazy.c" in result.stdout
    assert "holds on every host" in result.stdout


def test_generate_with_the_flag_changes_only_the_vacuum_memory_on_15(invoke) -> None:
    def settings_of(*extra: str) -> dict[str, str]:
        result = invoke("generate", "--memory", "64GB", "--cpus", "16", "--pg-version", "15", "--format", "json", *extra)
        assert result.exit_code == 0, result.output
        return {s["name"]: s["value"] for s in json.loads(result.stdout)["settings"]}

    without, with_ = settings_of(), settings_of("--data-size", "2TB")
    assert {k for k in without if without[k] != with_[k]} == {"autovacuum_work_mem"}


def test_check_takes_the_flag_and_refuses_it_alone(invoke, tmp_path: Path) -> None:
    conf = tmp_path / "postgresql.conf"
    conf.write_text("autovacuum_work_mem = 256MB\n")
    alone = invoke("check", conf, "--pg-version", "15", "--data-size", "2TB")
    assert alone.exit_code == 2 and "--data-size: " in alone.stderr, alone.output
    bad = invoke("check", conf, "--pg-version", "15", "--memory", "64GB", "--cpus", "16", "--data-size", "lots")
    assert bad.exit_code == 2 and "--data-size: " in bad.stderr, bad.output
    ok = invoke("check", conf, "--pg-version", "15", "--memory", "64GB", "--cpus", "16", "--data-size", "2TB",
                "--format", "json")
    assert ok.exit_code in (0, 1), ok.output


# --------------------------------------------------------------------------- detection


def _datadir(tmp_path: Path) -> Path:
    d = tmp_path / "pgdata"
    (d / "base" / "5").mkdir(parents=True)
    (d / "global").mkdir()
    (d / "pg_wal").mkdir()
    (d / "pg_tblspc").mkdir()
    (d / "PG_VERSION").write_text("16\n")
    (d / "base" / "5" / "16384").write_bytes(bytes(3 * MB))
    (d / "base" / "5" / "16384_fsm").write_bytes(bytes(24 * 1024))
    (d / "global" / "1262").write_bytes(bytes(8192))
    (d / "pg_wal" / "000000010000000000000001").write_bytes(bytes(16 * MB))  # WAL is not data
    space = tmp_path / "space" / "PG_16_202307071"
    (space / "5").mkdir(parents=True)
    (space / "5" / "16400").write_bytes(bytes(2 * MB))
    os.symlink(tmp_path / "space", d / "pg_tblspc" / "16399")
    os.symlink("/", d / "base" / "5" / "loop")  # another link: never followed
    return d


def test_detect_sums_relation_files_and_tablespaces_only(tmp_path: Path) -> None:
    d = _datadir(tmp_path)
    probe = probe_data_size(Path("/"), str(d))
    assert probe.value == "6MB"  # 3MB + 24kB + 8kB + 2MB, rounded up to whole MB; pg_wal's 16MB left out
    assert "1 tablespace" in probe.notes[0].source
    assert HostSpec(memory="16GB", cpus=4, data_size=probe.value).data_bytes == 6 * MB


def test_detect_walk_is_bounded_and_says_so(tmp_path: Path) -> None:
    d = _datadir(tmp_path)
    for i in range(50):
        (d / "base" / "5" / f"{20000 + i}").write_bytes(bytes(1024))
    total, seen, complete = walk_size([d / "base"], max_entries=10)
    assert not complete and seen == 11
    stopped = probe_data_size(Path("/"), str(d), memory=16 * GB, max_entries=10)
    assert stopped.value is None and "stopped after" in stopped.reason and "--data-size" in stopped.reason
    # what was counted before stopping already exceeds a tiny RAM: that alone is worth saying
    small = probe_data_size(Path("/"), str(d), memory=1024, max_entries=10)
    assert small.value == "more_than_ram"
    # a clock past its deadline stops the walk too (checked every 1000 entries)
    ticks = iter([0.0] + [100.0] * 10_000)
    for i in range(1200):
        (d / "base" / "5" / f"{30000 + i}").touch()
    assert walk_size([d / "base"], max_seconds=1.0, clock=lambda: next(ticks))[2] is False


def test_detect_refuses_a_directory_that_is_not_a_cluster(tmp_path: Path) -> None:
    assert probe_data_size(Path("/"), str(tmp_path)).value is None
    assert "base/" in probe_data_size(Path("/"), str(tmp_path)).reason
    assert probe_data_size(Path("/"), None).value is None


def test_pgforge_detect_prints_it_and_auto_uses_it(invoke, tmp_path: Path) -> None:
    d = _datadir(tmp_path)
    result = invoke("detect", "--data-dir", d)
    assert result.exit_code == 0, result.output
    assert 'data_size: "6MB"' in result.stdout
    spec = build_spec(extra={"memory": "8GB", "cpus": 2, "data_size": "6MB"})
    assert spec.data_size == "6MB"


# --------------------------------------------------------------------------- the rule


def test_without_a_data_size_the_value_is_todays() -> None:
    for major in (13, 15, 17):
        rec = _av(_spec(pg_version=major))
        assert rec.value == 256 * MB and "data_size" not in rec.inputs
    assert _av(HostSpec(memory="8GB", cpus=4, pg_version=15)).value == 128 * MB


def test_on_15_the_largest_table_fits_one_pass_where_the_cap_allows() -> None:
    rec = _av(_spec(pg_version=15, data_size="100GB"))
    # 100GB / 100 bytes = 1,073,741,824 rows; 0.05 of them + 50 dead = 53,687,141 -> 307.2MB -> 320MB
    assert rec.inputs["dead_tuples"] == 53_687_141
    assert rec.value == 320 * MB
    assert vacuum.index_passes(53_687_141, rec.value, 15) == 1
    assert vacuum.index_passes(53_687_141, 256 * MB, 15) == 2  # today's value would take two
    assert rec.inputs["data_size"] == "100GB" and "vacuumlazy.c" in rec.rationale


def test_on_15_a_huge_data_size_stops_at_the_1gb_cap_and_says_how_many_passes() -> None:
    rec = _av(_spec(pg_version=15, data_size="2TB"))
    assert rec.value == GB
    assert rec.inputs["index_passes"] == vacuum.index_passes(rec.inputs["dead_tuples"], GB, 15) > 1
    assert "1GB cap" in rec.rationale


def test_on_17_the_data_size_changes_nothing() -> None:
    for size in ("2TB", "more_than_ram", "100GB"):
        rec = _av(_spec(pg_version=17, data_size=size))
        assert rec.value == 256 * MB and rec.inputs["data_size"] == size and "TID store" in rec.rationale


def test_a_small_data_size_never_lowers_the_value() -> None:
    assert _av(_spec(pg_version=14, data_size="1GB")).value == 256 * MB
    assert _av(_spec(pg_version=14, data_size="less_than_ram")).value == 256 * MB


def test_the_budget_bounds_the_vacuum_memory_on_a_small_host() -> None:
    spec = HostSpec(memory="8GB", cpus=4, pg_version=14, data_size="2TB")
    rec = _av(spec)
    assert rec.value <= 8 * GB // 8 // 3 and "the budget allows" in rec.rationale
    t = tune(spec)
    assert t.budget.fits
    assert t.budget.max_connections == tune(HostSpec(memory="8GB", cpus=4, pg_version=14)).budget.max_connections


def test_no_bundled_profile_sets_a_data_size() -> None:
    """So generate's output for the profiles is what it was."""
    for name, _ in list_profiles():
        assert build_spec(profile=name).data_size is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(memory=st.sampled_from(["512MB", "1GB", "4GB", "16GB", "64GB", "512GB", "4TB"]),
       cpus=st.sampled_from([1, 2, 8, 32, 256]), major=st.sampled_from([13, 14, 15, 16, 17, 18]),
       workload=st.sampled_from(["web", "oltp", "dw", "mixed", "desktop"]),
       data=st.one_of(st.sampled_from(["less_than_ram", "about_ram", "more_than_ram"]),
                      st.integers(min_value=MB, max_value=16 * 1024**5).map(str)))
def test_every_host_with_a_data_size_fits_the_budget(memory, cpus, major, workload, data) -> None:
    spec = HostSpec(memory=memory, cpus=cpus, pg_version=major, workload=workload, data_size=data)
    without = HostSpec(memory=memory, cpus=cpus, pg_version=major, workload=workload)
    ctx = Context(spec)
    assert budget_for(ctx).fits
    value = ctx.value("autovacuum_work_mem")
    base = Context(without).value("autovacuum_work_mem")
    assert base <= value <= max(base, GB)
    if major >= 17:
        assert value == base
    assert ctx.value("max_connections") == Context(without).value("max_connections")
