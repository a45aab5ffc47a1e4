"""Snapshots of ``pgforge check`` in each report format (text, json, sarif, github), beside checks of
what each report says.

One fixed directory of bad configuration (``BAD``: findings of every severity across
postgresql.conf, pg_hba.conf and pgbouncer.ini) is audited through the CLI as a user runs it, from
the directory above it, so that the formats that print relative paths (sarif, github) print
``conf/...``. The formats that print absolute paths (text, json) and SARIF's %SRCROOT% are
normalised to ``<tmp>``, and the pgforge version in SARIF's driver to ``<version>``, so the
snapshots do not depend on the test's directory or on a release.

Every format is also checked for meaning: the same findings, in the same order, with the same
locations as the JSON report; SARIF against the SARIF 2.1.0 schema (tests/test_sarif.py); GitHub
annotations against the workflow-command grammar. The semantics of each finding are tested in the
check tests; the snapshot shows what a reader of each report sees.

Update after an intended change with
``python -m pytest tests/test_snapshots_reports.py --snapshot-update`` and review the .ambr diff.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_sarif import validator

from pgforge import __version__

BAD = {
    "postgresql.conf": """\
# bad on purpose: each setting below is a finding
fsync = off
full_page_writes = off
listen_addresses = '*'
ssl = on
checkpoint_segments = 32
""",
    "pg_hba.conf": """\
local   all  postgres                peer
host    all  all      0.0.0.0/0      trust
host    app  app      10.0.0.0/8     md5
hostssl app  app      10.1.0.0/16    password
""",
    "pgbouncer.ini": """\
[databases]
app = host=127.0.0.1 port=5432 dbname=app

[pgbouncer]
listen_addr = *
listen_port = 6432
auth_type = trust
pool_mode = transaction
max_client_conn = 100
default_pool_size = 20
""",
}

# What BAD must provoke, by file: test_bad_config_findings keeps this list and the files in step.
EXPECTED = {
    "postgresql.conf": ["PGF101", "PGF102", "PGF209", "PGF002"],
    "pg_hba.conf": ["PGF206", "PGF204", "PGF201", "PGF206", "PGF207", "PGF203", "PGF207", "PGF202"],
    "pgbouncer.ini": ["PGF401", "PGF210"],
}
# The reports list only these checks, so SARIF's rule table (each rule's full help) holds the
# rules of these findings and not every check's documentation.
SELECT = ",".join(sorted({c for codes in EXPECTED.values() for c in codes}))


@pytest.fixture
def report(tmp_path: Path, write, invoke, monkeypatch):
    """``report(fmt, *extra)``: ``pgforge check conf -V 17 --select SELECT --format fmt`` on BAD, run
    from ``tmp_path``; returns (exit code, stdout as printed, stdout normalised)."""
    write(tmp_path / "conf", BAD)
    monkeypatch.chdir(tmp_path)
    root = tmp_path.resolve()

    def run(fmt: str, *extra: str) -> tuple[int, str, str]:
        result = invoke("check", "conf", "-V", "17", "--format", fmt, *extra)
        out = result.stdout
        # absolute paths (text, json) and SARIF's %SRCROOT% differ per run: normalised
        norm = out.replace(root.as_uri(), "file://<tmp>").replace(str(root), "<tmp>")
        # the version is in SARIF's driver: normalised so a release does not change the snapshot
        norm = norm.replace(f'"version": "{__version__}"', '"version": "<version>"')
        norm = norm.replace(f'"semanticVersion": "{__version__}"', '"semanticVersion": "<version>"')
        assert str(tmp_path) not in norm and "pytest-of" not in norm
        return result.exit_code, out, norm

    run.select = lambda fmt: run(fmt, "--select", SELECT)
    return run


def findings(report) -> list[dict]:
    code, out, _ = report.select("json")
    assert code == 1  # error findings fail the run at the default --fail-on error
    return json.loads(out)["findings"]


def test_bad_config_findings(report) -> None:
    """The fixture provokes what EXPECTED says, in every file, at every severity; --select hides nothing."""
    found = findings(report)
    by_file: dict[str, list[str]] = {}
    for f in found:
        by_file.setdefault(Path(f["path"]).name, []).append(f["code"])
    assert by_file == EXPECTED
    assert {f["severity"] for f in found} == {"error", "warning", "info"}
    _, everything, _ = report("json")
    assert json.loads(everything)["findings"] == found


def test_text_report(report, snapshot) -> None:
    code, out, norm = report.select("text")
    assert code == 1
    found = findings(report)
    heads = re.findall(r"^(\S+):(\d+):(\d+): (PGF\d{3}) \[(error|warning|info)\] ", out, re.M)
    assert heads == [(f["path"], str(f["line"]), str(f["column"]), f["code"], f["severity"]) for f in found]
    fixes = re.findall(r"^    fix: (.*)$", out, re.M)
    assert fixes == [f["fix"] for f in found]
    counts = {s: sum(f["severity"] == s for f in found) for s in ("error", "warning", "info")}
    assert out.endswith(f"{len(found)} finding(s) in 1 target(s): {counts['error']} error, "
                        f"{counts['warning']} warning, {counts['info']} info\n")
    assert norm == snapshot


def test_json_report(report, snapshot) -> None:
    code, out, norm = report.select("json")
    assert code == 1
    doc = json.loads(out)
    assert doc["summary"] == {"targets": 1, "findings": len(doc["findings"]), "suppressed": 0, "baselined": 0}
    assert all(Path(f["path"]).is_absolute() and Path(f["path"]).is_file() for f in doc["findings"])
    assert norm == snapshot


def test_sarif_report(report, snapshot) -> None:
    code, out, norm = report.select("sarif")
    assert code == 1
    doc = json.loads(out)
    errors = sorted(validator().iter_errors(doc), key=str)
    assert errors == [], [e.message for e in errors[:5]]
    run = doc["runs"][0]
    found = findings(report)
    results = run["results"]
    assert [r["ruleId"] for r in results] == [f["code"] for f in found]
    locations = [r["locations"][0]["physicalLocation"] for r in results]
    assert [(loc["artifactLocation"]["uri"], loc["region"]["startLine"], loc["region"]["startColumn"]) for loc in locations] == \
        [(f"conf/{Path(f['path']).name}", f["line"], f["column"]) for f in found]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == SELECT.split(",")
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in results)
    assert run["tool"]["driver"]["version"] == __version__
    assert norm == snapshot


def test_github_report(report, snapshot) -> None:
    code, out, norm = report.select("github")
    assert code == 1
    found = findings(report)
    *annotations, summary = out.splitlines()
    grammar = re.compile(r"^::(error|warning|notice) file=([^,:]+),line=(\d+),col=(\d+),title=(PGF\d{3}) ([a-z0-9-]+)::(.+)$")
    parsed = [grammar.match(a) for a in annotations]
    assert all(parsed), [a for a, m in zip(annotations, parsed) if not m]
    level = {"error": "error", "warning": "warning", "info": "notice"}
    assert [m.groups()[:6] for m in parsed] == \
        [(level[f["severity"]], f"conf/{Path(f['path']).name}", str(f["line"]), str(f["column"]), f["code"], f["name"])
         for f in found]
    assert [m.group(7) for m in parsed] == [f"{f['message']} (fix: {f['fix']})" for f in found]
    assert summary.startswith(f"pgforge check: {len(found)} finding(s) in 1 target(s)")
    assert norm == out  # relative paths only: nothing to normalise
    assert norm == snapshot
