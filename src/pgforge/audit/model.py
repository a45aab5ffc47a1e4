"""Findings, checks and their registry.

A check is a function ``f(target) -> Iterable[Hit]`` registered with :func:`check` under a
stable code (``PGF012``), a kebab-case name, a severity and a category. Its docstring is its
user documentation, ruff-style, with the headings ``## What it does``, ``## Why is this bad?``,
``## Example`` and ``## Fix``; ``pgforge rules PGF012`` prints it.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Protocol

Severity = Literal["error", "warning", "info"]
_LINE_REF = re.compile(r"(\bline |\.conf:|\.ini:|\.txt:)\d+")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
CATEGORIES = ("validity", "durability", "security", "performance", "coherence", "drift")


class Located(Protocol):
    path: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Where:
    """A place a finding points at; ``line`` 0 means the file as a whole (or a live server)."""

    path: str
    line: int = 0
    column: int = 0


@dataclass(frozen=True, slots=True)
class Hit:
    """What a check function yields: where, and what is wrong there."""

    where: Located
    message: str
    fix: str | None = None
    severity: Severity | None = None  # overrides the check's severity (parser diagnostics carry their own)


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    name: str
    severity: Severity
    category: str
    message: str
    path: str
    line: int
    column: int
    fix: str | None = None

    @property
    def location(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column or 1}"
        return self.path

    def fingerprint(self, path: str | None = None) -> str:
        """Stable identity for baselines: code, file and message, not the line (lines move).

        Line numbers quoted inside the message (``line 12``, ``pg_hba.conf:12``) are blanked for
        the same reason. ``path`` replaces the finding's path (SARIF uses the relative one).
        """
        message = _LINE_REF.sub(r"\1#", self.message)
        return f"{self.code}|{self.path if path is None else path}|{message}"


@dataclass(frozen=True)
class Check:
    code: str
    name: str
    severity: Severity
    category: str
    func: Callable[..., Iterable[Hit]]
    doc: str = ""
    sets: tuple[str, ...] = field(default_factory=tuple)

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n", 1)[0].replace("\n", " ").strip()


CHECKS: dict[str, Check] = {}


def check(code: str, name: str, severity: Severity, category: str, *, sets: tuple[str, ...] = ()):
    """Register a check. ``sets`` names the rule sets it belongs to besides its category."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category}")

    def wrap(func: Callable[..., Iterable[Hit]]) -> Callable[..., Iterable[Hit]]:
        if code in CHECKS:
            raise RuntimeError(f"duplicate check code {code}")
        CHECKS[code] = Check(code, name, severity, category, func, inspect.cleandoc(func.__doc__ or ""), sets)
        return func

    return wrap
