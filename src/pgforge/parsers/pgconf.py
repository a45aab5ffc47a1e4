"""Reader for postgresql.conf and postgresql.auto.conf that mirrors the server's own lexer.

The audit must agree with the server about what a file says, so the tokenizer follows
PostgreSQL's flex rules (``guc-file.l``) rather than a guess at them: flex picks the
longest match, so ``1.5GB`` lexes as the number ``1.5`` followed by the word ``GB``
(a syntax error unless quoted), ``pg_catalog.english`` is a qualified name that is not
accepted as a value, and ``1e5`` is the integer-with-unit ``1e`` followed by ``5``.
Each of these was checked against ``postgres -C`` (PostgreSQL 15).

Line grammar, per the server: ``name [=] value [# comment]``.  A bad line is reported
and skipped; the server reports every bad line too (up to 100 per file), then refuses
to start.

``parse_pgconf`` works on one string and does no I/O.  ``load_pgconf`` follows
``include`` / ``include_if_exists`` / ``include_dir`` from disk, then reads
``postgresql.auto.conf``, and works out which assignment wins.

This module mirrors one server unit, guc-file.l (its flex rules, ``ParseConfigFp`` and the
include handling of ``ParseConfigFile``/``ParseConfigDirectory``), and is kept whole for that:
the loader re-enters the line parser for every included file and shares its node types and
diagnostics, so splitting it would split one server file across modules. List-valued settings
are split in varlena.c on the server and here in :mod:`pgforge.parsers.guclist`; a value's
type and units are :mod:`pgforge.parsers.values`. Counterparts: the generator writes
postgresql.conf through :mod:`pgforge.render`; the audit reads the parsed settings in
:mod:`pgforge.audit.target`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .guclist import split_list
from .source import MAX_INCLUDE_DEPTH, Diagnostic, count_lines, read_text, strip_bom
from .values import parse_bool

__all__ = [
    "INCLUDE_KINDS",
    "MAX_INCLUDE_DEPTH",
    "ConfFile",
    "ConfSet",
    "Include",
    "Setting",
    "load_pgconf",
    "parse_bool",
    "parse_pgconf",
    "split_list",
]

#: Directive names; the server compares them case-insensitively, like setting names.
INCLUDE_KINDS = frozenset({"include", "include_if_exists", "include_dir"})


# Character classes of guc-file.l.  The lexer works on bytes and counts every byte
# >= 0x80 as a letter, so every non-ASCII code point is a letter here.
_L = "A-Za-z_\u0080-\U0010ffff"
_WS_RE = re.compile(r"[ \t\r]*")
_ID_RE = re.compile(f"[{_L}][{_L}0-9]*")
_QID_RE = re.compile(f"[{_L}][{_L}0-9]*\\.[{_L}][{_L}0-9]*")
_UNQ_RE = re.compile(f"[{_L}][{_L}0-9._:/-]*")
# Possessive (``*+``): the plain form kept a backtracking entry per character, 150 bytes each
# (a 2 MB quoted value took 300 MB). The token sequence inside a string is unambiguous, so
# possessive matching finds the same string whenever the string has its closing quote;
# _string_end handles the other case.
_STRING_RE = re.compile(r"'(?:[^'\\\n]++|\\[^\n]|'')*+'")
_STRING_PART_RE = re.compile(r"[^'\\\n]++|\\[^\n]|''")
_INT_RE = re.compile(r"[+-]?(?:0x[0-9A-Fa-f]+|[0-9]+)[A-Za-z]*")
_REAL_RE = re.compile(r"[+-]?[0-9]*\.[0-9]*(?:[Ee][+-]?[0-9]+)?")
_ESCAPE_RE = re.compile(r"\\([0-7]{1,3}|[\s\S])|''")

_VALUE_KINDS = frozenset({"id", "string", "int", "real", "unq"})
_NAME_KINDS = frozenset({"id", "qid"})
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``name = value`` line.

    ``name`` is folded to lower case (ASCII only, as the server folds it) so it can be
    used as a key; ``raw_name`` keeps the spelling.  ``raw_value`` is the token exactly
    as written (quotes included); ``value`` is what the server gets after removing
    quotes and escapes.  ``column`` is where the name starts, ``value_column`` where
    the value token starts.  ``comment`` is the trailing ``#`` comment without the
    ``#``, stripped, or None.
    """

    name: str
    raw_name: str
    value: str
    raw_value: str
    was_quoted: bool
    path: str
    line: int
    column: int
    value_column: int
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Include:
    """An ``include``, ``include_if_exists`` or ``include_dir`` line.

    ``kind`` is the lower-cased directive; ``target`` the unquoted path as written
    (relative paths are resolved by the loader against this file's directory).
    """

    kind: str
    target: str
    raw_value: str
    was_quoted: bool
    path: str
    line: int
    column: int
    value_column: int
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ConfFile:
    """The result of parsing one file: its entries in file order and its diagnostics."""

    path: str
    entries: tuple[Setting | Include, ...]
    diagnostics: tuple[Diagnostic, ...]
    line_count: int

    @property
    def settings(self) -> tuple[Setting, ...]:
        return tuple(e for e in self.entries if isinstance(e, Setting))

    @property
    def includes(self) -> tuple[Include, ...]:
        return tuple(e for e in self.entries if isinstance(e, Include))

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


@dataclass(frozen=True, slots=True)
class ConfSet:
    """Every file the server would read for one postgresql.conf, and the outcome.

    ``settings`` lists every assignment in the order the server reads it (includes
    expanded in place, postgresql.auto.conf last).  ``effective`` maps each lower-case
    name to the assignment that wins (the last one read); ``overridden`` pairs every
    other assignment of that name with the winner, in reading order.
    """

    root: str
    files: tuple[ConfFile, ...]
    settings: tuple[Setting, ...]
    effective: dict[str, Setting]
    overridden: tuple[tuple[Setting, Setting], ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


# --------------------------------------------------------------------------- lexer


def _scan(line: str, pos: int) -> tuple[str | None, int, int]:
    """Next token of ``line`` at or after ``pos``: (kind, start, end).

    kind is None at end of line and "comment" for ``#...`` (which runs to the end).
    Other kinds: id, qid, unq, string, int, real, eq, and err for a character that
    starts no token (the lexer's catch-all rule).
    """
    pos = _WS_RE.match(line, pos).end()  # type: ignore[union-attr]
    n = len(line)
    if pos >= n:
        return None, pos, pos
    c = line[pos]
    if c == "#":
        return "comment", pos, n
    if c == "=":
        return "eq", pos, pos + 1
    if c == "'":
        end = _string_end(line, pos)
        return ("string", pos, end) if end is not None else ("err", pos, pos + 1)
    if c.isascii():
        if c.isalpha() or c == "_":
            letter = True
        elif c.isdigit() or c in "+-.":
            mi = _INT_RE.match(line, pos)
            mr = _REAL_RE.match(line, pos)
            ei = mi.end() if mi else -1
            er = mr.end() if mr else -1
            if ei < 0 and er < 0:
                return "err", pos, pos + 1
            # flex: longest match wins, ties go to the earlier rule (INTEGER).
            return ("int", pos, ei) if ei >= er else ("real", pos, er)
        else:
            letter = False
    else:
        letter = True
    if not letter:
        return "err", pos, pos + 1
    u = _UNQ_RE.match(line, pos).end()  # type: ignore[union-attr]
    if _ID_RE.match(line, pos).end() == u:  # type: ignore[union-attr]
        return "id", pos, u
    q = _QID_RE.match(line, pos)
    if q is not None and q.end() == u:
        return "qid", pos, u
    return "unq", pos, u


def _string_end(line: str, pos: int) -> int | None:
    """End of the quoted string token starting at ``pos``, or None when there is none.

    flex takes the longest match of the STRING rule. When the longest run of string parts
    (plain characters, a backslash and the next character, a doubled quote) is not followed by
    a quote, the longest match ends at the first quote of the last doubled quote in that run
    (it was a closing quote followed by a stray one).
    """
    m = _STRING_RE.match(line, pos)
    if m is not None:
        return m.end()
    last = None
    p = pos + 1
    while (part := _STRING_PART_RE.match(line, p)) is not None:
        if part.group() == "''":
            last = part.start() + 1
        p = part.end()
    return last


def _unescape_match(m: re.Match[str]) -> str:
    esc = m.group(1)
    if esc is None:  # a doubled quote
        return "'"
    if esc[0] in "01234567":
        return chr(int(esc, 8) & 0xFF)
    return _SIMPLE_ESCAPES.get(esc, esc)


def unquote(token: str) -> str:
    """Value of a single-quoted token, as the server's DeescapeQuotedString makes it.

    ``''`` and backslash escapes (``\\b \\f \\n \\r \\t``, up to three octal digits,
    anything else stands for itself).  The server keeps values as C strings, so an
    escaped NUL (``\\0``) ends the value there.  Octal escapes above 0x7F give the
    Latin-1 character of that byte.
    """
    body = token[1:-1]
    if "\\" not in body and "''" not in body:
        return body
    value = _ESCAPE_RE.sub(_unescape_match, body)
    nul = value.find("\0")
    return value if nul < 0 else value[:nul]


def _fold(name: str) -> str:
    return name.translate(_ASCII_LOWER)


# --------------------------------------------------------------------------- parser


def parse_pgconf(text: str, path: str = "<string>") -> ConfFile:
    """Parse the text of one postgresql.conf-style file. Never raises, does no I/O.

    Lines end at ``\\n`` only; ``\\r`` is whitespace to the server, so CRLF files
    parse as usual.  A leading byte-order mark is reported as an error (the server
    reads it as part of the first name) and otherwise ignored.
    """
    diagnostics: list[Diagnostic] = []
    entries: list[Setting | Include] = []
    text, bom = strip_bom(
        text,
        path,
        consequence="PostgreSQL reads it as part of the first line (a syntax error, or an unknown parameter name)",
    )
    if bom is not None:
        diagnostics.append(bom)
    lineno = 0
    for line in text.split("\n"):
        lineno += 1
        stripped = line.lstrip(" \t\r")
        if not stripped or stripped[0] == "#":
            continue
        _parse_line(line, lineno, path, entries, diagnostics)
    return ConfFile(path, tuple(entries), tuple(diagnostics), count_lines(text))


def _syntax_error(path: str, lineno: int, line: str, kind: str | None, start: int, end: int, after: int) -> Diagnostic:
    if kind is None or kind == "comment":
        return Diagnostic(path, lineno, after + 1, "syntax error near end of line", "error", "syntax")
    return Diagnostic(
        path, lineno, start + 1, f'syntax error near token "{line[start:end]}"', "error", "syntax"
    )


def _parse_line(
    line: str, lineno: int, path: str, entries: list[Setting | Include], diagnostics: list[Diagnostic]
) -> None:
    kind, start, end = _scan(line, 0)
    if kind is None or kind == "comment":
        return
    if kind not in _NAME_KINDS:
        diagnostics.append(_syntax_error(path, lineno, line, kind, start, end, end))
        return
    name_start, name_end = start, end
    kind, start, end = _scan(line, name_end)
    after = name_end
    if kind == "eq":
        after = end
        kind, start, end = _scan(line, end)
    if kind not in _VALUE_KINDS:
        diagnostics.append(_syntax_error(path, lineno, line, kind, start, end, after))
        return
    value_start, value_end, value_kind = start, end, kind
    kind, start, end = _scan(line, value_end)
    comment: str | None = None
    if kind == "comment":
        comment = line[start + 1 :].strip()
    elif kind is not None:
        diagnostics.append(_syntax_error(path, lineno, line, kind, start, end, value_end))
        return

    raw_name = line[name_start:name_end]
    raw_value = line[value_start:value_end]
    quoted = value_kind == "string"
    value = unquote(raw_value) if quoted else raw_value
    name = _fold(raw_name)
    if name in INCLUDE_KINDS:
        entries.append(
            Include(name, value, raw_value, quoted, path, lineno, name_start + 1, value_start + 1, comment)
        )
    else:
        entries.append(
            Setting(name, raw_name, value, raw_value, quoted, path, lineno, name_start + 1, value_start + 1, comment)
        )


# --------------------------------------------------------------------------- loader


def load_pgconf(
    path: str | os.PathLike[str],
    *,
    auto_conf: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
) -> ConfSet:
    """Read a postgresql.conf the way the server does, following its includes.

    Relative include paths resolve against the including file's directory;
    ``include_dir`` reads only ``*.conf`` files not starting with a dot, in bytewise
    name order.  A missing ``include`` or ``include_dir`` target is an error at the
    directive, a missing ``include_if_exists`` target a note; nesting deeper than 10
    and include cycles are errors.  With ``auto_conf`` the file
    ``postgresql.auto.conf`` is read last from ``data_dir`` (default: beside the main
    file), as the server does; it is optional.

    Raises OSError only when the top file itself cannot be read; every other problem
    becomes a diagnostic.
    """
    root = os.path.abspath(os.fspath(path))
    text, note = read_text(root)
    loader = _Loader()
    loader.visit(root, text, note, 0, (os.path.realpath(root),))
    if auto_conf:
        base = os.path.abspath(os.fspath(data_dir)) if data_dir is not None else os.path.dirname(root)
        auto = os.path.join(base, "postgresql.auto.conf")
        real_auto = os.path.realpath(auto)
        if real_auto not in loader.seen:
            try:
                auto_text, auto_note = read_text(auto)
            except FileNotFoundError:
                pass
            except OSError as exc:
                loader.diagnostics.append(
                    Diagnostic(auto, 1, 1, f"could not read configuration file: {exc.strerror or exc}", "error", "include")
                )
            else:
                loader.visit(auto, auto_text, auto_note, 0, (real_auto,))
    effective: dict[str, Setting] = {}
    for setting in loader.settings:
        effective[setting.name] = setting
    overridden = tuple((s, effective[s.name]) for s in loader.settings if effective[s.name] is not s)
    return ConfSet(
        root, tuple(loader.files), tuple(loader.settings), effective, overridden, tuple(loader.diagnostics)
    )


class _Loader:
    """Depth-first walk over included files, in the order the server reads them."""

    __slots__ = ("files", "settings", "diagnostics", "seen")

    def __init__(self) -> None:
        self.files: list[ConfFile] = []
        self.settings: list[Setting] = []
        self.diagnostics: list[Diagnostic] = []
        self.seen: set[str] = set()

    def visit(self, path: str, text: str, note: Diagnostic | None, depth: int, stack: tuple[str, ...]) -> None:
        self.seen.add(stack[-1])
        parsed = parse_pgconf(text, path)
        self.files.append(parsed)
        if note is not None:
            self.diagnostics.append(note)
        self.diagnostics.extend(parsed.diagnostics)
        for entry in parsed.entries:
            if isinstance(entry, Setting):
                self.settings.append(entry)
            else:
                self._include(entry, depth, stack)

    def _error(self, inc: Include, message: str, severity: str = "error") -> None:
        self.diagnostics.append(
            Diagnostic(inc.path, inc.line, inc.value_column, message, severity, "include")  # type: ignore[arg-type]
        )

    def _include(self, inc: Include, depth: int, stack: tuple[str, ...]) -> None:
        if inc.target == "":
            self._error(inc, f"empty file name in {inc.kind} directive")
            return
        target = os.path.normpath(os.path.join(os.path.dirname(inc.path), inc.target))
        if inc.kind == "include_dir":
            self._include_dir(inc, target, depth, stack)
        else:
            self._include_file(inc, target, depth, stack, missing_ok=inc.kind == "include_if_exists")

    def _include_file(
        self, inc: Include, target: str, depth: int, stack: tuple[str, ...], *, missing_ok: bool
    ) -> None:
        if depth + 1 > MAX_INCLUDE_DEPTH:
            self._error(inc, f'could not open configuration file "{target}": maximum nesting depth exceeded')
            return
        real = os.path.realpath(target)
        if real in stack:
            self._error(inc, f'include cycle: "{target}" is already being read')
            return
        try:
            text, note = read_text(target)
        except FileNotFoundError:
            if missing_ok:
                self._error(inc, f'skipping missing configuration file "{target}"', "note")
            else:
                self._error(inc, f'could not open configuration file "{target}": No such file or directory')
            return
        except OSError as exc:
            self._error(inc, f'could not open configuration file "{target}": {exc.strerror or exc}')
            return
        self.visit(target, text, note, depth + 1, stack + (real,))

    def _include_dir(self, inc: Include, target: str, depth: int, stack: tuple[str, ...]) -> None:
        try:
            names = os.listdir(target)
        except OSError as exc:
            self._error(inc, f'could not open configuration directory "{target}": {exc.strerror or exc}')
            return
        picked = [
            n for n in names if len(n) >= 6 and not n.startswith(".") and n.endswith(".conf")
        ]
        picked.sort(key=os.fsencode)  # the server sorts with strcmp: bytewise, C locale
        for name in picked:
            full = os.path.join(target, name)
            if os.path.isdir(full):
                continue
            self._include_file(inc, full, depth, stack, missing_ok=False)
