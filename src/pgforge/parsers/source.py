"""Positions, diagnostics and text decoding shared by the three config-file parsers.

Every node a parser produces carries the file it came from plus a 1-based line and
column, so `pgforge check` can print ``file:line:column`` for any finding.  Columns
count characters (code points) of the decoded line, starting at 1.

The parsers take ``str``; the loaders read bytes and decode them here, because real
files arrive with byte-order marks, CRLF line ends and the odd Latin-1 comment, and
none of that may crash the audit.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from typing import Literal

#: The server refuses configuration files nested deeper than this (CONF_FILE_MAX_DEPTH in
#: guc.h); pg_hba.conf includes (PostgreSQL 16) share the limit.
MAX_INCLUDE_DEPTH = 10

Severity = Literal["error", "warning", "note"]

#: U+FEFF at the start of a file: editors on Windows add it; no server skips it.
BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a file: 1-based line and column (column counts characters)."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found while reading a file.

    ``severity`` is ``error`` for what the server itself would refuse, ``warning`` for
    what it accepts but almost certainly is not what the author meant, and ``note``
    for information (a skipped optional include, host bits in a CIDR).  ``code`` is a
    short stable identifier so callers can filter without matching message text.
    """

    path: str
    line: int
    column: int
    message: str
    severity: Severity = "error"
    code: str = ""

    @property
    def position(self) -> Position:
        return Position(self.path, self.line, self.column)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity}: {self.message}"


def count_lines(text: str) -> int:
    """Number of lines as an editor shows them (a final newline does not open a line)."""
    if not text:
        return 1
    n = text.count("\n")
    return n if text.endswith("\n") else n + 1


def strip_bom(text: str, path: str, *, consequence: str) -> tuple[str, Diagnostic | None]:
    """Remove a leading byte-order mark and say what the real program makes of it.

    None of PostgreSQL or PgBouncer skips a BOM: the three bytes become part of the
    first line.  We drop it so the rest of the file parses normally, and report one
    error at 1:1 whose text (``consequence``) says what the server does instead.
    """
    if text.startswith(BOM):
        return text[1:], Diagnostic(
            path, 1, 1, f"file starts with a UTF-8 byte-order mark; {consequence}", "error", "bom"
        )
    return text, None


def decode(data: bytes, path: str) -> tuple[str, Diagnostic | None]:
    """Decode file bytes as UTF-8, never failing.

    Undecodable bytes become U+FFFD (one per bad sequence), so positions on later
    lines stay right and the text can always be printed.  The servers themselves
    treat these files as raw bytes, so this is only a note, placed at the first bad
    byte.
    """
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        line = good.count("\n") + 1
        column = len(good) - (good.rfind("\n") + 1) + 1
        text = data.decode("utf-8", errors="replace")
        return text, Diagnostic(
            path,
            line,
            column,
            "file is not valid UTF-8; undecodable bytes are shown as U+FFFD",
            "note",
            "encoding",
        )


def read_text(path: str | os.PathLike[str]) -> tuple[str, Diagnostic | None]:
    """Read and decode a file. Raises OSError when it cannot be read.

    Only a regular file of at most 16 MiB is read (:func:`pgforge.inputs.read_bytes`): an include
    that names ``/dev/zero``, a FIFO or a directory raises an OSError whose ``strerror`` says so,
    which the loaders report at the directive like any unreadable include.
    """
    from pgforge.inputs import read_bytes

    return decode(read_bytes(path), os.fspath(path))


class LineIndex:
    """Maps an offset in a whole text to (line, column), for scanners that work on
    the text as one string rather than line by line."""

    __slots__ = ("_starts",)

    def __init__(self, text: str) -> None:
        starts = [0]
        find = text.find
        i = find("\n")
        while i != -1:
            starts.append(i + 1)
            i = find("\n", i + 1)
        self._starts = starts

    def locate(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of ``offset``."""
        idx = bisect.bisect_right(self._starts, offset) - 1
        return idx + 1, offset - self._starts[idx] + 1

    def line_start(self, line: int) -> int:
        """Offset where 1-based ``line`` starts."""
        return self._starts[line - 1]
