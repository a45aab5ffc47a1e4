"""``pgforge check --dsn``: the same checks against a real running PostgreSQL, pointing at the
server's own files and lines.

One cluster per major (17, and 13 for the pre-16 shape of pg_hba_file_rules), started by the test
through tests/pgharness.py and stopped at the end. Three roles look at it: the superuser (sees
settings' files, pg_file_settings and pg_hba_file_rules), a member of pg_read_all_settings (sees
where settings come from, not pg_hba.conf), and a plain role (sees values only: findings point at
the server itself).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pgharness import PgCluster
from pgforge.audit.live import dsn_label, live_target
from pgforge.audit.runner import run_checks, select_checks

CONF = "fsync = off\nautovacuum = off\nwal_level = replica\nssl = off\n"
HBA = ("local all all trust\n"
       "host all all 127.0.0.1/32 scram-sha-256\n"
       "host all all 0.0.0.0/0 trust\n"
       "host app bob 10.1.2.0/24 scram-sha-256\n")
PASSWORD = "test-only-password"


@pytest.fixture(scope="module", params=[17, 13])
def cluster(request):
    with PgCluster(request.param, conf_extra=CONF) as pg:
        pg.write_hba(HBA)
        assert pg.reload()
        pg.psql(f"CREATE ROLE auditor LOGIN PASSWORD '{PASSWORD}'; GRANT pg_read_all_settings TO auditor;"
                "CREATE ROLE nobody LOGIN;")
        yield pg


def conf_line(pg: PgCluster, text: str) -> int:
    lines = (pg.datadir / "postgresql.conf").read_text().splitlines()
    return lines.index(text) + 1


def findings(dsn: str):
    return run_checks([live_target(dsn)], select_checks(None, None)).findings


def test_superuser_sees_settings_hba_and_file_errors(cluster: PgCluster) -> None:
    conf = str(cluster.datadir / "postgresql.conf")
    hba = str(cluster.datadir / "pg_hba.conf")
    t = live_target(cluster.conninfo())
    assert t.major == cluster.major and t.live.hba_rules_visible
    got = {(f.code, f.path, f.line) for f in findings(cluster.conninfo())}
    assert ("PGF101", conf, conf_line(cluster, "fsync = off")) in got
    assert ("PGF104", conf, conf_line(cluster, "autovacuum = off")) in got
    assert ("PGF201", hba, 3) in got and ("PGF204", hba, 3) in got  # trust from 0.0.0.0/0
    assert ("PGF207", hba, 4) in got  # shadowed by line 3
    assert ("PGF201", hba, 1) in got  # local trust (a warning)


def test_pg_read_all_settings_member_gets_the_same_places(cluster: PgCluster) -> None:
    conf = str(cluster.datadir / "postgresql.conf")
    dsn = cluster.conninfo(user="auditor", tcp=True, password=PASSWORD)
    t = live_target(dsn)
    assert not t.live.hba_rules_visible and t.hba is None  # pg_hba_file_rules is superuser-only
    assert PASSWORD not in t.label and "auditor" in t.label
    got = [(f.code, f.path, f.line) for f in findings(dsn)]
    assert ("PGF101", conf, conf_line(cluster, "fsync = off")) in got
    assert not any(code.startswith("PGF2") and path.endswith("pg_hba.conf") for code, path, _ in got)


def test_plain_role_points_at_the_server(cluster: PgCluster) -> None:
    dsn = cluster.conninfo(user="nobody")
    got = [(f.code, f.path, f.line) for f in findings(dsn)]
    assert ("PGF101", dsn_label(dsn), 0) in got


def test_file_errors_reported_at_their_line(cluster: PgCluster) -> None:
    conf_path = cluster.datadir / "postgresql.conf"
    original = conf_path.read_text()
    try:
        cluster.write_conf(original.split("\n# --- pgforge test harness")[0] + "\nwork_mem = 'lots'\n")
        cluster.psql("SELECT pg_reload_conf()")
        line = conf_line(cluster, "work_mem = 'lots'")
        got = [(f.code, f.path, f.line) for f in findings(cluster.conninfo()) if f.code == "PGF001"]
        assert ("PGF001", str(conf_path), line) in got
    finally:
        conf_path.write_text(original)
        cluster.psql("SELECT pg_reload_conf()")


def test_cli_live_sarif(cluster: PgCluster) -> None:
    from pgforge.cli import app
    from pgforge.commands import register_all

    if not any(c.name == "check" for c in app.registered_commands):
        register_all(app)
    result = CliRunner().invoke(app, ["check", "--dsn", cluster.conninfo(user="nobody"), "--format", "sarif",
                                      "--select", "durability"])
    assert result.exit_code == 1, result.output
    results = json.loads(result.stdout)["runs"][0]["results"]
    locations = [r["locations"][0]["physicalLocation"] for r in results]
    assert locations and all("region" not in loc for loc in locations)  # the server, not a file
    assert all(loc["artifactLocation"]["uri"].startswith("postgresql://nobody@") for loc in locations)
    bad = CliRunner().invoke(app, ["check", "--dsn", f"host=127.0.0.1 port={cluster.port} user=nobody "
                                   "dbname=postgres password=wrong connect_timeout=5"])
    assert bad.exit_code == 2 and "cannot connect" in bad.output and "wrong" not in bad.output
