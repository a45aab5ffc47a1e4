"""pg_hba.conf from the ``access`` section, and the ssl settings it drives.

Ordering, validation and warnings here; tests/test_realpg_hba.py loads the file in a real server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pgforge.bundle import build_bundle, pg_hba
from pgforge.errors import UserError
from pgforge.spec import HostSpec
from pgforge.spec.load import build_spec
from pgforge.tuning import tune


def _spec(access: list[dict], **kw) -> HostSpec:
    return HostSpec(memory="8GB", cpus=4, pg_version=17, access=access, **kw)


def records(text: str) -> list[list[str]]:
    """The non-comment lines of a pg_hba.conf, split into fields."""
    return [ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def hba_text(spec: HostSpec) -> str:
    return next(f.content for f in build_bundle(tune(spec)) if f.path == pg_hba.PATH)


def test_example_lines(tmp_path: Path) -> None:
    from test_bundle_pgbouncer import EXAMPLE

    (tmp_path / "e.yaml").write_text(EXAMPLE)
    spec = build_spec(spec_file=str(tmp_path / "e.yaml"))
    f = next(f for f in build_bundle(tune(spec)) if f.path == pg_hba.PATH)
    assert f.mode == 0o600 and f.apply == "reload"
    assert records(f.content) == [
        ["local", "all", "postgres", "peer"],
        ["local", "replication", "postgres", "peer"],  # pg_basebackup by the bundle's scripts
        ["host", "replication", "replicator", "10.0.2.10/32", "scram-sha-256"],  # the spec's; covers replica1
        ["host", "app", "all", "127.0.0.1/32", "scram-sha-256"],  # PgBouncer's way in
        ["hostssl", "app", "app", "10.0.1.0/24", "scram-sha-256"],
    ]
    assert "also serves replica replica1" in f.content
    assert "ssl_cert_file = 'server.crt'" in f.content  # says where the certificate goes


def test_most_specific_first_whatever_the_spec_order() -> None:
    spec = _spec([
        {"type": "host", "database": "all", "user": "all", "address": "10.0.0.0/8", "method": "reject"},
        {"type": "host", "database": "app", "user": "all", "address": "10.0.1.0/24"},
        {"type": "hostssl", "database": "app", "user": "app", "address": "10.0.1.0/24"},
        {"type": "local", "database": "app", "user": "app"},
        {"type": "host", "database": "app", "user": "mallory", "address": "10.0.1.7/32", "method": "reject"},
    ])
    assert [r[:4] for r in records(hba_text(spec))] == [
        ["local", "all", "postgres", "peer"],
        ["local", "replication", "postgres", "peer"],
        ["local", "app", "app", "scram-sha-256"],
        ["host", "app", "mallory", "10.0.1.7/32"],
        ["hostssl", "app", "app", "10.0.1.0/24"],
        ["host", "app", "all", "10.0.1.0/24"],
        ["host", "all", "all", "10.0.0.0/8"],
    ]


def test_replica_lines_are_added_with_the_replication_user() -> None:
    spec = _spec([], replication={"user": "streamer", "replicas": [{"name": "r1", "host": "10.0.2.11"},
                                                                   {"name": "r2", "host": "fd00::5"},
                                                                   {"name": "r3", "host": "replica3.internal"}]})
    rows = records(hba_text(spec))
    assert ["host", "replication", "streamer", "10.0.2.11/32", "scram-sha-256"] in rows
    assert ["host", "replication", "streamer", "fd00::5/128", "scram-sha-256"] in rows
    assert ["host", "replication", "streamer", "replica3.internal", "scram-sha-256"] in rows
    assert "forward and reverse DNS" in hba_text(spec)


def test_a_spec_line_for_the_replica_wins_over_the_generated_one() -> None:
    spec = _spec([{"type": "hostssl", "database": "replication", "user": "replicator", "address": "10.0.2.0/24"}],
                 replication={"replicas": [{"name": "r1", "host": "10.0.2.11"}]})
    rows = records(hba_text(spec))
    assert [r for r in rows if r[1] == "replication" and r[0] != "local"] == [
        ["hostssl", "replication", "replicator", "10.0.2.0/24", "scram-sha-256"]]


def test_addresses_are_normalized_and_validated() -> None:
    spec = _spec([{"type": "host", "database": "app", "user": "app", "address": "10.0.0.9"},
                  {"type": "host", "database": "app", "user": "app", "address": "2001:db8::1"}])
    rows = records(hba_text(spec))
    assert ["host", "app", "app", "10.0.0.9/32", "scram-sha-256"] in rows
    assert ["host", "app", "app", "2001:db8::1/128", "scram-sha-256"] in rows


@pytest.mark.parametrize(("rule", "message"), [
    ({"type": "host", "address": "10.0.1.5/24"}, "host bits set"),
    ({"type": "host", "address": "10.0.300.0/24"}, "valid CIDR"),
    ({"type": "host", "address": "db.example.com"}, "valid CIDR"),
    ({"type": "host"}, "needs an address"),
    ({"type": "local", "address": "10.0.0.0/8"}, "takes no address"),
    ({"type": "host", "address": "10.0.0.0/8", "method": "peer"}, "peer works only on local"),
    ({"type": "host", "address": "10.0.0.0/8", "method": "cert"}, "needs a hostssl line"),
    ({"type": "host", "address": "10.0.0.0/8", "options": {"clientcert": "verify-full"}}, "only be set on a hostssl"),
    ({"type": "host", "address": "10.0.0.0/8", "user": "bob smith"}, "user 'bob smith'"),
    ({"type": "host", "address": "10.0.0.0/8", "database": "app;drop"}, "database 'app;drop'"),
])
def test_bad_access_rules_are_refused(tmp_path: Path, rule: dict, message: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps({"memory": "8GB", "cpus": 4, "access": [rule]}))
    with pytest.raises(UserError, match=re.escape(message)):
        build_spec(spec_file=str(path))


def test_trust_on_a_host_line_is_written_with_a_loud_warning() -> None:
    spec = _spec([{"type": "host", "database": "app", "user": "app", "address": "10.0.1.0/24", "method": "trust"}])
    text = hba_text(spec)
    assert ["host", "app", "app", "10.0.1.0/24", "trust"] in records(text)
    assert "# !!! WARNING: trust = NO AUTHENTICATION" in text
    warns = pg_hba.warnings(tune(spec))
    assert len(warns) == 1 and "WITHOUT A PASSWORD" in warns[0]
    f = next(f for f in build_bundle(tune(spec)) if f.path == pg_hba.PATH)
    assert "WARNING" in f.purpose  # MANIFEST.json carries it too


def test_cleartext_password_warns_off_hostssl() -> None:
    spec = _spec([{"type": "host", "database": "app", "user": "app", "address": "10.0.1.0/24", "method": "password"}])
    assert any("clear text" in w for w in pg_hba.warnings(tune(spec)))
    # On hostssl the wire is protected, but the server still receives the password: the audit
    # reports it (PGF202, a warning), so the generator says so too (hba_semantics.method_verdict).
    spec = _spec([{"type": "hostssl", "database": "app", "user": "app", "address": "10.0.1.0/24", "method": "password"}])
    warns = pg_hba.warnings(tune(spec))
    assert len(warns) == 1 and "receives the password itself" in warns[0] and "clear text" not in warns[0]


def test_a_line_that_can_never_match_is_flagged() -> None:
    spec = _spec([{"type": "host", "database": "all", "user": "all", "address": "10.0.0.0/8"},
                  {"type": "host", "database": "all", "user": "all", "address": "10.0.0.0/8", "method": "reject"}])
    text = hba_text(spec)
    assert "NEVER MATCHES: the line from access[0] above covers it" in text
    assert any("never matches" in w for w in pg_hba.warnings(tune(spec)))


def test_covers_respects_replication_and_types() -> None:
    def line(t, db, user, addr):
        return pg_hba.HbaLine(t, db, user, addr, "scram-sha-256")

    assert pg_hba.covers(line("host", "all", "all", "10.0.0.0/8"), line("hostssl", "app", "bob", "10.1.0.0/16"))
    assert not pg_hba.covers(line("hostssl", "all", "all", "10.0.0.0/8"), line("host", "app", "bob", "10.1.0.0/16"))
    assert not pg_hba.covers(line("host", "all", "all", "10.0.0.0/8"), line("host", "replication", "r", "10.0.0.1/32"))
    assert not pg_hba.covers(line("host", "all", "all", "10.0.0.0/8"), line("host", "app", "bob", "fd00::/8"))
    assert pg_hba.covers(line("host", "all", "all", "all"), line("host", "app", "bob", "fd00::/8"))


def test_pgbouncer_gets_its_loopback_line() -> None:
    spec = _spec([], pgbouncer={"enabled": True, "databases": ["app", "api"]})
    assert ["host", "app,api", "all", "127.0.0.1/32", "scram-sha-256"] in records(hba_text(spec))
    spec = _spec([], pgbouncer={"enabled": True, "databases": ["app"], "server_host": "localhost"})
    rows = records(hba_text(spec))
    assert ["host", "app", "all", "::1/128", "scram-sha-256"] in rows and ["host", "app", "all", "127.0.0.1/32",
                                                                           "scram-sha-256"] in rows


def test_no_file_when_nothing_asks_for_one() -> None:
    assert not any(f.path == pg_hba.PATH for f in build_bundle(tune(HostSpec(memory="8GB", cpus=4))))


# --------------------------------------------------------------------------- ssl rules


def _ssl_settings(spec: HostSpec) -> dict[str, str]:
    return {s.name: s.text for s in tune(spec).settings if s.name.startswith("ssl")}


def test_hostssl_turns_ssl_on_with_cert_and_key() -> None:
    spec = _spec([{"type": "hostssl", "database": "app", "user": "app", "address": "10.0.1.0/24"}])
    assert _ssl_settings(spec) == {"ssl": "on", "ssl_cert_file": "'server.crt'", "ssl_key_file": "'server.key'"}
    assert {s.name: s.apply_action for s in tune(spec).settings}["ssl"] == "reload"


def test_no_ssl_settings_without_hostssl_lines() -> None:
    assert _ssl_settings(_spec([{"type": "host", "database": "app", "user": "app", "address": "10.0.1.0/24"}])) == {}
    assert _ssl_settings(HostSpec(memory="8GB", cpus=4)) == {}


def test_client_certificates_need_a_ca_file() -> None:
    spec = _spec([{"type": "hostssl", "database": "app", "user": "app", "address": "10.0.1.0/24", "method": "cert"}])
    assert _ssl_settings(spec)["ssl_ca_file"] == "'root.crt'"
    text = hba_text(spec)
    assert "$PGDATA/root.crt" in text
