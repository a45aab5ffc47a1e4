"""Connection strings, as PgBouncer's loader and libpq's keyword/value parser read them.

``scan_connstr`` never raises: it returns the pairs read before the first error and the error
with its offset, so that the audit reports it at the right column. Two dialects: ``pgbouncer``
(the values of pgbouncer.ini's ``[databases]``, ``[users]`` and ``[peers]``, PgBouncer's
``parse_connstr``) and ``libpq`` (``primary_conninfo`` and the like).

Split out of :mod:`pgforge.parsers.pgbouncer_ini` (which re-exports these names and attaches a
``ConnStr`` to each connection-string entry) because it is a grammar of its own, with a second
dialect the ini scanner never uses. Its users: the audit's coherence checks
(:mod:`pgforge.audit.checks.coherence`); the generator writes connection strings through
:mod:`pgforge.render.escape`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .values import _C_SPACE

__all__ = ["ConnParam", "ConnStr", "parse_connstr", "scan_connstr"]

_SPACE_RE = re.compile(r"[ \t\n\v\f\r]*")


@dataclass(frozen=True, slots=True)
class ConnParam:
    """One ``key=value`` of a connection string; ``offset`` is where the key starts
    (0-based, in the string given to ``scan_connstr``)."""

    key: str
    value: str
    quoted: bool
    offset: int


@dataclass(frozen=True, slots=True)
class ConnStr:
    """A scanned connection string: the pairs read before any error, and the error."""

    params: tuple[ConnParam, ...]
    error: str | None = None
    error_offset: int | None = None

    def as_dict(self) -> dict[str, str]:
        """Pairs as a dict; a repeated key keeps its last value, as PgBouncer does."""
        return {p.key: p.value for p in self.params}



def scan_connstr(value: str, *, style: Literal["pgbouncer", "libpq"] = "pgbouncer") -> ConnStr:
    """Scan a connection string, never raising.

    ``pgbouncer`` (default) follows PgBouncer's loader: pairs separated by spaces
    (only ``' '``), spaces allowed around ``=``, a value single-quoted with ``''`` for
    a quote (no backslash escapes), one character after a closing quote is swallowed,
    and an empty value is an error.  ``libpq`` follows libpq's keyword/value syntax
    (as in ``primary_conninfo``): any whitespace separates, backslash escapes a
    character inside or outside quotes, empty values are allowed.  URIs are not
    parsed.
    """
    if style == "libpq":
        return _scan_libpq(value)
    params: list[ConnParam] = []
    n = len(value)
    p = 0
    while p < n and value[p] == " ":
        p += 1
    while p < n:
        kstart = p
        while p < n and value[p] != "=" and value[p] != " ":
            p += 1
        kend = p
        while p < n and value[p] == " ":
            p += 1
        if kend == kstart:
            return ConnStr(tuple(params), "empty parameter name", kstart)
        if p >= n or value[p] != "=":
            return ConnStr(tuple(params), f'missing "=" after "{value[kstart:kend]}"', kstart)
        p += 1
        while p < n and value[p] == " ":
            p += 1
        vstart = p
        if p < n and value[p] == "'":
            p += 1
            chunks: list[str] = []
            while True:
                close = value.find("'", p)
                if close < 0:
                    return ConnStr(tuple(params), "unterminated quoted value", vstart)
                chunks.append(value[p:close])
                if close + 1 < n and value[close + 1] == "'":
                    chunks.append("'")
                    p = close + 2
                    continue
                p = close + 1
                break
            val, quoted = "".join(chunks), True
        else:
            while p < n and value[p] != " ":
                p += 1
            val, quoted = value[vstart:p], False
        if p < n:
            p += 1  # PgBouncer cuts the string at the character after the value
        if not val:
            return ConnStr(tuple(params), f'empty value for "{value[kstart:kend]}"', vstart)
        params.append(ConnParam(value[kstart:kend], val, quoted, kstart))
        while p < n and value[p] == " ":
            p += 1
    return ConnStr(tuple(params))


def _scan_libpq(value: str) -> ConnStr:
    params: list[ConnParam] = []
    n = len(value)
    stripped = value.lstrip(_C_SPACE)
    if stripped.startswith(("postgresql://", "postgres://")):
        return ConnStr((), "connection URIs are not parsed", n - len(stripped))
    p = _SPACE_RE.match(value, 0).end()  # type: ignore[union-attr]
    while p < n:
        kstart = p
        while p < n and value[p] != "=" and value[p] not in _C_SPACE:
            p += 1
        kend = p
        p = _SPACE_RE.match(value, p).end()  # type: ignore[union-attr]
        if p >= n or value[p] != "=":
            return ConnStr(tuple(params), f'missing "=" after "{value[kstart:kend]}"', kstart)
        if kend == kstart:
            return ConnStr(tuple(params), "empty parameter name", kstart)
        p = _SPACE_RE.match(value, p + 1).end()  # type: ignore[union-attr]
        vstart = p
        chars: list[str] = []
        quoted = p < n and value[p] == "'"
        if quoted:
            p += 1
            while True:
                if p >= n:
                    return ConnStr(tuple(params), "unterminated quoted string", vstart)
                c = value[p]
                if c == "\\":
                    if p + 1 < n:
                        chars.append(value[p + 1])
                    p += 2
                    continue
                p += 1
                if c == "'":
                    break
                chars.append(c)
        else:
            while p < n and value[p] not in _C_SPACE:
                c = value[p]
                if c == "\\":
                    if p + 1 < n:
                        chars.append(value[p + 1])
                    p += 2
                    continue
                chars.append(c)
                p += 1
        params.append(ConnParam(value[kstart:kend], "".join(chars), quoted, kstart))
        p = _SPACE_RE.match(value, p).end()  # type: ignore[union-attr]
    return ConnStr(tuple(params))


def parse_connstr(value: str, *, style: Literal["pgbouncer", "libpq"] = "pgbouncer") -> dict[str, str]:
    """Connection-string pairs as a dict (best effort: pairs before an error are kept).
    Use ``scan_connstr`` to see the error."""
    return scan_connstr(value, style=style).as_dict()
