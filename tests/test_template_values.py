"""Templates receive computed values and make no decisions (issue 13).

A template lays values out and writes comments; every value, default and choice between values
comes from Python (rules/, bundle/, spec/). These tests hold the templates to that: no default
(``x or "..."``) and no value-picking conditional in an expression outside a comment line, no copy
of a fact that has a home in Python, and the values that used to be written in a template follow
their home when it changes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pgforge.bundle import build_bundle
from pgforge.resources import templates_dir
from pgforge.spec import HostSpec
from pgforge.tuning import tune

TEMPLATES = sorted(Path(templates_dir()).rglob("*.j2"))
EXPRESSION = re.compile(r"\{\{(.*?)\}\}")
#: Comment lines of the formats the templates write: a conditional there only words a comment.
COMMENT = re.compile(r"\s*(#|--|;)")
#: An empty word is spelled as nothing rather than '' (shell layout, not a choice of value).
EMPTY_WORD = re.compile(r"\s*(\w+) \| shell_word if \1 else \"\"\s*")
#: Facts with a home in Python that a template must not repeat.
FACTS = {"us-east-1": "bundle/archive.PGBACKREST_DEFAULT_REGION", "/var/lib/pgbackrest": "bundle/archive.PGBACKREST_DEFAULT_PATH",
         "90%": "budget.BUDGET_PERCENT", "hot_standby = on": "rules/replication.STANDBY_RULES",
         "s3.key()": "S3Target.folder", "wal-g --config": "ArchiveSpec.walg_words"}


def test_templates_are_found() -> None:
    assert len(TEMPLATES) >= 19


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(templates_dir())))
def test_template_expressions_pick_no_values(path: Path) -> None:
    problems = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for expr in EXPRESSION.findall(line):
            if re.search(r"\bor\s+[\"']", expr):
                problems.append(f"{n}: a default in the template: {{{{{expr}}}}}")
            if re.search(r"\bif\b", expr) and not COMMENT.match(line) and not EMPTY_WORD.fullmatch(expr):
                problems.append(f"{n}: a value chosen in the template: {{{{{expr}}}}}")
        for fact, home in FACTS.items():
            if fact in line:
                problems.append(f"{n}: {fact!r} is {home}'s to say")
    assert problems == []


def test_the_budget_share_in_postgresql_conf_is_the_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    from pgforge import budget
    from pgforge.render import formats

    t = tune(HostSpec(memory="8GB", cpus=2))
    assert f"allowed ({budget.BUDGET_PERCENT} of RAM)\n" in formats.render_conf(t)
    monkeypatch.setattr(formats, "BUDGET_PERCENT", "85%")
    assert "allowed (85% of RAM)\n" in formats.render_conf(t)


def test_readme_and_cron_name_the_installed_scripts_of_the_archive_spec() -> None:
    spec = HostSpec(memory="8GB", cpus=2, archive={"target": "local", "local_dir": "/srv/wal", "scripts_dir": "/opt/pgf"})
    files = {f.path: f.content for f in build_bundle(tune(spec))}
    assert spec.archive.script("base_backup.sh") == "/opt/pgf/base_backup.sh"
    assert f"postgres {spec.archive.script('base_backup.sh')} >>" in files["archive/pgforge-base-backup.cron"]
    assert f"sudo -u postgres {spec.archive.script('base_backup.sh')}`" in files["recovery/README.md"]
    assert f"{spec.archive.script('pitr_restore.sh')} -D " in files["recovery/README.md"]
    assert spec.archive.archive_command().startswith(spec.archive.script("archive_wal.sh"))
    assert "# Point-in-time recovery for this host\n" in files["recovery/README.md"]


@pytest.mark.parametrize("tables,scope", [([], "ALL TABLES"), (["public.t1", "s.t2"], "TABLE public.t1, s.t2")])
def test_publication_scope_is_computed(tables: list[str], scope: str) -> None:
    from pgforge.bundle.replication import publication_scope

    spec = HostSpec(memory="8GB", cpus=2, replication={"replicas": [], "logical": True,
                    "publications": [{"name": "p1", "database": "app", "tables": tables}]})
    [pub] = spec.replication.publications
    assert publication_scope(pub) == scope
    sql = {f.path: f.content for f in build_bundle(tune(spec))}["replication/p1_publication.sql"]
    assert f"'CREATE PUBLICATION %I FOR {scope}'" in sql
