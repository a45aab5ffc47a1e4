"""Archive rules: archive_mode, archive_command and archive_timeout, from the ``archive:`` section.

The command itself is spelled by :meth:`ArchiveSpec.archive_command`, beside the restore_command the
recovery kit and the replicas use, so the two directions always name the same place. restore_command
is not set here: a primary must not have one, it belongs to the recovery kit.
"""

from __future__ import annotations

from pgforge.errors import UserError
from pgforge.rules.base import Kind, Recommendation, Source, rule
from pgforge.rules.context import Context
from pgforge.units import MB, format_bytes_human as h

PG_DOCS_ARCHIVING = Source("PostgreSQL docs, 25.3 Continuous Archiving and Point-in-Time Recovery",
                           "https://www.postgresql.org/docs/current/continuous-archiving.html")
PG_DOCS_ARCHIVE_SETTINGS = Source("PostgreSQL docs, 20.5.3 Archiving", "https://www.postgresql.org/docs/current/runtime-config-wal.html#RUNTIME-CONFIG-WAL-ARCHIVING")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _check_locations(ctx: Context) -> None:
    """Dumps and the WAL archive must not share a directory: retention of one would walk the other."""
    arch, backup = ctx.spec.archive, ctx.spec.backup
    if arch is None or backup is None or arch.target != "local" or backup.target != "local":
        return
    assert arch.local_dir and backup.local_dir
    if _inside(backup.local_dir, arch.local_dir) or _inside(arch.local_dir, backup.local_dir):
        raise UserError(f"backup.local_dir {backup.local_dir} and archive.local_dir {arch.local_dir} overlap: "
                        "give dumps and the WAL archive separate directories", "backup.local_dir")


@rule("archive_mode", Kind.enum, "archive", tolerance=0.0)
def archive_mode(ctx: Context) -> Recommendation | None:
    """Turn on WAL archiving when the spec has an ``archive:`` section: every completed WAL segment
    is handed to archive_command, which together with a base backup allows point-in-time recovery.
    ``on`` rather than ``always``: standbys do not archive, the primary does. Needs a restart."""
    if ctx.spec.archive is None:
        return None
    _check_locations(ctx)
    return ctx.make("archive_mode", "on", f"on: WAL goes to {ctx.spec.archive.location()} for point-in-time recovery",
                    PG_DOCS_ARCHIVING, target=ctx.spec.archive.target)


@rule("archive_command", Kind.string, "archive", tolerance=0.0)
def archive_command(ctx: Context) -> Recommendation | None:
    """The command that stores one WAL segment; it must succeed only once the segment is safe.

    ``local``: ``archive_wal.sh`` copies to a temporary file in the archive directory, syncs it and
    hard-links it into place, so a segment is never overwritten: an existing file with the same
    content counts as success (PostgreSQL retries after a crash), one with different content is an
    error (two clusters writing into one archive). ``s3``: the same script through the aws CLI, with
    the same never-overwrite check. ``pgbackrest``: ``archive-push``. ``wal-g``: ``wal-push``.
    """
    arch = ctx.spec.archive
    if arch is None:
        return None
    value = arch.archive_command()
    notes: tuple[str, ...] = ()
    if arch.target in ("local", "s3"):
        notes = (f"archive_command calls {arch.scripts_dir}/archive_wal.sh: install the bundle's archive/ scripts there "
                 "before starting the server with this postgresql.conf",)
    return ctx.make("archive_command", value, f"{arch.target}: store each WAL segment in {arch.location()}",
                    PG_DOCS_ARCHIVING, target=arch.target, notes=notes)


@rule("archive_timeout", Kind.time, "archive", tolerance=0.5)
def archive_timeout(ctx: Context) -> Recommendation | None:
    """Force a WAL segment switch after this long without one, so a quiet server still archives
    recent commits: it bounds how much a lost primary can lose when only the archive survives. Each
    forced switch archives a whole (mostly empty) 16MB segment, so not much below a minute. From
    the spec (default 5min)."""
    arch = ctx.spec.archive
    if arch is None:
        return None
    seconds = arch.archive_timeout
    if seconds == 0:
        return None
    notes: tuple[str, ...] = ()
    if seconds < 60:
        notes = (f"archive_timeout {seconds}s archives a 16MB segment at least every {seconds}s even when idle: "
                 f"up to {h(16 * MB * 86400 / seconds)} a day of mostly empty WAL",)
    return ctx.make("archive_timeout", seconds * 1000,
                    f"at most {seconds}s of commits are missing from the archive on a quiet server",
                    PG_DOCS_ARCHIVE_SETTINGS, archive_timeout_s=seconds, notes=notes)
