"""Free text of a spec (``name``, ``description``, ``timezone``), and the helpers every grammar uses:
:func:`show` quotes a value for a message, ``_full`` compiles a pattern only ever used with
``fullmatch``.

Part of :mod:`pgforge.spec.grammar` (the spec's input grammars; escaping where values leave is
:mod:`pgforge.render.escape`). Free text lands in comments of the generated files, written by
:func:`pgforge.render.escape.comment_text`.
"""

from __future__ import annotations

import re
import unicodedata


def show(value: str, limit: int = 60) -> str:
    """A value as it appears in a message: quoted, control characters visible, long ones cut."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _full(pattern: str) -> re.Pattern[str]:
    """A pattern that is only ever used with fullmatch (the whole string, no trailing newline)."""
    return re.compile(pattern)


_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def check_single_line(value: str) -> str:
    """Free text on one line (``name``, ``description``): no control character of any kind.

    PostgreSQL ends a comment at ``\\n``; bash at ``\\n``; YAML also at ``\\r``, ``\\x85``, ``\\u2028``
    and ``\\u2029``; editors show ``\\v`` and ``\\f`` as breaks. So every Unicode control (Cc),
    line or paragraph separator (Zl, Zp), and the bidirectional overrides that make text read
    differently from what it is, are refused. Tabs are refused too: the text is one line of words.
    """
    for ch in value:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp", "Cs") or ord(ch) in _BIDI:
            raise ValueError(f"{show(value)} holds the control character {ch!r}: give one line of plain text "
                             "(it is written into comments of the generated files)")
    if not value.strip():
        raise ValueError("is empty: give some text or leave the key out")
    return value


def check_prose(value: str) -> str:
    """Free text that may run over several lines (``description``): paragraphs and tabs as a YAML
    folded or literal block gives them, but no other control character and no bidirectional
    override. It is shown by ``pgforge profiles list`` and never written into a generated file;
    were it ever, the comment escaper of that file folds its line breaks."""
    for ch in value:
        cat = unicodedata.category(ch)
        if ch not in "\n\t" and (cat in ("Cc", "Zl", "Zp", "Cs") or ord(ch) in _BIDI):
            raise ValueError(f"{show(value)} holds the control character {ch!r}: give plain text")
    if not value.strip():
        raise ValueError("is empty: give some text or leave the key out")
    return value.strip()


def check_timezone(value: str) -> str:
    """A time zone as PostgreSQL's ``timezone`` takes it from the tz database: ``UTC``,
    ``Europe/Paris``, ``America/Argentina/Buenos_Aires``, ``Etc/GMT+5``: components of letters,
    digits and ``_ + -`` separated by single slashes, at most 64 characters."""
    part = r"[A-Za-z0-9_+-]+"
    if len(value) > 64 or not _full(rf"{part}(?:/{part})*").fullmatch(value):
        raise ValueError(f"time zone {show(value)}: give a tz database name such as UTC or Europe/Paris")
    return value
