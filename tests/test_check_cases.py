"""Every check against its cases kept as data: tests/cases/checks/<CODE>.yaml.

Each file holds failing and passing cases for one check, the way ruff and yamllint keep a fixture
per rule: the files to audit (written into an empty directory), optional host facts (as
``--memory/--cpus/...`` give them), a profile to hold them ``against`` (the desired state), file
modes, and the findings expected as ``file:line:column severity``. Adding a check means adding
its file; the completeness test below fails until the check has at least one case that fires and
one that passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pgforge.audit.runner import load_checks

CASES_DIR = Path(__file__).parent / "cases" / "checks"


def _load(path: Path) -> list[dict]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data["cases"]


def _all_cases() -> list[tuple[str, dict]]:
    return [(path.stem, case) for path in sorted(CASES_DIR.glob("PGF*.yaml")) for case in _load(path)]


def _where(root: Path, finding) -> str:
    rel = Path(finding.path).relative_to(root) if Path(finding.path).is_absolute() else Path(finding.path)
    return f"{rel}:{finding.line}:{finding.column} {finding.severity}"


def _generated_conf(profile: str, edits: dict[str, str]) -> str:
    """What ``pgforge generate`` writes for ``profile``, with ``name = value`` lines replaced."""
    from pgforge.bundle import build_bundle
    from pgforge.spec.load import build_spec
    from pgforge.tuning import tune

    text = next(f.content for f in build_bundle(tune(build_spec(profile=profile))) if f.path == "postgresql.conf")
    lines = text.splitlines()
    for name, value in edits.items():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name} = "))
        lines[index] = f"{name} = {value}"
    return "\n".join(lines) + "\n"


def run_case(root: Path, audit, code: str, case: dict) -> list[str]:
    """The findings of check ``code`` on the case's files, as ``file:line:column severity``.

    ``generated: {name: value}`` stands for the postgresql.conf that generate writes for the
    ``against`` profile with those lines changed (drift cases need the whole file)."""
    if "generated" in case:
        case = dict(case, files=dict(case.get("files") or {}, **{"postgresql.conf": _generated_conf(case["against"], case["generated"])}))
    for name, mode in (case.get("modes") or {}).items():
        path = root / name
        path.write_text(case["files"][name], encoding="utf-8")
        path.chmod(int(mode, 8))
    files = {k: v for k, v in case["files"].items() if k not in (case.get("modes") or {})}
    found = audit(files, code, major=case.get("major", 17), host=case.get("host"),
                        profile=case.get("against"), desired="against" in case)
    assert all(f.code == code for f in found)
    return sorted(_where(root, f) for f in found)


def _expected(root: Path, case: dict) -> list[str]:
    """The case's expectations; ``file:@name:column`` stands for the line that sets ``name``."""
    import re

    def line_of(match: re.Match) -> str:
        lines = (root / match[1]).read_text(encoding="utf-8").splitlines()
        return f"{match[1]}:{next(i for i, ln in enumerate(lines, 1) if ln.startswith(match[2] + ' = '))}:"

    return sorted(re.sub(r"^([^:]+):@(\w+):", line_of, e) for e in case["expect"])


@pytest.mark.parametrize("code,case", _all_cases(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_check_case(tmp_path: Path, audit, code: str, case: dict) -> None:
    found = run_case(tmp_path, audit, code, case)
    assert found == _expected(tmp_path, case)


def test_every_check_has_a_failing_and_a_passing_case() -> None:
    by_code: dict[str, list[dict]] = {}
    for code, case in _all_cases():
        by_code.setdefault(code, []).append(case)
    missing = {code: [kind for kind, present in (("failing", any(c["expect"] for c in by_code.get(code, []))),
                                                 ("passing", any(not c["expect"] for c in by_code.get(code, []))))
                      if not present]
               for code in load_checks()}
    assert {code: kinds for code, kinds in missing.items() if kinds} == {}
    assert set(by_code) <= set(load_checks()), "a case file for a check that does not exist"
