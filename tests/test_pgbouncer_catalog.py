"""PgBouncer's catalogue probed from the real binary, and PGF005 that checks pgbouncer.ini with it."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from pgforge.pgbouncer_catalog import load_bouncer_catalog

REPO = Path(__file__).resolve().parent.parent
PGBOUNCER = Path(os.environ.get("PGFORGE_PGBOUNCER", "/usr/sbin/pgbouncer"))


def test_catalogue_loads_with_its_version() -> None:
    cat = load_bouncer_catalog()
    assert cat.version == "1.18" and cat.version_output.startswith("PgBouncer 1.18")
    assert cat.settings["pool_mode"]["values"] == ["session", "statement", "transaction"]
    assert cat.settings["server_lifetime"]["type"] == "time"
    assert cat.settings["default_pool_size"]["type"] == "int"
    assert cat.check_value("server_lifetime", "1h") is not None and cat.check_value("server_lifetime", "3600") is None
    assert cat.check_value("server_lifetime", "nan") is not None  # strtod reads it; pgforge refuses
    assert cat.check_value("max_client_conn", "010") is None


def test_invalid_value_at_file_line_and_unknown_key_names_the_version(audit) -> None:
    ini = "[databases]\napp = host=127.0.0.1\n[pgbouncer]\nserver_idle_timeout = 10min\nclient_tls_sslmode = on\npeer_id = 2\n"
    found = audit({"pgbouncer.ini": ini}, "PGF005")
    got = [(Path(f.path).name, f.line, f.column, f.severity) for f in found]
    assert got == [("pgbouncer.ini", 4, 23, "error"), ("pgbouncer.ini", 5, 22, "error"), ("pgbouncer.ini", 6, 1, "warning")]
    assert "unknown to PgBouncer 1.18; newer versions may know it" in found[2].message


def test_generated_pgbouncer_ini_checks_clean(tmp_path: Path, audit) -> None:
    import subprocess
    import sys

    spec = tmp_path / "host.yaml"
    spec.write_text("memory: 8GB\ncpus: 2\nstorage: ssd\nworkload: oltp\npg_version: 17\n"
                    "pgbouncer: {enabled: true, pool_mode: transaction, databases: [app]}\n", encoding="utf-8")
    out = tmp_path / "bundle"
    subprocess.run([sys.executable, "-m", "pgforge", "generate", "--spec", str(spec), "-o", str(out)], check=True,
                   capture_output=True, text=True)
    ini = (out / "pgbouncer" / "pgbouncer.ini").read_text(encoding="utf-8")
    assert "\nlisten_port = " in ini  # a key typed by starting pgbouncer is judged too
    assert audit({"pgbouncer.ini": ini}, "PGF005") == []


def test_keys_that_cannot_change_online_are_typed_from_start_ups() -> None:
    cat = load_bouncer_catalog()
    unprobed = [k for k, e in cat.settings.items() if e["type"] in ("unprobed", "unknown")]
    assert unprobed == []
    for key in ("listen_port", "pkt_buf", "unix_socket_mode", "listen_backlog", "so_reuseport", "disable_pqexec"):
        assert (cat.settings[key]["type"], cat.settings[key]["probed_at"]) == ("int", "start-up"), key
    assert cat.settings["user"]["type"] == "string" and cat.settings["user"]["depends_on_machine"]
    port = cat.settings["listen_port"]
    assert (port["min"], port["max"]) == (1, 65535)
    assert port["tcp_listen_probes"]["70000"].endswith("127.0.0.1:4464")  # 70000 binds as a 16-bit port
    assert cat.check_value("unix_socket_mode", "0600") is None and cat.check_value("pkt_buf", "4096") is None


def test_invalid_value_of_a_start_up_key_at_file_line(audit) -> None:
    ini = ("[databases]\napp = host=127.0.0.1\n[pgbouncer]\nlisten_port = 70000\npkt_buf = 4k\n"
           "unix_socket_mode = 0600\nlisten_backlog =\nlisten_addr = 127.0.0.1\n")
    found = audit({"pgbouncer.ini": ini}, "PGF005")
    got = [(Path(f.path).name, f.line, f.column, f.severity) for f in found]
    assert got == [("pgbouncer.ini", 4, 15, "error"), ("pgbouncer.ini", 5, 11, "error"), ("pgbouncer.ini", 7, 17, "error")]
    assert "outside 1..65535" in found[0].message and "not an integer" in found[1].message


def _builder():
    spec = importlib.util.spec_from_file_location("build_pgbouncer_catalog", REPO / "scripts" / "build_pgbouncer_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _require_pgbouncer() -> None:
    """The real binary: a failure in CI (CI=true), a skip elsewhere."""
    from pgharness import in_ci

    if not PGBOUNCER.exists():
        message = f"PgBouncer not found at {PGBOUNCER} (apt-get install pgbouncer)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.realpg
def test_shipped_catalogue_agrees_with_the_installed_pgbouncer() -> None:
    """Re-probe a sample of keys live: the shipped verdicts are the binary's."""
    _require_pgbouncer()
    b = _builder()
    cat = load_bouncer_catalog()
    assert b.version_number(b.version_output(PGBOUNCER)).startswith(cat.version)
    sample = ("pool_mode", "server_lifetime", "default_pool_size", "auth_type", "query_wait_timeout", "admin_users")
    with b.Bouncer(PGBOUNCER, b.DEFAULT_PSQL) as bouncer:
        config = bouncer.show_config()
        answers = b.probe(bouncer, {k: config[k]["value"] for k in sample}, b.PROBE_VALUES + b.ENUM_VOCABULARY)
    for key in sample:
        assert {v: answers[key][v] for v in b.PROBE_VALUES} == cat.settings[key]["probes"], key
        assert b.classify(answers[key])["type"] == cat.settings[key]["type"], key
        for value, accepted in answers[key].items():
            problem = cat.check_value(key, value)
            if accepted and problem is not None:  # pgforge's deliberate refusals: a C int wrapping around
                assert "wraps around" in problem, (key, value, problem)
            else:
                assert (problem is None) == accepted, (key, value)


@pytest.mark.realpg
def test_a_start_up_key_agrees_with_the_installed_pgbouncer() -> None:
    """Start the binary with listen_port values (Unix socket only): the loader's verdicts are the shipped ones."""
    _require_pgbouncer()
    b = _builder()
    cat = load_bouncer_catalog()
    values = ("", "abc", "0", "-1", "1.5", "0x10", "010", "08", "1s", "2147483648", "65535", "70000", "0o777")
    answers = b.startup_probe(PGBOUNCER, ["listen_port"], values)["listen_port"]
    assert {v: b.loads(answers[v]) for v in values} == {v: cat.settings["listen_port"]["probes"][v] for v in values}
    for value in values:
        problem = cat.check_value("listen_port", value)
        if b.loads(answers[value]):  # accepted: pgforge refuses only what does not fit a port or a C int
            assert problem is None or "outside 1..65535" in problem or "wraps around" in problem, (value, problem)
        else:
            assert problem is not None and "invalid value" in answers[value][1], value
