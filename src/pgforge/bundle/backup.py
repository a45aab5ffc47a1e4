"""Bundle part: logical backups (see bundle/__init__.py for the contract).

Files, when the spec has a ``backup:`` section: ``backup/backup.sh`` (pg_dumpall globals + pg_dump
-Fc per database, stored, verified, retention), ``backup/restore_dump.sh`` and
``backup/pgforge-backup.cron``.

Seen from these files: their input is spec/backup.py (its S3 target is spec/archive.py's),
no rules/ module sets a value for them, and no audit check judges them.
"""

from __future__ import annotations

from pgforge.bundle.archive import PUBLIC, SCRIPT, common_context, store_context
from pgforge.render.templates import render
from pgforge.tuning import Tuning
from pgforge.writer import OutFile


def files(t: Tuning) -> list[OutFile]:
    spec = t.spec
    backup = spec.backup
    if backup is None:
        return []
    ctx = common_context(spec)
    ctx["backup"] = backup
    where = backup.scripts_dir
    dump_store = store_context(backup.local_dir, backup.s3,
                               need=("store_has", "store_put_dir", "store_put", "store_get", "prune_older_than"))
    restore_store = store_context(backup.local_dir, backup.s3, need=("store_stamps", "store_get"))
    return [
        OutFile("backup/backup.sh", render("scripts/backup.sh.j2", **ctx, store=dump_store), SCRIPT,
                f"pg_dump -Fc per database + globals to {backup.location()}, verified with pg_restore --list, "
                f"{backup.retention_days}-day retention; run as postgres (cron)", "run"),
        OutFile("backup/restore_dump.sh", render("scripts/restore_dump.sh.j2", **ctx, store=restore_store), SCRIPT,
                "restore one database (and optionally globals) from a backup.sh backup", "run"),
        OutFile("backup/pgforge-backup.cron", render("scripts/cron.j2", filename="pgforge-backup",
                logfile="/var/log/postgresql/pgforge-backup.log",
                jobs=[{"why": "logical backup of every database, with retention", "schedule": backup.schedule,
                       "command": f"{where}/backup.sh"}], **ctx, store=dump_store), PUBLIC,
                "cron schedule of backup.sh: copy to /etc/cron.d/pgforge-backup", "reference"),
    ]
