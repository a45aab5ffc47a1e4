"""The bundle layer: the files of a bundle for one host, rendered in memory.

postgresql.conf (and its SQL, JSON and YAML forms) is rendered here from the tuning result; every
other file family is one module of this package, each exposing ``files(tuning) -> list[OutFile]``
and, where it has something to say, ``warnings(tuning) -> list[str]``:

* :mod:`~pgforge.bundle.pgbouncer` -- pgbouncer.ini, userlist.txt, the systemd drop-in;
* :mod:`~pgforge.bundle.pg_hba` -- pg_hba.conf (every server needs one, so it always runs);
* :mod:`~pgforge.bundle.archive` -- WAL archiving and the recovery kit;
* :mod:`~pgforge.bundle.replication` -- primary setup and one bootstrap script per replica;
* :mod:`~pgforge.bundle.backup` -- logical backups.

:func:`build_bundle` asks them in :data:`PART_MODULES` order; a part whose spec section is absent
is not even imported (start-up time). MANIFEST.json lists the files, so that a person or a
pipeline knows which need a restart, a reload, or are scripts to run.

Counterparts: each part's input is its section in :mod:`pgforge.spec` (spec/pgbouncer.py,
spec/access.py, spec/archive.py, spec/replication.py, spec/backup.py), the postgresql.conf values
it relies on are ``pgforge.rules`` (rules/connections.py, rules/ssl.py, rules/archive.py,
rules/replication.py), and the audit judging the written files is ``pgforge.audit.checks``. Nothing
here touches the disk: the one writer, :mod:`pgforge.writer` (with writer_fs.py), stays a
top-level module because it also serves ``apply``, ``check``'s baselines and ``fleet``.
"""
from __future__ import annotations

import json

from pgforge import __version__
from pgforge.render.formats import render_conf, render_json, render_sql, render_yaml
from pgforge.tuning import Tuning
from pgforge.writer import OutFile

#: The file families beyond postgresql.conf, in the order the bundle lists them.
PART_MODULES = ("pgbouncer", "pg_hba", "archive", "replication", "backup")

# The spec section each optional part serves: a part is not even imported when its section is
# absent (start-up time); pg_hba always runs, since every server needs a pg_hba.conf.
PART_SECTIONS = {"pgbouncer": "pgbouncer", "archive": "archive", "replication": "replication", "backup": "backup"}

_EXTRA_FORMATS = {
    "sql": ("alter_system.sql", render_sql, "ALTER SYSTEM script with the same settings", "run"),
    "json": ("pgforge.json", render_json, "every setting with value, unit, context and rationale", "reference"),
    "yaml": ("parameters.yaml", render_yaml, "postgresql.parameters for Patroni or CloudNativePG", "reference"),
}


def build_bundle(t: Tuning, formats: tuple[str, ...] = ()) -> list[OutFile]:
    """postgresql.conf (always), any extra formats asked for, and MANIFEST.json."""
    restart = [s.name for s in t.settings if s.apply_action == "restart"]
    files = [OutFile("postgresql.conf", render_conf(t), 0o644,
                     "server configuration: copy into the data directory (or point config_file at it)",
                     "restart" if restart else "reload")]
    import importlib

    for part in active_parts(t.spec):
        files.extend(importlib.import_module(f"pgforge.bundle.{part}").files(t))
    for fmt in formats:
        if fmt in _EXTRA_FORMATS:
            name, renderer, purpose, apply = _EXTRA_FORMATS[fmt]
            files.append(OutFile(name, renderer(t), 0o644, purpose, apply))
    files.append(manifest(t, files))
    return files


def bundle_warnings(t: Tuning) -> list[str]:
    """The tuning's warnings plus those of each part (``warnings(t)``, where a part defines it):
    trust lines, clear-text passwords, a pooler listening without TLS, ..."""
    import importlib

    out = list(t.warnings)
    for part in active_parts(t.spec):
        fn = getattr(importlib.import_module(f"pgforge.bundle.{part}"), "warnings", None)
        if fn is not None:
            out.extend(w for w in fn(t) if w not in out)
    return out


def manifest(t: Tuning, files: list[OutFile]) -> OutFile:
    data = {
        "pgforge_version": __version__,
        "pg_version": t.spec.pg_version,
        "host": t.spec.name,
        "files": [{"path": f.path, "purpose": f.purpose, "mode": f"{f.mode:04o}", "apply": f.apply} for f in files],
        "restart_settings": [s.name for s in t.settings if s.apply_action == "restart"],
        "reload_settings": [s.name for s in t.settings if s.apply_action == "reload"],
        "warnings": bundle_warnings(t),
    }
    return OutFile("MANIFEST.json", json.dumps(data, indent=2) + "\n", 0o644, "this list", "reference")


def active_parts(spec) -> list[str]:
    """The modules of :data:`PART_MODULES` this spec needs, in order."""
    return [p for p in PART_MODULES if p not in PART_SECTIONS or getattr(spec, PART_SECTIONS[p], None) is not None]
