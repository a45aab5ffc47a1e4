"""Every shell script pgforge writes passes shellcheck (all severities, bash dialect), for every
archive and backup target, replication with and without a known primary, logical replication,
the issue's example spec and the bundled profiles.

Also checks what shellcheck cannot: the scripts are syntactically valid bash (``bash -n``), are
executable, start with ``set -euo pipefail``, and carry no secret.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pgharness import in_ci

EXAMPLE_SPEC = """\
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
"""

BASE: dict[str, Any] = {"memory": "8GB", "cpus": 4, "pg_version": 16}
S3 = {"bucket": "pgforge-test", "prefix": "db1/wal", "endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1"}

VARIANTS: dict[str, dict[str, Any]] = {
    "local-everything": {
        "archive": {"target": "local", "local_dir": "/srv/pgarchive"},
        "backup": {"target": "local", "local_dir": "/srv/pgdumps", "databases": ["app", "crm"]},
        "replication": {"replicas": [{"name": "r1", "host": "10.0.0.2"}, {"name": "r2", "host": "10.0.0.3"}],
                        "mode": "sync", "primary_host": "10.0.0.1"},
    },
    "s3-everything": {
        "archive": {"target": "s3", "s3": S3},
        "backup": {"target": "s3", "s3": {"bucket": "pgforge-dumps"}},
        "replication": {"replicas": [{"name": "r1", "host": "10.0.0.2"}], "logical": True,
                        "publications": ["app_pub", {"name": "crm_pub", "database": "crm", "tables": ["public.accounts"]}]},
    },
    "pgbackrest": {"archive": {"target": "pgbackrest", "stanza": "db1"}},
    "pgbackrest-s3": {"archive": {"target": "pgbackrest", "s3": S3}},
    "walg": {"archive": {"target": "wal-g"}},
    "walg-s3": {"archive": {"target": "wal-g", "s3": S3}, "replication": {"replicas": [{"name": "r1", "host": "db2"}]}},
}


def _shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found is None:
        if in_ci():
            pytest.fail("shellcheck is not installed (CI=true): apt-get install shellcheck")
        pytest.skip("shellcheck is not installed")
    return found


def _bundle(spec: dict[str, Any]):
    from pgforge.bundle import build_bundle
    from pgforge.spec import HostSpec
    from pgforge.tuning import tune

    return build_bundle(tune(HostSpec.model_validate(spec)))


def _yaml(text: str) -> dict[str, Any]:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)


def _scripts(files) -> dict[str, Any]:
    return {f.path: f for f in files if f.path.endswith(".sh")}


def _check_scripts(scripts: dict[str, Any], tmp_path: Path) -> None:
    assert scripts, "the bundle has no scripts to check"
    shellcheck = _shellcheck()
    paths = []
    for name, f in scripts.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f.content)
        paths.append(path)
        assert f.mode == 0o755, f"{name} is not executable ({f.mode:o})"
        assert f.content.startswith("#!/usr/bin/env bash\n"), name
        assert "\nset -euo pipefail\n" in f.content, f"{name} lacks set -euo pipefail"
        assert not re.search(r"PGPASSWORD|password=|--password", f.content, re.I), f"{name} carries a password"
        syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, f"bash -n {name}: {syntax.stderr}"
    proc = subprocess.run([shellcheck, "--shell=bash", "--severity=style", "--format=gcc", *map(str, paths)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"shellcheck findings:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_generated_scripts_pass_shellcheck(variant: str, tmp_path: Path) -> None:
    files = _bundle({**BASE, **VARIANTS[variant]})
    _check_scripts(_scripts(files), tmp_path)


def test_issue_example_scripts_pass_shellcheck(tmp_path: Path) -> None:
    scripts = _scripts(_bundle(_yaml(EXAMPLE_SPEC)))
    assert {"archive/archive_wal.sh", "archive/base_backup.sh", "recovery/pitr_restore.sh", "backup/backup.sh",
            "backup/restore_dump.sh", "replication/bootstrap_replica1.sh"} <= set(scripts)
    _check_scripts(scripts, tmp_path)


def test_profiles_with_archive_backup_and_replicas_pass_shellcheck(tmp_path: Path) -> None:
    """Each bundled profile (majors 13 to 18, every workload) with the example's archive, backup and
    replication sections added: paths and settings that depend on the profile still give clean scripts."""
    from pgforge.resources import profiles_dir

    extra = {k: v for k, v in _yaml(EXAMPLE_SPEC).items() if k in ("archive", "backup", "replication")}
    profiles = sorted(profiles_dir().glob("*.yaml"))
    assert profiles
    for path in profiles:
        spec = {**_yaml(path.read_text()), **extra}
        spec.pop("pgbouncer", None)
        scripts = _scripts(_bundle(spec))
        assert "recovery/pitr_restore.sh" in scripts, path.name
        _check_scripts(scripts, tmp_path / path.stem)
