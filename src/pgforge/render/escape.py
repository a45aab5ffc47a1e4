"""Escaping for every output grammar pgforge writes: one function per grammar, one place each.

A value from a spec, a file or a server is validated where it enters (``pgforge.spec``, its
sections and ``pgforge.spec.grammar``); here it is escaped where it leaves, so that it stays
inside the one token, string or comment it was put in whatever validation let through. A value
that a grammar cannot represent (a NUL anywhere, a line break inside a pg_hba.conf field or a
PgBouncer value) raises :class:`EscapeError` instead of being written: after validation that is a
pgforge bug, but never an injection.

Every function returns :class:`Escaped`, a ``str`` that says "this went through an escape":
the Jinja2 environment (render/templates.py) registers them as filters, and its ``finalize``
hook refuses any other expression whose text holds a line break or a NUL.

The grammars and where their rules come from:

- postgresql.conf (``conf_string``, ``conf_comment``): PostgreSQL's src/backend/utils/misc/guc-file.l.
  A quoted string is ``'([^'\\\\\\n]|\\\\.|'')*'``; GUC_scanstr then reads ``\\\\b \\\\f \\\\n \\\\r \\\\t``,
  octal and ``\\\\x`` -> ``x``, so a literal backslash is written ``\\\\\\\\``; a newline cannot be in it.
  A comment is ``#`` to the end of the line.
- SQL (``sql_literal``, ``sql_ident``, ``sql_comment``): the SQL standard's quoting, as PostgreSQL
  reads it with standard_conforming_strings on (its default since 9.1): ``''`` and ``""`` double
  the quote; ``--`` comments end at a newline (psql's psqlscan.l the same).
- pg_hba.conf (``hba_token``, ``hba_list``, ``hba_option``): src/backend/libpq/hba.c's
  ``next_token``: fields are separated by blanks (space, tab, CR, LF) and commas, ``#`` outside
  double quotes starts a comment, ``""`` in a quoted token is a quote, and a quoted keyword
  (``"all"``) or prefix (``"+x"``) is a plain name. A record is one line (no way to quote a newline).
- pgbouncer.ini (``pgbouncer_value``, ``pgbouncer_key``, ``pgbouncer_connstr``): libusual's
  cfparser.c (``key = value``, the value is the rest of the line, comments are whole lines starting
  with ``;`` or ``#``) and PgBouncer's loader.c ``parse_connstr``: ``key=value`` pairs separated by
  spaces, a value single-quoted with ``''`` for a quote, no backslash escapes.
- libpq keyword/value connection strings (``libpq_value``): libpq's conninfo_parse: single quotes,
  ``\\\\'`` and ``\\\\\\\\`` inside them.
- .pgpass (``pgpass_field``): libpq's passwordFromFile: ``:`` and ``\\\\`` are escaped with ``\\\\``.
- bash (``shell_word``, ``shell_words``, ``shell_comment``): single quotes as ``shlex.quote`` writes
  them; a control character (which would break the line) as an ANSI-C ``$'...'`` word instead.
- crontab(5) (``cron_schedule``, ``cron_command``, ``cron_comment``): five time fields or one
  ``@`` word; in the command field ``%`` is a newline unless written ``\\\\%``.
- plain ini key=value files such as pgbackrest.conf (``ini_value``): one line, no line break.
- YAML 1.2 / JSON (``yaml_scalar``, ``json_text``): a double-quoted YAML scalar with every
  non-printable or line-breaking code point (YAML 1.1 also breaks on U+0085, U+2028, U+2029)
  written as an escape; JSON through ``json.dumps`` (ASCII only, so no raw U+2028 either).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any, Iterable

from pgforge.errors import UserError

#: Every character that some consumer of pgforge's files reads as the end of a line: PostgreSQL,
#: PgBouncer, bash and cron end lines at LF (PostgreSQL's hba reader also drops CR); editors,
#: Python's splitlines and YAML 1.1 also break on VT, FF, FS/GS/RS, NEL, LS and PS.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")  # tab is allowed
_BREAK_OR_NUL = re.compile("[\x00" + re.escape(LINE_BREAKS) + "]")


class Escaped(str):
    """Text that went through one of the escape functions of this module."""

    __slots__ = ()


class EscapeError(UserError):
    """A value that the output's grammar cannot hold (exit 2, nothing written)."""


def _fail(value: str, grammar: str, why: str) -> EscapeError:
    shown = value if len(value) <= 60 else value[:57] + "..."
    return EscapeError(f"{shown!r} cannot be written into {grammar}: {why}", "output")


def _no_nul(value: str, grammar: str) -> None:
    if "\x00" in value:
        raise _fail(value, grammar, "it holds a NUL character")


def _no_control(value: str, grammar: str) -> None:
    _no_nul(value, grammar)
    if _CONTROL.search(value):
        raise _fail(value, grammar, "it holds a line break or control character")


def has_line_break(text: str) -> bool:
    """True when ``text`` holds a NUL or any character of :data:`LINE_BREAKS`."""
    return bool(_BREAK_OR_NUL.search(text))


# --------------------------------------------------------------------------- comments (every format)


def _visible(match: re.Match[str]) -> str:
    c = match.group(0)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\f": "\\f"}
    if c in named:
        return named[c]
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def comment_text(text: Any) -> Escaped:
    """Free text for the inside of a one-line comment, in any of pgforge's formats.

    Every line break any reader honours (:data:`LINE_BREAKS`) and every other control character
    is written as a visible escape (``\\n``, ``\\x00``), so nothing after it can become a live line.
    """
    return Escaped(_CONTROL.sub(_visible, str(text)))


#: ``# ...`` in postgresql.conf (guc-file.l: ``#`` to the end of the line).
conf_comment = comment_text
#: ``-- ...`` in SQL and psql scripts.
sql_comment = comment_text
#: ``;; ...`` in pgbouncer.ini and userlist.txt (a comment is a whole line).
pgbouncer_comment = comment_text
#: ``# ...`` in bash scripts, pg_hba.conf, crontab and pgbackrest.conf.
shell_comment = comment_text
hba_comment = comment_text
cron_comment = comment_text
#: A line of Markdown prose (recovery/README.md).
text_line = comment_text


# --------------------------------------------------------------------------- postgresql.conf


def conf_string(value: Any) -> Escaped:
    """A postgresql.conf string value: ``'...'`` with ``''`` for a quote and ``\\\\`` for a backslash.

    guc-file.l allows no newline inside a quoted string, so a line break or control character is refused.
    """
    text = str(value)
    _no_control(text, "a postgresql.conf string")
    return Escaped("'" + text.replace("\\", "\\\\").replace("'", "''") + "'")


# --------------------------------------------------------------------------- SQL


def sql_literal(value: Any) -> Escaped:
    """A standard SQL string literal (``'...'``, ``''`` for a quote; backslashes are plain with
    standard_conforming_strings on). Line breaks are refused: ALTER SYSTEM refuses them in values,
    and a script line must not start with a value."""
    text = str(value)
    _no_control(text, "an SQL string literal")
    return Escaped("'" + text.replace("'", "''") + "'")


def sql_literal_body(value: Any) -> Escaped:
    """Text for the inside of an SQL string literal that the template quotes itself: ``''`` for a quote."""
    text = str(value)
    _no_control(text, "an SQL string literal")
    return Escaped(text.replace("'", "''"))


def sql_format_text(value: Any) -> Escaped:
    """Text for the inside of the format string of PostgreSQL's ``format()``: ``''`` for a quote
    and ``%%`` for a percent sign, so a value adds no format specifier."""
    return Escaped(sql_literal_body(value).replace("%", "%%"))


def psql_arg(value: Any) -> Escaped:
    """An argument of a psql meta-command (``\\set name VALUE``): bare when plain, else single-quoted,
    where psql reads ``''`` as a quote and backslash escapes (so ``\\\\`` for a backslash).
    A line break would end the meta-command and is refused."""
    text = str(value)
    _no_control(text, "a psql meta-command argument")
    if re.fullmatch(r"[A-Za-z0-9_.:/@+-]+", text):
        return Escaped(text)
    return Escaped("'" + text.replace("\\", "\\\\").replace("'", "''") + "'")


_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")


def sql_ident(name: Any) -> Escaped:
    """An SQL identifier; dotted names (``pg_stat_statements.max``) are one identifier per part.
    Lower-case plain parts stay bare, anything else is double-quoted with ``""`` for a quote."""
    text = str(name)
    _no_control(text, "an SQL identifier")
    return Escaped(".".join(part if _PLAIN_IDENT.fullmatch(part) else '"' + part.replace('"', '""') + '"'
                            for part in text.split(".")))


# --------------------------------------------------------------------------- pg_hba.conf

_HBA_BARE = re.compile(r"[+@]?[A-Za-z0-9_.:][A-Za-z0-9_$.:/-]*")


def hba_token(token: Any) -> Escaped:
    """One database, user or address token of a pg_hba.conf field.

    Names of letters, digits and ``_ $ . : / -`` (optionally with the ``+`` group or ``@`` file
    prefix) are written bare; anything else is double-quoted with ``""`` for a quote, which makes
    it a plain name (never a keyword, group or file). Blanks, commas and ``#`` are then inside
    the quotes. A line break or control character cannot be written (a record is one line).
    """
    text = str(token)
    _no_control(text, "a pg_hba.conf field")
    if not text:
        raise _fail(text, "a pg_hba.conf field", "it is empty")
    if _HBA_BARE.fullmatch(text):
        return Escaped(text)
    return Escaped('"' + text.replace('"', '""') + '"')


def hba_list(value: Any) -> Escaped:
    """A comma-separated database or user field, each element through :func:`hba_token`."""
    return Escaped(",".join(hba_token(part) for part in str(value).split(",")))


def hba_keyword(value: Any) -> Escaped:
    """A connection type or method: a fixed keyword, never quoted."""
    text = str(value)
    if not re.fullmatch(r"[a-z][a-z0-9-]*", text):
        raise _fail(text, "a pg_hba.conf keyword field", "not a connection type or method keyword")
    return Escaped(text)


def hba_option(key: Any, value: Any) -> Escaped:
    """An ``option=value`` token after the method; the value is quoted when it needs it."""
    k, v = str(key), str(value)
    if not re.fullmatch(r"[a-z_]+", k):
        raise _fail(k, "a pg_hba.conf option name", "option names are lower-case letters and _")
    _no_control(v, "a pg_hba.conf option value")
    if re.fullmatch(r"[A-Za-z0-9_$.:/@+-]+", v):
        return Escaped(f"{k}={v}")
    return Escaped(f'{k}="' + v.replace('"', '""') + '"')


# --------------------------------------------------------------------------- PgBouncer


def pgbouncer_value(value: Any) -> Escaped:
    """A pgbouncer.ini value: the rest of the line, stripped at both ends, no quoting.

    A line break or control character would end the value (or start a key of its own) and leading
    or trailing blanks would be lost, so those are refused.
    """
    text = str(value)
    _no_control(text, "a pgbouncer.ini value")
    if text != text.strip(" \t"):
        raise _fail(text, "a pgbouncer.ini value", "PgBouncer strips blanks at its ends")
    return Escaped(text)


def pgbouncer_key(value: Any) -> Escaped:
    """A pgbouncer.ini key (a [databases] name): bare ``[A-Za-z0-9_.*-]`` only (1.18 cannot quote keys)."""
    text = str(value)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        raise _fail(text, "a pgbouncer.ini key", "PgBouncer 1.18 takes only letters, digits and _ . - bare")
    return Escaped(text)


def pgbouncer_connstr_value(value: Any) -> Escaped:
    """One value of a PgBouncer connection string: bare when plain, else ``'...'`` with ``''``."""
    text = str(value)
    _no_control(text, "a PgBouncer connection string")
    if not text:
        raise _fail(text, "a PgBouncer connection string", "values cannot be empty")
    if re.fullmatch(r"[A-Za-z0-9_.:/@%+,-]+", text):
        return Escaped(text)
    return Escaped("'" + text.replace("'", "''") + "'")


def pgbouncer_connstr(pairs: Iterable[tuple[str, Any]]) -> Escaped:
    """``key=value key=value`` as PgBouncer's [databases] section reads it."""
    out = []
    for key, value in pairs:
        if not re.fullmatch(r"[a-z_]+", key):
            raise _fail(key, "a PgBouncer connection string key", "not a parameter name")
        out.append(f"{key}={pgbouncer_connstr_value(value)}")
    return Escaped(" ".join(out))


# --------------------------------------------------------------------------- libpq


def libpq_value(value: Any) -> Escaped:
    """A value of a libpq keyword/value connection string: bare when plain, else single-quoted
    with ``\\\\'`` and ``\\\\\\\\``. Control characters are refused (conninfo is one line everywhere
    pgforge writes it)."""
    text = str(value)
    _no_control(text, "a libpq connection string")
    if text and re.fullmatch(r"[A-Za-z0-9_.:/@%+,=-]+", text):
        return Escaped(text)
    return Escaped("'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'")


def pgpass_field(value: Any) -> Escaped:
    """A field of a libpq password file (host:port:database:user:password): ``:`` and ``\\\\``
    escaped with a backslash; a line break is refused (one entry per line)."""
    text = str(value)
    _no_control(text, "a .pgpass field")
    return Escaped(text.replace("\\", "\\\\").replace(":", "\\:"))


# --------------------------------------------------------------------------- bash


def shell_word(value: Any) -> Escaped:
    """One bash word: as ``shlex.quote`` writes it (bare when safe, else single quotes), or as an
    ANSI-C ``$'...'`` word when it holds a control character, so the word stays on its line.
    NUL cannot be in a bash word and is refused."""
    text = str(value)
    _no_nul(text, "a shell word")
    if not _CONTROL.search(text):
        return Escaped(shlex.quote(text))
    out = []
    for c in text:
        if c in "\\'":
            out.append("\\" + c)
        elif _CONTROL.match(c):  # as its UTF-8 bytes, whatever the locale bash runs in
            out.append("".join(f"\\x{b:02x}" for b in c.encode("utf-8")))
        else:
            out.append(c)
    return Escaped("$'" + "".join(out) + "'")


def shell_dq(value: Any) -> Escaped:
    """Text for the inside of a bash double-quoted string: ``\\ " $ ` `` escaped with a backslash.
    Control characters are refused (the string would span lines)."""
    text = str(value)
    _no_control(text, "a shell double-quoted string")
    return Escaped(re.sub(r'([\\"$`])', r"\\\1", text))


def shell_words(values: Iterable[Any]) -> Escaped:
    """Several bash words, each through :func:`shell_word`, separated by spaces."""
    return Escaped(" ".join(shell_word(v) for v in values))


# --------------------------------------------------------------------------- cron

_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,-]+")
_CRON_WORDS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def cron_schedule(value: Any) -> Escaped:
    """The time part of a cron.d line: five fields of ``0-9 A-Z a-z * / , -``, or one ``@`` word
    (crontab(5)); anything else (``@reboot root cmd``, a sixth word) is refused."""
    text = str(value)
    fields = text.split(" ")
    if text in _CRON_WORDS or (len(fields) == 5 and all(_CRON_FIELD.fullmatch(f) for f in fields)):
        return Escaped(text)
    raise _fail(text, "a cron schedule", "give five time fields (such as 30 2 * * *) or an @ word such as @daily")


def cron_command(words: Iterable[Any]) -> Escaped:
    """The command field of a cron.d line: shell words, with ``%`` (a newline to cron) as ``\\\\%``."""
    words = list(words)
    for w in words:
        _no_control(str(w), "a cron command")
    return Escaped(shell_words(words).replace("%", "\\%"))


# --------------------------------------------------------------------------- other ini files


def ini_value(value: Any) -> Escaped:
    """A ``key=value`` value of a line-oriented ini file (pgbackrest.conf): one line, no control characters."""
    text = str(value)
    _no_control(text, "an ini value")
    if text != text.strip():
        raise _fail(text, "an ini value", "blanks at its ends would be lost")
    return Escaped(text)


def ini_section(value: Any) -> Escaped:
    """An ini ``[section]`` name: letters, digits and ``_ . -``."""
    text = str(value)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        raise _fail(text, "an ini section name", "use letters, digits and _ . -")
    return Escaped(text)


# --------------------------------------------------------------------------- file names


def file_component(value: Any) -> Escaped:
    """A name that becomes part of a bundle file's name (a replica, a publication): letters,
    digits and ``_ . -``, not starting with a dot, so it can name no other place."""
    text = str(value)
    if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}", text):
        raise _fail(text, "a bundle file name", "use letters, digits and _ . - (not starting with a dot)")
    return Escaped(text)


# --------------------------------------------------------------------------- YAML / JSON


def yaml_scalar(value: Any) -> Escaped:
    """A YAML 1.2 double-quoted scalar that also reads the same in YAML 1.1: ``\\\\`` and ``"``
    escaped, every character outside printable ASCII written as ``\\\\xNN``, ``\\\\uNNNN`` or
    ``\\\\UNNNNNNNN`` (so U+0085, U+2028 and U+2029 never appear raw)."""
    text = str(value)
    out = ['"']
    for c in text:
        o = ord(c)
        if c in '\\"':
            out.append("\\" + c)
        elif 0x20 <= o < 0x7F:
            out.append(c)
        elif 0xD800 <= o <= 0xDFFF:
            raise _fail(text, "YAML", "it holds a lone surrogate")
        elif o < 0x100:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return Escaped("".join(out))


def json_text(obj: Any, **kwargs: Any) -> Escaped:
    """``json.dumps`` with ASCII output (U+2028 and friends escaped), marked escaped."""
    return Escaped(json.dumps(obj, ensure_ascii=True, **kwargs))


#: The Jinja2 filters render/templates.py registers, by name.
FILTERS = {
    "conf_string": conf_string, "conf_comment": conf_comment,
    "sql_literal": sql_literal, "sql_literal_body": sql_literal_body, "sql_format_text": sql_format_text, "psql_arg": psql_arg, "sql_ident": sql_ident, "sql_comment": sql_comment,
    "hba_token": hba_token, "hba_list": hba_list, "hba_comment": hba_comment,
    "pgbouncer_value": pgbouncer_value, "pgbouncer_comment": pgbouncer_comment,
    "libpq_value": libpq_value, "pgpass_field": pgpass_field,
    "shell_word": shell_word, "shell_dq": shell_dq, "shell_words": shell_words, "shell_comment": shell_comment,
    "cron_schedule": cron_schedule, "cron_command": cron_command, "cron_comment": cron_comment,
    "ini_value": ini_value, "ini_section": ini_section,
    "yaml_scalar": yaml_scalar, "json_text": json_text, "text_line": text_line,
}
