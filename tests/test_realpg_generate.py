"""Generated configurations, judged by the real PostgreSQL of each major.

Issue 2: "the real ``postgres -D DIR -C NAME`` of that major accepts the generated file and
reports the values pgforge meant", and "at least one test starts a real server with a generated
config and runs queries". The ALTER SYSTEM script is applied to running servers as well, which is
the only way to prove that list settings (shared_preload_libraries) are quoted as the server needs.
"""

from __future__ import annotations

import re

import pytest

from pgforge.catalog import load_catalog
from pgforge.render.formats import render_conf, render_sql
from pgforge.spec import HostSpec
from pgforge.spec.load import build_spec, list_profiles
from pgforge.tuning import Tuning, tune
from pgforge.units import parse_pg_quantity
from pgharness import MAJORS, PgCluster, postgres_C

pytestmark = pytest.mark.realpg

PROFILES = [name for name, _ in list_profiles()]
EXTREMES = {
    "512MB-1cpu-web": {"memory": "512MB", "cpus": 1, "workload": "web", "storage": "ssd"},
    "4TB-256cpu-dw-hdd": {"memory": "4TB", "cpus": 256, "workload": "dw", "storage": "hdd"},
    "1GB-oltp-3ext-nvme": {"memory": "1GB", "cpus": 2, "workload": "oltp", "storage": "nvme",
                           "extensions": ["pg_stat_statements", "auto_explain", "pg_cron"], "connections": 50},
}
CASES = [(major, f"profile:{p}") for major in MAJORS for p in PROFILES] + [
    (major, name) for major in MAJORS for name in EXTREMES]

CHECKED = ["shared_buffers", "work_mem", "max_connections", "max_wal_size", "checkpoint_timeout", "random_page_cost",
           "jit", "wal_compression"]


def spec_for(case: str, major: int) -> HostSpec:
    if case.startswith("profile:"):
        return build_spec(profile=case.split(":", 1)[1], flags={"pg_version": major})
    return build_spec(flags={**EXTREMES[case], "pg_version": major})


def base_value(major: int, name: str, display: str) -> str | float:
    """pgforge's value as ``postgres -C`` prints it: numbers in the catalog's base unit."""
    guc = load_catalog(major).get(name)
    assert guc is not None, name
    if guc.vartype in ("integer", "real"):
        return guc.to_base(display)
    return display.lower()


@pytest.mark.parametrize(("major", "case"), CASES, ids=[f"pg{m}-{c}" for m, c in CASES])
def test_postgres_C_accepts_and_reports_what_pgforge_meant(major: int, case: str) -> None:
    t = tune(spec_for(case, major))
    names = CHECKED + (["io_method"] if major == 18 else [])
    reported = postgres_C(major, render_conf(t), names)  # raises ConfRejected if the file is refused
    for name in names:
        setting = t.get(name)
        assert setting is not None, f"pgforge emitted no {name}"
        want = base_value(major, name, setting.display)
        got = reported[name]
        if isinstance(want, float):
            assert float(got) == pytest.approx(want), (name, setting.display, got)
        else:
            assert got.lower() == want, (name, setting.display, got)


# --------------------------------------------------------------------------- running servers


def server_rows(pg: PgCluster, names: list[str]) -> dict[str, tuple[str, str | None, str]]:
    """name -> (setting, unit, vartype) from the running server's pg_settings."""
    listed = ",".join("'" + n.replace("'", "''") + "'" for n in names)
    out = pg.psql(f"SELECT lower(name), setting, coalesce(unit, ''), vartype FROM pg_settings WHERE lower(name) IN ({listed})")
    rows = {}
    for line in out.splitlines():
        name, setting, unit, vartype = line.split("|")
        rows[name] = (setting, unit or None, vartype)
    return rows


def assert_server_has(pg: PgCluster, t: Tuning, skip: tuple[str, ...] = ()) -> None:
    """Every setting pgforge emitted is in force on the running server, with pgforge's value."""
    wanted = [s for s in t.settings if s.name not in skip]
    rows = server_rows(pg, [s.name for s in wanted])
    for s in wanted:
        assert s.name in rows, f"the running PostgreSQL {pg.major} does not show {s.name}"
        setting, unit, vartype = rows[s.name]
        if vartype in ("integer", "real"):
            assert float(setting) == pytest.approx(parse_pg_quantity(s.display, unit)), (s.name, s.display, setting, unit)
        elif vartype in ("bool", "enum"):
            assert setting.lower() == s.display.lower(), (s.name, s.display, setting)
        elif "," in s.display:  # list settings come back as "a, b"
            assert [p.strip() for p in setting.split(",")] == [p.strip() for p in s.display.split(",")], (s.name, setting)
        else:
            assert setting == s.display, (s.name, s.display, setting)


@pytest.mark.parametrize("major", [17, 13])
def test_real_server_runs_on_a_generated_config(major: int) -> None:
    t = tune(HostSpec(memory="1GB", cpus=2, storage="ssd", workload="web", pg_version=major,
                      extensions=["pg_stat_statements", "auto_explain"]))
    with PgCluster(major) as pg:
        # The generated file replaces initdb's entirely: it must be complete on its own
        # (the harness appends only its port, loopback and socket lines).
        pg.write_conf(render_conf(t))
        pg.restart()
        assert_server_has(pg, t, skip=("listen_addresses", "port"))
        assert pg.psql("SHOW work_mem") == t.get("work_mem").display
        assert pg.psql("SHOW shared_buffers") == t.get("shared_buffers").display
        assert pg.psql("SHOW max_connections") == t.get("max_connections").display
        assert pg.psql("SHOW jit") == "off"
        plan = pg.psql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT g FROM generate_series(1, 20000) g ORDER BY g DESC")
        assert "Sort Method: quicksort" in plan, plan  # 20000 rows sort inside work_mem
        out = pg.psql(
            "CREATE EXTENSION pg_stat_statements;\n"
            "SELECT sum(g) FROM generate_series(1, 1000) g;\n"
            "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%generate_series%';\n"
            "SHOW pg_stat_statements.max;\n"
        ).splitlines()
        assert out[0] == "500500"
        assert int(out[1]) >= 1
        assert out[2] == "10000"


def apply_sql(pg: PgCluster, t: Tuning, *, without_extension_settings: bool = False) -> None:
    script = render_sql(t)
    if without_extension_settings:
        script = "\n".join(line for line in script.splitlines() if not re.match(r"ALTER SYSTEM SET \w+\.\w+ =", line))
    pg.psql(script)


def alter_system_host(pg: PgCluster) -> Tuning:
    # port and listen_addresses are in the script too: point them at the harness's own.
    return tune(HostSpec(memory="2GB", cpus=2, storage="hdd", workload="oltp", pg_version=pg.major,
                         extensions=["pg_stat_statements", "auto_explain"], port=pg.port, listen_addresses=["127.0.0.1"]))


@pytest.mark.parametrize("major", [13, 16, 17, 18])
def test_alter_system_script_applies_and_survives_a_restart(major: int) -> None:
    """Run, restart, run again (as the script says): before 17 the extension settings wait for the
    restart that loads their library; the second run sets them and changes nothing else."""
    with PgCluster(major) as pg:
        t = alter_system_host(pg)
        apply_sql(pg, t)
        auto_conf = (pg.datadir / "postgresql.auto.conf").read_text(encoding="utf-8")
        assert "shared_preload_libraries = 'pg_stat_statements, auto_explain'" in auto_conf, auto_conf
        if major < 17:
            assert "pg_stat_statements.max" not in auto_conf  # deferred, not an error
        pg.restart()
        apply_sql(pg, t)
        pg.restart()
        assert_server_has(pg, t)
        libs = [p.strip() for p in pg.psql("SHOW shared_preload_libraries").split(",")]
        assert libs == ["pg_stat_statements", "auto_explain"]
        assert pg.psql("SHOW random_page_cost") == "4"
        assert pg.psql("SHOW auto_explain.log_min_duration") == t.get("auto_explain.log_min_duration").display


