"""Fixtures shared by the test modules.

* ``audit``: write files into the test's directory and run the checks one code (or rule set)
  names, the way ``pgforge check DIR --select CODE`` does, returning the findings. Host facts
  (``host=``, as ``--memory/--cpus`` give them) or a profile as the desired state (``profile=``,
  as ``--against`` gives it) are attached to every target found. Modules whose checks need the
  same host every time override the fixture with their default (see test_checks_performance.py).
* ``write``: ``write(root, {name: text})`` writes files (parents created) and returns ``root``.
* ``cli``: the typer app with every command registered, as ``pgforge`` runs it; ``invoke`` runs
  it in-process with ``CliRunner``.

Real-server helpers live in pgharness.py, the fake detection root in fakeroot.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from pgforge.audit.model import Finding


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative name: text}`` under ``root`` (parents created) and return ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def audit_files(root: Path, files: dict[str, str], select: str, *, major: int | None = 17,
                host: dict | None = None, profile: str | None = None, desired: bool = False) -> list[Finding]:
    """Write ``files`` under ``root`` and audit the directory with the checks ``select`` names."""
    from pgforge.audit.discover import discover
    from pgforge.audit.runner import run_checks, select_checks
    from pgforge.spec.load import build_spec

    write_files(root, files)
    targets = discover([root], major=major)
    if host is not None or profile is not None:
        spec = build_spec(flags=host) if host is not None else build_spec(profile=profile)
        for t in targets:
            t.spec, t.desired = spec, desired
            t.major = t.major or spec.pg_version
    return run_checks(targets, select_checks([select], None)).findings


@pytest.fixture
def write() -> Callable[[Path, dict[str, str]], Path]:
    """``write(root, {name: text})``: files under ``root``, parents created."""
    return write_files


@pytest.fixture
def audit(tmp_path: Path) -> Callable[..., list[Finding]]:
    """``audit(files, select, major=17, host=None, profile=None, desired=False)`` in ``tmp_path``."""

    def run(files: dict[str, str], select: str, **kwargs) -> list[Finding]:
        return audit_files(tmp_path, files, select, **kwargs)

    return run


@pytest.fixture
def cli():
    """The typer app with the command modules registered (pgforge.cli.main does this at start-up)."""
    from pgforge.cli import app
    from pgforge.commands import register_all

    if not any(c.name == "check" for c in app.registered_commands):
        register_all(app)
    return app


@pytest.fixture
def invoke(cli):
    """``invoke(*args)``: run pgforge in-process and return typer's Result."""
    from typer.testing import CliRunner

    def run(*args):
        return CliRunner().invoke(cli, [str(a) for a in args])

    return run
