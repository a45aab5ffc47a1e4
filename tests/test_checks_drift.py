"""Drift (PGF501): the files against what ``pgforge generate`` writes for the same spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgforge.bundle import build_bundle
from pgforge.spec.load import build_spec
from pgforge.tuning import tune

PROFILE = "web-small"


@pytest.fixture
def audit(audit):
    """The shared fixture with web-small as the desired state (``--against``), or only as host facts."""
    return lambda files, desired=True: audit(files, "PGF501", major=None, profile=PROFILE, desired=desired)


def generated_conf() -> str:
    spec = build_spec(profile=PROFILE)
    return next(f.content for f in build_bundle(tune(spec)) if f.path == "postgresql.conf")


def test_pgf501_passes_the_generated_file(audit) -> None:
    assert audit({"postgresql.conf": generated_conf()}) == []


def test_pgf501_changed_value_points_at_its_line_and_says_why(audit) -> None:
    text = generated_conf()
    lines = text.splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln.startswith("work_mem = "))
    lines[idx] = "work_mem = 512MB"
    found = audit({"postgresql.conf": "\n".join(lines) + "\n"})
    assert [(f.code, f.line) for f in found] == [("PGF501", idx + 1)]
    assert "work_mem" in found[0].message and found[0].fix and found[0].fix.startswith("set work_mem = ")


def test_pgf501_missing_setting_points_at_the_top(audit) -> None:
    text = "\n".join(ln for ln in generated_conf().splitlines() if not ln.startswith("random_page_cost ="))
    found = audit({"postgresql.conf": text + "\n"})
    assert [(f.line, f.column) for f in found] == [(1, 1)]
    assert found[0].message.startswith("random_page_cost is not set")


def test_pgf501_only_with_a_desired_state_and_settings(audit, tmp_path: Path) -> None:
    # host facts alone (--memory/--cpus) are for performance checks, not drift
    assert audit({"postgresql.conf": "work_mem = 512MB\n"}, desired=False) == []
    # a pg_hba.conf alone has no settings that could drift
    (tmp_path / "postgresql.conf").unlink()
    assert audit({"pg_hba.conf": "local all postgres peer\n"}) == []
