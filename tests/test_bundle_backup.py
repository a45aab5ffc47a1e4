"""The backup part of a bundle: the files, and backup.sh / restore_dump.sh behaviour that needs
no server (storage, completeness marker, retention, failure handling), driven with stand-in
PostgreSQL tools. The real dump-and-restore round trips are in test_realpg_backup.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pgforge.bundle import build_bundle
from pgforge.spec import HostSpec
from pgforge.tuning import tune

BASE: dict[str, Any] = {"memory": "16GB", "cpus": 4, "pg_version": 16}


def _files(**over: Any) -> dict[str, Any]:
    return {f.path: f for f in build_bundle(tune(HostSpec.model_validate({**BASE, **over})))}


def _stamp(days_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).strftime("%Y%m%dT%H%M%SZ")


def test_files_modes_and_manifest() -> None:
    files = _files(backup={"target": "s3", "s3": {"bucket": "my-backups", "prefix": "prod/daily"}, "retention_days": 30})
    assert files["backup/backup.sh"].mode == 0o755 and files["backup/restore_dump.sh"].mode == 0o755
    manifest = {e["path"]: e for e in json.loads(files["MANIFEST.json"].content)["files"]}
    assert manifest["backup/backup.sh"]["apply"] == "run"
    assert "s3://my-backups/prod/daily" in manifest["backup/backup.sh"]["purpose"]
    assert manifest["backup/pgforge-backup.cron"]["mode"] == "0644"
    body = files["backup/backup.sh"].content
    assert "retention_days=30\n" in body and "store_base=prod/daily/\n" in body
    assert "pg_dump --no-password --format=custom" in body and "pg_dumpall --no-password --globals-only" in body
    assert 'pg_restore --list "$work/verify/$f"' in body
    assert 'date -u -d "-$days days" +%Y%m%dT%H%M%SZ' in body
    code = [ln for ln in body.splitlines() if not ln.lstrip().startswith("#")]
    assert not [ln for ln in code if " ls " in ln or "s3 ls" in ln]  # listings come from the API, never ls


def test_cron_runs_backup_as_postgres() -> None:
    cron = _files(backup={"target": "local", "local_dir": "/srv/dumps", "schedule": "45 1 * * *"})["backup/pgforge-backup.cron"]
    assert "45 1 * * * postgres /usr/local/lib/pgforge/backup.sh >>/var/log/postgresql/pgforge-backup.log 2>&1" in cron.content


@pytest.mark.parametrize("backup", [
    {"target": "local"},
    {"target": "s3"},
    {"target": "local", "local_dir": "/d", "retention_days": 0},
    {"target": "local", "local_dir": "/d", "databases": ["my db"]},
    {"target": "local", "local_dir": "/d", "databases": ["../etc"]},
    {"target": "local", "local_dir": "/d", "schedule": "@daily now"},
    {"target": "ftp", "local_dir": "/d"},
])
def test_bad_backup_sections_are_rejected(backup: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HostSpec.model_validate({**BASE, "backup": backup})


def test_named_databases_are_baked_in_and_empty_means_discover() -> None:
    named = _files(backup={"target": "local", "local_dir": "/d", "databases": ["app", "crm"]})["backup/backup.sh"].content
    assert "databases=(app crm)\n" in named
    every = _files(backup={"target": "local", "local_dir": "/d"})["backup/backup.sh"].content
    assert "databases=()\n" in every and "datallowconn AND NOT datistemplate" in every


# ------------------------------------------------------------------------- scripts with stand-in tools


STUBS = {
    "pg_dumpall": 'for a in "$@"; do case $a in --file=*) echo "-- globals" >"${a#--file=}" ;; esac; done\n',
    "pg_dump": 'db="" out=""\nfor a in "$@"; do case $a in --dbname=*) db=${a#--dbname=} ;; --file=*) out=${a#--file=} ;; esac; done\n'
               '[[ $db != "${FAIL_DB:-}" ]] || exit 1\necho "dump of $db" >"$out"\n',
    "pg_restore": 'for a in "$@"; do [[ $a == --list ]] && exit 0; done\nexit 0\n',
    "psql": 'echo 0\n',
}


def _tools(tmp_path: Path) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, body in STUBS.items():
        path = bindir / name
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(0o755)
    return bindir


def _run(script: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": "/usr/bin:/bin", "PGBIN": str(tmp_path / "bin"), "TMPDIR": str(tmp_path), "HOME": str(tmp_path), **env}
    return subprocess.run([str(script), *args], capture_output=True, text=True, check=False, env=full)


def _scripts(tmp_path: Path, dumps: Path, **backup: Any) -> tuple[Path, Path]:
    files = _files(backup={"target": "local", "local_dir": str(dumps), "retention_days": 7,
                           "databases": ["app", "crm"], **backup})
    out = []
    for name in ("backup/backup.sh", "backup/restore_dump.sh"):
        path = tmp_path / Path(name).name
        path.write_text(files[name].content)
        path.chmod(0o755)
        out.append(path)
    return out[0], out[1]


def test_backup_stores_marks_complete_and_prunes_only_old_backups(tmp_path: Path) -> None:
    _tools(tmp_path)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    old, edge, partial_old, recent = _stamp(8), _stamp(6.9), _stamp(30), _stamp(1)
    for stamp in (old, edge, recent):
        (dumps / stamp).mkdir()
        (dumps / stamp / "SHA256SUMS").write_text("")
    (dumps / partial_old).mkdir()
    for keep in ("lost+found", "20240101", "weekly"):
        (dumps / keep).mkdir()
    (dumps / "19700101T000000Z").write_text("a file, not a backup folder")
    backup, _ = _scripts(tmp_path, dumps)

    proc = _run(backup, tmp_path)
    assert proc.returncode == 0, proc.stderr
    left = {p.name for p in dumps.iterdir()}
    assert old not in left and partial_old not in left
    assert {edge, recent, "lost+found", "20240101", "weekly", "19700101T000000Z"} <= left
    new = left - {edge, recent, "lost+found", "20240101", "weekly", "19700101T000000Z"}
    assert len(new) == 1
    folder = dumps / new.pop()
    assert sorted(p.name for p in folder.iterdir()) == ["SHA256SUMS", "app.dump", "crm.dump", "globals.sql"]
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True, check=False)
    assert check.returncode == 0
    assert not list(tmp_path.glob("pgforge-backup.*"))  # the work directory is cleaned up


def test_a_failed_dump_stores_nothing_complete_and_deletes_nothing(tmp_path: Path) -> None:
    _tools(tmp_path)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    old = _stamp(100)
    (dumps / old).mkdir()
    (dumps / old / "SHA256SUMS").write_text("")
    backup, _ = _scripts(tmp_path, dumps)
    proc = _run(backup, tmp_path, FAIL_DB="crm")
    assert proc.returncode != 0
    assert {p.name for p in dumps.iterdir()} == {old}  # no half backup, and retention did not run
    assert not list(tmp_path.glob("pgforge-backup.*"))


def test_the_newest_backup_survives_retention_however_old(tmp_path: Path) -> None:
    """If backups stopped for longer than the retention, pruning must not leave nothing."""
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    older, newest = _stamp(50), _stamp(40)
    for stamp in (older, newest):
        (dumps / stamp).mkdir()
        (dumps / stamp / "SHA256SUMS").write_text("")
    files = _files(backup={"target": "local", "local_dir": str(dumps), "retention_days": 7})
    store = files["backup/backup.sh"].content
    start, end = store.index("# --- storage:"), store.index("# --- end of storage ---")
    harness = tmp_path / "prune.sh"
    harness.write_text("#!/usr/bin/env bash\nset -euo pipefail\nlog() { echo \"$*\" >&2; }\n"
                       + store[start:end] + 'prune_older_than 7\necho "kept=$oldest_kept"\n')
    harness.chmod(0o755)
    proc = subprocess.run([str(harness)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in dumps.iterdir()] == [newest]
    assert proc.stdout.strip() == f"kept={newest}"


def test_restore_lists_only_complete_backups_and_checks_checksums(tmp_path: Path) -> None:
    _tools(tmp_path)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    complete, partial = _stamp(2), _stamp(1)
    (dumps / complete).mkdir()
    (dumps / complete / "app.dump").write_text("dump of app\n")
    sums = subprocess.run(["sha256sum", "app.dump"], cwd=dumps / complete, capture_output=True, text=True, check=True)
    (dumps / complete / "SHA256SUMS").write_text(sums.stdout)
    (dumps / partial).mkdir()
    (dumps / partial / "app.dump").write_text("half")
    (dumps / "notes").mkdir()
    _, restore = _scripts(tmp_path, dumps)

    listed = _run(restore, tmp_path, "-l")
    assert listed.returncode == 0 and listed.stdout.split() == [complete]

    (dumps / complete / "app.dump").write_text("dump of app, tampered\n")
    tampered = _run(restore, tmp_path, "app")
    assert tampered.returncode != 0 and "checksum mismatch" in tampered.stderr
    missing = _run(restore, tmp_path, "crm")
    assert missing.returncode != 0 and "has no crm.dump" in missing.stderr
    bad = _run(restore, tmp_path, "-s", "../../etc", "app")
    assert bad.returncode != 0 and "takes a stamp" in bad.stderr
    assert os.path.exists(dumps / partial / "app.dump")
