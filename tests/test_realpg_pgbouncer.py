"""The generated pgbouncer.ini and userlist.txt, run by the real PgBouncer 1.18 (Debian 12's)
in front of a real PostgreSQL 17 that uses the bundle's pg_hba.conf and max_connections.

The harness here rewrites only where things live (listen address and port, socket directory,
log, pid and auth file paths into a temp dir, and the server's port); every other line of
pgbouncer.ini is PgBouncer's to accept or refuse. The userlist is filled with the very query the
template tells the user to run. Clients log in with SCRAM through PgBouncer; six clients share a
pool of two server connections in transaction mode, and the server never sees more than two.
"""

from __future__ import annotations

import os
import pwd
import re
import resource
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from pgharness import PG_OS_USER, PgCluster, _write_pg_owned, client_bindir, free_port, in_ci, pg_user_tmpdir, run_as_postgres
from pgforge.bundle import build_bundle, pg_hba
from pgforge.bundle import pgbouncer as part
from pgforge.spec import HostSpec
from pgforge.tuning import tune

MAJOR = 17
PGBOUNCER = Path(os.environ.get("PGFORGE_PGBOUNCER", "/usr/sbin/pgbouncer"))
APP_PASSWORD = "app-pw-through-bouncer"
ADMIN_PASSWORD = "admin-pw"
CLIENTS = 6
SLEEP_S = 0.5

# 1 CPU: cores x 2 = a pool of 2 per database (+1 reserve after reserve_pool_timeout = 5 s, which
# six clients x 0.5 s over two connections never reach).
SPEC = dict(memory="1GB", cpus=1, storage="ssd", workload="oltp", pg_version=MAJOR,
            pgbouncer={"enabled": True, "pool_mode": "transaction", "databases": ["app"], "client_connections": 50,
                       "users": ["app"]},
            access=[{"type": "host", "database": "app", "user": "monitor", "address": "127.0.0.1/32"}])

def _need_pgbouncer() -> None:
    if not os.access(PGBOUNCER, os.X_OK):
        message = f"PgBouncer not found at {PGBOUNCER} (apt-get install pgbouncer)"
        if in_ci():
            pytest.fail(message + " (CI=true, so this is a failure)")
        pytest.skip(message)


def relocate(ini: str, workdir: Path, port: int, server_port: int, extra: dict[str, str] | None = None) -> str:
    """The generated ini with paths, listen port and server port moved to the test's own."""
    values = {"listen_addr": "127.0.0.1", "listen_port": str(port), "unix_socket_dir": str(workdir),
              "logfile": str(workdir / "pgbouncer.log"), "pidfile": str(workdir / "pgbouncer.pid"),
              "auth_file": str(workdir / "userlist.txt"), **(extra or {})}
    out, seen = [], set()
    for line in ini.splitlines():
        key = line.split("=", 1)[0].strip()
        if key in values and not line.startswith((";", "#")):
            line, _ = f"{key} = {values[key]}", seen.add(key)
        elif re.match(r"^app = host=127\.0\.0\.1 port=\d+ dbname=app$", line):
            line, _ = re.sub(r"port=\d+", f"port={server_port}", line), seen.add("app")
        out.append(line)
    assert seen == {*values, "app"}, f"generated pgbouncer.ini lacks {set(values) - seen}"
    return "\n".join(out) + "\n"


def psql_as_postgres(c: PgCluster, sql: str, db: str = "postgres") -> str:
    proc = run_as_postgres([client_bindir() / "psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                            "-h", c.sockdir, "-p", str(c.port), "-U", "postgres", "-d", db, "-f", "-"], input=sql)
    return proc.stdout.strip()


def console(port: int, command: str, sslmode: str = "prefer") -> list[dict[str, str]]:
    """A command on PgBouncer's admin console (simple query protocol, so psql), as rows of dicts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    proc = subprocess.run([str(client_bindir() / "psql"), "-X", "-A", "-F", "\t", "--pset=footer=off", "-d",
                           f"host=127.0.0.1 port={port} dbname=pgbouncer user=pgbouncer_admin password={ADMIN_PASSWORD} "
                           f"sslmode={sslmode}", "-c", command], capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.strip().splitlines()
    names = header.split("\t")
    return [dict(zip(names, r.split("\t"))) for r in rows]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pgbouncer exited with {proc.returncode}:\n{log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"pgbouncer did not listen on {port}:\n{log.read_text() if log.exists() else ''}")


def start_pgbouncer(workdir: Path, ini: str, port: int, nofile: int) -> subprocess.Popen:
    """The real PgBouncer in the foreground as the postgres OS user, with ``nofile`` descriptors
    (the LimitNOFILE of the bundle's drop-in, capped at this machine's hard limit)."""
    _write_pg_owned(workdir / "pgbouncer.ini", ini)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
    account = pwd.getpwnam(PG_OS_USER) if os.geteuid() == 0 else None
    proc = subprocess.Popen(
        [str(PGBOUNCER), str(workdir / "pgbouncer.ini")], cwd=workdir, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)),
        **({"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if account else {}))
    wait_for_port(port, proc, workdir / "pgbouncer.log")
    return proc


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()  # SIGTERM: immediate shutdown in 1.18
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_pgbouncer_pools_in_front_of_a_real_server() -> None:
    _need_pgbouncer()
    spec = HostSpec(**SPEC)
    t = tune(spec)
    files = {f.path: f for f in build_bundle(t)}
    plan = part.plan_for_tuning(t)
    assert (plan.default_pool_size, plan.reserve_pool_size) == (2, 1)
    conf = "\n".join(m[0] for m in re.finditer(r"^(max_connections|superuser_reserved_connections|password_encryption)"
                                               r" = .*$", files["postgresql.conf"].content, re.M))
    max_connections = int(t.get("max_connections").value)
    assert f"max_connections = {max_connections}" in conf

    workdir = pg_user_tmpdir("pgforge-pgbouncer-")
    proc: subprocess.Popen | None = None
    try:
        with PgCluster(MAJOR, conf_extra=conf, hba=files[pg_hba.PATH].content) as c:
            assert psql_as_postgres(c, "show max_connections") == str(max_connections)
            psql_as_postgres(c, f"""
                create role app login password '{APP_PASSWORD}';
                create role pgbouncer_admin nologin password '{ADMIN_PASSWORD}';
                create role pgbouncer_stats nologin password 'stats-pw';
                create role monitor login password 'monitor-pw' in role pg_monitor;
                create database app owner app;
            """)
            # the userlist the user would write: the template plus what its own query prints
            template = files[part.USERLIST_PATH].content
            sql = next(ln.split("SQL: ", 1)[1] for ln in template.splitlines() if ln.startswith(";; SQL: "))
            secrets = psql_as_postgres(c, sql)
            assert [ln.split('" "')[0] for ln in secrets.splitlines()] == ['"app', '"pgbouncer_admin', '"pgbouncer_stats']
            assert all('"SCRAM-SHA-256$' in ln for ln in secrets.splitlines())
            _write_pg_owned(workdir / "userlist.txt", template + secrets + "\n")

            port = free_port()
            ini = relocate(files[part.INI_PATH].content, workdir, port, c.port)
            nofile = int(re.search(r"^LimitNOFILE=(\d+)$", files[part.LIMITS_PATH].content, re.M)[1])
            proc = start_pgbouncer(workdir, ini, port, nofile)
            log = workdir / "pgbouncer.log"

            # PgBouncer's own descriptor estimate fits the limit the bundle states
            started = log.read_text()
            m = re.search(r"kernel file descriptor limit: (\d+) .*max expected fd use: (\d+)", started)
            assert m and int(m[2]) <= int(m[1]) <= nofile, started
            assert "ERROR" not in started and "WARNING" not in started, started

            config = {r["key"]: r["value"] for r in console(port, "SHOW CONFIG")}
            assert config["pool_mode"] == "transaction" and config["auth_type"] == "scram-sha-256"
            assert config["default_pool_size"] == "2" and config["max_db_connections"] == "3"

            def through_bouncer(password: str = APP_PASSWORD) -> psycopg.Connection:
                # prepare_threshold=None: no protocol-level prepared statements (the 1.18 caveat)
                return psycopg.connect(host="127.0.0.1", port=port, dbname="app", user="app", password=password,
                                       prepare_threshold=None, connect_timeout=10)

            # queries in transaction mode: a transaction's statements share one server connection
            with through_bouncer() as conn:
                with conn.transaction():
                    conn.execute("create table t (n int)")
                    conn.execute("insert into t select generate_series(1, 100)")
                    assert conn.execute("select sum(n) from t").fetchone()[0] == 5050
                assert conn.execute("select count(*) from t").fetchone()[0] == 100
            with pytest.raises(psycopg.OperationalError, match="password authentication failed|SASL"):
                through_bouncer("wrong").close()

            # six clients, two server connections: all finish, the server never sees a third
            monitor = psycopg.connect(host="127.0.0.1", port=c.port, dbname="app", user="monitor",
                                      password="monitor-pw", autocommit=True)
            peak, done, errors = [0], threading.Event(), []
            finished = []
            barrier = threading.Barrier(CLIENTS)

            def watch() -> None:
                while not done.is_set():
                    n = monitor.execute("select count(*) from pg_stat_activity where usename = 'app' "
                                        "and backend_type = 'client backend'").fetchone()[0]
                    peak[0] = max(peak[0], n)
                    time.sleep(0.01)

            def client() -> None:
                try:
                    with through_bouncer() as conn:
                        conn.autocommit = True
                        barrier.wait(timeout=30)  # all six connected to PgBouncer at once
                        conn.execute(f"select pg_sleep({SLEEP_S})")
                        finished.append(time.monotonic())
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            watcher = threading.Thread(target=watch)
            watcher.start()
            start = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=60)
            done.set()
            watcher.join(timeout=10)
            monitor.close()
            elapsed = max(finished) - start if finished else 0.0

            assert errors == [] and len(finished) == CLIENTS
            assert 1 <= peak[0] <= plan.default_pool_size, peak[0]
            # three waves of two: the clients really queued for the two server connections
            assert elapsed >= (CLIENTS / plan.default_pool_size) * SLEEP_S * 0.9, elapsed
            pools = [p for p in console(port, "SHOW POOLS") if p["database"] == "app" and p["user"] == "app"]
            assert pools and pools[0]["pool_mode"] == "transaction"
            servers = sum(int(pools[0][k]) for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))
            assert servers <= plan.default_pool_size
            stats = {r["database"]: r for r in console(port, "SHOW STATS")}
            assert int(stats["app"]["total_xact_count"]) >= CLIENTS
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def test_pgbouncer_tls_settings_serve_tls() -> None:
    """tls: true writes client_tls_* lines PgBouncer 1.18 loads, and clients then must use TLS."""
    _need_pgbouncer()
    spec = HostSpec(**{**SPEC, "pgbouncer": {**SPEC["pgbouncer"], "tls": True}})
    files = {f.path: f for f in build_bundle(tune(spec))}
    workdir = pg_user_tmpdir("pgforge-pgbouncer-tls-")
    proc: subprocess.Popen | None = None
    try:
        key, crt = workdir / "pgbouncer.key", workdir / "pgbouncer.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(crt)],
                       check=True, capture_output=True, timeout=60)
        _write_pg_owned(key, key.read_text())
        _write_pg_owned(crt, crt.read_text())
        # a plain-text secret is enough for the console; no server is needed to prove TLS
        _write_pg_owned(workdir / "userlist.txt",
                        files[part.USERLIST_PATH].content + f'"pgbouncer_admin" "{ADMIN_PASSWORD}"\n')
        port = free_port()
        ini = relocate(files[part.INI_PATH].content, workdir, port, free_port(),
                       {"client_tls_cert_file": str(crt), "client_tls_key_file": str(key)})
        proc = start_pgbouncer(workdir, ini, port, 1024)
        config = {r["key"]: r["value"] for r in console(port, "SHOW CONFIG", sslmode="require")}
        assert config["client_tls_sslmode"] == "require" and config["client_tls_protocols"] == "secure"
        clients = console(port, "SHOW CLIENTS", sslmode="require")
        assert any(r.get("tls", "").startswith("TLSv1.") for r in clients), clients
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        plain = subprocess.run([str(client_bindir() / "psql"), "-X", "-d",
                                f"host=127.0.0.1 port={port} dbname=pgbouncer user=pgbouncer_admin "
                                f"password={ADMIN_PASSWORD} sslmode=disable", "-c", "SHOW VERSION"],
                               capture_output=True, text=True, env=env, timeout=30)
        assert plain.returncode != 0 and "SSL required" in plain.stderr, plain.stderr
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
