"""Generator and audit say the same thing about every pg_hba.conf line (hba_semantics.py).

For a table of access lists (single lines and pairs chosen where the two sides once disagreed)
and for random access lists (hypothesis), the pg_hba.conf pgforge writes is audited with
PGF201-PGF207, and for every written line:

* the audit codes the generator warned about (``HbaLine.warned``) are exactly the codes the audit
  reports at that line as an error or a warning (PGF201-203 methods, PGF206 TLS, PGF207 shadowed);
* the number of generator warnings naming that line's origin (``access[i]``) is the number of
  those findings, so the printed warnings agree too, not only the bookkeeping;
* an ``md5`` line the audit reports as information carries the generator's note instead.

The unit tests at the end pin hba_semantics and addresses on their own.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from conftest import audit_files
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pgforge import addresses
from pgforge.bundle import build_bundle, pg_hba
from pgforge.errors import UserError
from pgforge.hba_semantics import covers, decides, method_verdict, open_to_world, shadowed_by
from pgforge.parsers.hba import parse_hba
from pgforge.spec import HostSpec
from pgforge.spec.load import build_spec
from pgforge.tuning import tune

JUDGED = ("PGF201", "PGF202", "PGF203", "PGF206", "PGF207")


def _line(type_: str, db: str, user: str, address: str | None = None, method: str = "scram-sha-256") -> dict:
    out = {"type": type_, "database": db, "user": user, "method": method}
    if address is not None:
        out["address"] = address
    return out


def agree(spec: HostSpec, root: Path) -> None:
    """Generate ``spec``'s pg_hba.conf, audit it, and assert both sides judge each line alike."""
    tuning = tune(spec)
    files = {f.path: str(f.content) for f in build_bundle(tuning) if f.path in ("pg_hba.conf", "postgresql.conf")}
    if "pg_hba.conf" not in files:
        return
    plan = pg_hba.plan(tuning)
    rules = parse_hba(files["pg_hba.conf"], "pg_hba.conf").rules
    assert len(rules) == len(plan.lines)
    found = [f for f in audit_files(root, files, "PGF20") if f.code in JUDGED]
    by_line = {r.line: k for k, r in enumerate(rules)}
    audit_codes: list[set[str]] = [set() for _ in rules]
    info: list[set[str]] = [set() for _ in rules]
    for f in found:
        assert f.path.endswith("pg_hba.conf") and f.line in by_line, f
        (info if f.severity == "info" else audit_codes)[by_line[f.line]].add(f.code)
    for k, (line, rule) in enumerate(zip(plan.lines, rules)):
        shown = f"line {rule.line} '{rule.raw.strip()}' ({line.origin})"
        assert set(line.warned) == audit_codes[k], f"{shown}: generator warned {line.warned}, audit {audit_codes[k]}"
        named = [w for w in plan.warnings if f"({line.origin})" in w and "is replaced by" not in w]
        if line.origin.startswith("access["):
            assert len(named) == len(audit_codes[k]), f"{shown}: {named} vs {audit_codes[k]}"
        if "PGF203" in info[k]:
            assert any(n.startswith("md5:") for n in line.notes), shown
    # and nothing the generator warned about is missing from the file (every warning names a written line)
    written = {line.origin for line in plan.lines}
    for w in plan.warnings:
        if "is replaced by" in w:
            continue
        m = re.search(r"\((access\[\d+\]|replica \S+|pgbouncer)\)", w)
        assert m is not None and m.group(1) in written, w


SSL_ON = _line("hostssl", "ssl_anchor", "ssl_anchor", "10.200.0.0/24")  # any hostssl line turns ssl on

TABLE = {
    # methods: trust on the network, loopback, samehost and the socket
    "trust network": [_line("hostssl", "app", "app", "10.0.1.0/24", "trust")],
    "trust loopback v4": [_line("host", "app", "app", "127.0.0.1/32", "trust")],
    "trust loopback v6": [_line("host", "app", "app", "::1/128", "trust")],
    "trust samehost": [_line("host", "app", "app", "samehost", "trust")],
    "trust local": [_line("local", "app", "app", None, "trust")],
    # password: clear text where the channel may be plain, received by the server elsewhere
    "password host": [_line("host", "app", "app", "10.0.1.0/24", "password")],
    "password hostnossl": [_line("hostnossl", "app", "app", "10.0.1.0/24", "password")],
    "password hostssl": [_line("hostssl", "app", "app", "10.0.1.0/24", "password")],
    "password hostgssenc": [_line("hostgssenc", "app", "app", "10.0.1.0/24", "password")],
    "password local": [_line("local", "app", "app", None, "password")],
    "md5 (scram secrets: a note)": [_line("hostssl", "app", "app", "10.0.1.0/24", "md5")],
    # TLS need while ssl is on
    "host with ssl on": [SSL_ON, _line("host", "app", "app", "10.0.1.0/24")],
    "hostnossl with ssl on": [SSL_ON, _line("hostnossl", "app", "app", "10.0.1.0/24")],
    "hostnogssenc with ssl on": [SSL_ON, _line("hostnogssenc", "app", "app", "10.0.1.0/24")],
    "host samehost with ssl on": [SSL_ON, _line("host", "app", "app", "samehost")],
    "host loopback with ssl on": [SSL_ON, _line("host", "app", "app", "127.0.0.0/8")],
    "host reject with ssl on": [SSL_ON, _line("host", "app", "app", "10.0.1.0/24", "reject")],
    "host samenet with ssl on": [SSL_ON, _line("host", "app", "app", "samenet")],
    "host all with ssl on": [SSL_ON, _line("host", "app", "app", "all")],
    # coverage: pairs the order cannot untangle, and pairs it can
    "duplicate": [_line("hostssl", "app", "app", "10.0.0.0/16"), _line("hostssl", "app", "app", "10.0.0.0/16", "reject")],
    "domain suffix covers a longer suffix": [_line("hostssl", "app", "app", ".example.com"),
                                             _line("hostssl", "app", "app", ".db.example.com", "reject")],
    "longer suffix first": [_line("hostssl", "app", "app", ".db.example.com", "reject"),
                            _line("hostssl", "app", "app", ".example.com")],
    "samegroup is samerole": [_line("hostssl", "samerole", "app", "10.0.0.0/16"),
                              _line("hostssl", "samegroup", "app", "10.0.0.0/16", "reject")],
    "all does not cover replication": [_line("hostssl", "all", "all", "10.0.0.0/8"),
                                       _line("hostssl", "replication", "rep", "10.0.0.0/8")],
    "all address covers both families": [_line("hostssl", "app", "app", "all"),
                                         _line("hostssl", "app", "app", "fd00::/8", "reject")],
    "narrower first": [_line("host", "all", "all", "10.0.0.0/8"), _line("hostssl", "app", "bob", "10.1.0.0/16", "reject")],
    "group is not all": [_line("hostssl", "app", "+staff", "10.0.0.0/8"), _line("hostssl", "app", "all", "10.0.0.0/8")],
    "local all postgres is replaced": [_line("local", "all", "postgres", None, "trust")],
}


@pytest.mark.parametrize("name", list(TABLE))
def test_generator_and_audit_agree_on_each_line(name: str, tmp_path: Path) -> None:
    agree(HostSpec(memory="8GB", cpus=4, pg_version=17, access=TABLE[name]), tmp_path)


def test_agree_with_replicas_and_pgbouncer(tmp_path: Path) -> None:
    """Generated lines (replicas, PgBouncer's loopback line) beside spec lines that decide them."""
    spec = HostSpec(memory="8GB", cpus=4, pg_version=17,
                    access=[SSL_ON, _line("host", "replication", "replicator", "10.0.2.10/32"),
                            _line("host", "app", "all", "127.0.0.1/32", "trust")],
                    replication={"replicas": [{"name": "r1", "host": "10.0.2.10"}, {"name": "r2", "host": "10.0.2.11"}]},
                    pgbouncer={"enabled": True, "databases": ["app"], "server_host": "localhost"})
    agree(spec, tmp_path)


# -- random access lists ---------------------------------------------------------------------

_TYPES = ["local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"]
_DBS = ["all", "app", "replication", "samerole", "samegroup", "sameuser", "app,web"]
_USERS = ["all", "app", "+staff", "app,bob", "replication"]
_ADDRS = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "127.0.0.1/32", "::1/128", "fd00::/8", "0.0.0.0/0", "all",
          "samehost", "samenet", ".example.com", ".db.example.com"]
_METHODS = ["scram-sha-256", "scram-sha-256", "md5", "password", "trust", "reject", "cert", "peer"]


@st.composite
def _access_line(draw) -> dict:
    type_ = draw(st.sampled_from(_TYPES))
    method = draw(st.sampled_from(_METHODS))
    if method == "peer" and type_ != "local":
        method = "scram-sha-256"
    if method == "cert" and type_ != "hostssl":
        method = "reject"
    address = None if type_ == "local" else draw(st.sampled_from(_ADDRS))
    return _line(type_, draw(st.sampled_from(_DBS)), draw(st.sampled_from(_USERS)), address, method)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_access_line(), min_size=1, max_size=5),
       st.sampled_from([None, {"replicas": [{"name": "r1", "host": "10.1.2.3"}]}]),
       st.booleans())
def test_random_access_lists_agree(access: list[dict], replication: dict | None, bouncer: bool) -> None:
    extra = {"replication": replication} if replication else {}
    if bouncer:
        extra["pgbouncer"] = {"enabled": True, "databases": ["app"]}
    try:
        spec = HostSpec(memory="8GB", cpus=4, pg_version=17, access=access, **extra)
    except (UserError, ValueError):
        assume(False)
        raise
    with tempfile.TemporaryDirectory(prefix="pgforge-hba-sem-", dir="/tmp") as root:
        agree(spec, Path(root))


# -- the semantics and addresses on their own ----------------------------------------------------

def _rule(text: str):
    return parse_hba(text).rules[0]


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("host all all .example.com trust", "host all all .db.example.com trust", True),
    ("host all all .example.com trust", "host all all db.EXAMPLE.com trust", True),
    ("host all all .example.com trust", "host all all example.com trust", False),
    ("host all all db.example.com trust", "host all all .example.com trust", False),
    ("host samegroup all all trust", "host samerole all all trust", True),
    ("host all all 10.0.0.0 255.0.255.0 trust", "host all all 10.0.0.0 255.0.255.0 reject", True),
    ("host all all 10.0.0.0 255.0.255.0 trust", "host all all 10.0.0.0/24 trust", False),
])
def test_covers_suffixes_samegroup_and_noncontiguous_masks(a: str, b: str, expected: bool) -> None:
    assert covers(_rule(a), _rule(b)) is expected


def test_decides_ignores_tls_type_but_not_local() -> None:
    assert decides(_rule("hostssl replication rep 10.0.0.0/8 scram-sha-256"), _rule("host replication rep 10.0.0.1/32 md5"))
    assert not covers(_rule("hostssl replication rep 10.0.0.0/8 scram-sha-256"), _rule("host replication rep 10.0.0.1/32 md5"))
    assert not decides(_rule("local replication rep scram-sha-256"), _rule("host replication rep 10.0.0.1/32 md5"))


def test_shadowed_by_names_the_first_covering_line() -> None:
    rules = parse_hba("host all all 10.0.0.0/8 md5\nhost all all all reject\nhost app app 10.1.0.0/16 trust\n").rules
    assert shadowed_by(rules) == [None, None, 0]


@pytest.mark.parametrize(("line", "case"), [
    ("host all all 10.0.0.0/8 trust", "trust-network"),
    ("host all all samenet trust", "trust-network"),
    ("host all all samehost trust", "trust-loopback"),
    ("host all all localhost trust", "trust-loopback"),
    ("local all all trust", "trust-local"),
    ("hostnogssenc all all 10.0.0.0/8 password", "password-cleartext"),
    ("hostgssenc all all 10.0.0.0/8 password", "password-received"),
])
def test_method_verdicts(line: str, case: str) -> None:
    verdict = method_verdict(_rule(line), scram=True)
    assert verdict is not None and verdict.case == case


def test_open_to_world_needs_prefix_zero() -> None:
    assert open_to_world(_rule("host all all 0.0.0.0 0.0.0.0 trust"))
    assert not open_to_world(_rule("host all all 0.0.0.0/32 trust"))


@pytest.mark.parametrize(("text", "loopback", "wildcard"), [
    ("localhost", True, False), ("LocalHost", True, False), ("127.0.0.1", True, False), ("127.3.4.5", True, False),
    ("127.0.0.0/8", True, False), ("126.0.0.0/7", False, False), ("::1", True, False), ("::1/128", True, False),
    ("::2", False, False), ("*", False, True), ("0.0.0.0", False, True), ("::", False, True),
    ("0.0.0.0/0", False, True), ("::/0", False, True), ("0.0.0.0/8", False, False), ("all", False, False),
    ("db.example.com", False, False), ("10.0.0.1", False, False),
])
def test_address_classes(text: str, loopback: bool, wildcard: bool) -> None:
    assert addresses.is_loopback(text) is loopback and addresses.is_wildcard(text) is wildcard


@pytest.mark.parametrize(("listen", "host", "expected"), [
    (["*"], "127.0.0.1", True), (["localhost"], "127.0.0.1", True), (["127.0.0.1"], "localhost", True),
    (["127.0.0.2"], "127.0.0.1", False), (["10.0.0.5"], "127.0.0.1", False), (["10.0.0.5", "::"], "::1", True),
])
def test_listens_on(listen: list[str], host: str, expected: bool) -> None:
    assert addresses.listens_on(listen, host) is expected


def test_pgbouncer_listen_check_uses_listens_on() -> None:
    """listen_addresses 127.0.0.2 does not reach PgBouncer's server_host 127.0.0.1 (it used to count)."""
    from pgforge.bundle import pgbouncer

    spec = build_spec(flags={"memory": "8GB", "cpus": 4})
    spec = spec.model_copy(update={"listen_addresses": ["127.0.0.2"]})
    spec = HostSpec(**{**spec.model_dump(exclude_none=True), "pgbouncer": {"enabled": True, "databases": ["app"]}})
    assert any("does not include it" in w for w in pgbouncer.warnings(tune(spec)))


def test_gss_on_a_local_line_is_refused_where_it_enters(tmp_path: Path) -> None:
    """Found here: the generator reads every line it writes back with the server's tokenizer, and
    'local ... gss' (which PostgreSQL refuses, so the whole file does not load) was accepted."""
    path = tmp_path / "spec.yaml"
    path.write_text("memory: 8GB\ncpus: 4\naccess:\n  - {type: local, database: app, user: app, method: gss}\n")
    with pytest.raises(UserError, match="gss works only on TCP lines"):
        build_spec(spec_file=str(path))
