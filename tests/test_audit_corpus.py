"""Every check over the shared corpus of real-world files: no crash, every finding at a real
place, SARIF that validates, and precise expectations on files whose problems are known.

The corpus lives in shared/ beside the repository (never copied into it); without it the module
is skipped on a developer machine and fails in CI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pgforge.audit.discover import discover
from pgforge.audit.model import Finding
from pgforge.audit.report import sarif
from pgforge.audit.runner import run_checks, select_checks


def _corpus() -> Path:
    for c in (os.environ.get("PGFORGE_CORPUS"), Path(__file__).resolve().parents[2] / "shared" / "corpus",
              "/work/shared/corpus"):
        if c and (Path(c) / "pg_hba").is_dir():
            return Path(c)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("the shared corpus is missing (CI=true)")
    pytest.skip("the shared corpus (../shared/corpus) is not here")


@pytest.fixture(scope="module")
def corpus_findings() -> tuple[Path, list[Finding], object]:
    root = _corpus()
    checks = select_checks(None, None)
    outcome = run_checks(discover([root]), checks)
    return root, outcome.findings, outcome


def _lines(path: str) -> int:
    return len(Path(path).read_bytes().split(b"\n"))


def test_every_finding_points_at_a_real_line(corpus_findings) -> None:
    root, findings, outcome = corpus_findings
    assert outcome.targets >= 80 and findings
    for f in findings:
        assert Path(f.path).is_file() and Path(f.path).is_relative_to(root), f
        assert 0 <= f.line <= _lines(f.path) and f.column >= 0, f
        assert f.message and f.severity in ("error", "warning", "info")


def test_corpus_sarif_validates(corpus_findings) -> None:
    try:
        import jsonschema
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("jsonschema is needed to validate SARIF")
        pytest.skip("jsonschema not installed")
    _, _, outcome = corpus_findings
    schema = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
    doc = json.loads(sarif.render(outcome, select_checks(None, None), cwd=_corpus()))
    assert list(jsonschema.Draft4Validator(schema).iter_errors(doc)) == []
    assert len(doc["runs"][0]["results"]) == len(outcome.findings)


def _in(findings: list[Finding], name_part: str) -> list[tuple[str, int, str]]:
    return sorted((f.code, f.line, f.severity) for f in findings if name_part in Path(f.path).name)


def test_patroni_hba_shadowed_lines_and_loopback_trust(corpus_findings) -> None:
    _, findings, _ = corpus_findings
    got = _in(findings, "036_sdv-hl_patroni")
    # line 91 'host all all 0.0.0.0/0 md5' makes the three /32 lines below it dead
    assert [(c, ln) for c, ln, _ in got if c == "PGF207"] == [("PGF207", 92), ("PGF207", 93), ("PGF207", 94)]
    assert ("PGF204", 91, "error") in got
    # replication lines are not covered by 'all' in the database column
    assert not any(c == "PGF207" and ln >= 97 for c, ln, _ in got)
    # 'localhost' is loopback: trust there is a warning, not the loud TCP error
    assert ("PGF201", 97, "warning") in got and ("PGF201", 87, "warning") in got
    # 127.0.0.1/32 all-all lines are what distributions ship: not flagged
    assert not any(c == "PGF205" and ln in (89, 90) for c, ln, _ in got)


def test_rinha_conf_durability(corpus_findings) -> None:
    _, findings, _ = corpus_findings
    got = [(c, ln) for c, ln, _ in _in(findings, "052_Dowingows") if c.startswith("PGF1")]
    assert got == [("PGF101", 11), ("PGF102", 12), ("PGF103", 10), ("PGF104", 17)]


def test_pgbouncer_auth_types(corpus_findings) -> None:
    _, findings, _ = corpus_findings
    assert ("PGF210", 9, "error") in _in(findings, "002_Starefossen")  # auth_type = any
    assert ("PGF210", 8, "warning") in _in(findings, "018_learnscripture")  # plain


def test_templates_are_not_audited(corpus_findings) -> None:
    _, findings, _ = corpus_findings
    assert not any(f.path.endswith(".j2") for f in findings)
