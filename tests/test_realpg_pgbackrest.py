"""The pgBackRest archive target end to end, with the real pgbackrest and a real server.

The bundle for ``archive: {target: pgbackrest}`` holds archive/pgbackrest.conf, an
archive_command and restore_command that call pgbackrest with that file (--config) and stanza,
base_backup.sh (pgbackrest backup) and pitr_restore.sh (pgbackrest restore to a target). Here
they run as a DBA would: the config is installed where the spec says, the stanza is created with
the command the config's header gives, ``pgbackrest check`` proves the server's archiver reaches
the repository, base_backup.sh takes a full backup, and pitr_restore.sh rebuilds a new data
directory that holds exactly the rows up to a named restore point; a second restore with --latest
replays everything archived.

pgBackRest 2.45 (Debian 12) supports PostgreSQL up to 15, so this runs on 15.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pgharness import PgCluster, pg_bindir, pg_user_tmpdir, run_as_postgres
from test_realpg_pitr import (
    RESTORE_POINT,
    DataDirServer,
    _chown,
    host_spec,
    missing,
    paused_at_the_restore_point,
    pg_mkdir,
    rows_around_a_restore_point,
    run_script,
    script_env,
    switch_wal_and_wait_archived,
    wait_until,
    write_spec_bundle,
)

MAJOR = 15
STANZA = "pgforge"
pytestmark = [pytest.mark.realpg, pytest.mark.slow]


def pgbackrest_binary() -> str:
    exe = shutil.which("pgbackrest")
    if exe is None:
        missing("pgbackrest is not installed (apt-get install pgbackrest)")
        raise AssertionError("unreachable")
    return exe


def install_config(text: str, dest: Path, root: Path) -> None:
    """Install the generated pgbackrest.conf as the postgres user's, mode 0600.

    The one addition is where pgBackRest logs and locks (its defaults are /var/log/pgbackrest and
    /tmp/pgbackrest); the test keeps both in its own directory. Everything else is as generated.
    """
    logs, locks = pg_mkdir(root / "pgbr-log"), pg_mkdir(root / "pgbr-lock")
    assert "\n[global]\n" in text
    text = text.replace("\n[global]\n", f"\n[global]\nlog-path={logs}\nlock-path={locks}\n", 1)
    dest.write_text(text, encoding="utf-8")
    dest.chmod(0o600)
    _chown(dest)


def test_pgbackrest_archive_backup_and_pitr_to_a_restore_point() -> None:
    exe = pgbackrest_binary()
    version = subprocess.run([exe, "version"], capture_output=True, text=True, check=True).stdout.strip()
    root = pg_user_tmpdir("pgforge-pgbackrest-")
    try:
        repo, home, etc = pg_mkdir(root / "repo"), pg_mkdir(root / "home"), pg_mkdir(root / "etc")
        config = etc / "pgbackrest.conf"
        bundle = root / "bundle"
        with PgCluster(MAJOR) as primary:
            files = write_spec_bundle(host_spec(primary.port, pg_version=MAJOR, archive={
                "target": "pgbackrest", "stanza": STANZA, "local_dir": str(repo), "pgbackrest_config": str(config),
                "data_directory": str(primary.datadir), "scripts_dir": str(bundle / "archive"),
                "archive_timeout": "1min"}), bundle)
            generated = files["archive/pgbackrest.conf"]
            assert generated.mode == 0o600
            assert f"repo1-path={repo}" in generated.content
            assert f"[{STANZA}]\npg1-path={primary.datadir}\npg1-port={primary.port}" in generated.content
            install_config(generated.content, config, root)

            primary.write_conf(primary.initdb_conf + "\n" + files["postgresql.conf"].content)
            primary.restart()
            command = f"pgbackrest --config={config} --stanza={STANZA}"
            assert primary.psql("SHOW archive_mode") == "on"
            assert primary.psql("SHOW archive_command") == f'{command} archive-push "%p"'

            # pgbackrest connects to the server through its Unix socket for stanza-create,
            # check and backup, as the generated scripts' libpq variables do (PGHOST).
            env = script_env(home, primary, PGBIN=str(pg_bindir(MAJOR)),
                             PGBACKREST_PG1_SOCKET_PATH=str(primary.sockdir))
            header = generated.content.split("\n[global]")[0]
            assert f"{command} stanza-create" in header  # the command the file tells the DBA to run
            pgbackrest = [exe, f"--config={config}", f"--stanza={STANZA}"]  # the command above, this binary
            run_script([*pgbackrest, "stanza-create"], env)
            # check: the server's archive_command (the generated one) pushes a WAL file into the repo.
            run_script([*pgbackrest, "check"], env)

            backup = run_script([bundle / "archive/base_backup.sh"], env)
            assert f"pgbackrest full backup of stanza {STANZA} starting" in backup.stderr
            info = json.loads(run_script([*pgbackrest, "info", "--output=json"], env).stdout)
            backups = info[0]["backup"]
            assert [b["type"] for b in backups] == ["full"], info
            assert info[0]["status"]["message"] == "ok", info

            expected = rows_around_a_restore_point(primary)
            switch_wal_and_wait_archived(primary)

            restored = root / "restored"
            run_script([bundle / "recovery/pitr_restore.sh", "-D", restored, "--name", RESTORE_POINT,
                        "--no-archive"], env)
            assert (restored / "recovery.signal").exists()
            auto = (restored / "postgresql.auto.conf").read_text()
            # pgBackRest wrote its own restore_command; it reads the same config file and stanza.
            restore_lines = [line for line in auto.splitlines() if line.startswith("restore_command")]
            assert restore_lines and f"--config={config}" in restore_lines[-1] and "archive-get" in restore_lines[-1]
            assert f"--stanza={STANZA}" in restore_lines[-1]
            assert f"recovery_target_name = '{RESTORE_POINT}'" in auto
            assert auto.rstrip().endswith("archive_mode = off")

            with DataDirServer(restored, primary.sockdir, major=MAJOR) as copy:
                paused_at_the_restore_point(copy, expected, timeout=120)
                copy.psql("SELECT pg_wal_replay_resume()")
                wait_until(lambda: copy.psql("SELECT pg_is_in_recovery()") == "f", "promotion", timeout=60)
                assert copy.psql("SHOW archive_mode") == "off"
            assert primary.psql("SELECT count(*) FROM t") == "150"

            # --latest replays everything archived (pgBackRest takes no --target-action there).
            latest = root / "latest"
            run_script([bundle / "recovery/pitr_restore.sh", "-D", latest, "--latest", "--no-archive"], env)
            with DataDirServer(latest, primary.sockdir, major=MAJOR) as copy:
                wait_until(lambda: copy.psql("SELECT pg_is_in_recovery()") == "f", "recovery to the end of the archive",
                           timeout=120)
                assert copy.psql("SELECT count(*), max(id) FROM t") == "150|150"
            assert version.startswith("pgBackRest ")
    finally:
        # pgbackrest leaves its lock and log files owned by postgres inside root: removed with it.
        if os.geteuid() == 0:
            run_as_postgres(["chmod", "-R", "u+rwX", root], check=False)
        shutil.rmtree(root, ignore_errors=True)
