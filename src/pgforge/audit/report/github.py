"""Findings as GitHub Actions workflow commands: one annotation per finding on the file and line.

``::error file=conf/pg_hba.conf,line=12,col=1,title=PGF201 hba-trust::message``; warnings become
``::warning`` and info ``::notice``. The runner shows a limited number of annotations per step
(about ten of each level), so a job with many findings should upload SARIF as well. Escaping
follows the runner's rules: ``%``, CR and LF in the message; also ``:`` and ``,`` in property values.
"""

from __future__ import annotations

import os
from pathlib import Path

COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _file(path: str, cwd: Path) -> str | None:
    """The path as GitHub wants it (relative to the workspace), or None for a live server."""
    p = Path(path)
    if not (p.is_absolute() or p.exists()):
        return None
    absolute = p if p.is_absolute() else cwd / p
    rel = os.path.relpath(absolute, cwd)
    return Path(rel).as_posix() if not rel.startswith("..") else absolute.as_posix()


def annotation(f, cwd: Path) -> str:
    props = []
    file = _file(f.path, cwd)
    message = f.message if file is not None else f"{f.path}: {f.message}"
    if f.fix:
        message += f" (fix: {f.fix})"
    if file is not None:
        props.append(f"file={escape_property(file)}")
        if f.line:
            props.append(f"line={f.line}")
            if f.column:
                props.append(f"col={f.column}")
    props.append(f"title={escape_property(f'{f.code} {f.name}')}")
    return f"::{COMMANDS[f.severity]} {','.join(props)}::{escape_data(message)}"


def render(outcome, checks, cwd: Path | None = None) -> str:
    cwd = Path(cwd or os.getcwd())
    lines = [annotation(f, cwd) for f in outcome.findings]
    counts = {s: sum(1 for f in outcome.findings if f.severity == s) for s in ("error", "warning", "info")}
    lines.append(f"pgforge check: {len(outcome.findings)} finding(s) in {outcome.targets} target(s): "
                 f"{counts['error']} error, {counts['warning']} warning, {counts['info']} info")
    return "\n".join(lines) + "\n"
