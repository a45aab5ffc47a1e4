"""The generated pg_hba.conf and ssl settings, loaded by a real PostgreSQL 17.

The spec's addresses are loopback ones, so no rewriting is needed: the server (harness: listens
on 127.0.0.1) starts with the bundle's pg_hba.conf and its ssl lines, a self-signed certificate
made here with openssl sits where the bundle says, and real clients are let in or turned away.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from pgharness import PgCluster, _write_pg_owned, client_bindir, in_ci, run_as_postgres
from pgforge.bundle import build_bundle, pg_hba
from pgforge.rules.ssl import CERT_FILE, KEY_FILE
from pgforge.spec import HostSpec
from pgforge.tuning import tune

MAJOR = 17
PASSWORD = "s3cret-hba"

SPEC = dict(
    memory="1GB", cpus=1, pg_version=MAJOR,
    access=[
        {"type": "hostssl", "database": "app", "user": "app", "address": "127.0.0.1/32"},
        {"type": "host", "database": "app", "user": "+staff", "address": "127.0.0.0/8"},
        # written last, but more specific than the +staff line: pgforge puts it before that line
        {"type": "host", "database": "app", "user": "mallory", "address": "127.0.0.1/32", "method": "reject"},
        {"type": "host", "database": "all", "user": "carol", "address": "127.0.0.2/32"},
    ],
    replication={"replicas": [{"name": "r1", "host": "127.0.0.1"}]},
)


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        if in_ci():
            pytest.fail("openssl not found (CI=true, so this is a failure)")
        pytest.skip("openssl not found")
    return path


class SslCluster(PgCluster):
    """A PgCluster whose data directory holds a self-signed certificate before the first start."""

    def _init(self) -> None:
        super()._init()
        key, crt = self.datadir / KEY_FILE, self.datadir / CERT_FILE
        subprocess.run([_openssl(), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(crt)],
                       check=True, capture_output=True, timeout=60)
        _write_pg_owned(key, key.read_text())  # owner postgres, mode 0600: the server insists
        _write_pg_owned(crt, crt.read_text())


def generated() -> tuple[str, str]:
    """(pg_hba.conf, the postgresql.conf lines this test takes: ssl* and password_encryption)."""
    files = {f.path: f.content for f in build_bundle(tune(HostSpec(**SPEC)))}
    wanted = re.compile(r"^(ssl\w*|password_encryption) = .*$", re.M)
    conf = "\n".join(m[0] for m in wanted.finditer(files["postgresql.conf"]))
    return files[pg_hba.PATH], conf


def psql_as_postgres(c: PgCluster, sql: str, db: str = "postgres") -> str:
    """psql over the Unix socket as the postgres OS user: the generated 'local all postgres peer' line."""
    proc = run_as_postgres([client_bindir() / "psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                            "-h", c.sockdir, "-p", str(c.port), "-U", "postgres", "-d", db, "-f", "-"], input=sql)
    return proc.stdout.strip()


def connect(c: PgCluster, user: str, db: str = "app", *, sslmode: str = "prefer", extra: str = "",
            sql: str = "select current_user") -> subprocess.CompletedProcess[str]:
    """A TCP client on 127.0.0.1 as ``user`` with the shared test password."""
    conninfo = (f"host=127.0.0.1 port={c.port} dbname={db} user={user} password={PASSWORD} "
                f"sslmode={sslmode} connect_timeout=10 {extra}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run([str(client_bindir() / "psql"), "-X", "-A", "-t", "-d", conninfo, "-c", sql],
                          capture_output=True, text=True, env=env, timeout=60)


def test_generated_hba_in_a_real_server() -> None:
    hba_text, conf = generated()
    assert "ssl = on" in conf and "password_encryption = scram-sha-256" in conf
    with SslCluster(MAJOR, conf_extra=conf, hba=hba_text) as c:
        # every line loaded, in the order pgforge chose
        assert psql_as_postgres(c, "select count(*) from pg_hba_file_rules where error is not null") == "0"
        rules = psql_as_postgres(c, "select type || ' ' || array_to_string(user_name, ',') || ' ' || auth_method "
                                    "from pg_hba_file_rules order by rule_number").splitlines()
        assert rules[0] == "local postgres peer"
        assert rules.index("host mallory reject") < rules.index("host +staff scram-sha-256")
        assert "hostssl replicator scram-sha-256" in rules  # ssl is on: the replica line demands TLS

        psql_as_postgres(c, f"""
            create role staff nologin;
            create role app login password '{PASSWORD}';
            create role bob login password '{PASSWORD}' in role staff;
            create role mallory login password '{PASSWORD}' in role staff;
            create role carol login password '{PASSWORD}';
            create role replicator login replication password '{PASSWORD}';
            create database app owner app;
        """)

        ok = connect(c, "app", sslmode="require", sql="select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        assert ok.returncode == 0 and ok.stdout.strip() == "t", ok.stderr  # hostssl, SCRAM, over TLS
        plain = connect(c, "app", sslmode="disable")
        assert plain.returncode != 0 and "no pg_hba.conf entry" in plain.stderr and "no encryption" in plain.stderr

        bob = connect(c, "bob", sslmode="disable")
        assert bob.returncode == 0 and bob.stdout.strip() == "bob", bob.stderr  # +staff line
        wrong = connect(c, "bob", sslmode="disable", extra="password=wrong")
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr

        mallory = connect(c, "mallory", sslmode="disable")  # in staff, right password, but the reject line is first
        assert mallory.returncode != 0 and "pg_hba.conf rejects connection" in mallory.stderr

        carol = connect(c, "carol", db="postgres", sslmode="disable")  # allowed from 127.0.0.2 only
        assert carol.returncode != 0 and 'no pg_hba.conf entry for host "127.0.0.1"' in carol.stderr

        rep = connect(c, "replicator", db="postgres", sslmode="require", extra="replication=true",
                      sql="IDENTIFY_SYSTEM")
        assert rep.returncode == 0 and rep.stdout.strip(), rep.stderr  # the generated replica line, over TLS
        plain = connect(c, "replicator", db="postgres", sslmode="disable", extra="replication=true",
                        sql="IDENTIFY_SYSTEM")
        assert plain.returncode != 0  # and not without it

        if os.geteuid() == 0:  # the peer line lets only the postgres OS account in as postgres
            env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
            root = subprocess.run([str(client_bindir() / "psql"), "-X", "-h", str(c.sockdir), "-p", str(c.port),
                                   "-U", "postgres", "-c", "select 1"], capture_output=True, text=True, env=env,
                                  timeout=60)
            assert root.returncode != 0 and "Peer authentication failed" in root.stderr
