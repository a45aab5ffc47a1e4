"""``pgforge check`` and ``pgforge rules`` as a user (and a CI job) runs them: selection, rule sets,
suppression, baselines, exit status, output formats, bundle layout, and the parallel fleet path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pgforge.audit.discover import plan_groups
from pgforge.audit.model import CATEGORIES
from pgforge.audit.runner import RULE_SETS, audit_groups, load_checks, select_checks

BAD_CONF = "fsync = off\nsynchronous_commit = off\nwork_mem = 4MB\n"


# -- exit status -----------------------------------------------------------------------------

def test_exit_0_clean_1_findings_2_usage(tmp_path: Path, invoke, write) -> None:
    clean = write(tmp_path / "clean", {"postgresql.conf": "work_mem = 4MB\n"})
    bad = write(tmp_path / "bad", {"postgresql.conf": BAD_CONF})
    assert invoke("check", clean, "-V", "17").exit_code == 0
    assert invoke("check", bad, "-V", "17").exit_code == 1
    warn_only = write(tmp_path / "warn", {"postgresql.conf": "synchronous_commit = off\n"})
    assert invoke("check", warn_only, "-V", "17").exit_code == 0
    assert invoke("check", warn_only, "-V", "17", "--fail-on", "warning").exit_code == 1
    assert invoke("check", tmp_path / "nope").exit_code == 2
    assert invoke("check").exit_code == 2
    result = invoke("check", clean, "--select", "PGF9")
    assert result.exit_code == 2 and "unknown check" in result.output


# -- selection and rule sets ------------------------------------------------------------------

def codes(result) -> list[str]:
    return sorted({f["code"] for f in json.loads(result.stdout)["findings"]})


def test_select_ignore_prefixes_and_sets(tmp_path: Path, invoke, write) -> None:
    d = write(tmp_path, {"postgresql.conf": BAD_CONF + "password_encryption = md5\n",
                         "pg_hba.conf": "hostssl all all 10.0.1.0/24 scram-sha-256\n"})
    base = ("check", d, "-V", "17", "--format", "json")
    assert codes(invoke(*base)) == ["PGF101", "PGF103", "PGF205", "PGF208"]
    assert codes(invoke(*base, "--select", "PGF1")) == ["PGF101", "PGF103"]
    assert codes(invoke(*base, "--select", "security", "--ignore", "PGF208")) == ["PGF205"]
    assert codes(invoke(*base, "--select", "ci")) == ["PGF101", "PGF208"]  # all-all and sync commit are not CI gates
    assert codes(invoke(*base, "--select", "cis,performance")) == ["PGF101", "PGF103", "PGF205", "PGF208"]
    assert codes(invoke(*base, "--select", "fsync-off")) == ["PGF101"]


def test_every_check_is_documented_and_in_known_sets() -> None:
    checks = load_checks()
    assert len({c.name for c in checks.values()}) == len(checks)
    for c in checks.values():
        assert re.fullmatch(r"PGF\d{3}", c.code) and c.category in CATEGORIES
        assert set(c.sets) <= set(RULE_SETS) - {"default"}, c.code
        for heading in ("## What it does", "## Why is this bad?", "## Example", "## Fix"):
            assert heading in c.doc, (c.code, heading)
    cis = {c.code for c in select_checks(["cis"], None)}
    assert {"PGF101", "PGF201", "PGF204", "PGF208", "PGF211"} <= cis and "PGF301" not in cis
    assert {c.code for c in select_checks(["performance"], None)} >= {"PGF301", "PGF302", "PGF303", "PGF401"}
    # ci is what a config repository gates on: every validity, durability and security *error*,
    # and nothing that needs host facts or a desired state to judge (a repository has neither)
    ci = {c.code for c in select_checks(["ci"], None)}
    gating = {c.code for c in checks.values() if c.severity == "error" and c.category in ("validity", "durability", "security")}
    assert gating <= ci, sorted(gating - ci)
    assert not ci & {c.code for c in checks.values() if c.category == "drift"} and not ci & {"PGF301", "PGF303"}


def test_rules_catalogue_and_one_rule(tmp_path: Path, invoke) -> None:
    result = invoke("rules")
    assert result.exit_code == 0
    for code in load_checks():
        assert code in result.output
    assert "cis:" in result.output and "performance:" in result.output
    one = invoke("rules", "PGF207")
    assert one.exit_code == 0 and "hba-shadowed-line" in one.output and "## Why is this bad?" in one.output
    assert "sets: security, cis, ci" in one.output
    assert invoke("rules", "PGF999").exit_code == 2


# -- suppression and baseline ------------------------------------------------------------------

def test_inline_suppression_on_the_line_or_the_line_before(tmp_path: Path, invoke, write) -> None:
    d = write(tmp_path, {
        "postgresql.conf": "fsync = off  # pgforge: ignore[PGF101]\n"
                           "# pgforge: ignore[PGF102,PGF104]\nfull_page_writes = off\n"
                           "autovacuum = off  # pgforge: ignore[PGF999]\n",
        "pgbouncer.ini": "[pgbouncer]\n; pgforge: ignore\nauth_type = any\n",
    })
    result = invoke("check", d, "-V", "17", "--format", "json")
    data = json.loads(result.stdout)
    assert [(f["code"], f["line"]) for f in data["findings"]] == [("PGF104", 4)]
    assert data["summary"]["suppressed"] == 3


def test_baseline_accepts_old_findings_and_catches_new(tmp_path: Path, invoke, write) -> None:
    d = write(tmp_path / "conf", {"postgresql.conf": BAD_CONF})
    baseline = tmp_path / "baseline.json"
    wrote = invoke("check", d, "-V", "17", "--write-baseline", baseline)
    assert wrote.exit_code == 0 and baseline.is_file()
    again = invoke("check", d, "-V", "17", "--baseline", baseline, "--format", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["summary"]["baselined"] == 2
    # lines move: a blank line on top keeps the old findings accepted
    (d / "postgresql.conf").write_text("\n" + BAD_CONF + "full_page_writes = off\n")
    moved = invoke("check", d, "-V", "17", "--baseline", baseline, "--format", "json")
    assert moved.exit_code == 1 and codes(moved) == ["PGF102"]
    baseline.write_text("{not json")
    assert invoke("check", d, "--baseline", baseline).exit_code == 2
    assert invoke("check", d, "--baseline", tmp_path / "missing.json").exit_code == 2


# -- output formats ------------------------------------------------------------------------------

def test_text_json_and_github_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke, write) -> None:
    d = write(tmp_path, {"postgresql.conf": "fsync = off\n", "pg_hba.conf": "host all all 0.0.0.0/0 trust\n"})
    monkeypatch.chdir(tmp_path)
    text = invoke("check", ".", "-V", "17").stdout
    assert re.search(r"postgresql\.conf:1:9: PGF101 \[error\] fsync is off", text)
    assert text.rstrip().endswith("0 info") and "finding(s) in 1 target(s)" in text
    data = json.loads(invoke("check", ".", "-V", "17", "--format", "json").stdout)
    first = data["findings"][0]
    assert set(first) == {"code", "name", "severity", "category", "message", "path", "line", "column", "fix"}
    gh = invoke("check", ".", "-V", "17", "--format", "github").stdout.splitlines()
    assert "::error file=pg_hba.conf,line=1,col=24,title=PGF201 hba-trust::TRUST ON A TCP LINE" in "\n".join(gh)
    assert gh[-1].startswith("pgforge check: ")
    assert all(ln.startswith(("::error ", "::warning ", "::notice ")) for ln in gh[:-1])
    del d


def test_github_escaping() -> None:
    from pgforge.audit.model import Finding
    from pgforge.audit.report.github import annotation

    f = Finding("PGF999", "x", "info", "validity", "100% bad\nsecond line", "/etc/a,b:c.conf", 3, 0, None)
    line = annotation(f, Path("/"))
    assert line == "::notice file=etc/a%2Cb%3Ac.conf,line=3,title=PGF999 x::100%25 bad%0Asecond line"


# -- what a directory means -----------------------------------------------------------------------

def test_a_generated_bundle_is_one_target_with_its_pgbouncer_dir(tmp_path: Path, invoke) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("memory: 8GB\ncpus: 4\npg_version: 17\n"
                    "pgbouncer: {enabled: true, databases: [app], client_connections: 100}\n"
                    "access: [{type: hostssl, database: app, user: app, address: 10.0.1.0/24}]\n")
    out = tmp_path / "bundle"
    assert invoke("generate", "--spec", spec, "-o", out).exit_code == 0
    assert (out / "pgbouncer" / "pgbouncer.service.d" / "limits.conf").is_file()  # a systemd drop-in: not a conf
    groups = plan_groups([out])
    assert len(groups) == 1 and {f.path.name for f in groups[0]} >= {"postgresql.conf", "pg_hba.conf", "pgbouncer.ini"}
    result = invoke("check", out, "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["summary"] == {
        "targets": 1, "findings": 0, "suppressed": 0, "baselined": 0}


def test_a_directory_of_many_configs_is_many_targets(tmp_path: Path, invoke, write) -> None:
    write(tmp_path, {"a_postgresql.conf": "fsync = off\n", "b_postgresql.conf": "work_mem = 4MB\n"})
    data = json.loads(invoke("check", tmp_path, "--format", "json").stdout)
    assert data["summary"]["targets"] == 2


def test_parallel_fleet_path_matches_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write) -> None:
    import pgforge.audit.runner as runner

    for i in range(24):
        write(tmp_path / f"h{i:02d}", {"postgresql.conf": BAD_CONF if i % 3 == 0 else "work_mem = 4MB\n",
                                       "pg_hba.conf": "host all all 10.0.0.0/8 trust\n" if i % 4 == 0 else
                                       "local all postgres peer\n"})
    groups = plan_groups([tmp_path])
    checks = select_checks(None, None)
    serial = audit_groups(groups, checks, major=17, jobs=1)
    monkeypatch.setattr(runner, "PARALLEL_MIN_TARGETS", 4)
    parallel = audit_groups(groups, checks, major=17, jobs=2)
    assert parallel.findings == serial.findings and parallel.targets == serial.targets == 24
    assert len(serial.findings) == 8 * 2 + 6 * 2  # 8 hosts x (fsync, sync commit) + 6 x (trust, all-all)


def test_console_script_registers_check(tmp_path: Path, write) -> None:
    write(tmp_path, {"postgresql.conf": "fsync = off\n"})
    proc = subprocess.run([sys.executable, "-m", "pgforge", "check", str(tmp_path), "-V", "17", "--format", "json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    assert [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["PGF101"]


def test_docs_list_every_check_with_its_severity() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "audit.md").read_text(encoding="utf-8")
    for c in load_checks().values():
        row = next((ln for ln in doc.splitlines() if ln.startswith(f"| {c.code} |")), None)
        assert row is not None, f"{c.code} missing from docs/audit.md"
        cells = [x.strip() for x in row.strip("|").split("|")]
        assert cells[1] == f"`{c.name}`" and cells[2] == c.severity and cells[3] == c.category, row
        assert cells[4] == (", ".join(c.sets) or "-"), row
