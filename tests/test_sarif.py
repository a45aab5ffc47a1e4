"""SARIF output: valid against the SARIF 2.1.0 JSON schema, and shaped the way GitHub code scanning
reads it (rules with help, levels, security-severity, relative URIs under %SRCROOT%, regions).

The schema is the OASIS SARIF 2.1.0 (errata 01) JSON schema, vendored in tests/data; see
tests/data/sarif-schema-2.1.0.LICENSE.md for where it comes from and its licence.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pgforge.audit.discover import discover
from pgforge.audit.model import Finding
from pgforge.audit.report import sarif
from pgforge.audit.runner import Outcome, run_checks, select_checks

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
CONF = "fsync = off\nlisten_addresses = '*'\n"
HBA = "host all all 0.0.0.0/0 trust\nhostssl app app 10.0.0.0/8 md5\nhostssl app app 10.1.0.0/16 md5\n"


def validator():
    try:
        import jsonschema
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("jsonschema is needed to validate SARIF (pip install jsonschema)")
        pytest.skip("jsonschema not installed")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def sarif_for(root: Path) -> dict:
    (root / "conf").mkdir()
    (root / "conf" / "postgresql.conf").write_text(CONF)
    (root / "conf" / "pg_hba.conf").write_text(HBA)
    checks = select_checks(None, None)
    outcome = run_checks(discover([root / "conf"], major=17), checks)
    return json.loads(sarif.render(outcome, checks, cwd=root))


def test_valid_against_the_sarif_schema(tmp_path: Path) -> None:
    doc = sarif_for(tmp_path)
    errors = sorted(validator().iter_errors(doc), key=str)
    assert errors == [], [e.message for e in errors[:5]]
    assert doc["runs"][0]["results"]


def test_the_schema_check_has_teeth(tmp_path: Path) -> None:
    doc = sarif_for(tmp_path)
    doc["runs"][0]["results"][0]["level"] = "fatal"
    del doc["runs"][0]["tool"]["driver"]["rules"][0]["id"]
    assert len(list(validator().iter_errors(doc))) >= 2


def test_rules_carry_what_github_shows(tmp_path: Path) -> None:
    run = sarif_for(tmp_path)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)
    for r in rules:
        assert r["name"] and r["shortDescription"]["text"] and r["fullDescription"]["text"]
        assert "## Fix" in r["help"]["markdown"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
        tags = r["properties"]["tags"]
        assert len(tags) == len(set(tags))
        if "security" in tags:
            score = float(r["properties"]["security-severity"])
            assert 0.1 <= score <= 10.0
    by_id = {r["id"]: r for r in rules}
    assert float(by_id["PGF201"]["properties"]["security-severity"]) >= 9.0  # trust: critical
    assert by_id["PGF203"]["defaultConfiguration"]["level"] == "warning"


def test_results_point_at_relative_files_with_regions(tmp_path: Path) -> None:
    run = sarif_for(tmp_path)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"
    seen = set()
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note") and res["message"]["text"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert not loc["artifactLocation"]["uri"].startswith("/")
        assert loc["region"]["startLine"] >= 1 and loc["region"]["startColumn"] >= 1
        seen.add((res["ruleId"], loc["artifactLocation"]["uri"], loc["region"]["startLine"],
                  loc["region"]["startColumn"]))
    assert ("PGF101", "conf/postgresql.conf", 1, 9) in seen
    assert ("PGF201", "conf/pg_hba.conf", 1, 24) in seen
    assert ("PGF209", "conf/postgresql.conf", 2, 20) in seen


def test_fingerprints_are_stable_when_lines_move(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = sarif_for(tmp_path / "a")
    second_root = tmp_path / "b"
    (second_root / "conf").mkdir()
    (second_root / "conf" / "postgresql.conf").write_text("# moved down\n\n" + CONF)
    (second_root / "conf" / "pg_hba.conf").write_text("# moved down\n" + HBA)
    checks = select_checks(None, None)
    second = json.loads(sarif.render(run_checks(discover([second_root / "conf"], major=17), checks), checks,
                                     cwd=second_root))

    def fingerprints(doc: dict) -> dict[str, int]:
        return {r["partialFingerprints"]["pgforgeFingerprint/v1"]: r["locations"][0]["physicalLocation"]["region"]
                ["startLine"] for r in doc["runs"][0]["results"]}

    a, b = fingerprints(first), fingerprints(second)
    assert a.keys() == b.keys() and len(a) == len(first["runs"][0]["results"])  # one per finding, none lost
    assert a != b  # the lines did move


def test_live_findings(tmp_path: Path) -> None:
    label = "user=auditor dbname=postgres host=/tmp/sock port=5433"
    findings = [
        Finding("PGF101", "fsync-off", "error", "durability", "fsync is off", "/srv/pg/data/postgresql.conf", 12, 0),
        Finding("PGF104", "autovacuum-off", "error", "durability", "autovacuum is off", label, 0, 0),
    ]
    checks = select_checks(["durability"], None)
    doc = json.loads(sarif.render(Outcome(findings, targets=1), checks, cwd=tmp_path))
    assert list(validator().iter_errors(doc)) == []
    on_file, on_server = (r["locations"][0]["physicalLocation"] for r in doc["runs"][0]["results"])
    assert on_file == {"artifactLocation": {"uri": "file:///srv/pg/data/postgresql.conf"}, "region": {"startLine": 12}}
    assert on_server == {"artifactLocation": {"uri": "postgresql://auditor@%2Ftmp%2Fsock:5433/postgres"}}


def test_cli_writes_sarif(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from pgforge.cli import app
    from pgforge.commands import register_all

    if not any(c.name == "check" for c in app.registered_commands):
        register_all(app)
    (tmp_path / "postgresql.conf").write_text(CONF)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check", ".", "-V", "17", "--format", "sarif"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert list(validator().iter_errors(doc)) == []
    assert doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "postgresql.conf"
