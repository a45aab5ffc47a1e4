"""Validity checks: what the server itself would refuse, or silently ignore.

PGF0xx. These mirror the server's own parsing (the parsers) and the per-major catalog, so a
finding here means a restart would fail, or a line does not do what it says.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Iterable

from pgforge.audit.model import Hit, Where, check
from pgforge.audit.target import Target

_SEVERITY = {"error": "error", "warning": "warning", "note": "info"}


@check("PGF001", "parse-error", "error", "validity", sets=("ci",))
def parse_error(t: Target) -> Iterable[Hit]:
    """A line the server (or PgBouncer) cannot read.

    ## What it does
    Reports what the parsers of postgresql.conf, pg_hba.conf and pgbouncer.ini find: syntax
    errors, unknown connection types or methods, bad addresses, include cycles, missing
    include files.

    ## Why is this bad?
    PostgreSQL refuses to start with a broken postgresql.conf or pg_hba.conf, and keeps the old
    configuration on reload; PgBouncer refuses to start on an unknown key.

    ## Example
    ```
    shared_buffers = 128 MB      # a space inside an unquoted value
    ```

    ## Fix
    ```
    shared_buffers = '128MB'
    ```
    """
    for source in (t.conf, t.hba, t.bouncer):
        if source is None:
            continue
        for d in source.diagnostics:
            if d.severity == "note" and d.code in ("", "include-missing-optional"):
                continue
            yield Hit(d, d.message, severity=_SEVERITY.get(d.severity, "error"))
    if t.live is not None:  # what the server itself reported about its files (pg_file_settings)
        for path, line, message in t.live.file_errors:
            yield Hit(Where(path, line, 1 if line else 0), message)


@lru_cache(maxsize=4096)
def _majors_knowing(name: str) -> tuple[int, ...]:
    from pgforge.catalog import load_catalog
    from pgforge.spec import SUPPORTED_MAJORS

    return tuple(m for m in SUPPORTED_MAJORS if name in load_catalog(m))


def _known_elsewhere(t: Target, name: str) -> list[int]:
    return list(_majors_knowing(name))


@lru_cache(maxsize=65536)
def _value_problem(major: int, name: str, value: str) -> str | None:
    """The catalog's objection to ``value`` for ``name`` on ``major`` (cached: a fleet repeats values)."""
    from pgforge.catalog import load_catalog

    return load_catalog(major).check_value(name, value)


@check("PGF002", "unknown-parameter", "error", "validity", sets=("ci",))
def unknown_parameter(t: Target) -> Iterable[Hit]:
    """A parameter the target PostgreSQL major does not know.

    ## What it does
    Looks every setting up in the per-major catalog built from the real servers' pg_settings.
    Dotted names (``auto_explain.log_min_duration``) are extension settings and pass.

    ## Why is this bad?
    An unknown name in postgresql.conf is fatal at start-up: a typo or a parameter removed in a
    newer major (``wal_keep_segments`` in 13, ``stats_temp_directory`` in 15) stops the server
    after an upgrade.

    ## Example
    ```
    checkpoint_segments = 32     # removed in 9.5
    ```

    ## Fix
    Remove it, or use its successor (``max_wal_size``). When the major is unknown, pass
    ``--pg-version``: a name known to some majors only is then judged exactly.
    """
    if t.live is not None:
        return
    for s in (t.conf.settings if t.conf else ()):
        if "." in s.name:
            continue
        if t.major_known:
            if s.name not in t.catalog:
                where = _known_elsewhere(t, s.name)
                extra = f" (it exists in PostgreSQL {', '.join(map(str, where))})" if where else ""
                yield Hit(s, f"unknown parameter {s.raw_name!r} for PostgreSQL {t.major}{extra}",
                          "remove it or replace it with its successor")
        else:
            where = _known_elsewhere(t, s.name)
            if not where:
                yield Hit(s, f"unknown parameter {s.raw_name!r} (no PostgreSQL 13-18 knows it)", "check the spelling")
            elif len(where) < len(t.all_catalogs):
                yield Hit(s, f"{s.raw_name!r} exists only in PostgreSQL {', '.join(map(str, where))}; pass --pg-version "
                          "to check it against your major", severity="info")


@check("PGF003", "invalid-value", "error", "validity", sets=("ci",))
def invalid_value(t: Target) -> Iterable[Hit]:
    """A value the server rejects: bad unit, not a number, out of range, not a member of the enum.

    ## What it does
    Checks each value against the target major's catalog: unit spelling (units are case
    sensitive: ``1mb`` is rejected), integer bounds after unit conversion, Booleans and enum
    values.

    ## Why is this bad?
    An invalid value is fatal at start-up (postmaster settings) or makes reload keep the old
    value with only a log line, so the file and the running server silently disagree.

    ## Example
    ```
    work_mem = 64mb
    ```

    ## Fix
    ```
    work_mem = 64MB
    ```
    """
    if t.live is not None:
        return
    majors = [t.catalog.major] if t.major_known else None
    for s in (t.conf.settings if t.conf else ()):
        if "." in s.name:
            continue
        problems = [_value_problem(m, s.name, s.value) for m in (majors or _majors_knowing(s.name))
                    if majors is None or s.name in t.catalog]
        if problems and all(problems):
            yield Hit(Where(s.path, s.line, s.value_column), f"invalid value for {s.raw_name}: {problems[0]}")


@check("PGF004", "overridden-setting", "warning", "validity")
def overridden_setting(t: Target) -> Iterable[Hit]:
    """A setting repeated later, where the later one silently wins.

    ## What it does
    Finds assignments that a later line (in the same file, an included file, or
    postgresql.auto.conf) overrides, and points at the one that has no effect.

    ## Why is this bad?
    Someone edits the first line, reloads, and nothing changes. ALTER SYSTEM values in
    postgresql.auto.conf override postgresql.conf the same way.

    ## Example
    ```
    shared_buffers = 4GB
    ...
    shared_buffers = 128MB   # this one wins
    ```

    ## Fix
    Keep one assignment per parameter; for ALTER SYSTEM values use ``ALTER SYSTEM RESET``.
    """
    for loser, winner in (t.conf.overridden if t.conf else ()):
        if loser.value == winner.value:
            continue
        yield Hit(loser, f"{loser.raw_name} = {loser.raw_value} has no effect: "
                  f"{os.path.basename(winner.path)}:{winner.line} sets {winner.raw_value} later",
                  f"remove this line or the one at {winner.path}:{winner.line}")


@check("PGF005", "pgbouncer-invalid-value", "error", "validity", sets=("ci",))
def pgbouncer_invalid_value(t: Target) -> Iterable[Hit]:
    """A pgbouncer.ini value PgBouncer refuses, or a key its version does not know.

    ## What it does
    Checks each ``[pgbouncer]`` key against a catalogue probed from the real PgBouncer binary
    (``scripts/build_pgbouncer_catalog.py``; 1.18, Debian 12's): integers as strtol reads them and
    within a C int (listen_port within 1..65535, the port PgBouncer binds), times as bare seconds
    (1.18 takes no unit suffix), enum members, and values that PgBouncer accepts but stops
    answering with (keys that cannot change online were typed by starting the binary with each
    value). A key the version does not know is a warning naming the version, since newer
    PgBouncers add keys.

    ## Why is this bad?
    PgBouncer refuses to start on a value it cannot read, keeps the old value on RELOAD with
    only a log line, and a value above a C int wraps around to a negative number silently.

    ## Example
    ```
    [pgbouncer]
    server_lifetime = 1h
    ```

    ## Fix
    ```
    [pgbouncer]
    server_lifetime = 3600
    ```
    """
    if t.bouncer is None:
        return
    from pgforge.pgbouncer_catalog import load_bouncer_catalog

    cat = load_bouncer_catalog()
    for e in t.bouncer.entries:
        if e.section != "pgbouncer":
            continue
        if e.key not in cat:
            yield Hit(e, f"{e.key!r} is unknown to PgBouncer {cat.version}; newer versions may know it",
                      "check the spelling, or that the PgBouncer you run knows it", severity="warning")
            continue
        problem = cat.check_value(e.key, e.value)
        if problem is not None:
            yield Hit(Where(e.path, e.line, e.value_column), f"invalid value for {e.key}: {problem}")
