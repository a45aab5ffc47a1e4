"""Findings as SARIF 2.1.0, the format GitHub code scanning (``upload-sarif``) reads.

One run; ``tool.driver.rules`` lists every selected check (id, name, descriptions, the ruff-style
documentation as ``help.markdown``, the default level, tags and, for security checks, the
``security-severity`` score GitHub ranks alerts by). Each result names its rule by id and index
and points at the file relative to the current directory (``%SRCROOT%``) when it lies below it,
with ``startLine``/``startColumn`` when the finding has a line. Findings on a live server whose
setting came from no known file point at the server as a ``postgresql://`` URI without a region.
Columns count Unicode code points, as the parsers do (``columnKind``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from urllib.parse import quote

from pgforge import __version__
from pgforge.inputs import read_bytes

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
#: GitHub's security-severity score (0.1-10: 9+ critical, 7+ high, 4+ medium, else low).
SECURITY_SEVERITY = {"error": "8.0", "warning": "5.0", "info": "2.0"}
#: Checks whose findings are critical by nature: no authentication, or the whole Internet admitted.
CRITICAL = {"PGF201": "9.5", "PGF204": "9.0", "PGF210": "9.0"}


def _section(doc: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\s*\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    return " ".join(m.group(1).split()) if m else ""


def rule_descriptor(check) -> dict:
    """A check as a SARIF reportingDescriptor."""
    full = _section(check.doc, "What it does") or check.summary
    props: dict = {"tags": [check.category, *check.sets], "precision": "high"}
    if check.category in ("security", "durability"):
        props["tags"].append("security")  # GitHub shows security-severity only for security-tagged rules
        props["security-severity"] = CRITICAL.get(check.code, SECURITY_SEVERITY[check.severity])
    props["tags"] = list(dict.fromkeys(props["tags"]))  # the schema wants unique tags
    return {
        "id": check.code,
        "name": check.name,
        "shortDescription": {"text": check.summary},
        "fullDescription": {"text": full},
        "help": {"text": check.doc, "markdown": check.doc},
        "defaultConfiguration": {"level": LEVELS[check.severity]},
        "properties": props,
    }


def _conninfo_uri(label: str) -> str:
    """A live server's label (libpq keyword/value string, password already removed) as a URI."""
    if label.startswith(("postgresql://", "postgres://")):
        return label
    params = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", label))
    params = {k: v.strip("'") for k, v in params.items()}
    host = params.get("host", "localhost")
    if host.startswith("/"):
        host = quote(host, safe="")
    user = quote(params["user"], safe="") + "@" if "user" in params else ""
    port = ":" + params["port"] if "port" in params else ""
    return f"postgresql://{user}{host}{port}/{quote(params.get('dbname', ''), safe='')}"


def artifact_location(path: str, cwd: Path) -> dict:
    """``path`` relative to ``cwd`` (under %SRCROOT%) when it lies below it, else an absolute URI."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        absolute = p if p.is_absolute() else (cwd / p)
        try:
            rel = os.path.relpath(absolute, cwd)
        except ValueError:
            rel = ".."
        if not rel.startswith(".."):
            return {"uri": quote(Path(rel).as_posix()), "uriBaseId": "%SRCROOT%"}
        return {"uri": absolute.resolve().as_uri() if absolute.is_absolute() else quote(absolute.as_posix())}
    if "=" in path or path.startswith(("postgresql://", "postgres://")):
        return {"uri": _conninfo_uri(path)}
    return {"uri": quote(p.as_posix())}


class _Fingerprints:
    """partialFingerprints that survive lines moving: rule, relative file, message without line
    numbers and the text of the line it points at, plus an occurrence number for identical ones
    (the same idea as GitHub's own primaryLocationLineHash)."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}
        self._seen: dict[str, int] = {}

    def _line(self, path: str, line: int) -> str:
        if not line:
            return ""
        if path not in self._lines:
            try:
                self._lines[path] = read_bytes(path).decode("utf-8", errors="replace").splitlines()
            except OSError:
                self._lines[path] = []
        text = self._lines[path]
        return " ".join(text[line - 1].split()) if line <= len(text) else ""

    def __call__(self, f, uri: str) -> str:
        key = hashlib.sha256(f"{f.fingerprint(uri)}|{self._line(f.path, f.line)}".encode()).hexdigest()[:32]
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        return f"{key}:{n}"


def result(f, index: int, cwd: Path, fingerprints: _Fingerprints | None = None) -> dict:
    artifact = artifact_location(f.path, cwd)
    location: dict = {"artifactLocation": artifact}
    if f.line:
        region = {"startLine": f.line}
        if f.column:
            region["startColumn"] = f.column
        location["region"] = region
    text = f.message + (f". Fix: {f.fix}" if f.fix else "")
    return {
        "ruleId": f.code,
        "ruleIndex": index,
        "level": LEVELS[f.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {"pgforgeFingerprint/v1": (fingerprints or _Fingerprints())(f, artifact["uri"])},
    }


def render(outcome, checks, cwd: Path | None = None) -> str:
    cwd = Path(cwd or os.getcwd())
    ordered = sorted(checks, key=lambda c: c.code)
    codes = {c.code for c in ordered}
    # A finding's check is always among the selected ones; keep any stray code describable.
    from pgforge.audit.model import CHECKS

    ordered += [CHECKS[f.code] for f in outcome.findings if f.code not in codes and f.code in CHECKS]
    ordered = list({c.code: c for c in ordered}.values())
    index = {c.code: i for i, c in enumerate(ordered)}
    fingerprints = _Fingerprints()
    doc = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pgforge",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [rule_descriptor(c) for c in ordered],
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": cwd.resolve().as_uri() + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": [result(f, index[f.code], cwd, fingerprints) for f in outcome.findings if f.code in index],
            "invocations": [{"executionSuccessful": True,
                             "properties": {"targets": outcome.targets, "suppressed": outcome.suppressed,
                                            "baselined": outcome.baselined}}],
        }],
    }
    return json.dumps(doc, indent=2) + "\n"
