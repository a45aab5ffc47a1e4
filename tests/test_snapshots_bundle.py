"""Snapshots of every file a bundle can hold, and of each ``generate --format``, beside checks of
what each file means.

tests/test_snapshots.py snapshots postgresql.conf, the SQL and the YAML of bundled profiles; this
module covers the rest of what ``pgforge generate -o`` writes. Four specs, written out below so a
clean clone needs nothing else, together switch on every section:

* ``full``: PgBouncer (transaction mode), hostssl and host access lines, two replicas in sync mode,
  logical replication with a publication, WAL and dumps to S3;
* ``local``: WAL archive and dumps to local directories, one replica, PostgreSQL 14;
* ``pgbr``: the pgBackRest archive target, PostgreSQL 15;
* ``walg``: the WAL-G target on an S3-compatible endpoint, PgBouncer in session mode, PostgreSQL 18.

Each test snapshots one file and asserts something about it that a snapshot cannot: that it
parses, that it names what the spec asked for, that its mode is what MANIFEST.json says. The
snapshot catches everything else a reader sees (comments, order, quoting), so a change in any
file is reviewed as a diff of the file a user gets. Bundles are written through the CLI, the way a
user writes them, so moving code between modules cannot change what is snapshotted.

``test_every_template_is_snapshotted`` and ``test_snapshots_cover_each_bundle`` fail when a new
file family or a new file in one of these bundles has no snapshot yet.

Update after an intended change with
``python -m pytest tests/test_snapshots_bundle.py --snapshot-update`` and review the .ambr diff.
"""

from __future__ import annotations

import configparser
import json
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pgforge import __version__
from pgforge.parsers.hba import parse_hba
from pgforge.parsers.pgbouncer_ini import parse_pgbouncer_ini
from pgforge.parsers.pgconf import parse_pgconf

SPECS = {
    "full": """\
name: db1
memory: 32GB
cpus: 8
storage: nvme
workload: oltp
pg_version: 17
extensions: [pg_stat_statements, auto_explain]
pgbouncer: {enabled: true, pool_mode: transaction, databases: [app], client_connections: 2000}
access:
  - {type: hostssl, database: app, user: app, address: 10.0.1.0/24}
  - {type: host, database: replication, user: replicator, address: 10.0.2.10/32}
  - {type: hostssl, database: app, user: app, address: .example.com}
replication:
  replicas: [{name: replica1, host: 10.0.2.10}, {name: replica2, host: db2.example.com}]
  mode: sync
  logical: true
  publications: [{name: app_pub, database: app, tables: [public.t1]}]
archive: {target: s3, s3: {bucket: my-wal-archive, prefix: prod/wal}}
backup: {target: s3, s3: {bucket: my-backups, prefix: prod/daily}, retention_days: 30, databases: [app]}
""",
    "local": """\
memory: 4GB
cpus: 2
pg_version: 14
archive: {target: local, local_dir: /var/lib/pgarchive}
backup: {target: local, local_dir: /var/backups/pg, schedule: "0 3 * * *"}
replication: {replicas: [{name: r1, host: 192.168.1.5}]}
""",
    "pgbr": """\
memory: 8GB
cpus: 4
pg_version: 15
archive: {target: pgbackrest, stanza: main}
""",
    "walg": """\
name: walg1
memory: 16GB
cpus: 4
storage: ssd
workload: web
pg_version: 18
archive: {target: wal-g, s3: {bucket: my-wal-archive, prefix: prod/wal, endpoint_url: "http://minio:9000"}}
pgbouncer: {enabled: true, pool_mode: session, databases: [app, reports]}
access:
  - {type: hostssl, database: app, user: app, address: 10.0.1.0/24}
""",
}

# Every file of each bundle, by kind. test_snapshots_cover_each_bundle checks these lists against
# the bundles' MANIFEST.json, so a file a bundle gains cannot go unsnapshotted.
BUNDLE_FILES: dict[str, dict[str, str]] = {
    "full": {
        "postgresql.conf": "postgresql.conf",
        "pg_hba.conf": "pg_hba.conf",
        "pgbouncer/pgbouncer.ini": "pgbouncer.ini",
        "pgbouncer/userlist.txt": "userlist.txt",
        "pgbouncer/pgbouncer.service.d/limits.conf": "limits.conf",
        "archive/archive_wal.sh": "script",
        "archive/base_backup.sh": "script",
        "archive/pgforge-base-backup.cron": "cron",
        "recovery/pitr_restore.sh": "script",
        "recovery/README.md": "recovery README",
        "replication/primary_setup.sql": "primary_setup.sql",
        "replication/bootstrap_replica1.sh": "bootstrap script",
        "replication/bootstrap_replica2.sh": "bootstrap script",
        "replication/pgpass.example": "pgpass.example",
        "replication/app_pub_publication.sql": "publication SQL",
        "replication/app_pub_subscription.sql": "subscription SQL",
        "backup/backup.sh": "script",
        "backup/restore_dump.sh": "script",
        "backup/pgforge-backup.cron": "cron",
        "MANIFEST.json": "MANIFEST.json",
    },
    "local": {
        "postgresql.conf": "postgresql.conf",
        "pg_hba.conf": "pg_hba.conf",
        "archive/archive_wal.sh": "script",
        "archive/base_backup.sh": "script",
        "archive/pgforge-base-backup.cron": "cron",
        "recovery/pitr_restore.sh": "script",
        "recovery/README.md": "recovery README",
        "replication/primary_setup.sql": "primary_setup.sql",
        "replication/bootstrap_r1.sh": "bootstrap script",
        "replication/pgpass.example": "pgpass.example",
        "backup/backup.sh": "script",
        "backup/restore_dump.sh": "script",
        "backup/pgforge-backup.cron": "cron",
        "MANIFEST.json": "MANIFEST.json",
    },
    "pgbr": {
        "postgresql.conf": "postgresql.conf",
        "archive/pgbackrest.conf": "pgbackrest.conf",
        "archive/base_backup.sh": "script",
        "archive/pgforge-base-backup.cron": "cron",
        "recovery/pitr_restore.sh": "script",
        "recovery/README.md": "recovery README",
        "MANIFEST.json": "MANIFEST.json",
    },
    "walg": {
        "postgresql.conf": "postgresql.conf",
        "pg_hba.conf": "pg_hba.conf",
        "pgbouncer/pgbouncer.ini": "pgbouncer.ini",
        "pgbouncer/userlist.txt": "userlist.txt",
        "pgbouncer/pgbouncer.service.d/limits.conf": "limits.conf",
        "archive/walg.json": "walg.json",
        "archive/base_backup.sh": "script",
        "archive/pgforge-base-backup.cron": "cron",
        "recovery/pitr_restore.sh": "script",
        "recovery/README.md": "recovery README",
        "MANIFEST.json": "MANIFEST.json",
    },
}

# Each template under templates/ and the bundle file (or --format output) it renders; partials
# (a leading underscore) are rendered inside the scripts that include them.
TEMPLATES = {
    "postgresql.conf.j2": "full/postgresql.conf",
    "alter_system.sql.j2": "--format sql",
    "pg_hba.conf.j2": "full/pg_hba.conf",
    "pgbouncer.ini.j2": "full/pgbouncer/pgbouncer.ini",
    "userlist.txt.j2": "full/pgbouncer/userlist.txt",
    "recovery/README.md.j2": "full/recovery/README.md",
    "recovery/pitr_restore.sh.j2": "full/recovery/pitr_restore.sh",
    "scripts/archive_wal.sh.j2": "full/archive/archive_wal.sh",
    "scripts/backup.sh.j2": "full/backup/backup.sh",
    "scripts/base_backup.sh.j2": "full/archive/base_backup.sh",
    "scripts/bootstrap_replica.sh.j2": "full/replication/bootstrap_replica1.sh",
    "scripts/cron.j2": "full/backup/pgforge-backup.cron",
    "scripts/logical_publication.sql.j2": "full/replication/app_pub_publication.sql",
    "scripts/logical_subscription.sql.j2": "full/replication/app_pub_subscription.sql",
    "scripts/pgbackrest.conf.j2": "pgbr/archive/pgbackrest.conf",
    "scripts/pgpass.example.j2": "full/replication/pgpass.example",
    "scripts/primary_setup.sql.j2": "full/replication/primary_setup.sql",
    "scripts/restore_dump.sh.j2": "full/backup/restore_dump.sh",
    "scripts/walg.json.j2": "walg/archive/walg.json",
}
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"

# The version is in every header and in MANIFEST.json; a release would otherwise rewrite every
# snapshot. Only these two spellings are replaced: a bare "0.1.0" also occurs inside addresses
# such as 10.0.1.0/24.
_VERSION_IN_TEXT = re.compile(r"\bpgforge " + re.escape(__version__) + r"\b")
_VERSION_IN_JSON = f'"pgforge_version": "{__version__}"'


def normalise(text: str) -> str:
    """The text with pgforge's version replaced by ``<version>`` (see above)."""
    return _VERSION_IN_TEXT.sub("pgforge <version>", text).replace(_VERSION_IN_JSON, '"pgforge_version": "<version>"')


def _app():
    from pgforge.cli import app
    from pgforge.commands import register_all

    if not any(c.name == "check" for c in app.registered_commands):
        register_all(app)
    return app


def run(*args: str) -> str:
    """``pgforge ARGS`` in-process; its stdout, after asserting it succeeded."""
    result = CliRunner().invoke(_app(), list(args))
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each spec written with ``pgforge generate --spec FILE -o DIR`` once for the module."""
    root = tmp_path_factory.mktemp("bundles")
    out = {}
    for name, text in SPECS.items():
        spec = root / f"{name}.yaml"
        spec.write_text(text, encoding="utf-8")
        run("generate", "--spec", str(spec), "-o", str(root / name))
        out[name] = root / name
    return out


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "MANIFEST.json").read_text(encoding="utf-8"))


def records(text: str, comment: str = "#") -> list[str]:
    """Non-empty lines that are not comments."""
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(comment)]


# ---- what each kind of file must say -------------------------------------------------------------

def check_postgresql_conf(name: str, path: Path, text: str) -> None:
    conf = parse_pgconf(text, str(path))
    assert not conf.errors
    m = manifest(path.parent)
    names = [s.name for s in conf.settings]
    assert sorted(names) == sorted(m["restart_settings"] + m["reload_settings"])
    assert len(names) == len(set(names))  # each setting once
    assert text.startswith(f"# postgresql.conf written by pgforge {__version__}")


def check_pg_hba(name: str, path: Path, text: str) -> None:
    hba = parse_hba(text, str(path))
    assert not hba.errors
    rules = [(r.type, [d.text for d in r.databases], [u.text for u in r.users],
              r.address.text if r.address else None, r.method) for r in hba.rules]
    # the postgres OS account first, so nothing the spec adds can shadow it
    assert rules[:2] == [("local", ["all"], ["postgres"], None, "peer"),
                         ("local", ["replication"], ["postgres"], None, "peer")]
    assert all(r[4] == "scram-sha-256" for r in rules[2:])
    expected = {
        "full": [("hostssl", "db2.example.com"), ("host", "10.0.2.10/32"), ("host", "127.0.0.1/32"),
                 ("hostssl", "10.0.1.0/24"), ("hostssl", ".example.com")],
        "local": [("host", "192.168.1.5/32")],
        "walg": [("host", "127.0.0.1/32"), ("hostssl", "10.0.1.0/24")],
    }[name]
    assert [(r[0], r[3]) for r in rules[2:]] == expected
    assert len(records(text)) == len(rules)  # one line per record, no continuations


def check_pgbouncer_ini(name: str, path: Path, text: str) -> None:
    ini = parse_pgbouncer_ini(text, str(path))
    assert not ini.errors
    settings = {e.key: e.value for e in ini.sections["pgbouncer"]}
    assert settings["auth_type"] == "scram-sha-256" and settings["listen_addr"] == "127.0.0.1"
    mode, dbs = {"full": ("transaction", ["app"]), "walg": ("session", ["app", "reports"])}[name]
    assert settings["pool_mode"] == mode
    assert [e.key for e in ini.databases] == dbs
    # every pool's server connections fit the server's max_connections
    conf = parse_pgconf((path.parent.parent / "postgresql.conf").read_text(encoding="utf-8"), "postgresql.conf")
    max_conn = int(next(s.value for s in conf.settings if s.name == "max_connections"))
    assert len(dbs) * int(settings["default_pool_size"]) <= max_conn


def check_userlist(name: str, path: Path, text: str) -> None:
    assert records(text, ";") == []  # a template: every line a comment, no secret
    ini = parse_pgbouncer_ini((path.parent / "pgbouncer.ini").read_text(), "pgbouncer.ini")
    settings = {e.key: e.value for e in ini.sections["pgbouncer"]}
    for user in (settings["admin_users"], settings["stats_users"]):
        assert f";;   {user} (" in text


def check_limits(name: str, path: Path, text: str) -> None:
    service, limit = records(text)
    assert service == "[Service]" and limit.startswith("LimitNOFILE=")
    nofile = int(limit.removeprefix("LimitNOFILE="))
    ini = parse_pgbouncer_ini((path.parent.parent / "pgbouncer.ini").read_text(), "pgbouncer.ini")
    max_client = int({e.key: e.value for e in ini.sections["pgbouncer"]}["max_client_conn"])
    assert nofile > max_client


def check_script(name: str, path: Path, text: str) -> None:
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    parsed = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr  # bash parses it; shellcheck runs in test_shellcheck_scripts


def check_bootstrap(name: str, path: Path, text: str) -> None:
    check_script(name, path, text)
    replica = path.stem.removeprefix("bootstrap_")
    # streams from the slot primary_setup.sql creates for it, named after the replica
    assert f"\nname={replica}\n" in text and 'primary_slot_name = \'$name\'' in text
    slots = re.findall(r"slot\('([^']+)'", (path.parent / "primary_setup.sql").read_text(encoding="utf-8"))
    assert replica in slots


def check_cron(name: str, path: Path, text: str) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    env, jobs = [], []
    for line in records(text):
        (env if re.match(r"^[A-Z]+=", line) else jobs).append(line)
    assert env == ["SHELL=/bin/bash", "PATH=/usr/local/bin:/usr/bin:/bin"]
    assert len(jobs) == 1
    fields = jobs[0].split()
    assert fields[5] == "postgres"
    script = Path(fields[6]).name
    assert (path.parent / script).is_file()  # runs a script of the same bundle directory
    if name == "local" and script == "backup.sh":
        assert fields[:5] == ["0", "3", "*", "*", "*"]  # the spec's schedule


def check_pgbackrest(name: str, path: Path, text: str) -> None:
    parser = configparser.ConfigParser(comment_prefixes=("#",))
    parser.read_string(text)
    assert parser.sections() == ["global", "main"]
    assert parser["main"]["pg1-path"] == "/var/lib/postgresql/15/main" and parser["main"]["pg1-port"] == "5432"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def check_walg(name: str, path: Path, text: str) -> None:
    conf = json.loads(text)
    assert conf["WALG_S3_PREFIX"] == "s3://my-wal-archive/prod/wal"
    assert conf["AWS_ENDPOINT"] == "http://minio:9000"
    assert not [k for k in conf if "SECRET" in k or "KEY" in k]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def check_recovery_readme(name: str, path: Path, text: str) -> None:
    assert text.startswith("# ") and "pitr_restore.sh" in text


def check_primary_setup(name: str, path: Path, text: str) -> None:
    replicas = {"full": ["replica1", "replica2"], "local": ["r1"]}[name]
    slots = re.findall(r"pg_create_physical_replication_slot\('([^']+)', true\)", text)
    assert slots == replicas
    statements = " ".join(records(text, "--")).upper()
    assert "CREATE ROLE %I WITH LOGIN REPLICATION" in statements and "PASSWORD" not in statements


def check_pgpass(name: str, path: Path, text: str) -> None:
    lines = [ln.split(":") for ln in records(text)]
    assert lines and all(len(f) == 5 and f[0] == "PRIMARY" and f[4] == "CHANGE_ME" for f in lines)
    assert ["replication", "replicator"] == lines[0][2:4]


def check_publication(name: str, path: Path, text: str) -> None:
    assert "format('CREATE PUBLICATION %I FOR TABLE public.t1', 'app_pub')" in text
    assert "GRANT SELECT ON public.t1 TO replicator;" in text


def check_subscription(name: str, path: Path, text: str) -> None:
    assert "CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I" in text
    assert "passfile=" in text and "password=" not in text


def check_manifest(name: str, path: Path, text: str) -> None:
    m = json.loads(text)
    assert m["pgforge_version"] == __version__
    on_disk = sorted(str(p.relative_to(path.parent)) for p in path.parent.rglob("*") if p.is_file())
    assert sorted([f["path"] for f in m["files"]] + ["MANIFEST.json"]) == on_disk  # every file but itself
    for f in m["files"]:
        assert f"{stat.S_IMODE((path.parent / f['path']).stat().st_mode):04o}" == f["mode"], f["path"]


CHECKS: dict[str, Callable[[str, Path, str], None]] = {
    "postgresql.conf": check_postgresql_conf,
    "pg_hba.conf": check_pg_hba,
    "pgbouncer.ini": check_pgbouncer_ini,
    "userlist.txt": check_userlist,
    "limits.conf": check_limits,
    "script": check_script,
    "bootstrap script": check_bootstrap,
    "cron": check_cron,
    "pgbackrest.conf": check_pgbackrest,
    "walg.json": check_walg,
    "recovery README": check_recovery_readme,
    "primary_setup.sql": check_primary_setup,
    "pgpass.example": check_pgpass,
    "publication SQL": check_publication,
    "subscription SQL": check_subscription,
    "MANIFEST.json": check_manifest,
}

CASES = [(spec, rel, kind) for spec, files in BUNDLE_FILES.items() for rel, kind in files.items()]


@pytest.mark.parametrize(("spec", "rel", "kind"), CASES, ids=[f"{s}:{r}" for s, r, _ in CASES])
def test_bundle_file(bundles: dict[str, Path], spec: str, rel: str, kind: str, snapshot) -> None:
    path = bundles[spec] / rel
    text = path.read_text(encoding="utf-8")
    CHECKS[kind](spec, path, text)
    assert str(bundles[spec].parent) not in text  # nothing of the test's directory leaks in
    assert normalise(text) == snapshot


def test_snapshots_cover_each_bundle(bundles: dict[str, Path]) -> None:
    for spec, files in BUNDLE_FILES.items():
        listed = [f["path"] for f in manifest(bundles[spec])["files"]] + ["MANIFEST.json"]
        assert sorted(listed) == sorted(files), spec


def test_every_template_is_snapshotted() -> None:
    found = sorted(str(p.relative_to(TEMPLATE_DIR)) for p in TEMPLATE_DIR.rglob("*.j2") if not p.name.startswith("_"))
    assert found == sorted(TEMPLATES), "a template without a snapshot: add it to TEMPLATES and a spec that renders it"
    for target in TEMPLATES.values():
        spec, _, rel = target.partition("/")
        assert target == "--format sql" or rel in BUNDLE_FILES[spec], target


# ---- generate --format: the same settings four ways ------------------------------------------------

@pytest.fixture(scope="module")
def formats(bundles: dict[str, Path]) -> dict[str, str]:
    spec = str(bundles["full"].parent / "full.yaml")
    return {fmt: run("generate", "--spec", spec, "--format", fmt) for fmt in ("conf", "sql", "json", "yaml")}


def test_format_conf(bundles: dict[str, Path], formats: dict[str, str], snapshot) -> None:
    # stdout is the bundle's postgresql.conf, byte for byte
    assert formats["conf"] == (bundles["full"] / "postgresql.conf").read_text(encoding="utf-8")
    assert normalise(formats["conf"]) == snapshot


def test_format_sql(formats: dict[str, str], snapshot) -> None:
    settings = json.loads(formats["json"])["settings"]
    names = re.findall(r"^ALTER SYSTEM SET (\S+) = ", formats["sql"], re.M)
    assert names == [s["name"] for s in settings]
    assert formats["sql"].rstrip().endswith("SELECT pg_reload_conf();")
    assert normalise(formats["sql"]) == snapshot


def test_format_json(formats: dict[str, str], snapshot) -> None:
    doc = json.loads(formats["json"])
    assert doc["pgforge_version"] == __version__ and doc["pg_version"] == 17
    budget = doc["budget"]
    assert budget["fits"] and budget["total"] <= budget["limit"] <= 0.9 * budget["ram"]
    conf = parse_pgconf(formats["conf"], "postgresql.conf")
    assert {s["name"]: s["conf_value"] for s in doc["settings"]} == {s.name: s.raw_value for s in conf.settings}
    assert normalise(formats["json"]) == snapshot


def test_format_yaml(formats: dict[str, str], snapshot) -> None:
    params = yaml.safe_load(formats["yaml"])["postgresql"]["parameters"]
    settings = json.loads(formats["json"])["settings"]
    assert list(params) == [s["name"] for s in settings]
    assert all(isinstance(v, str) for v in params.values())  # quoted: Patroni passes them on as text
    assert normalise(formats["yaml"]) == snapshot
