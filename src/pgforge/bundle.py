"""The files of a bundle for one host, rendered in memory (the writer puts them on disk).

Each file says what it is for and what it takes to apply; MANIFEST.json lists them so that a
person or a pipeline knows which files need a restart, a reload, or are scripts to run.
"""

from __future__ import annotations

import json

from pgforge import __version__
from pgforge.render.formats import render_conf, render_json, render_sql, render_yaml
from pgforge.tuning import Tuning
from pgforge.writer import OutFile

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

    from pgforge.parts import active_parts

    for part in active_parts(t.spec):
        files.extend(importlib.import_module(f"pgforge.parts.{part}").files(t))
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

    from pgforge.parts import active_parts

    out = list(t.warnings)
    for part in active_parts(t.spec):
        fn = getattr(importlib.import_module(f"pgforge.parts.{part}"), "warnings", None)
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
