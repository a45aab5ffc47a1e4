"""Security checks (PGF201-PGF212): a failing and a passing example each, and the pg_hba.conf
matching semantics behind the shadowed-line check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pgforge.hba_semantics import covers
from pgforge.audit.model import Finding
from pgforge.parsers.hba import parse_hba


def hba(audit, text: str, select: str, conf: str | None = None) -> list[Finding]:
    files = {"pg_hba.conf": text}
    if conf is not None:
        files["postgresql.conf"] = conf
    return audit(files, select)


def where(found: list[Finding]) -> list[tuple[int, int, str]]:
    return [(f.line, f.column, f.severity) for f in found]


# -- PGF201 trust ----------------------------------------------------------------------------

def test_pgf201_trust_on_tcp_is_a_loud_error(audit) -> None:
    found = hba(audit, "host    all  all  10.0.0.0/8    trust\n", "PGF201")
    assert where(found) == [(1, 33, "error")]
    assert "WITHOUT A PASSWORD" in found[0].message and "10.0.0.0/8" in found[0].message


def test_pgf201_local_and_loopback_trust_are_warnings(audit) -> None:
    found = hba(audit, "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n", "PGF201")
    assert [s for _, _, s in where(found)] == ["warning", "warning", "warning"]


def test_pgf201_passes(audit) -> None:
    assert hba(audit, "local all postgres peer\nhostssl all all 10.0.0.0/8 scram-sha-256\n", "PGF201") == []


# -- PGF202 password -------------------------------------------------------------------------

def test_pgf202_password(audit) -> None:
    found = hba(audit, "host app app 10.0.1.0/24 password\nhostssl app app 10.0.2.0/24 password\n", "PGF202")
    assert where(found) == [(1, 26, "error"), (2, 29, "warning")]


def test_pgf202_passes(audit) -> None:
    assert hba(audit, "host app app 10.0.1.0/24 scram-sha-256\n", "PGF202") == []


# -- PGF203 md5 --------------------------------------------------------------------------------

def test_pgf203_md5_depends_on_password_encryption(audit) -> None:
    text = "hostssl app app 10.0.1.0/24 md5\n"
    assert where(hba(audit, text, "PGF203", conf="password_encryption = md5\n")) == [(1, 29, "warning")]
    # SCRAM secrets are checked with SCRAM even on an md5 line: informational only (known false positive)
    assert where(hba(audit, text, "PGF203", conf="password_encryption = scram-sha-256\n")) == [(1, 29, "info")]


def test_pgf203_passes(audit) -> None:
    assert hba(audit, "hostssl app app 10.0.1.0/24 scram-sha-256\n", "PGF203") == []


# -- PGF204 open to the world ---------------------------------------------------------------

@pytest.mark.parametrize("address", ["0.0.0.0/0", "::/0", "all", "0.0.0.0 0.0.0.0"])
def test_pgf204_open_to_world(audit, address: str) -> None:
    found = hba(audit, f"hostssl app app {address} scram-sha-256\n", "PGF204")
    assert where(found) == [(1, 17, "error")]


def test_pgf204_client_certificates_soften_it(audit) -> None:
    found = hba(audit, "hostssl app app 0.0.0.0/0 cert\n", "PGF204")
    assert where(found) == [(1, 17, "warning")]


@pytest.mark.parametrize("line", ["hostssl app app 10.0.0.0/8 scram-sha-256", "host all all 0.0.0.0/0 reject",
                                  "host app app 0.0.0.1/32 scram-sha-256"])
def test_pgf204_passes(audit, line: str) -> None:
    assert hba(audit, line + "\n", "PGF204") == []


# -- PGF205 all all ----------------------------------------------------------------------------

def test_pgf205_all_all(audit) -> None:
    found = hba(audit, "hostssl all all 10.0.1.0/24 scram-sha-256\n", "PGF205")
    assert where(found) == [(1, 1, "warning")]


@pytest.mark.parametrize("line", ["host all all 127.0.0.1/32 scram-sha-256", "host all all samehost scram-sha-256",
                                  "hostssl app all 10.0.1.0/24 scram-sha-256", "host all all 10.0.0.0/8 reject",
                                  'hostssl "all" all 10.0.1.0/24 scram-sha-256'])
def test_pgf205_passes(audit, line: str) -> None:
    assert hba(audit, line + "\n", "PGF205") == []


# -- PGF206 no TLS where ssl is on --------------------------------------------------------------

def test_pgf206_host_lines_with_ssl_on(audit) -> None:
    text = "host app app 10.0.1.0/24 scram-sha-256\nhostnossl app app 10.0.2.0/24 scram-sha-256\n"
    found = hba(audit, text, "PGF206", conf="ssl = on\n")
    assert where(found) == [(1, 1, "warning"), (2, 1, "warning")]
    assert "postgresql.conf:1" in found[0].message


def test_pgf206_passes(audit) -> None:
    text = "host app app 127.0.0.1/32 scram-sha-256\nhostssl app app 10.0.1.0/24 scram-sha-256\n" \
           "hostnossl all all 0.0.0.0/0 reject\n"
    assert hba(audit, text, "PGF206", conf="ssl = on\n") == []
    # ssl off: a host line is the only way in, nothing to enforce
    assert hba(audit, "host app app 10.0.1.0/24 scram-sha-256\n", "PGF206", conf="ssl = off\n") == []


# -- PGF207 shadowed lines ------------------------------------------------------------------------

def test_pgf207_shadowed_line(audit) -> None:
    text = ("hostssl all all 10.0.0.0/8 scram-sha-256\n"
            "hostssl app bob 10.0.1.0/24 reject\n"
            "host    all all 10.0.0.0/8 scram-sha-256\n")
    found = hba(audit, text, "PGF207")
    assert where(found) == [(2, 1, "warning")]
    assert "line 1" in found[0].message


def test_pgf207_duplicate_and_earlier_reject(audit) -> None:
    text = "host all all 10.0.0.0/8 reject\nhost app app 10.1.0.0/16 scram-sha-256\nhost all all 10.0.0.0/8 reject\n"
    found = hba(audit, text, "PGF207")
    assert [f.line for f in found] == [2, 3] and "repeats" in found[1].message


def test_pgf207_passes_most_specific_first(audit) -> None:
    text = ("hostssl app bob 10.0.1.0/24 reject\n"
            "hostssl all all 10.0.0.0/8 scram-sha-256\n"
            "host replication rep 10.0.0.0/8 scram-sha-256\n")  # 'all' does not cover replication
    assert hba(audit, text, "PGF207") == []


def _rules(text: str):
    return parse_hba(text).rules


@pytest.mark.parametrize("a,b,expected", [
    # types: host covers the TLS variants, not the other way; local only local
    ("host all all 10.0.0.0/8 trust", "hostssl all all 10.0.0.0/8 trust", True),
    ("host all all 10.0.0.0/8 trust", "hostnogssenc all all 10.0.0.0/8 trust", True),
    ("hostssl all all 10.0.0.0/8 trust", "host all all 10.0.0.0/8 trust", False),
    ("hostssl all all 10.0.0.0/8 trust", "hostnossl all all 10.0.0.0/8 trust", False),
    ("local all all peer", "host all all 127.0.0.1/32 trust", False),
    # databases: all does not match physical replication; replication only replication
    ("host all all all trust", "host replication all 10.0.0.1/32 trust", False),
    ("host replication all all trust", "host replication rep 10.0.0.1/32 trust", True),
    ("host replication all all trust", "host app all 10.0.0.1/32 trust", False),
    ("host all all all trust", "host sameuser all 10.0.0.1/32 trust", True),
    ("host all all all trust", "host samerole all 10.0.0.1/32 trust", True),
    ("host sameuser all all trust", "host app all 10.0.0.1/32 trust", False),
    ("host all all all trust", 'host "replication" all 10.0.0.1/32 trust', True),  # quoted: a database name
    ("host app,shop all all trust", "host shop all 10.0.0.1/32 trust", True),
    ("host app all all trust", "host app,shop all 10.0.0.1/32 trust", False),
    # users: all covers everything; +group, regex and names only themselves
    ("host all all all trust", "host all +admins 10.0.0.1/32 trust", True),
    ("host all +admins all trust", "host all bob 10.0.0.1/32 trust", False),
    ("host all +admins all trust", "host all +admins 10.0.0.1/32 trust", True),
    ("host all /^a all trust", "host all alice 10.0.0.1/32 trust", False),
    ('host all "all" all trust', "host all bob 10.0.0.1/32 trust", False),  # a role called "all"
    # addresses: CIDR containment within one family; names and samenet only themselves
    ("host all all 10.0.0.0/8 trust", "host all all 10.1.2.0/24 trust", True),
    ("host all all 10.1.2.0/24 trust", "host all all 10.0.0.0/8 trust", False),
    ("host all all 10.0.0.0 255.0.0.0 trust", "host all all 10.9.9.9/32 trust", True),
    ("host all all 0.0.0.0/0 trust", "host all all ::1/128 trust", False),
    ("host all all all trust", "host all all db.example.com trust", True),
    ("host all all .example.com trust", "host all all db.example.com trust", True),
    ("host all all db.example.com trust", "host all all 10.0.0.1/32 trust", False),
    ("host all all samenet trust", "host all all 10.0.0.1/32 trust", False),
    ("host all all samehost trust", "host all all samehost trust", True),
])
def test_covers_semantics(a: str, b: str, expected: bool) -> None:
    ra, rb = _rules(a + "\n" + b + "\n")
    assert covers(ra, rb) is expected


# -- PGF208 password_encryption -----------------------------------------------------------------

def test_pgf208_password_encryption_md5(audit) -> None:
    found = audit({"postgresql.conf": "password_encryption = md5\n"}, "PGF208")
    assert [(f.line, f.column) for f in found] == [(1, 23)]


def test_pgf208_pg13_default_is_md5(audit) -> None:
    found = audit({"postgresql.conf": "work_mem = 4MB\n"}, "PGF208", major=13)
    assert len(found) == 1 and "PostgreSQL 13's default" in found[0].message and found[0].line == 1


def test_pgf208_passes(audit) -> None:
    assert audit({"postgresql.conf": "password_encryption = scram-sha-256\n"}, "PGF208") == []
    assert audit({"postgresql.conf": "work_mem = 4MB\n"}, "PGF208", major=17) == []


# -- PGF209 listen everywhere with wide lines ---------------------------------------------------

@pytest.mark.parametrize("listen", ["*", "0.0.0.0", "::", "localhost,::"])
def test_pgf209_listen_all_with_wide_lines(audit, listen: str) -> None:
    found = hba(audit, "hostssl app app 10.0.0.0/8 scram-sha-256\n", "PGF209",
                conf=f"listen_addresses = '{listen}'\n")
    assert [(Path(f.path).name, f.line) for f in found] == [("postgresql.conf", 1)]
    assert "pg_hba.conf:1" in found[0].message


def test_pgf209_passes_with_narrow_lines_or_narrow_listen(audit) -> None:
    assert hba(audit, "hostssl app app 10.0.1.0/24 scram-sha-256\n", "PGF209",
               conf="listen_addresses = '*'\n") == []
    assert hba(audit, "hostssl app app 10.0.0.0/8 scram-sha-256\n", "PGF209",
               conf="listen_addresses = '10.0.1.5'\n") == []


# -- PGF210 PgBouncer auth_type --------------------------------------------------------------------

@pytest.mark.parametrize("auth,listen,severity", [("any", "", "error"), ("trust", "listen_addr = *\n", "error"),
                                                  ("trust", "listen_addr = 127.0.0.1\n", "warning"),
                                                  ("trust", "", "warning"), ("plain", "", "warning")])
def test_pgf210_weak_auth_type(audit, auth: str, listen: str, severity: str) -> None:
    found = audit({"pgbouncer.ini": f"[pgbouncer]\n{listen}auth_type = {auth}\n"}, "PGF210")
    line = 3 if listen else 2
    assert [(f.line, f.column, f.severity) for f in found] == [(line, 13, severity)]


@pytest.mark.parametrize("auth", ["scram-sha-256", "md5", "hba", "cert"])
def test_pgf210_passes(audit, auth: str) -> None:
    assert audit({"pgbouncer.ini": f"[pgbouncer]\nlisten_addr = *\nauth_type = {auth}\n"}, "PGF210") == []


# -- PGF211 secret files --------------------------------------------------------------------------

USERLIST = '"app" "SCRAM-SHA-256$4096:c2FsdA==$a2V5:c2Vydg=="\n'


@pytest.mark.parametrize("name,text", [("userlist.txt", USERLIST), (".pgpass", "db:5432:*:app:secret\n")])
def test_pgf211_world_and_group_readable(audit, tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o644)
    found = audit({}, "PGF211")
    assert [(Path(f.path).name, f.line, f.severity) for f in found] == [(name, 1, "error")]
    path.chmod(0o640)
    assert [f.severity for f in audit({}, "PGF211")] == ["warning"]


def test_pgf211_passes_private_files_and_templates_without_secrets(audit, tmp_path: Path) -> None:
    (tmp_path / "userlist.txt").write_text(USERLIST)
    (tmp_path / "userlist.txt").chmod(0o600)
    assert audit({}, "PGF211") == []
    (tmp_path / "userlist.txt").write_text(";; template: no secrets yet\n")
    (tmp_path / "userlist.txt").chmod(0o644)
    assert audit({}, "PGF211") == []


def test_pgf211_ssl_key_in_a_data_directory(audit, tmp_path: Path) -> None:
    (tmp_path / "PG_VERSION").write_text("17\n")
    key = tmp_path / "server.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o644)
    conf = "ssl = on\nssl_key_file = 'server.key'\n"
    found = audit({"postgresql.conf": conf}, "PGF211")
    assert [(Path(f.path).name, f.line, f.severity) for f in found] == [("postgresql.conf", 2, "error")]
    key.chmod(0o640)  # owned by root (we run as root in CI) with 0640: PostgreSQL accepts it
    expected = [] if os.stat(key).st_uid == 0 else ["error"]
    assert [f.severity for f in audit({"postgresql.conf": conf}, "PGF211")] == expected
    key.chmod(0o600)
    assert audit({"postgresql.conf": conf}, "PGF211") == []


# -- PGF212 ssl without certificate or key ----------------------------------------------------------

def test_pgf212_empty_cert_file(audit) -> None:
    found = audit({"postgresql.conf": "ssl = on\nssl_cert_file = ''\n"}, "PGF212")
    assert [(f.line, f.column) for f in found] == [(2, 17)]


def test_pgf212_missing_files_in_a_data_directory(audit, tmp_path: Path) -> None:
    (tmp_path / "PG_VERSION").write_text("17\n")
    found = audit({"postgresql.conf": "ssl = on\n"}, "PGF212")
    assert sorted(f.message.split(" ")[4] for f in found) == ["ssl_cert_file", "ssl_key_file"]
    (tmp_path / "server.crt").write_text("x")
    (tmp_path / "server.key").write_text("x")
    assert audit({"postgresql.conf": "ssl = on\n"}, "PGF212") == []


def test_pgf212_pgbouncer_tls_without_files(audit) -> None:
    found = audit({"pgbouncer.ini": "[pgbouncer]\nclient_tls_sslmode = require\n"}, "PGF212")
    assert [(f.line, f.column) for f in found] == [(2, 22)]
    assert "client_tls_key_file and client_tls_cert_file" in found[0].message


def test_pgf212_passes(audit) -> None:
    # a config repository (no data directory here): the default server.crt/server.key are not judged
    assert audit({"postgresql.conf": "ssl = on\n"}, "PGF212") == []
    ini = "[pgbouncer]\nclient_tls_sslmode = require\nclient_tls_key_file = /k\nclient_tls_cert_file = /c\n"
    assert audit({"pgbouncer.ini": ini}, "PGF212") == []
