"""What ``pgforge generate`` writes, ``pgforge check`` finds clean: generator and auditor agree.

For every bundled profile and for random specs (hypothesis) with PgBouncer, access lines,
replicas and a WAL archive, the written bundle is audited twice with every check: with no host
(the files alone) and against the same spec (drift, performance by the same rules). Both must
report nothing. Where the spec itself asks for something insecure (trust, overlapping lines),
the generator's warning and the auditor's finding must name the same line.

The whole domain is covered: the one disagreement this suite found (replica lines without TLS
while ssl was on) was fixed in the generator and stays as a regression test.
"""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pgforge.audit.discover import plan_groups
from pgforge.audit.model import Finding
from pgforge.audit.runner import audit_groups, select_checks
from pgforge.bundle import build_bundle
from pgforge.errors import UserError
from pgforge.spec import HostSpec
from pgforge.spec.load import build_spec, list_profiles
from pgforge.tuning import tune
from pgforge.writer import write_bundle

PROFILES = [name for name, _ in list_profiles()]


def generate(spec: HostSpec, root: Path) -> list[str]:
    """Write the bundle for ``spec`` under ``root``; return the warnings the generator gave."""
    tuning = tune(spec)
    write_bundle(root, build_bundle(tuning), force=True)
    from pgforge.bundle import pg_hba

    return list(tuning.warnings) + pg_hba.warnings(tuning)


def check(root: Path, spec: HostSpec | None) -> list[Finding]:
    """Every check over the bundle, with ``spec`` as the desired state (or no host at all)."""
    def prepare(t) -> None:
        t.spec, t.desired = spec, spec is not None

    return audit_groups(plan_groups([root]), select_checks(None, None), prepare=prepare if spec else None,
                        jobs=1).findings


def show(findings: list[Finding]) -> str:
    return "\n".join(f"{f.location}: {f.code} {f.message}" for f in findings)


@pytest.fixture()
def workdir():
    path = Path(tempfile.mkdtemp(prefix="pgforge-clean-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_checks_clean(profile: str, workdir: Path) -> None:
    spec = build_spec(profile=profile)
    generate(spec, workdir)
    assert check(workdir, None) == []
    found = check(workdir, spec)
    assert found == [], show(found)


# -- random specs -------------------------------------------------------------------------------

names = st.sampled_from(["app", "shop", "blog", "billing", "reports"])
networks = st.builds(lambda a, b, c, prefix: str(ipaddress.ip_network(f"10.{a}.{b}.{c}/{prefix}", strict=False)),
                     st.integers(0, 250), st.integers(0, 255), st.integers(0, 255), st.sampled_from([16, 20, 24, 28]))


def _access(db: str, user: str, net: str, kind: str) -> dict:
    return {"type": kind, "database": db, "user": user, "address": net}


access_lines = st.lists(st.builds(_access, names, names, networks, st.sampled_from(["hostssl", "hostssl", "host"])),
                        max_size=3, unique_by=lambda a: (a["database"], a["user"]))
pgbouncer = st.one_of(st.none(), st.fixed_dictionaries({
    "enabled": st.just(True),
    "pool_mode": st.sampled_from(["transaction", "session", "statement"]),
    "databases": st.lists(names, min_size=1, max_size=3, unique=True),
    "client_connections": st.integers(20, 3000),
}))
replication = st.one_of(st.none(), st.fixed_dictionaries({
    "replicas": st.lists(st.builds(lambda i: {"name": f"replica{i}", "host": f"10.99.0.{i}"}, st.integers(1, 200)),
                         min_size=1, max_size=3, unique_by=lambda r: r["name"]),
    "mode": st.sampled_from(["async", "sync"]),
}))
archive = st.one_of(st.none(), st.sampled_from([
    {"target": "local", "local_dir": "/var/lib/postgresql/wal_archive"},
    {"target": "s3", "s3": {"bucket": "wal-bucket", "prefix": "prod/wal"}},
    {"target": "pgbackrest", "stanza": "main"},
    {"target": "wal-g", "s3": {"bucket": "walg-bucket"}},
]))
specs = st.builds(
    lambda memory, cpus, storage, workload, major, connections, access, pgb, rep, arch: dict(
        memory=memory, cpus=cpus, storage=storage, workload=workload, pg_version=major, connections=connections,
        access=access, **({"pgbouncer": pgb} if pgb else {}), **({"replication": rep} if rep else {}),
        **({"archive": arch} if arch else {})),
    st.sampled_from(["2GB", "4GB", "8GB", "16GB", "32GB", "64GB", "128GB"]),
    st.integers(1, 64),
    st.sampled_from(["ssd", "nvme", "hdd", "san"]),
    st.sampled_from(["web", "oltp", "dw", "mixed"]),
    st.sampled_from([13, 14, 15, 16, 17, 18]),
    st.one_of(st.none(), st.integers(20, 400)),
    access_lines, pgbouncer, replication, archive,
)


def _spec(data: dict) -> HostSpec:
    try:
        spec = HostSpec(**data)
        tune(spec)
    except (UserError, ValueError):
        assume(False)  # a spec pgforge refuses, with a message: nothing to audit
        raise
    return spec


def _host_lines_only_where_no_tls(data: dict) -> bool:
    """A 'host' access line where ssl is on is the spec asking for plain text (PGF206 is right)."""
    kinds = {a["type"] for a in data["access"]}
    return not ("host" in kinds and "hostssl" in kinds)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(specs)
def test_random_specs_check_clean(data: dict) -> None:
    assume(_host_lines_only_where_no_tls(data))
    spec = _spec(data)
    root = Path(tempfile.mkdtemp(prefix="pgforge-clean-", dir="/tmp"))
    try:
        generate(spec, root)
        found = check(root, None)
        assert found == [], show(found)
        found = check(root, spec)
        assert found == [], show(found)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_replica_lines_demand_tls_when_ssl_is_on(workdir: Path) -> None:
    """Found by this suite: replica lines were 'host' while ssl was on (PGF206); now hostssl."""
    spec = HostSpec(memory="8GB", cpus=4, pg_version=17,
                    access=[_access("app", "app", "10.0.1.0/24", "hostssl")],
                    replication={"replicas": [{"name": "r1", "host": "10.99.0.1"}]})
    generate(spec, workdir)
    assert check(workdir, None) == []
    assert "hostssl replication" in " ".join((workdir / "pg_hba.conf").read_text().split())


# -- where the spec asks for something insecure, both say so about the same line -----------------

def test_trust_is_warned_by_the_generator_and_flagged_by_the_auditor(workdir: Path) -> None:
    spec = HostSpec(memory="8GB", cpus=4, pg_version=17,
                    access=[{"type": "hostssl", "database": "app", "user": "app", "address": "10.0.1.0/24",
                             "method": "trust"}])
    warnings = generate(spec, workdir)
    assert any("WITHOUT A PASSWORD" in w for w in warnings)
    found = [f for f in check(workdir, None)]
    assert [f.code for f in found] == ["PGF201"]
    line = (workdir / "pg_hba.conf").read_text().splitlines()[found[0].line - 1]
    assert line.split()[:4] == ["hostssl", "app", "app", "10.0.1.0/24"] and line.split()[-1] == "trust"


def test_a_line_the_generator_marks_never_matching_is_the_one_the_auditor_flags(workdir: Path) -> None:
    # the same connections twice: however pgforge orders them, the second can never match
    spec = HostSpec(memory="8GB", cpus=4, pg_version=17, access=[
        _access("app", "app", "10.0.0.0/16", "hostssl"),
        _access("app", "app", "10.0.0.0/16", "hostssl") | {"method": "reject"},
    ])
    warnings = generate(spec, workdir)
    found = check(workdir, None)
    shadowed = [f for f in found if f.code == "PGF207"]
    never = [w for w in warnings if "never matches" in w]
    assert len(shadowed) == len(never) == 1 and [f.code for f in found] == ["PGF207"]
    text = (workdir / "pg_hba.conf").read_text().splitlines()
    for f in shadowed:
        assert "NEVER MATCHES" in text[f.line - 2]  # the generator's note sits right above the line


def test_plain_host_line_with_ssl_on_is_warned_by_both(workdir: Path) -> None:
    """The spec asks for a non-TLS network line while ssl is on: the generator warns, the audit
    flags PGF206, and both name the same pg_hba.conf line."""
    spec = HostSpec(memory="8GB", cpus=4, pg_version=17,
                    access=[_access("app", "app", "10.0.1.0/24", "hostssl"),
                            _access("report", "report", "10.0.3.0/24", "host")])
    warnings = generate(spec, workdir)
    assert any("10.0.3.0/24" in w and "without TLS" in w for w in warnings)
    found = check(workdir, None)
    assert [f.code for f in found] == ["PGF206"]
    line = (workdir / "pg_hba.conf").read_text().splitlines()[found[0].line - 1]
    assert line.split()[:4] == ["host", "report", "report", "10.0.3.0/24"]
