"""pgforge apply without a server: planning on a fake data directory, the write, backup and rollback,
shadowing, site settings, preload libraries, ALTER SYSTEM planning, huge pages, and the CLI's
non-interactive behaviour. The real clusters are in test_realpg_apply.py."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from pgforge import apply as ap
from pgforge import hugepages
from pgforge.catalog import load_catalog
from pgforge.errors import UserError
from pgforge.spec import HostSpec
from pgforge.tuning import tune
from pgforge.units import GB, MB

MAIN_CONF = """\
# -----------------------------
# PostgreSQL configuration file
# -----------------------------
max_connections = 100			# (change requires restart)
shared_buffers = 128MB			# min 128kB
#work_mem = 4MB
log_connections = on   # keep me: an unrelated setting
datestyle = 'iso, mdy'
"""


def _tuning(**kw):
    data = {"memory": "8GB", "cpus": 4, "pg_version": 17, **kw}
    return tune(HostSpec.model_validate(data))


def _datadir(tmp_path: Path, conf: str = MAIN_CONF, major: int = 17, auto: str | None = None,
             name: str = "data") -> Path:
    d = tmp_path / name
    d.mkdir(mode=0o700)
    (d / "PG_VERSION").write_text(f"{major}\n")
    (d / "postgresql.conf").write_text(conf)
    os.chmod(d / "postgresql.conf", 0o600)
    if auto is not None:
        (d / "postgresql.auto.conf").write_text(auto)
    return d


def _libdir(tmp_path: Path, *libs: str) -> Path:
    lib = tmp_path / "lib"
    lib.mkdir(exist_ok=True)
    for name in ("plpgsql", *libs):
        (lib / f"{name}.so").write_bytes(b"")
    return lib


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------- planning


def test_plan_appends_one_include_line_and_keeps_every_byte(tmp_path):
    d = _datadir(tmp_path)
    plan = ap.plan_datadir(_tuning(), d, libdir=_libdir(tmp_path, "pg_stat_statements"))
    conf_change = next(f for f in plan.files if f.path.name == "postgresql.conf")
    assert conf_change.new.startswith(MAIN_CONF.encode())
    added = conf_change.new[len(MAIN_CONF):].decode()
    assert added.count("include_dir") == 1 and "include_dir = 'conf.d'" in added
    dropin = next(f for f in plan.files if f.path.name == ap.DROPIN_NAME)
    assert dropin.old is None and dropin.path.parent == d.resolve() / "conf.d"
    assert plan.new_dirs == [d.resolve() / "conf.d"]
    # Planning writes nothing.
    assert (d / "postgresql.conf").read_text() == MAIN_CONF and not (d / "conf.d").exists()
    diff = plan.diff()
    assert "+include_dir = 'conf.d'" in diff and "+shared_buffers = 2GB" in diff


def test_changes_compare_values_not_text(tmp_path):
    # 262144 x 8kB is 2GB: not a change even though the text differs.
    d = _datadir(tmp_path, MAIN_CONF.replace("shared_buffers = 128MB", "shared_buffers = 262144"))
    plan = ap.plan_datadir(_tuning(), d, libdir=_libdir(tmp_path, "pg_stat_statements"))
    names = {c.name for c in plan.changes}
    assert "shared_buffers" not in names
    assert "random_page_cost" in names
    rpc = next(c for c in plan.changes if c.name == "random_page_cost")
    assert rpc.old is None and rpc.old_where == "default" and rpc.action == "reload"
    mc = next((c for c in plan.changes if c.name == "max_connections"), None)
    if mc is not None:
        assert mc.old == "100" and mc.old_where == "postgresql.conf:4" and mc.action == "restart"
    assert set(plan.restart) <= {c.name for c in plan.changes if c.action == "restart"}


def test_canonical_equates_units_and_booleans():
    cat = load_catalog(17)
    assert ap.canonical(cat, "shared_buffers", "4GB") == ap.canonical(cat, "shared_buffers", "524288")
    assert ap.canonical(cat, "checkpoint_timeout", "15min") == ap.canonical(cat, "checkpoint_timeout", "900")
    assert ap.canonical(cat, "jit", "off") == ap.canonical(cat, "jit", "false")
    assert ap.canonical(cat, "shared_preload_libraries", "a, 'b'".replace("'", "")) == ("a", "b")
    assert ap.canonical(cat, "work_mem", "4MB") != ap.canonical(cat, "work_mem", "8MB")


def test_site_settings_are_left_alone_unless_asked(tmp_path):
    d = _datadir(tmp_path)
    t = _tuning(port=6000, listen_addresses=["*"])
    plan = ap.plan_datadir(t, d, libdir=_libdir(tmp_path, "pg_stat_statements"))
    excluded = {n for n, _ in plan.excluded}
    assert {"port", "listen_addresses", "timezone"} <= excluded
    text = next(f for f in plan.files if f.path.name == ap.DROPIN_NAME).new.decode()
    assert "\nport =" not in text and "listen_addresses =" not in text
    assert "# Not set here: " in text
    plan2 = ap.plan_datadir(t, d, include_site=True, exclude=["jit"], libdir=_libdir(tmp_path, "pg_stat_statements"))
    text2 = next(f for f in plan2.files if f.path.name == ap.DROPIN_NAME).new.decode()
    assert "\nport = 6000" in text2 and "listen_addresses = '*'" in text2
    assert "\njit =" not in text2 and ("jit", "excluded on request") in plan2.excluded


def test_existing_include_dir_is_used_and_main_file_untouched(tmp_path):
    conf = MAIN_CONF + "include_dir = 'pgconf.d'\n"
    d = _datadir(tmp_path, conf)
    (d / "pgconf.d").mkdir()
    plan = ap.plan_datadir(_tuning(), d, libdir=_libdir(tmp_path, "pg_stat_statements"))
    assert [f.path for f in plan.files] == [d.resolve() / "pgconf.d" / ap.DROPIN_NAME]
    assert plan.new_dirs == []


def test_settings_read_after_the_dropin_are_reported_as_shadowed(tmp_path):
    conf = MAIN_CONF + "include_dir = 'conf.d'\nwork_mem = 3MB\n"
    d = _datadir(tmp_path, conf, auto="random_page_cost = 3\n")
    (d / "conf.d").mkdir()
    (d / "conf.d" / "zz-local.conf").write_text("effective_io_concurrency = 7\n")
    (d / "conf.d" / "00-early.conf").write_text("maintenance_io_concurrency = 9\n")
    plan = ap.plan_datadir(_tuning(), d, libdir=_libdir(tmp_path, "pg_stat_statements"))
    shadowed = {n: w for n, w, _ in plan.shadowed}
    assert shadowed["work_mem"] == "postgresql.conf:10"
    assert shadowed["random_page_cost"] == "postgresql.auto.conf:1"
    assert shadowed["effective_io_concurrency"].startswith("conf.d/zz-local.conf")
    assert "maintenance_io_concurrency" not in shadowed  # read before pgforge.conf: pgforge wins
    changed = {c.name for c in plan.changes}
    assert not changed & set(shadowed)
    assert any("work_mem is also set in postgresql.conf:10" in w for w in plan.warnings)


def test_preload_libraries_are_merged_and_missing_ones_left_out(tmp_path):
    d = _datadir(tmp_path, MAIN_CONF + "shared_preload_libraries = 'timescaledb'\n")
    t = _tuning(extensions=["pg_stat_statements", "auto_explain"])
    plan = ap.plan_datadir(t, d, libdir=_libdir(tmp_path, "timescaledb", "pg_stat_statements"))
    spl = next(s for s in plan.settings if s.name == "shared_preload_libraries")
    assert ap.split_list(str(spl.value)) == ["timescaledb", "pg_stat_statements"]
    assert any(n.startswith("auto_explain.") for n, _ in plan.excluded)
    assert not any(s.name.startswith("auto_explain.") for s in plan.settings)
    assert any("auto_explain is not installed" in w for w in plan.warnings)
    assert any(s.name.startswith("pg_stat_statements.") for s in plan.settings)


def test_version_mismatch_and_broken_config_are_refused(tmp_path):
    d = _datadir(tmp_path, major=16)
    with pytest.raises(UserError, match="PostgreSQL 16"):
        ap.plan_datadir(_tuning(), d)
    bad = _datadir(tmp_path, "shared_buffers = 1.5GB\n", name="bad")
    with pytest.raises(UserError) as err:
        ap.plan_datadir(_tuning(), bad)
    assert "postgresql.conf:1" in str(err.value)
    with pytest.raises(UserError, match="PG_VERSION"):
        ap.find_config_file(tmp_path)


# ------------------------------------------------------------------------------- execute / rollback


def test_execute_is_idempotent_and_rollback_restores_bytes(tmp_path):
    d = _datadir(tmp_path)
    try:
        pg = pwd.getpwnam("postgres")
        owner = (pg.pw_uid, pg.pw_gid) if os.geteuid() == 0 else None
    except KeyError:
        owner = None
    if owner:
        for p in (d, d / "postgresql.conf"):
            os.chown(p, *owner)
    before = _sha(d / "postgresql.conf")
    lib = _libdir(tmp_path, "pg_stat_statements")
    plan = ap.plan_datadir(_tuning(), d, libdir=lib)
    result = ap.execute(plan, stamp="20250101T000000")
    dropin = d / "conf.d" / ap.DROPIN_NAME
    assert dropin.is_file() and set(result.written) == {dropin.resolve(), (d / "postgresql.conf").resolve()}
    st = (d / "postgresql.conf").stat()
    assert oct(st.st_mode & 0o777) == "0o600" and oct(dropin.stat().st_mode & 0o777) == "0o600"
    if owner:
        assert (st.st_uid, st.st_gid) == owner and dropin.stat().st_uid == owner[0]
        assert (d / "conf.d").stat().st_uid == owner[0]
    manifest = json.loads((result.backup / ap.MANIFEST).read_text())
    assert {e["existed"] for e in manifest["files"]} == {True, False}

    again = ap.plan_datadir(_tuning(), d, libdir=lib)
    assert again.noop and again.changes == [] and ap.execute(again).backup is None

    undo = ap.plan_rollback(d / "postgresql.conf")
    assert undo.backup == result.backup and undo.modified_since == []
    assert "-include_dir = 'conf.d'" in undo.diff()
    ap.execute_rollback(undo)
    assert _sha(d / "postgresql.conf") == before
    assert not (d / "conf.d").exists()
    assert (d / ".pgforge-backup" / "20250101T000000.rolled-back").is_dir()
    with pytest.raises(UserError, match="no pgforge backup"):
        ap.plan_rollback(d / "postgresql.conf")


def test_rollback_names_files_edited_after_the_apply(tmp_path):
    d = _datadir(tmp_path)
    lib = _libdir(tmp_path, "pg_stat_statements")
    ap.execute(ap.plan_datadir(_tuning(), d, libdir=lib))
    with open(d / "postgresql.conf", "a") as f:
        f.write("# edited by hand\n")
    undo = ap.plan_rollback(d / "postgresql.conf")
    assert undo.modified_since == [(d / "postgresql.conf").resolve()]


def test_second_apply_with_new_values_backs_up_the_previous_dropin(tmp_path):
    d = _datadir(tmp_path)
    lib = _libdir(tmp_path, "pg_stat_statements")
    ap.execute(ap.plan_datadir(_tuning(), d, libdir=lib), stamp="20250101T000000")
    first = (d / "conf.d" / ap.DROPIN_NAME).read_bytes()
    plan = ap.plan_datadir(_tuning(memory="16GB"), d, libdir=lib)
    assert [f.path.name for f in plan.files] == [ap.DROPIN_NAME]
    assert {c.name for c in plan.changes} >= {"shared_buffers", "effective_cache_size"}
    sb = next(c for c in plan.changes if c.name == "shared_buffers")
    assert sb.old == "2GB" and sb.old_where == "conf.d/pgforge.conf:" + sb.old_where.split(":")[1]
    ap.execute(plan, stamp="20250101T000000")  # same stamp: a distinct backup directory
    ap.execute_rollback(ap.plan_rollback(d / "postgresql.conf"))
    assert (d / "conf.d" / ap.DROPIN_NAME).read_bytes() == first


# ---------------------------------------------------------------------------------- ALTER SYSTEM


def test_alter_system_statements_quote_and_split_lists():
    assert ap.alter_system("shared_preload_libraries", "timescaledb,pg_stat_statements") == \
        "ALTER SYSTEM SET shared_preload_libraries = 'timescaledb', 'pg_stat_statements'"
    assert ap.alter_system("log_line_prefix", "%m 'x' ") == "ALTER SYSTEM SET log_line_prefix = '%m ''x'' '"
    assert ap.alter_system("pg_stat_statements.max", None) == "ALTER SYSTEM RESET pg_stat_statements.max"


def test_plan_sql_compares_configured_values():
    t = _tuning(extensions=[])
    sb = t.get("shared_buffers").display
    state = ap.ServerState(
        major=17,
        settings={"shared_buffers": "16384", "random_page_cost": "4", "jit": "on", "max_connections": "100"},
        files={"shared_buffers": (sb, "/d/postgresql.auto.conf:3"), "max_connections": ("100", "/d/postgresql.conf:64")},
        outside_auto={"max_connections": "100"},
        auto_conf={"shared_buffers": sb},
        sources={"shared_buffers": "configuration file", "random_page_cost": "default", "jit": "default"},
    )
    plan = ap.plan_sql(t, state, target="test")
    names = {c.name for c in plan.changes}
    assert "shared_buffers" not in names  # configured already, restart pending or not
    assert "random_page_cost" in names and "jit" in names
    assert any(s.startswith("ALTER SYSTEM SET random_page_cost = ") for s in plan.statements)
    assert plan.previous_auto["random_page_cost"] is None
    assert "+random_page_cost = " in plan.diff()
    with pytest.raises(UserError, match="PostgreSQL 16"):
        ap.plan_sql(t, ap.ServerState(16, {}, {}, {}, {}, {}), target="x")


def test_plan_sql_preview_writes_auto_conf_lines_in_conf_grammar():
    # the server writes postgresql.auto.conf with quotes and backslashes doubled (guc-file.l grammar):
    # the preview shows the same; a server value that cannot be a conf string is refused, not shown
    t = _tuning(extensions=[])
    state = ap.ServerState(17, settings={}, files={}, outside_auto={},
                           auto_conf={"log_line_prefix": r"%m \ 'x'"}, sources={})
    diff = ap.plan_sql(t, state, target="t").diff()
    assert r"-log_line_prefix = '%m \\ ''x'''" in diff
    bad = ap.ServerState(17, settings={}, files={}, outside_auto={},
                         auto_conf={"x.y": "a\nshared_buffers = 1"}, sources={})
    with pytest.raises(UserError):
        ap.plan_sql(t, bad, target="t")


# ---------------------------------------------------------------------------------- huge pages


@pytest.mark.parametrize(("sb", "conns", "server_mb"), [
    # postgres -C shared_memory_size on PostgreSQL 17 (measured), default other settings
    (1 * GB, 100, 1079), (4 * GB, 100, 4246), (4 * GB, 500, 4266), (16 * GB, 100, 16816), (16 * GB, 500, 16836),
])
def test_estimate_errs_on_the_large_side_but_not_by_much(sb, conns, server_mb):
    est = hugepages.estimate_shared_memory(sb, conns)
    assert est >= server_mb * MB
    assert est <= server_mb * MB * 1.06


def test_pages_and_sysctl_line():
    assert hugepages.pages_for(2 * MB) == 1 and hugepages.pages_for(2 * MB + 1) == 2
    t = _tuning(memory="16GB")
    hp = hugepages.for_tuning(t, available=10)
    assert hp.sysctl_line == f"vm.nr_hugepages = {hp.pages}"
    assert hp.pages * hp.page_size >= t.get("shared_buffers").value
    assert hp.enough_reserved is False and "estimate" in hp.describe()


# ---------------------------------------------------------------------------------- the CLI


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgforge", "apply", *args], capture_output=True, text=True,
                          input=stdin, timeout=120)


def test_cli_dry_run_prints_the_diff_and_writes_nothing(tmp_path):
    d = _datadir(tmp_path)
    p = _cli("-D", str(d), "--memory", "4GB", "--cpus", "2", "--extensions", "", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("--- /dev/null") and "+include_dir = 'conf.d'" in p.stdout
    assert "dry run: nothing written" in p.stderr and "need a restart" in p.stderr
    assert "not applied: listen_addresses, port" in p.stderr
    assert (d / "postgresql.conf").read_text() == MAIN_CONF and not (d / "conf.d").exists()


def test_cli_refuses_to_write_without_yes_when_not_interactive(tmp_path):
    d = _datadir(tmp_path)
    p = _cli("-D", str(d), "--memory", "4GB", "--cpus", "2", stdin="")
    assert p.returncode == 2 and "--yes" in p.stderr
    assert not (d / "conf.d").exists()


def test_cli_json_apply_then_noop_then_rollback(tmp_path):
    d = _datadir(tmp_path)
    args = ("-D", str(d), "--memory", "4GB", "--cpus", "2", "--extensions", "", "--format", "json", "--yes")
    first = json.loads(_cli(*args).stdout)
    assert first["changed"] and first["applied"] and first["backup"]
    assert first["huge_pages"]["sysctl"].startswith("vm.nr_hugepages = ")
    assert {f["action"] for f in first["files"]} == {"create", "modify"}
    second = _cli(*args)
    assert second.returncode == 0 and second.stderr == ""  # json mode: nothing but the object
    assert json.loads(second.stdout)["changed"] is False
    back = json.loads(_cli("-D", str(d), "--rollback", "--yes", "--format", "json").stdout)
    assert back["applied"] and (d / "postgresql.conf").read_text() == MAIN_CONF


def test_cli_needs_exactly_one_target_and_a_host(tmp_path):
    assert "--data-dir or --dsn" in _cli("--memory", "4GB", "--cpus", "2").stderr
    d = _datadir(tmp_path)
    p = _cli("-D", str(d), "--dry-run")
    assert p.returncode == 2 and "describe the host" in p.stderr
    p = _cli("-D", str(d), "--memory", "4GB", "--cpus", "2", "--pg-version", "16", "--dry-run")
    assert p.returncode == 2 and "PostgreSQL 17" in p.stderr


def test_config_file_outside_the_data_directory(tmp_path):
    """Debian's layout: postgresql.conf in /etc/... with include_dir 'conf.d'; auto.conf in the data dir."""
    d = _datadir(tmp_path, auto="work_mem = 1MB\n")
    (d / "postgresql.conf").unlink()
    etc = tmp_path / "etc"
    (etc / "conf.d").mkdir(parents=True)
    conf = etc / "postgresql.conf"
    conf.write_text(f"data_directory = '{d}'\n" + MAIN_CONF + "include_dir = 'conf.d'\n")
    with pytest.raises(UserError, match="--config-file"):
        ap.plan_datadir(_tuning(), d)
    plan = ap.plan_datadir(_tuning(), d, config_file=conf, libdir=_libdir(tmp_path, "pg_stat_statements"))
    assert [f.path for f in plan.files] == [etc.resolve() / "conf.d" / ap.DROPIN_NAME]
    assert [n for n, _w, _v in plan.shadowed] == ["work_mem"]
    result = ap.execute(plan)
    assert result.backup.parent == etc.resolve() / ap.BACKUP_DIR
    ap.execute_rollback(ap.plan_rollback(conf.resolve()))
    assert list((etc / "conf.d").iterdir()) == [] and (etc / "conf.d").is_dir()
