"""Running checks over targets: selection, inline suppression, baseline, exit status.

Selection works like ruff's: ``--select``/``--ignore`` take codes (``PGF012``), prefixes
(``PGF2``), categories (``security``) or rule-set names (``cis``); ignore wins over select.
A finding is suppressed by ``# pgforge: ignore[PGF012]`` (or ``ignore`` alone for every check) on
its line or the line before. A baseline file lists fingerprints of accepted findings.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pgforge.audit.model import CHECKS, SEVERITY_RANK, Check, Finding
from pgforge.audit.target import Target

_SUPPRESS = re.compile(r"pgforge:\s*ignore(?:\[([A-Za-z0-9_,\s]+)\])?")

# Named rule sets. Security logging advice (log every connection and statement) contradicts
# performance advice, so a team picks the set it wants rather than getting both by default.
RULE_SETS: dict[str, str] = {
    "default": "every check",
    "cis": "CIS-style security baseline: authentication, TLS, exposure, durability and audit logging",
    "performance": "tuning against the host: memory, WAL, planner costs, connections",
    "ci": "what a config repository should gate on: validity, durability and security errors",
}


def load_checks() -> dict[str, Check]:
    import pgforge.audit.checks  # noqa: F401  (registers)

    return CHECKS


def _matches(check: Check, token: str) -> bool:
    token = token.strip()
    if not token:
        return False
    low = token.lower()
    if low in ("all", "default"):
        return True
    if low == check.category or low in check.sets or low == check.name:
        return True
    return check.code.upper().startswith(token.upper())


def select_checks(select: list[str] | None, ignore: list[str] | None) -> list[Check]:
    checks = load_checks()
    known = set(RULE_SETS) | {c.category for c in checks.values()} | {"all"}
    for token in (select or []) + (ignore or []):
        t = token.strip()
        if t and t.lower() not in known and not any(c.code.upper().startswith(t.upper()) or c.name == t for c in checks.values()):
            from pgforge.errors import UserError

            raise UserError(f"unknown check, prefix or rule set {t!r} (see `pgforge rules`)", "--select/--ignore")
    chosen = [c for c in checks.values() if not select or any(_matches(c, s) for s in select)]
    return [c for c in chosen if not any(_matches(c, i) for i in ignore or [])]


@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0
    baselined: int = 0
    targets: int = 0


class _Lines:
    """Cached file lines for suppression comments."""

    def __init__(self) -> None:
        self._cache: dict[str, list[str]] = {}

    def get(self, path: str) -> list[str]:
        if path not in self._cache:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                data = b""
            # Most files carry no suppression comment: skip decoding and splitting them.
            self._cache[path] = data.decode("utf-8", "replace").splitlines() if b"pgforge:" in data else []
        return self._cache[path]


def _suppressed(f: Finding, lines: _Lines) -> bool:
    if not f.line:
        return False
    text = lines.get(f.path)
    for idx in (f.line - 1, f.line - 2):
        if 0 <= idx < len(text):
            m = _SUPPRESS.search(text[idx])
            if m and (m.group(1) is None or f.code in {c.strip().upper() for c in m.group(1).split(",")}):
                return True
    return False


def run_checks(targets: list[Target], checks: list[Check], *, baseline: set[str] | None = None) -> Outcome:
    out = Outcome(targets=len(targets))
    lines = _Lines()
    for t in targets:
        for c in checks:
            for hit in c.func(t):
                w = hit.where
                f = Finding(c.code, c.name, hit.severity or c.severity, c.category, hit.message,
                            str(w.path), int(w.line or 0), int(w.column or 0), hit.fix)
                if _suppressed(f, lines):
                    out.suppressed += 1
                elif baseline and f.fingerprint() in baseline:
                    out.baselined += 1
                else:
                    out.findings.append(f)
    out.findings.sort(key=lambda f: (f.path, f.line, f.column, f.code))
    return out


#: Below this many targets one process audits them all; above, a process pool splits them.
PARALLEL_MIN_TARGETS = 200


def _audit_chunk(groups, codes: list[str], major: int | None, prepare, baseline: set[str] | None) -> Outcome:
    """Parse and check one share of the groups (runs in a worker process, or inline)."""
    from pgforge.audit.discover import load_group

    checks = [load_checks()[c] for c in codes]
    targets = [load_group(g, major) for g in groups]
    if prepare is not None:
        for t in targets:
            prepare(t)
    return run_checks(targets, checks, baseline=baseline)


def audit_groups(groups: list, checks: list[Check], *, major: int | None = None,
                 prepare: Callable[[Target], None] | None = None, baseline: set[str] | None = None,
                 jobs: int | None = None) -> Outcome:
    """Load and check the file groups of :func:`pgforge.audit.discover.plan_groups`.

    A fleet (at least PARALLEL_MIN_TARGETS groups) is split over ``jobs`` worker processes
    (default: every CPU): parsing dominates and each server's files are independent. ``prepare``
    (picklable) runs on each target before its checks, e.g. to attach the host spec.
    """
    codes = [c.code for c in checks]
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(groups) < PARALLEL_MIN_TARGETS:
        return _audit_chunk(groups, codes, major, prepare, baseline)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    n_chunks = jobs * 4
    chunks = [groups[i::n_chunks] for i in range(n_chunks) if groups[i::n_chunks]]
    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    total = Outcome()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_audit_chunk, chunk, codes, major, prepare, baseline) for chunk in chunks]
        for fut in futures:
            part = fut.result()
            total.findings.extend(part.findings)
            total.suppressed += part.suppressed
            total.baselined += part.baselined
            total.targets += part.targets
    total.findings.sort(key=lambda f: (f.path, f.line, f.column, f.code))
    return total


def read_baseline(path: Path) -> set[str]:
    """The fingerprints of a ``--write-baseline`` file: a regular file of at most 64 MiB (pgforge.inputs)."""
    from pgforge.errors import UserError
    from pgforge.inputs import MAX_FLEET_FILE_BYTES, read_bytes

    try:
        data = json.loads(read_bytes(path, limit=MAX_FLEET_FILE_BYTES))
        prints = data["fingerprints"]
        if not isinstance(prints, list) or not all(isinstance(x, str) for x in prints):
            raise TypeError("fingerprints must be a list of strings")
        return set(prints)
    except FileNotFoundError:
        raise UserError("baseline file not found", str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read the baseline: {exc.strerror or exc}", str(path)) from None
    except RecursionError:
        raise UserError("not a pgforge baseline (nested too deeply)", str(path)) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"not a pgforge baseline ({str(exc)[:200]})", str(path)) from None


def baseline_text(findings: list[Finding]) -> str:
    return json.dumps({"version": 1, "fingerprints": sorted({f.fingerprint() for f in findings})}, indent=2) + "\n"


def exit_status(findings: list[Finding], fail_on: str) -> int:
    """1 when any finding reaches ``fail_on`` severity, else 0 (2 is for usage errors)."""
    threshold = SEVERITY_RANK[fail_on]
    return 1 if any(SEVERITY_RANK[f.severity] >= threshold for f in findings) else 0
