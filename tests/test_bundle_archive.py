"""The archive part of a bundle: settings, files, coherence of archive and restore commands, and
the behaviour of archive_wal.sh and pitr_restore.sh that needs no server (the real-server round
trips are in test_realpg_pitr.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pgforge.bundle import build_bundle
from pgforge.errors import UserError
from pgforge.spec import HostSpec
from pgforge.tuning import tune

BASE: dict[str, Any] = {"memory": "16GB", "cpus": 4, "pg_version": 17}
S3 = {"bucket": "my-wal-archive", "prefix": "prod/wal"}


def _spec(**sections: Any) -> HostSpec:
    return HostSpec.model_validate({**BASE, **sections})


def _files(**sections: Any) -> dict[str, Any]:
    return {f.path: f for f in build_bundle(tune(_spec(**sections)))}


def _settings(**sections: Any) -> dict[str, str]:
    return {s.name: s.text for s in tune(_spec(**sections)).settings}


# ------------------------------------------------------------------------- settings


def test_no_archive_section_leaves_archiving_alone() -> None:
    settings = _settings()
    for name in ("archive_mode", "archive_command", "archive_timeout", "wal_level"):
        assert name not in settings
    assert not [p for p in _files() if p.startswith(("archive/", "recovery/"))]


@pytest.mark.parametrize("target,extra,command", [
    ("local", {"local_dir": "/srv/pgarchive"}, """'/usr/local/lib/pgforge/archive_wal.sh "%p" "%f"'"""),
    ("s3", {"s3": S3}, """'/usr/local/lib/pgforge/archive_wal.sh "%p" "%f"'"""),
    ("pgbackrest", {"stanza": "db1"}, """'pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db1 archive-push "%p"'"""),
    ("pgbackrest", {"stanza": "db1", "pgbackrest_config": "/etc/pgbackrest/db1.conf"},
     """'pgbackrest --config=/etc/pgbackrest/db1.conf --stanza=db1 archive-push "%p"'"""),
    ("wal-g", {}, """'wal-g wal-push "%p"'"""),
    ("wal-g", {"s3": S3}, """'wal-g --config /usr/local/lib/pgforge/walg.json wal-push "%p"'"""),
])
def test_archive_settings_per_target(target: str, extra: dict[str, Any], command: str) -> None:
    settings = _settings(archive={"target": target, **extra})
    assert settings["archive_mode"] == "on"
    assert settings["wal_level"] == "replica"  # never minimal: the server would refuse to start
    assert settings["archive_command"] == command
    assert settings["archive_timeout"] == "5min"


@pytest.mark.parametrize("given,expected", [("90s", "90s"), ("1h", "1h"), (600, "10min"), ("10min", "10min")])
def test_archive_timeout_from_the_spec(given: object, expected: str) -> None:
    settings = _settings(archive={"target": "local", "local_dir": "/a", "archive_timeout": given})
    assert settings["archive_timeout"] == expected


def test_archive_timeout_zero_leaves_it_off_and_short_ones_warn() -> None:
    assert "archive_timeout" not in _settings(archive={"target": "local", "local_dir": "/a", "archive_timeout": 0})
    t = tune(_spec(archive={"target": "local", "local_dir": "/a", "archive_timeout": "10s"}))
    assert any("archive_timeout 10s" in w for w in t.warnings)


@pytest.mark.parametrize("archive", [
    {"target": "local"},
    {"target": "local", "local_dir": "relative/dir"},
    {"target": "local", "local_dir": "/with space"},
    {"target": "local", "local_dir": "/a/../etc"},
    {"target": "local", "local_dir": "/x;rm -rf /"},
    {"target": "s3"},
    {"target": "s3", "s3": {"bucket": "Not_A_Bucket"}},
    {"target": "s3", "s3": {"bucket": "ok-bucket", "prefix": "a/../b"}},
    {"target": "s3", "s3": {"bucket": "ok-bucket", "endpoint_url": "ftp://x"}},
    {"target": "local", "local_dir": "/a", "archive_timeout": "5 apples"},
    {"target": "local", "local_dir": "/a", "base_backup_schedule": "daily"},
    {"target": "nfs", "local_dir": "/a"},
])
def test_bad_archive_sections_are_rejected(archive: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _spec(archive=archive)


def test_s3_prefix_slashes_are_normalised() -> None:
    spec = _spec(archive={"target": "s3", "s3": {"bucket": "b-1", "prefix": "/prod/wal/"}})
    assert spec.archive is not None and spec.archive.s3 is not None
    assert spec.archive.s3.url("%f") == "s3://b-1/prod/wal/%f"


def test_backup_and_archive_directories_must_not_overlap() -> None:
    with pytest.raises(UserError, match="overlap"):
        tune(_spec(archive={"target": "local", "local_dir": "/srv/pg"},
                   backup={"target": "local", "local_dir": "/srv/pg/dumps"}))
    tune(_spec(archive={"target": "local", "local_dir": "/srv/pg-wal"}, backup={"target": "local", "local_dir": "/srv/pg"}))


# ------------------------------------------------------------------------- coherence


@pytest.mark.parametrize("archive,restore", [
    ({"target": "local", "local_dir": "/srv/pgarchive"}, """cp "/srv/pgarchive/%f" "%p\""""),
    ({"target": "s3", "s3": {**S3, "endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1"}},
     """aws --endpoint-url http://127.0.0.1:9000 --region eu-west-1 s3 cp --only-show-errors "s3://my-wal-archive/prod/wal/%f" "%p\""""),
    ({"target": "pgbackrest", "stanza": "db1"}, """pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=db1 archive-get "%f" "%p\""""),
    ({"target": "wal-g", "s3": S3}, """wal-g --config /usr/local/lib/pgforge/walg.json wal-fetch "%f" "%p\""""),
])
def test_recovery_kit_reads_back_where_archive_command_writes(archive: dict[str, Any], restore: str) -> None:
    files = _files(archive=archive)
    kit = files["recovery/pitr_restore.sh"].content
    readme = files["recovery/README.md"].content
    conf_line = "restore_command = '" + restore.replace("'", "''") + "'"
    if archive["target"] == "pgbackrest":
        assert "pgbackrest \"${opts[@]}\" restore" in kit  # pgBackRest writes its own restore_command
    else:
        assert conf_line in kit
    assert restore in readme
    spec = _spec(archive=archive)
    assert spec.archive is not None
    if archive["target"] == "local":
        wal = files["archive/archive_wal.sh"].content
        assert "archive_dir=/srv/pgarchive\n" in wal and "/srv/pgarchive/%f" in restore
    if archive["target"] == "s3":
        wal = files["archive/archive_wal.sh"].content
        assert "bucket=my-wal-archive\n" in wal and "key=prod/wal/$name" in wal
        assert "aws=(aws --endpoint-url http://127.0.0.1:9000 --region eu-west-1)" in wal


def test_base_backups_live_beside_the_wal_they_pair_with() -> None:
    files = _files(archive={"target": "s3", "s3": S3})
    base = files["archive/base_backup.sh"].content
    kit = files["recovery/pitr_restore.sh"].content
    for script in (base, kit):
        assert "store_bucket=my-wal-archive\n" in script and "store_base=prod/wal/base/\n" in script
    local = _files(archive={"target": "local", "local_dir": "/srv/pgarchive"})
    assert "store_root=/srv/pgarchive/base\n" in local["archive/base_backup.sh"].content
    assert "store_root=/srv/pgarchive/base\n" in local["recovery/pitr_restore.sh"].content
    assert 'pg_archivecleanup "$archive_dir" "$keep_from"' in local["archive/base_backup.sh"].content


def test_manifest_lists_archive_files_with_mode_and_apply() -> None:
    files = _files(archive={"target": "local", "local_dir": "/srv/pgarchive"})
    manifest = json.loads(files["MANIFEST.json"].content)
    entries = {e["path"]: e for e in manifest["files"]}
    assert entries["archive/archive_wal.sh"]["mode"] == "0755"
    assert entries["archive/base_backup.sh"]["apply"] == "run"
    assert entries["recovery/pitr_restore.sh"]["apply"] == "run"
    assert entries["recovery/README.md"]["apply"] == "reference"
    assert entries["archive/pgforge-base-backup.cron"]["mode"] == "0644"
    assert {"archive_mode", "wal_level"} <= set(manifest["restart_settings"])
    assert {"archive_command", "archive_timeout"} <= set(manifest["reload_settings"])
    assert any("archive_wal.sh" in w for w in manifest["warnings"])


def test_tool_configs_hold_no_secret_and_are_private() -> None:
    walg = _files(archive={"target": "wal-g", "s3": {**S3, "endpoint_url": "http://minio:9000"}})["archive/walg.json"]
    conf = json.loads(walg.content)
    assert conf["WALG_S3_PREFIX"] == "s3://my-wal-archive/prod/wal" and conf["AWS_S3_FORCE_PATH_STYLE"] == "true"
    assert walg.mode == 0o600 and not any("SECRET" in k or "KEY" in k for k in conf)
    rest = _files(archive={"target": "pgbackrest", "s3": {**S3, "endpoint_url": "https://minio.lan:9000"}},
                  pg_version=16)["archive/pgbackrest.conf"]
    assert rest.mode == 0o600
    for line in ("repo1-s3-bucket=my-wal-archive", "repo1-path=/prod/wal", "repo1-s3-endpoint=minio.lan",
                 "repo1-storage-port=9000", "repo1-s3-uri-style=path", "pg1-path=/var/lib/postgresql/16/main"):
        assert line + "\n" in rest.content
    assert "repo1-s3-key=" not in rest.content and "key-secret=" not in rest.content


def test_cron_schedules_base_backups_as_postgres() -> None:
    cron = _files(archive={"target": "local", "local_dir": "/a", "base_backup_schedule": "0 3 * * 6"})
    lines = [ln for ln in cron["archive/pgforge-base-backup.cron"].content.splitlines() if ln and not ln.startswith("#")]
    assert "0 3 * * 6 postgres /usr/local/lib/pgforge/base_backup.sh >>/var/log/postgresql/pgforge-base-backup.log 2>&1" in lines


def test_hba_admits_the_base_backup_when_pgforge_writes_pg_hba() -> None:
    """base_backup.sh runs pg_basebackup over the local socket as postgres: a replication
    connection, which ``local all ...`` lines do not match."""
    files = _files(archive={"target": "local", "local_dir": "/a"},
                   access=[{"type": "hostssl", "database": "app", "user": "app", "address": "10.0.1.0/24"}])
    hba = [ln.split() for ln in files["pg_hba.conf"].content.splitlines() if ln.strip() and not ln.startswith("#")]
    assert any(f[0] == "local" and "replication" in f[1].split(",") and f[2] in ("postgres", "all") for f in hba), hba


# ------------------------------------------------------------------------- scripts without a server


def _write(tmp_path: Path, files: dict[str, Any], name: str) -> Path:
    path = tmp_path / Path(name).name
    path.write_text(files[name].content)
    path.chmod(0o755)
    return path


def test_archive_wal_never_overwrites(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    script = _write(tmp_path, _files(archive={"target": "local", "local_dir": str(archive)}), "archive/archive_wal.sh")
    seg = tmp_path / "000000010000000000000003"
    seg.write_bytes(b"\x01" * 4096)

    def run(src: Path, name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), str(src), name], capture_output=True, text=True, check=False)

    assert run(seg, seg.name).returncode == 0
    assert (archive / seg.name).read_bytes() == seg.read_bytes()
    assert run(seg, seg.name).returncode == 0  # a retry with the same content succeeds
    other = tmp_path / "other"
    other.write_bytes(b"\x02" * 4096)
    clash = run(other, seg.name)
    assert clash.returncode == 1 and "different content" in clash.stderr
    assert (archive / seg.name).read_bytes() == seg.read_bytes()  # untouched
    assert sorted(p.name for p in archive.iterdir()) == [seg.name]  # no temporary file left behind
    usage = subprocess.run([str(script), str(seg)], capture_output=True, text=True, check=False)
    assert usage.returncode == 2


def test_archive_wal_fails_when_the_archive_is_not_mounted(tmp_path: Path) -> None:
    script = _write(tmp_path, _files(archive={"target": "local", "local_dir": str(tmp_path / "gone")}), "archive/archive_wal.sh")
    seg = tmp_path / "000000010000000000000001"
    seg.write_bytes(b"wal")
    proc = subprocess.run([str(script), str(seg), seg.name], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "not mounted" in proc.stderr
    assert not (tmp_path / "gone").exists()  # never created: that would fill the wrong disk


@pytest.mark.parametrize("args,message", [
    ([], "-D NEW_PGDATA is required"),
    (["-D", "{pgdata}"], "choose a recovery target"),
    (["-D", "{full}", "--latest"], "is not empty"),
    (["-D", "{pgdata}", "--lsn", "yesterday"], "WAL location"),
    (["-D", "{pgdata}", "--latest", "--action", "explode"], "pause, promote or shutdown"),
    (["-D", "{pgdata}", "--latest", "--name", "x"], "one recovery target"),
    (["-D", "{pgdata}", "--latest"], "no complete base backup"),
    (["-D", "{pgdata}", "--latest", "--backup", "../etc"], "takes a stamp"),
])
def test_pitr_restore_refuses_before_touching_anything(tmp_path: Path, args: list[str], message: str) -> None:
    archive = tmp_path / "archive"
    (archive / "base").mkdir(parents=True)
    full = tmp_path / "full"
    full.mkdir()
    (full / "PG_VERSION").write_text("17\n")
    kit = _write(tmp_path, _files(archive={"target": "local", "local_dir": str(archive)}), "recovery/pitr_restore.sh")
    argv = [a.format(pgdata=tmp_path / "new", full=full) for a in args]
    proc = subprocess.run([str(kit), *argv], capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert message in proc.stderr
    assert (full / "PG_VERSION").read_text() == "17\n"
    assert not (tmp_path / "new" / "recovery.signal").exists()


def test_issue_example_generates_with_the_cli(tmp_path: Path) -> None:
    """`pgforge generate --spec` on the issue's example exits 0 and writes every file with its mode."""
    import stat

    from typer.testing import CliRunner

    from pgforge.cli import app
    from test_shellcheck_scripts import EXAMPLE_SPEC

    spec = tmp_path / "host.yaml"
    spec.write_text(EXAMPLE_SPEC)
    out = tmp_path / "bundle"
    result = CliRunner().invoke(app, ["generate", "--spec", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "MANIFEST.json").read_text())
    for entry in manifest["files"]:
        path = out / entry["path"]
        assert path.is_file(), entry["path"]
        assert f"{stat.S_IMODE(path.stat().st_mode):04o}" == entry["mode"], entry["path"]
        assert entry["purpose"] and entry["apply"] in ("restart", "reload", "run", "reference")
    mine = {e["path"] for e in manifest["files"]} & {
        "archive/archive_wal.sh", "archive/base_backup.sh", "archive/pgforge-base-backup.cron", "recovery/pitr_restore.sh",
        "recovery/README.md", "replication/primary_setup.sql", "replication/bootstrap_replica1.sh",
        "replication/pgpass.example", "backup/backup.sh", "backup/restore_dump.sh", "backup/pgforge-backup.cron"}
    assert len(mine) == 11
    conf = (out / "postgresql.conf").read_text()
    assert "\narchive_command = '/usr/local/lib/pgforge/archive_wal.sh \"%p\" \"%f\"'\n" in conf
    assert "\nwal_level = replica\n" in conf


# ------------------------------------------------------------------------- one home per location


def _shell_value(script: str, assignment: str, **env: str) -> str:
    """What the script's ``assignment=...`` line sets, as bash reads it (other variables from env)."""
    [line] = [ln.strip() for ln in script.splitlines() if ln.strip().startswith(assignment + "=")]
    prelude = "".join(f"{k}={v!s}; " for k, v in env.items())
    name = assignment
    if line.startswith(f"{name}=("):
        out = subprocess.run(["bash", "-c", f"{prelude}{line}; printf '%s\\n' \"${{{name}[@]}}\""],
                             capture_output=True, text=True, check=True).stdout
        return out
    return subprocess.run(["bash", "-c", f"{prelude}{line}; printf '%s' \"${name}\""],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("s3", [
    {"bucket": "wal-bkt", "prefix": "prod/wal/"},
    {"bucket": "wal-bkt"},
    {"bucket": "wal-bkt", "prefix": "a", "endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1",
     "aws_cli": "/opt/aws/bin/aws"},
])
def test_s3_locations_come_from_the_target(s3: dict[str, Any]) -> None:
    """The WAL key archive_wal.sh stores, the WAL folder base_backup.sh prunes, the base-backup
    folder, the aws CLI words and restore_command's URL are all S3Target's (spec/archive.py)."""
    spec = _spec(archive={"target": "s3", "s3": s3})
    target = spec.archive.s3
    files = _files(archive={"target": "s3", "s3": s3})
    wal = files["archive/archive_wal.sh"].content
    base = files["archive/base_backup.sh"].content
    segment = "000000010000000000000003"
    assert _shell_value(wal, "key", name=segment) == target.key(segment)
    assert f"s3://{target.bucket}/{_shell_value(wal, 'key', name=segment)}" == target.url(segment)
    assert _shell_value(base, "wal_prefix") == target.folder()
    assert _shell_value(base, "store_base") == target.folder("base")
    assert _shell_value(wal, "aws").split() == target.cli_words() == _shell_value(base, "store_cli").split()
    assert spec.archive.restore_command().startswith(target.cli() + " s3 cp")
    assert f'"{target.url("%f")}"' in spec.archive.restore_command()


def test_scripts_write_the_folder_the_target_computes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A different S3Target.folder is what every script uses: no template builds a key itself."""
    from pgforge.spec.archive import S3Target

    monkeypatch.setattr(S3Target, "folder", lambda self, *parts: "/".join(["moved", *parts]) + "/")
    files = _files(archive={"target": "s3", "s3": S3})
    assert _shell_value(files["archive/archive_wal.sh"].content, "key", name="F") == "moved/F"
    assert _shell_value(files["archive/base_backup.sh"].content, "wal_prefix") == "moved/"
    assert _shell_value(files["archive/base_backup.sh"].content, "store_base") == "moved/base/"


def _ini(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
            out[section] = {}
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[section][key] = value
    return out


@pytest.mark.parametrize("archive", [
    {"target": "pgbackrest", "stanza": "db1"},
    {"target": "pgbackrest", "local_dir": "/srv/pgbr", "pgbackrest_config": "/etc/pgb/pgb.conf"},
    {"target": "pgbackrest", "s3": {"bucket": "bkt-a", "prefix": "x/y", "region": "eu-central-1"}},
    {"target": "pgbackrest", "s3": {"bucket": "bkt-a", "endpoint_url": "https://minio.local:9443"}},
])
def test_pgbackrest_options_come_from_one_function(archive: dict[str, Any]) -> None:
    """pgbackrest.conf's [global] is bundle/archive.pgbackrest_global, with pgBackRest's defaults there;
    every pgbackrest call (archive_command, base_backup.sh, pitr_restore.sh) uses ArchiveSpec.pgbackrest_args."""
    from pgforge.bundle.archive import PGBACKREST_DEFAULT_PATH, PGBACKREST_DEFAULT_REGION, pgbackrest_global

    spec = _spec(archive=archive)
    files = _files(archive=archive)
    repo, policy = pgbackrest_global(spec.archive)
    conf = _ini(files["archive/pgbackrest.conf"].content)
    assert conf["global"] == dict(repo + policy)
    assert conf[spec.archive.stanza] == {"pg1-path": "/var/lib/postgresql/17/main", "pg1-port": "5432"}
    if "s3" not in archive:
        assert conf["global"]["repo1-path"] == archive.get("local_dir", PGBACKREST_DEFAULT_PATH)
    else:
        assert conf["global"]["repo1-path"] == "/" + spec.archive.s3.key()
        assert conf["global"]["repo1-s3-region"] == archive["s3"].get("region", PGBACKREST_DEFAULT_REGION)
    args = spec.archive.pgbackrest_args
    assert spec.archive.archive_command().startswith("pgbackrest " + " ".join(args) + " ")
    assert f"\npgbackrest {' '.join(args)} --type=" in files["archive/base_backup.sh"].content
    assert f"opts=({' '.join(args)} " in files["recovery/pitr_restore.sh"].content


@pytest.mark.parametrize("s3", [None, {"bucket": "walg-bkt", "prefix": "w"}])
def test_walg_command_words_are_the_archive_commands(s3: dict[str, Any] | None) -> None:
    archive = {"target": "wal-g", **({"s3": s3} if s3 else {})}
    spec = _spec(archive=archive)
    files = _files(archive=archive)
    words = spec.archive.walg_words
    assert words == (["wal-g", "--config", spec.archive.walg_config] if s3 else ["wal-g"])
    for path in ("archive/base_backup.sh", "recovery/pitr_restore.sh"):
        assert _shell_value(files[path].content, "walg").split() == words
    assert spec.archive.archive_command() == " ".join(words) + ' wal-push "%p"'
    assert spec.archive.restore_command() == " ".join(words) + ' wal-fetch "%f" "%p"'
