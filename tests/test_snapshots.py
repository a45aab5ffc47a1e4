"""Snapshots of rendered files (syrupy), beside the semantic tests.

The semantic tests check values; these catch everything else a reader sees: comments, order,
grouping, quoting, headers. A change here is reviewed as a diff of the file a user would get.
Update after an intended change with ``python -m pytest tests/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import pytest

from pgforge.render.formats import render_conf, render_sql, render_yaml
from pgforge.spec.load import build_spec
from pgforge.tuning import tune

PROFILES = ["web-small", "oltp-nvme-32core", "legacy-13"]


@pytest.mark.parametrize("profile", PROFILES)
def test_postgresql_conf(profile: str, snapshot) -> None:
    text = render_conf(tune(build_spec(profile=profile)))
    first = text.splitlines()[0]
    assert first.startswith("# postgresql.conf written by pgforge") and first.endswith(f" for {profile}")
    assert text == snapshot


def test_alter_system_sql(snapshot) -> None:
    assert render_sql(tune(build_spec(profile="web-small"))) == snapshot


def test_patroni_yaml(snapshot) -> None:
    assert render_yaml(tune(build_spec(profile="web-small"))) == snapshot


def test_warnings_in_header(snapshot) -> None:
    """A host whose connections were lowered: the warning is part of the file."""
    text = render_conf(tune(build_spec(flags={"memory": "512MB", "cpus": 1, "workload": "web", "pg_version": 18})))
    assert "# WARNING:" in text
    assert text == snapshot
