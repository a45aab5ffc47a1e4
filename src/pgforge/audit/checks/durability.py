"""Durability checks: settings that lose committed data, or the means to recover it.

PGF1xx. Each finding points at the line that sets the value (or, when a built-in default is the
problem, at the setting that makes it one: archive_mode for an empty archive_command). Sources:
the PostgreSQL docs (20.5 Write Ahead Log, 25.3 Continuous Archiving), postgresqltuner (autovacuum
off is "bad"), pgdsat 7.4 (archive_mode on with nothing to archive with).
"""

from __future__ import annotations

import os
import shlex
from typing import Iterable

from pgforge.audit.model import Hit, check
from pgforge.audit.target import Target
from pgforge.audit.values import at_value, effective_bool, effective_enum, effective_int


def _off(t: Target, name: str):
    """The setting that turns ``name`` off, when the effective value is off and a line says so."""
    s = t.get(name)
    if s is not None and effective_bool(t, name) is False:
        return s
    return None


@check("PGF101", "fsync-off", "error", "durability", sets=("cis", "ci"))
def fsync_off(t: Target) -> Iterable[Hit]:
    """``fsync = off``: a crash or power loss can corrupt the whole cluster.

    ## What it does
    Flags ``fsync`` turned off in postgresql.conf, an included file or postgresql.auto.conf
    (or on a live server).

    ## Why is this bad?
    Without fsync the server never forces WAL and data files to disk. After an operating-system
    crash or a power cut the data files can be inconsistent in ways WAL replay cannot repair:
    the documentation's advice is to restore from a backup. It is only safe for a throwaway
    cluster that can be re-created from scratch (a bulk load, a test run).

    ## Example
    ```
    fsync = off
    ```

    ## Fix
    ```
    fsync = on      # for speed without corruption risk, synchronous_commit = off instead
    ```
    """
    s = _off(t, "fsync")
    if s is not None:
        yield Hit(at_value(s), "fsync is off: an OS crash or power loss can corrupt the cluster beyond WAL repair",
                  "set fsync = on (synchronous_commit = off trades a few transactions for speed without corruption)")


@check("PGF102", "full-page-writes-off", "error", "durability", sets=("cis", "ci"))
def full_page_writes_off(t: Target) -> Iterable[Hit]:
    """``full_page_writes = off``: torn pages after a crash cannot be repaired.

    ## What it does
    Flags ``full_page_writes`` turned off.

    ## Why is this bad?
    A crash in the middle of writing an 8 kB page can leave half old, half new data (a torn
    page). With full_page_writes on, the first change after each checkpoint logs the whole
    page, so recovery can rewrite it; without, the page stays corrupt. It is safe only on
    storage that guarantees atomic 8 kB writes (ZFS, some battery-backed controllers): there,
    suppress this finding on the line with ``# pgforge: ignore[PGF102]``.

    ## Example
    ```
    full_page_writes = off
    ```

    ## Fix
    ```
    full_page_writes = on   # wal_compression reduces the extra WAL it costs
    ```
    """
    s = _off(t, "full_page_writes")
    if s is not None:
        yield Hit(at_value(s), "full_page_writes is off: a crash during a page write leaves a torn page that WAL "
                  "replay cannot repair (safe only on storage with atomic 8kB writes, such as ZFS)",
                  "set full_page_writes = on (wal_compression shrinks the WAL it adds)")


@check("PGF103", "synchronous-commit-off", "warning", "durability", sets=("cis",))
def synchronous_commit_off(t: Target) -> Iterable[Hit]:
    """``synchronous_commit = off`` for the whole server: a crash loses recently committed transactions.

    ## What it does
    Flags ``synchronous_commit = off`` set server-wide.

    ## Why is this bad?
    COMMIT returns before the WAL is flushed, so up to three times ``wal_writer_delay``
    (600 ms by default) of transactions the application was told are committed vanish in a
    crash. The database stays consistent (unlike fsync off), which is why it is a warning: it
    is a valid choice for data that can be replayed, better made per transaction or per role
    (``SET synchronous_commit = off``) than for everything.

    ## Example
    ```
    synchronous_commit = off
    ```

    ## Fix
    ```
    synchronous_commit = on
    ```
    and ``ALTER ROLE batch_loader SET synchronous_commit = off`` where losing the last moment
    of work is acceptable.
    """
    s = t.get("synchronous_commit")
    if s is not None and effective_enum(t, "synchronous_commit") in ("off", "false", "no", "0"):
        yield Hit(at_value(s), "synchronous_commit is off server-wide: a crash loses the transactions committed in "
                  "the last moments (the database stays consistent)",
                  "set synchronous_commit = on and turn it off per role or transaction where the loss is acceptable")


@check("PGF104", "autovacuum-off", "error", "durability", sets=("cis", "ci"))
def autovacuum_off(t: Target) -> Iterable[Hit]:
    """Autovacuum is off, or cannot run because ``track_counts`` is off.

    ## What it does
    Flags ``autovacuum = off``, and ``track_counts = off`` (autovacuum decides what to vacuum
    from those statistics, so without them it never starts a worker except to prevent
    wraparound).

    ## Why is this bad?
    Dead rows pile up (tables and indexes bloat, queries slow down), the planner's statistics
    go stale, and the server eventually runs emergency anti-wraparound vacuums, or stops
    accepting writes to avoid transaction ID wraparound.

    ## Example
    ```
    autovacuum = off
    ```

    ## Fix
    ```
    autovacuum = on
    track_counts = on
    ```
    Disable it per table (``ALTER TABLE t SET (autovacuum_enabled = off)``) for the rare table
    that really needs it.
    """
    s = _off(t, "autovacuum")
    if s is not None:
        yield Hit(at_value(s), "autovacuum is off: dead rows bloat tables and indexes, statistics go stale, and "
                  "transaction ID wraparound forces emergency vacuums", "set autovacuum = on")
    s = _off(t, "track_counts")
    if s is not None and effective_bool(t, "autovacuum") is not False:
        yield Hit(at_value(s), "track_counts is off, so autovacuum has no statistics and never vacuums or analyzes "
                  "(except to prevent wraparound)", "set track_counts = on")


# -- archiving --------------------------------------------------------------------------------

#: Commands that report success without storing anything (archive_command is run by /bin/sh).
_NOOP_COMMANDS = frozenset({"true", ":", "/bin/true", "/usr/bin/true"})


def archive_words(command: str) -> list[str] | None:
    """The shell words of an archive or restore command, or None when it does not split."""
    try:
        return shlex.split(command, comments=False, posix=True)
    except ValueError:
        return None


def noop_reason(command: str) -> str | None:
    """Why ``command`` archives nothing, or None when it may (we only judge provable cases)."""
    stripped = command.strip()
    if not stripped:
        return "archive_command is empty"
    words = archive_words(stripped)
    if not words:
        return None
    first = words[0]
    if first in _NOOP_COMMANDS or os.path.basename(first) == "true" and first.startswith("/"):
        return f"archive_command {stripped!r} reports success without storing the segment"
    if words[:2] == ["exit", "0"] or words == ["exit"]:
        return f"archive_command {stripped!r} reports success without storing the segment"
    if first == "echo" and not any(c in stripped for c in "|>;&"):
        return f"archive_command {stripped!r} only prints; it reports success without storing the segment"
    if "%p" not in stripped and "%f" not in stripped:
        return (f"archive_command {stripped!r} names neither %p (the segment's path) nor %f (its file name), "
                "so it cannot know which segment to store")
    return None


def archiving(t: Target) -> bool:
    return effective_enum(t, "archive_mode") in ("on", "always", "true", "yes", "1")


@check("PGF105", "archive-command-unusable", "error", "durability", sets=("cis", "ci"))
def archive_command_unusable(t: Target) -> Iterable[Hit]:
    """``archive_mode`` is on but nothing archives the WAL: empty or no-op ``archive_command``.

    ## What it does
    With ``archive_mode = on`` (or ``always``) and no ``archive_library`` (PostgreSQL 15+),
    flags an ``archive_command`` that is empty, that succeeds without copying (``/bin/true``,
    ``true``, ``:``, ``exit 0``, ``echo ...``), or that mentions neither ``%p`` nor ``%f`` and so
    cannot know which segment to store.

    ## Why is this bad?
    With an empty command the server keeps every WAL segment, waiting for one, until the WAL
    disk fills and the server stops. With a no-op command the server deletes segments it
    believes are archived: point-in-time recovery and replicas that fetch WAL from the
    archive silently have nothing to read.

    ## Example
    ```
    archive_mode = on
    archive_command = '/bin/true'
    ```

    ## Fix
    ```
    archive_command = 'test ! -f /mnt/archive/%f && cp %p /mnt/archive/%f'
    ```
    or a tool (``pgbackrest --stanza=main archive-push %p``, ``wal-g wal-push %p``); turn
    ``archive_mode`` off if no archive is wanted.
    """
    if not archiving(t):
        return
    library = t.text("archive_library") if t.catalog.get("archive_library") else None
    if library and library.strip():
        return
    command = t.get("archive_command")
    reason = noop_reason(command.value if command is not None else "")
    if reason is None:
        return
    mode = t.get("archive_mode")
    where = at_value(command) if command is not None and command.value.strip() else (mode or t.anchor())
    if command is None or not command.value.strip():
        reason += ": the server keeps every WAL segment until the disk fills"
    else:
        reason += ": the server then deletes WAL it believes archived, and recovery finds nothing"
    yield Hit(where, f"archive_mode is on but {reason}",
              "set archive_command to a command that stores %p (and fails when it cannot), or turn archive_mode off")


@check("PGF106", "wal-level-too-low", "error", "durability", sets=("cis", "ci"))
def wal_level_too_low(t: Target) -> Iterable[Hit]:
    """``wal_level = minimal`` with an archive or replicas set up: the server refuses to start.

    ## What it does
    Flags ``wal_level = minimal`` when the files also turn on ``archive_mode``, leave
    ``max_wal_senders`` above 0 (its default is 10), or admit replication connections in
    pg_hba.conf.

    ## Why is this bad?
    Minimal WAL leaves out what archive recovery and streaming replicas need. The server
    checks this at start-up and stops with "WAL archival cannot be enabled when wal_level is
    minimal" or "WAL streaming (max_wal_senders > 0) requires wal_level replica or logical";
    with max_wal_senders = 0, pg_hba.conf replication lines admit replicas that cannot stream.

    ## Example
    ```
    wal_level = minimal
    archive_mode = on
    ```

    ## Fix
    ```
    wal_level = replica
    ```
    """
    level = t.get("wal_level")
    if level is None or effective_enum(t, "wal_level") != "minimal":
        return
    reasons = []
    if archiving(t):
        mode = t.get("archive_mode")
        reasons.append(f"archive_mode is on ({_place(mode)}): the server refuses to start")
    senders = effective_int(t, "max_wal_senders")
    if senders:
        s = t.get("max_wal_senders")
        place = _place(s) if s is not None else f"the default for PostgreSQL {t.major}" if t.major else "the default"
        reasons.append(f"max_wal_senders is {senders} ({place}): the server refuses to start")
    elif senders == 0:
        lines = _replication_lines(t)
        if lines:
            r = lines[0]
            reasons.append(f"pg_hba.conf admits replication connections ({os.path.basename(r.path)}:{r.line}) "
                           "that can never stream")
    if reasons:
        yield Hit(at_value(level), "wal_level = minimal, but " + "; ".join(reasons),
                  "set wal_level = replica (or logical for logical replication)")


def _place(s) -> str:
    if s is None:
        return "set elsewhere"
    if not s.line:
        return "on the server"
    return f"{os.path.basename(s.path)}:{s.line}"


def _replication_lines(t: Target):
    if t.hba is None:
        return []
    return [r for r in t.hba.rules if r.method != "reject"
            and any(d.kind == "keyword" and d.text == "replication" for d in r.databases)]
