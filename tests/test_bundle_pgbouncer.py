"""The PgBouncer files of a bundle: pgbouncer.ini, userlist.txt and the systemd limits drop-in.

Rendering and coherence only; tests/test_realpg_pgbouncer.py runs the real PgBouncer 1.18.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pgforge import pooling
from pgforge.bundle import build_bundle
from pgforge.bundle import pgbouncer as part
from pgforge.cli import app
from pgforge.errors import UserError
from pgforge.spec import HostSpec
from pgforge.spec.load import build_spec
from pgforge.tuning import tune

EXAMPLE = textwrap.dedent("""\
    memory: 32GB
    cpus: 8
    storage: nvme
    workload: oltp
    pg_version: 17
    pgbouncer:
      enabled: true
      pool_mode: transaction
      databases: [app]
      client_connections: 2000
    access:
      - {type: hostssl, database: app, user: app, address: 10.0.1.0/24}
      - {type: host, database: replication, user: replicator, address: 10.0.2.10/32}
    replication:
      replicas: [{name: replica1, host: 10.0.2.10}]
      mode: async            # or sync
    archive:
      target: s3             # local | s3 | pgbackrest | wal-g
      s3: {bucket: my-wal-archive, prefix: prod/wal}
    backup:
      target: s3
      s3: {bucket: my-backups, prefix: prod/daily}
      retention_days: 30
    """)

TIME_KEYS = {"server_lifetime", "server_idle_timeout", "server_connect_timeout", "server_login_retry",
             "query_wait_timeout", "client_login_timeout", "idle_transaction_timeout", "reserve_pool_timeout"}


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """Read pgbouncer.ini the way PgBouncer does, and fail on what it would misread.

    A comment is a whole line starting with ';' or '#'; a ';' or '#' after a value would become
    part of the value, so it is an error here. Keys may not repeat within a section.
    """
    sections: dict[str, dict[str, str]] = {}
    current: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            assert re.fullmatch(r"\[[a-z]+\]", line), f"line {n}: bad section {line!r}"
            current = line[1:-1]
            assert current not in sections, f"line {n}: section {current} twice"
            sections[current] = {}
            continue
        assert current is not None, f"line {n}: key outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"line {n}: not key = value: {line!r}"
        key, value = key.strip(), value.strip()
        assert ";" not in value and "#" not in value, f"line {n}: inline comment in {line!r}"
        assert key not in sections[current], f"line {n}: {key} twice"
        sections[current][key] = value
    return sections


def bundle_files(spec: HostSpec) -> dict[str, object]:
    return {f.path: f for f in build_bundle(tune(spec))}


def example_spec(tmp_path: Path) -> HostSpec:
    path = tmp_path / "example.yaml"
    path.write_text(EXAMPLE)
    return build_spec(spec_file=str(path))


def _spec(pgbouncer: dict | None = None, **kw) -> HostSpec:
    base = dict(memory="8GB", cpus=4, workload="oltp", pg_version=17)
    base.update(kw)
    pgb = {"enabled": True, "databases": ["app"], "client_connections": 500}
    pgb.update(pgbouncer or {})
    return HostSpec(**base, pgbouncer=pgb)


def test_example_spec_generates_with_the_cli(tmp_path: Path) -> None:
    (tmp_path / "example.yaml").write_text(EXAMPLE)
    out = tmp_path / "bundle"
    result = CliRunner().invoke(app, ["generate", "--spec", str(tmp_path / "example.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    for path in (part.INI_PATH, part.USERLIST_PATH, part.LIMITS_PATH, "pg_hba.conf"):
        assert (out / path).is_file(), path
    assert (out / part.USERLIST_PATH).stat().st_mode & 0o777 == 0o600
    manifest = json.loads((out / "MANIFEST.json").read_text())
    entries = {f["path"]: f for f in manifest["files"]}
    assert entries[part.USERLIST_PATH]["mode"] == "0600"
    assert entries[part.INI_PATH]["apply"] == "restart" and entries[part.USERLIST_PATH]["apply"] == "reload"
    assert "LISTEN/NOTIFY" in result.output  # the transaction-mode caveat reaches the user


def test_example_ini_values(tmp_path: Path) -> None:
    spec = example_spec(tmp_path)
    t = tune(spec)
    ini = parse_ini(bundle_files(spec)[part.INI_PATH].content)
    assert set(ini) == {"databases", "pgbouncer"}  # never [peers] (1.19+) or an empty [users]
    assert ini["databases"] == {"app": "host=127.0.0.1 port=5432 dbname=app"}
    pgb = ini["pgbouncer"]
    assert pgb["pool_mode"] == "transaction"
    assert pgb["auth_type"] == "scram-sha-256"
    assert pgb["admin_users"] == "pgbouncer_admin" and pgb["stats_users"] == "pgbouncer_stats"
    assert pgb["max_client_conn"] == "2010"
    assert (pgb["default_pool_size"], pgb["reserve_pool_size"], pgb["max_db_connections"]) == ("16", "4", "20")
    assert "max_prepared_statements" not in pgb  # 1.18 does not know it
    for key in TIME_KEYS & pgb.keys():
        assert re.fullmatch(r"\d+(\.\d+)?", pgb[key]), f"{key} = {pgb[key]} is not bare seconds"
    assert TIME_KEYS <= pgb.keys()
    for key in ("auth_file", "logfile", "pidfile", "unix_socket_dir"):
        assert pgb[key].startswith("/"), key  # relative paths resolve against PgBouncer's cwd
    assert t.get("max_connections").value == 33


def test_ini_lists_the_caveats_as_comments(tmp_path: Path) -> None:
    text = bundle_files(example_spec(tmp_path))[part.INI_PATH].content
    caveat_lines = [ln for ln in text.splitlines() if ln.startswith(";;   - ")]
    assert len(caveat_lines) == len(pooling.caveats("transaction", (1, 18, 0)))
    assert any("prepared statements break before PgBouncer 1.21" in ln for ln in caveat_lines)


def written_pools(ini: dict[str, dict[str, str]]) -> list[pooling.PoolLimits]:
    g = ini["pgbouncer"]
    return [pooling.PoolLimits(db, int(g["default_pool_size"]), int(g.get("reserve_pool_size", 0)),
                               int(g.get("max_db_connections", 0))) for db in ini["databases"]]


@settings(max_examples=40, deadline=None)
@given(cpus=st.integers(1, 96), memory_gb=st.integers(1, 256), ndb=st.integers(1, 6),
       clients=st.integers(1, 20_000), mode=st.sampled_from(["transaction", "statement", "session"]),
       version=st.sampled_from(["1.18", "1.21", "1.24.1"]), major=st.sampled_from([13, 15, 16, 17, 18]))
def test_written_pools_fit_the_written_max_connections(cpus, memory_gb, ndb, clients, mode, version, major) -> None:
    spec = _spec({"databases": [f"db{i}" for i in range(ndb)], "client_connections": clients, "pool_mode": mode,
                  "version": version}, cpus=cpus, memory=f"{memory_gb}GB", pg_version=major)
    try:
        t = tune(spec)
    except UserError:
        return  # too little memory for the databases: refused with a message, never overcommitted
    files = {f.path: f for f in build_bundle(t)}
    ini = parse_ini(files[part.INI_PATH].content)
    limit = int(re.search(r"^LimitNOFILE=(\d+)$", files[part.LIMITS_PATH].content, re.M)[1])
    superuser = int(t.get("superuser_reserved_connections").value)
    assert pooling.check(written_pools(ini), max_connections=int(t.get("max_connections").value),
                         superuser_reserved=superuser, max_client_conn=int(ini["pgbouncer"]["max_client_conn"]),
                         fd_limit=limit) == []
    assert "peers" not in ini
    has_prepared = "max_prepared_statements" in ini["pgbouncer"]
    assert has_prepared == (version != "1.18" and mode != "session")
    assert t.budget.fits


def test_tls_settings_when_asked() -> None:
    ini = parse_ini(bundle_files(_spec({"tls": True, "listen_addr": "*"}))[part.INI_PATH].content)["pgbouncer"]
    assert ini["client_tls_sslmode"] == "require"
    assert ini["client_tls_cert_file"] == "/etc/pgbouncer/tls/pgbouncer.crt"
    assert ini["client_tls_key_file"] == "/etc/pgbouncer/tls/pgbouncer.key"
    assert ini["client_tls_protocols"] == "secure"
    plain = parse_ini(bundle_files(_spec())[part.INI_PATH].content)["pgbouncer"]
    assert not any(k.startswith("client_tls") for k in plain)


def test_network_listener_without_tls_warns() -> None:
    spec = _spec({"listen_addr": "0.0.0.0"})
    t = tune(spec)
    warns = part.warnings(t)
    assert any("without TLS" in w for w in warns)
    assert ";; WARNING: PgBouncer listens on 0.0.0.0 without TLS" in bundle_files(spec)[part.INI_PATH].content
    assert part.warnings(tune(_spec())) == []


def test_server_not_listening_on_loopback_warns() -> None:
    t = tune(_spec(listen_addresses=["10.0.0.5"]))
    assert any("listen_addresses" in w for w in part.warnings(t))


def test_prepared_statements_from_1_21_in_transaction_mode() -> None:
    ini = parse_ini(bundle_files(_spec({"version": "1.21"}))[part.INI_PATH].content)["pgbouncer"]
    assert ini["max_prepared_statements"] == str(part.MAX_PREPARED_STATEMENTS)
    ini = parse_ini(bundle_files(_spec({"version": "1.21", "pool_mode": "session"}))[part.INI_PATH].content)["pgbouncer"]
    assert "max_prepared_statements" not in ini and "idle_transaction_timeout" not in ini
    assert ini["reserve_pool_size"] == "0" and "reserve_pool_timeout" not in ini


def test_userlist_has_no_secrets_and_only_semicolon_comments(tmp_path: Path) -> None:
    f = bundle_files(example_spec(tmp_path))[part.USERLIST_PATH]
    assert f.mode == 0o600
    lines = [ln for ln in f.content.splitlines() if ln.strip()]
    assert lines and all(ln.startswith(";") for ln in lines)  # '#' is not a comment in an auth_file
    assert "SCRAM-SHA-256$" not in f.content.replace("SCRAM-SHA-256$<", "")
    sql = next(ln.split("SQL: ", 1)[1] for ln in lines if ln.startswith(";; SQL: "))
    assert "IN ('app', 'pgbouncer_admin', 'pgbouncer_stats')" in sql
    assert '"' not in sql and "$" not in sql  # fits in psql -c "..." unchanged


def test_limits_dropin_states_the_descriptor_need(tmp_path: Path) -> None:
    f = bundle_files(example_spec(tmp_path))[part.LIMITS_PATH]
    assert "[Service]" in f.content
    limit = int(re.search(r"^LimitNOFILE=(\d+)$", f.content, re.M)[1])
    assert limit >= 2010 + 20 + pooling.FD_OVERHEAD
    assert limit % 1024 == 0


def test_no_files_unless_enabled() -> None:
    spec = HostSpec(memory="8GB", cpus=4, pgbouncer={"enabled": False, "databases": ["app"]})
    assert not any(p.startswith("pgbouncer/") for p in bundle_files(spec))
    assert not any(p.startswith("pgbouncer/") for p in bundle_files(HostSpec(memory="8GB", cpus=4)))


@pytest.mark.parametrize(("section", "message"), [
    ({"enabled": True}, "no databases are listed"),
    ({"enabled": True, "databases": ["pgbouncer"]}, "admin console"),
    ({"enabled": True, "databases": ["my db"]}, "unquoted"),
    ({"enabled": True, "databases": ["app"], "version": "1.16"}, "older than 1.18"),
    ({"enabled": True, "databases": ["app"], "version": "latest"}, "MAJOR.MINOR"),
    ({"enabled": True, "databases": ["app"], "listen_addr": "db.example.com"}, "listen_addr"),
    ({"enabled": True, "databases": ["app"], "tls_cert_file": "tls/x.crt"}, "absolute path"),
])
def test_bad_sections_are_refused(tmp_path: Path, section: dict, message: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps({"memory": "8GB", "cpus": 4, "pgbouncer": section}))
    with pytest.raises(UserError, match=re.escape(message)):
        build_spec(spec_file=str(path))


def test_userlist_sql_survives_the_shell_double_quotes_it_is_pasted_into() -> None:
    # the instruction is: psql -XAt -c "<SQL>"; a $ in a role name must not expand there
    import subprocess

    from pgforge.bundle.pgbouncer import userlist_sql

    sql = userlist_sql(["app", "a$HOME", "b$(id)"])
    echoed = subprocess.run(["bash", "-c", f'printf %s "{sql}"'], capture_output=True, text=True, check=True).stdout
    assert echoed == sql
    assert "'a' || chr(36) || 'HOME'" in sql and "'app'" in sql


# -- one pool plan: computed once, carried on the tuning, read by pgbouncer.ini, max_connections,
#    explain and PGF401 ------------------------------------------------------------------------


def test_the_pool_plan_is_computed_once_per_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = pooling.plan_for_spec
    monkeypatch.setattr(pooling, "plan_for_spec", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    t = tune(_spec())
    build_bundle(t)
    assert len(calls) == 1  # the rule sized the server from it; the part did not plan again


def test_pgbouncer_ini_writes_the_plan_the_tuning_carries() -> None:
    """The part renders ``Tuning.pools``: a different carried plan changes the file (before, the
    part planned the pools again from the spec and ignored what the tuning held)."""
    import dataclasses

    t = tune(_spec({"databases": ["a", "b"]}))
    smaller = dataclasses.replace(t.pools.plan, default_pool_size=3, reserve_pool_size=1)
    t.pools = dataclasses.replace(t.pools, plan=smaller)
    pgb = parse_ini(bundle_files_of(t)[part.INI_PATH].content)["pgbouncer"]
    assert (pgb["default_pool_size"], pgb["reserve_pool_size"], pgb["max_db_connections"]) == ("3", "1", "4")


def bundle_files_of(t) -> dict[str, object]:
    return {f.path: f for f in build_bundle(t)}


@pytest.mark.parametrize("pool_size", [None, 7, 40])
def test_one_plan_for_ini_max_connections_explain_and_pgf401(tmp_path: Path, pool_size: int | None) -> None:
    """Change a plan input (the spec's pool_size) and the carried plan, pgbouncer.ini, max_connections,
    explain and what PGF401 reads back from the written file all follow it."""
    from pgforge.audit.checks.coherence import pool_limits
    from pgforge.audit.discover import discover
    from pgforge.explain import explain_rule
    from pgforge.writer import write_bundle

    spec = _spec({"databases": ["app", "web"], "pool_size": pool_size})
    t = tune(spec)
    plan = t.pools.plan
    if pool_size is not None:
        assert plan.default_pool_size == pool_size and plan.limited_by == "spec"
    assert t.get("max_connections").value == t.pools.required_max_connections
    files = build_bundle(t)
    pgb = parse_ini({f.path: f for f in files}[part.INI_PATH].content)["pgbouncer"]
    assert (int(pgb["default_pool_size"]), int(pgb["reserve_pool_size"]), int(pgb["max_db_connections"]),
            int(pgb["max_client_conn"])) == (plan.default_pool_size, plan.reserve_pool_size,
                                             plan.max_db_connections, plan.max_client_conn)
    explained = explain_rule("max_connections", spec)
    assert f"default_pool_size={plan.default_pool_size}" in explained
    assert f"pooled={plan.server_connections}" in explained
    write_bundle(tmp_path / "b", files, force=True)
    [target] = discover([tmp_path / "b"], major=17)
    read_back = [p for p, _ in pool_limits(target)]
    assert [(p.database, p.pool_size, p.reserve_pool_size, p.max_db_connections) for p in read_back] == \
           [(p.database, p.pool_size, p.reserve_pool_size, p.max_db_connections) for p in plan.limits()]
    assert pooling.check(read_back, max_connections=t.get("max_connections").value,
                         superuser_reserved=t.pools.superuser_reserved) == []
