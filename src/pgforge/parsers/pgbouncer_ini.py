"""Reader for pgbouncer.ini that follows PgBouncer's own scanner (libusual cfparser.c).

PgBouncer's ini dialect differs from Python's configparser in ways an audit must not
paper over:

* ``;`` and ``#`` start a comment only as the first non-blank character of a line.
  ``pool_mode = transaction ; note`` gives the value ``transaction ; note``.
* Keys are bare ``[A-Za-z0-9_.*-]`` runs or (PgBouncer 1.19+) single-quoted.  Keys,
  section names and connection-string keys are case-sensitive (``strcmp``).
* The value is the rest of the line with trailing whitespace removed.
* After ``[section]`` the scanner carries on on the same line, so ``[databases] a=b``
  defines ``a``.
* ``%include path`` (path relative to PgBouncer's working directory) may appear
  anywhere, nests at most 10 deep, and keeps the current section.
* PgBouncer stops at the first syntax error.  We report it and carry on with the next
  line so that one run shows every problem.

Values in ``[databases]``, ``[users]`` and ``[peers]`` are connection strings in
PgBouncer's dialect (``parse_connstr``): ``key=value`` pairs separated by spaces, a
value may be single-quoted with ``''`` for a quote, empty values are an error.  That
scanner is :mod:`pgforge.parsers.connstr` (re-exported here); this module is the ini
scanner, the ``%include`` loader and PgBouncer's integer and time value readers, kept together
because they mirror one server unit (libusual's cfparser.c scanner with its include handling,
and the integer and time readers it applies to values) and share its nodes and diagnostics.
Counterparts: the generator's pgbouncer.ini is :mod:`pgforge.bundle.pgbouncer`, its settings
catalog :mod:`pgforge.pgbouncer_catalog`, the audit's checks
:mod:`pgforge.audit.checks.pgbouncer_security`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Iterable

from .connstr import _C_SPACE, _SPACE_RE, ConnParam, ConnStr, parse_connstr, scan_connstr
from .source import Diagnostic, LineIndex, count_lines, read_text, strip_bom

__all__ = [
    "MAX_INCLUDE_DEPTH",
    "SECTIONS",
    "BouncerEntry",
    "BouncerFile",
    "BouncerInclude",
    "BouncerSet",
    "ConnParam",
    "ConnStr",
    "SectionHeader",
    "load_pgbouncer_ini",
    "parse_connstr",
    "parse_int",
    "parse_pgbouncer_ini",
    "parse_seconds",
    "scan_connstr",
]

#: Sections PgBouncer knows; ``peers`` needs 1.19 or later.
SECTIONS = ("pgbouncer", "databases", "users", "peers")
#: Sections whose values are connection strings.
CONNSTR_SECTIONS = frozenset({"databases", "users", "peers"})
MAX_INCLUDE_DEPTH = 10

_BLANK_RE = re.compile(r"[ \t]*")
_KEY_RE = re.compile(r"[A-Za-z0-9_.*-]*")
_INLINE_COMMENT_RE = re.compile(r"[ \t][;#]")


# --------------------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True)
class BouncerEntry:
    """A ``key = value`` line.  ``section`` is None outside any section.  ``conn`` is
    the scanned value for connection-string sections, else None."""

    section: str | None
    key: str
    value: str
    key_quoted: bool
    path: str
    line: int
    column: int
    value_column: int
    conn: ConnStr | None = None


@dataclass(frozen=True, slots=True)
class SectionHeader:
    name: str
    path: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class BouncerInclude:
    """A ``%include`` directive; ``target`` is the path exactly as written."""

    target: str
    path: str
    line: int
    column: int
    target_column: int


BouncerItem = SectionHeader | BouncerEntry | BouncerInclude


@dataclass(frozen=True, slots=True)
class BouncerFile:
    """One parsed pgbouncer.ini: headers, entries and includes in file order."""

    path: str
    items: tuple[BouncerItem, ...]
    diagnostics: tuple[Diagnostic, ...]
    line_count: int

    @property
    def entries(self) -> tuple[BouncerEntry, ...]:
        return tuple(i for i in self.items if isinstance(i, BouncerEntry))

    @property
    def includes(self) -> tuple[BouncerInclude, ...]:
        return tuple(i for i in self.items if isinstance(i, BouncerInclude))

    @property
    def sections(self) -> dict[str, tuple[BouncerEntry, ...]]:
        """Section name -> its entries in order (a section may be opened twice)."""
        return _group(self.items)

    @property
    def databases(self) -> tuple[BouncerEntry, ...]:
        return self.sections.get("databases", ())

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


@dataclass(frozen=True, slots=True)
class BouncerSet:
    """A pgbouncer.ini with its ``%include`` files merged in reading order.

    ``entries`` carry the section they really land in (an included file inherits the
    section in force).  ``diagnostics`` holds everything; each of ``files`` keeps only
    the problems visible in that file alone (syntax, unknown sections, inline
    markers), since section, duplicate and connection-string checks need the merge.
    """

    root: str
    files: tuple[BouncerFile, ...]
    entries: tuple[BouncerEntry, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def sections(self) -> dict[str, tuple[BouncerEntry, ...]]:
        return _group(self.entries)

    @property
    def effective(self) -> dict[str, dict[str, BouncerEntry]]:
        """Section -> key -> the entry that wins (the last one read)."""
        out: dict[str, dict[str, BouncerEntry]] = {}
        for e in self.entries:
            if e.section is not None:
                out.setdefault(e.section, {})[e.key] = e
        return out

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


def _group(items: Iterable[BouncerItem]) -> dict[str, tuple[BouncerEntry, ...]]:
    groups: dict[str, list[BouncerEntry]] = {}
    for item in items:
        if isinstance(item, SectionHeader):
            groups.setdefault(item.name, [])
        elif isinstance(item, BouncerEntry) and item.section is not None:
            groups.setdefault(item.section, []).append(item)
    return {k: tuple(v) for k, v in groups.items()}


# --------------------------------------------------------------------------- values

_INT_RE = re.compile(r"[+-]?(?:0[xX][0-9A-Fa-f]+|0[0-7]*|[1-9][0-9]*)")
_SECONDS_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_int(value: str) -> int | None:
    """An integer setting as PgBouncer reads it (``strtol`` base 0), or None.

    Leading whitespace and a sign are allowed; ``0x`` means hex and a leading ``0``
    means octal (so ``010`` is 8 and ``08`` is invalid).  Nothing may follow.
    """
    text = value.lstrip(_C_SPACE)
    if not _INT_RE.fullmatch(text):
        return None
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-")
    if digits[:2] in ("0x", "0X"):
        return sign * int(digits[2:], 16)
    if len(digits) > 1 and digits[0] == "0":
        return sign * int(digits, 8)
    return sign * int(digits)


def parse_seconds(value: str) -> float | None:
    """A time setting (bare seconds, decimals allowed; no unit suffix), or None.

    Mirrors PgBouncer's ``parse_time``: a decimal number, not negative, nothing after
    it.  (C's strtod also takes hex floats, ``inf`` and ``nan``; those are refused here
    as no sane config uses them.)
    """
    text = value.lstrip(_C_SPACE)
    if not _SECONDS_RE.fullmatch(text):
        return None
    number = float(text)
    return number if number >= 0 else None


# --------------------------------------------------------------------------- scanner


def _syntax(path: str, idx: LineIndex, offset: int, message: str) -> Diagnostic:
    line, column = idx.locate(offset)
    return Diagnostic(
        path, line, column, f"syntax error: {message}; PgBouncer stops loading here", "error", "pgb-syntax"
    )


def _scan(text: str, path: str, section: str | None) -> tuple[str, list[BouncerItem], list[Diagnostic]]:
    """Scan one file: items in order and the diagnostics that need no context."""
    diags: list[Diagnostic] = []
    text, bom = strip_bom(text, path, consequence="PgBouncer reports a syntax error at the start and stops")
    if bom is not None:
        diags.append(bom)
    idx = LineIndex(text)
    items: list[BouncerItem] = []
    n = len(text)
    p = 0
    current = section
    while True:
        p = _SPACE_RE.match(text, p).end()  # type: ignore[union-attr]
        if p >= n:
            break
        eol = text.find("\n", p)
        if eol < 0:
            eol = n
        c = text[p]
        if c == "%" and text.startswith("%include", p) and p + 8 < n and text[p + 8] in " \t":
            q = _BLANK_RE.match(text, p + 8).end()  # type: ignore[union-attr]
            target = text[q:eol].rstrip(_C_SPACE)
            line, column = idx.locate(p)
            items.append(BouncerInclude(target, path, line, column, q - idx.line_start(line) + 1))
            p = eol
            continue
        if c == "#" or c == ";":
            p = eol
            continue
        if c == "[":
            close = text.find("]", p + 1, eol)
            if close < 0:
                diags.append(_syntax(path, idx, p, 'section header has no closing "]"'))
                p = eol
                continue
            name = text[p + 1 : close]
            line, column = idx.locate(p)
            items.append(SectionHeader(name, path, line, column))
            if name not in SECTIONS:
                diags.append(
                    Diagnostic(
                        path, line, column,
                        f'invalid section "{name}" (known: {", ".join(SECTIONS)}; names are case-sensitive)',
                        "error", "pgb-section",
                    )
                )
            current = name
            p = close + 1
            continue
        key_start = p
        if c == "'":
            close = text.find("'", p + 1, eol)
            if close <= p + 1:
                diags.append(_syntax(path, idx, p, "unterminated or empty quoted key"))
                p = eol
                continue
            key, key_quoted = text[p + 1 : close], True
            p = close + 1
        else:
            p = _KEY_RE.match(text, p).end()  # type: ignore[union-attr]
            key, key_quoted = text[key_start:p], False
        p = _BLANK_RE.match(text, p).end()  # type: ignore[union-attr]
        if p >= n or text[p] != "=":
            what = f'expected "=" after key "{key}"' if key else "expected a key, a [section] or a comment"
            diags.append(_syntax(path, idx, p if key else key_start, what))
            p = eol
            continue
        p = _BLANK_RE.match(text, p + 1).end()  # type: ignore[union-attr]
        value = text[p:eol].rstrip(_C_SPACE) if p < eol else ""
        line, column = idx.locate(key_start)
        value_column = p - idx.line_start(line) + 1
        items.append(_entry(current, key, value, key_quoted, path, line, column, value_column))
        marker = _INLINE_COMMENT_RE.search(value)
        if marker is not None:
            diags.append(
                Diagnostic(
                    path, line, value_column + marker.start() + 1,
                    f'"{value[marker.start() + 1]}" after a value is not a comment in pgbouncer.ini; '
                    "it is part of the value",
                    "warning", "pgb-inline-comment",
                )
            )
        if not key:
            diags.append(Diagnostic(path, line, column, "empty key", "error", "pgb-syntax"))
        p = eol
    return text, items, diags


def _entry(
    section: str | None, key: str, value: str, key_quoted: bool, path: str, line: int, column: int, value_column: int
) -> BouncerEntry:
    conn = scan_connstr(value) if section in CONNSTR_SECTIONS else None
    return BouncerEntry(section, key, value, key_quoted, path, line, column, value_column, conn)


def _context_checks(entries: Iterable[BouncerEntry]) -> list[Diagnostic]:
    """Diagnostics that depend on the section an entry ends up in (which, with
    ``%include``, only the loader knows for sure)."""
    diags: list[Diagnostic] = []
    seen: dict[tuple[str, str], BouncerEntry] = {}
    for e in entries:
        if e.section is None:
            diags.append(
                Diagnostic(
                    e.path, e.line, e.column, f'key "{e.key}" is outside any [section]', "error", "pgb-no-section"
                )
            )
            continue
        previous = seen.get((e.section, e.key))
        if previous is not None:
            where = f"line {previous.line}" if previous.path == e.path else f"{previous.path}:{previous.line}"
            diags.append(
                Diagnostic(
                    e.path, e.line, e.column,
                    f'duplicate key "{e.key}" in [{e.section}] (also at {where}); the later one wins',
                    "warning", "pgb-duplicate-key",
                )
            )
        seen[(e.section, e.key)] = e
        if e.conn is not None and e.conn.error is not None:
            diags.append(
                Diagnostic(
                    e.path, e.line, e.value_column + (e.conn.error_offset or 0),
                    f"syntax error in connection string: {e.conn.error}",
                    "error", "pgb-connstr",
                )
            )
    return diags


def _missing_main(path: str) -> Diagnostic:
    return Diagnostic(
        path, 1, 1, "no [pgbouncer] section; PgBouncer refuses to start (main section missing)", "error", "pgb-no-main"
    )


def parse_pgbouncer_ini(text: str, path: str = "<string>", *, section: str | None = None) -> BouncerFile:
    """Parse the text of one pgbouncer.ini. Never raises, does no I/O.

    ``section`` is the section in force when the file starts (for a file that is
    ``%include``d in the middle of one).  A file with no ``[pgbouncer]`` section and
    no ``%include`` that could supply it gets an error, as PgBouncer refuses it.
    """
    text, items, diags = _scan(text, path, section)
    diags.extend(_context_checks(i for i in items if isinstance(i, BouncerEntry)))
    has_main = any(isinstance(i, SectionHeader) and i.name == "pgbouncer" for i in items)
    if section is None and not has_main and not any(isinstance(i, BouncerInclude) for i in items):
        diags.append(_missing_main(path))
    diags.sort(key=lambda d: (d.line, d.column))
    return BouncerFile(path, tuple(items), tuple(diags), count_lines(text))


# --------------------------------------------------------------------------- loader


def load_pgbouncer_ini(path: str | os.PathLike[str], *, cwd: str | os.PathLike[str] | None = None) -> BouncerSet:
    """Read a pgbouncer.ini and its ``%include`` files as PgBouncer does.

    Relative include paths resolve against ``cwd`` (PgBouncer's working directory;
    default: ours).  The section in force carries into and out of included files.  A
    missing include, nesting deeper than 10, or a cycle is an error at the directive.

    Raises OSError only when the top file itself cannot be read.
    """
    root = os.path.abspath(os.fspath(path))
    base = os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()
    text, note = read_text(root)
    files: list[BouncerFile] = []
    entries: list[BouncerEntry] = []
    diags: list[Diagnostic] = []
    has_main = False

    def walk(fpath: str, ftext: str, fnote: Diagnostic | None, level: int, current: str | None,
             stack: tuple[str, ...]) -> str | None:
        nonlocal has_main
        ftext, items, core = _scan(ftext, fpath, current)
        files.append(BouncerFile(fpath, tuple(items), tuple(core), count_lines(ftext)))
        if fnote is not None:
            diags.append(fnote)
        diags.extend(core)
        for item in items:
            if isinstance(item, SectionHeader):
                current = item.name
                has_main = has_main or item.name == "pgbouncer"
            elif isinstance(item, BouncerEntry):
                entries.append(_rebind(item, current))
            else:
                current = include(item, level, current, stack)
        return current

    def include(inc: BouncerInclude, level: int, current: str | None, stack: tuple[str, ...]) -> str | None:
        def error(message: str) -> None:
            diags.append(Diagnostic(inc.path, inc.line, inc.target_column, message, "error", "include"))

        if level >= MAX_INCLUDE_DEPTH:
            error("include nesting level too deep")
            return current
        if not inc.target:
            error("empty file name in %include")
            return current
        target = os.path.normpath(os.path.join(base, inc.target))
        real = os.path.realpath(target)
        if real in stack:
            error(f'include cycle: "{target}" is already being read')
            return current
        try:
            itext, inote = read_text(target)
        except OSError as exc:
            error(f'could not load file "{target}": {exc.strerror or exc}')
            return current
        return walk(target, itext, inote, level + 1, current, stack + (real,))

    walk(root, text, note, 0, None, (os.path.realpath(root),))
    diags.extend(_context_checks(entries))
    if not has_main:
        diags.append(_missing_main(root))
    return BouncerSet(root, tuple(files), tuple(entries), tuple(diags))


def _rebind(entry: BouncerEntry, section: str | None) -> BouncerEntry:
    """The same entry read as part of another section (connection string rescanned)."""
    if entry.section == section:
        return entry
    conn = scan_connstr(entry.value) if section in CONNSTR_SECTIONS else None
    return replace(entry, section=section, conn=conn)
