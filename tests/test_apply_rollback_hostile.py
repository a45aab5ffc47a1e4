"""``apply --rollback`` with a crafted ``.pgforge-backup/<stamp>/manifest.json`` (issue 12, item 6).

The data directory's owner can edit the manifest and the backup copies, and a rollback often runs
as root: a manifest may only make rollback touch the files apply writes for this configuration
(postgresql.conf and conf.d/pgforge.conf), never a file elsewhere, through ``..``, an absolute path
or a link; junk in it is a UserError naming the entry (exit 2), never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgforge import apply as ap
from pgforge.errors import UserError
from pgforge.spec import HostSpec
from pgforge.tuning import tune

CONF = "max_connections = 100\nshared_buffers = 128MB\n"
EVIL = b"* * * * * root /tmp/evil.sh\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def applied(tmp_path: Path):
    """A fake data directory after one apply: (data dir, backup dir, manifest, victim outside)."""
    d = tmp_path / "data"
    d.mkdir(mode=0o700)
    (d / "PG_VERSION").write_text("17\n")
    (d / "postgresql.conf").write_text(CONF)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "plpgsql.so").write_bytes(b"")
    t = tune(HostSpec.model_validate({"memory": "8GB", "cpus": 4, "pg_version": 17, "extensions": []}))
    result = ap.execute(ap.plan_datadir(t, d, libdir=lib))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.chmod(victim, 0o644)
    manifest = json.loads((result.backup / ap.MANIFEST).read_text())
    return d, result.backup, manifest, victim


def _craft(backup: Path, manifest) -> None:
    (backup / ap.MANIFEST).write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))


def _restore_entry(backup: Path, path: str, name: str = "evil") -> dict:
    (backup / name).write_bytes(EVIL)
    return {"path": path, "existed": True, "written_sha256": _sha(b"x"), "backup": name, "mode": "0755",
            "uid": os.getuid(), "gid": os.getgid(), "sha256": _sha(EVIL)}


def _refused(d: Path, match: str) -> None:
    with pytest.raises(UserError, match=match):
        plan = ap.plan_rollback(d / "postgresql.conf", data_dir=d)
        ap.execute_rollback(plan)  # the old code got here and wrote


@pytest.mark.parametrize("where", ["outside", "dotdot", "absolute"])
def test_a_path_outside_the_configuration_is_refused(applied, where) -> None:
    d, backup, manifest, victim = applied
    path = {"outside": str(victim), "dotdot": f"{d}/conf.d/../../victim", "absolute": "/nonexistent-pgforge-dir/passwd"}[where]
    manifest["files"].append(_restore_entry(backup, path))
    _craft(backup, manifest)
    _refused(d, "not a plain absolute path|not a file pgforge apply writes")
    assert victim.read_text() == "precious\n" and os.stat(victim).st_mode & 0o777 == 0o644
    assert not os.path.exists("/nonexistent-pgforge-dir")
    assert backup.is_dir(), "the backup is not marked as used"


def test_a_link_out_of_the_configuration_directory_is_refused(applied, tmp_path: Path) -> None:
    d, backup, manifest, victim = applied
    outside = tmp_path / "outside"
    outside.mkdir()
    (d / "conf.d" / ap.DROPIN_NAME).unlink()
    (d / "conf.d").rmdir()
    (d / "conf.d").symlink_to(outside)  # conf.d now leads out of the data directory
    manifest["files"] = [_restore_entry(backup, str(d / "conf.d" / ap.DROPIN_NAME))]
    _craft(backup, manifest)
    _refused(d, "not a file pgforge apply writes")
    assert list(outside.iterdir()) == []


def test_a_link_at_the_restored_name_is_refused(applied) -> None:
    d, backup, manifest, victim = applied
    dropin = d / "conf.d" / ap.DROPIN_NAME
    dropin.unlink()
    dropin.symlink_to(victim)
    manifest["files"] = [_restore_entry(backup, str(dropin))]
    _craft(backup, manifest)
    _refused(d, "symbolic link")
    assert victim.read_text() == "precious\n"


def test_a_backup_copy_outside_the_backup_directory_is_refused(applied) -> None:
    d, backup, manifest, victim = applied
    entry = next(e for e in manifest["files"] if e["existed"])
    entry["backup"] = "../../../victim"
    entry["sha256"] = _sha(b"precious\n")
    _craft(backup, manifest)
    _refused(d, "not a file name inside the backup directory")
    assert "precious" not in (d / "postgresql.conf").read_text()


@pytest.mark.parametrize(("change", "match"), [
    (lambda m: m["files"][0].pop("path"), "path is missing"),
    (lambda m: m["files"][0].pop("written_sha256"), "written_sha256 is missing"),
    (lambda m: m.pop("files"), "files is missing"),
    (lambda m: m["files"][0].__setitem__("path", 7), "path has the wrong type"),
    (lambda m: m["files"][0].__setitem__("existed", "yes"), "existed has the wrong type"),
    (lambda m: m.__setitem__("files", [None]), "an entry is a JSON object"),
    (lambda m: m.__setitem__("files", "all"), "files has the wrong type"),
    (lambda m: m.__setitem__("settings", [1, 2]), "settings"),
    (lambda m: m.__setitem__("created_dirs", ["/etc"]), "not a directory pgforge apply creates"),
])
def test_missing_keys_and_wrong_types_are_user_errors(applied, change, match) -> None:
    d, backup, manifest, _ = applied
    change(manifest)
    _craft(backup, manifest)
    _refused(d, match)


def test_mode_and_owner_come_only_from_the_file_itself(applied) -> None:
    d, backup, manifest, _ = applied
    entry = next(e for e in manifest["files"] if e["existed"])
    entry["mode"] = "4755"
    _craft(backup, manifest)
    _refused(d, "not permission bits")
    entry["mode"], entry["uid"] = "0600", 4242
    _craft(backup, manifest)
    _refused(d, "owner 4242")


@pytest.mark.parametrize("text", ["[]", "not json {", "\"files\"", "{\"files\": [{\"path\": []}]}"])
def test_junk_manifests_are_user_errors(applied, text) -> None:
    d, backup, _, _ = applied
    _craft(backup, text)
    _refused(d, "manifest|JSON object|wrong type")


def test_cli_rollback_with_a_crafted_manifest_exits_2_without_a_traceback(applied) -> None:
    d, backup, manifest, victim = applied
    manifest["files"].append(_restore_entry(backup, str(victim)))
    manifest["files"].append({"existed": True})
    _craft(backup, manifest)
    p = subprocess.run([sys.executable, "-m", "pgforge", "apply", "-D", str(d), "--rollback", "--yes"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "manifest.json: files[" in p.stderr
    assert victim.read_text() == "precious\n"


def test_an_untouched_manifest_still_rolls_back(applied) -> None:
    d, backup, _, _ = applied
    ap.execute_rollback(ap.plan_rollback(d / "postgresql.conf", data_dir=d))
    assert (d / "postgresql.conf").read_text() == CONF
    assert not (d / "conf.d").exists()
