"""Reader for pg_hba.conf that follows the server's tokenizer and line checks (hba.c).

What the server does, and so what this does:

* Fields are separated by spaces, tabs or ``\\r``; ``#`` outside quotes starts a
  comment.  Only double quotes quote, ``""`` inside quotes is one quote, and a quoted
  keyword (``"all"``) is a plain name.
* A field is a comma list: a token that ends with a comma is continued by the next
  token, even across spaces (``a, b`` is one field; ``a ,b`` two).
* PostgreSQL 16 and later: a line ending in a backslash continues on the next line,
  a database or user starting with ``/`` is a regular expression, and two-field lines
  ``include FILE`` / ``include_if_exists FILE`` / ``include_dir DIR`` pull in other
  files.  ``before_pg16=True`` turns these off to read a file as 15 and older do.
* Each line is checked like ``parse_hba_line``: connection type, database, user,
  address (CIDR, address plus netmask column, ``all``/``samehost``/``samenet``, or a
  host name), method, ``name=value`` options.  The first problem on a line is
  reported at the offending field and the line yields no rule, as in
  ``pg_hba_file_rules``.

``parse_hba`` does no I/O: ``@file`` names and include lines stay nodes.  ``load_hba``
reads them from disk.

Why one file of more than 450 lines: it mirrors one server unit, PostgreSQL's hba.c tokenizer
and ``parse_hba_line`` checks (as shown by hbafuncs.c's ``pg_hba_file_rules``), and is kept whole
so that it can be read side by side with that source; the tokenizer, the address forms and the
per-field checks share the line and token types and report through one error path. Its
counterparts: the generator's pg_hba.conf is :mod:`pgforge.bundle.pg_hba`, what a rule means
(coverage, method verdicts, TLS need) is :mod:`pgforge.hba_semantics`, the audit's checks are
:mod:`pgforge.audit.checks.hba_security`, and the spec's hba input grammar is :mod:`pgforge.spec.grammar`.
"""

from __future__ import annotations

import bisect
import ipaddress
import os
import re
from dataclasses import dataclass, replace
from typing import Union

from .source import MAX_INCLUDE_DEPTH, Diagnostic, count_lines, read_text, strip_bom

__all__ = [
    "CONNECTION_TYPES",
    "METHODS",
    "HbaAddress",
    "HbaFile",
    "HbaInclude",
    "HbaName",
    "HbaOption",
    "HbaRule",
    "HbaSet",
    "load_hba",
    "parse_hba",
]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

CONNECTION_TYPES = frozenset({"local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"})
#: Every method some supported major knows (``oauth`` is PostgreSQL 18).
METHODS = frozenset(
    {
        "trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi", "ident",
        "peer", "ldap", "radius", "cert", "pam", "bsd", "oauth",
    }
)
#: Option name -> the methods it is valid for (parse_hba_auth_opt, majors 13 to 18);
#: None means any method (clientcert and clientname are limited to hostssl rows instead).
_LDAP = frozenset({"ldap"})
_RADIUS = frozenset({"radius"})
_OAUTH = frozenset({"oauth"})
OPTION_METHODS: dict[str, frozenset[str] | None] = {
    "map": frozenset({"ident", "peer", "gss", "sspi", "cert", "oauth"}),
    "clientcert": None,
    "clientname": None,
    "pamservice": frozenset({"pam"}),
    "pam_use_hostname": frozenset({"pam"}),
    **dict.fromkeys(
        ["ldapurl", "ldaptls", "ldapscheme", "ldapserver", "ldapport", "ldapbinddn", "ldapbindpasswd",
         "ldapsearchattribute", "ldapsearchfilter", "ldapbasedn", "ldapprefix", "ldapsuffix"],
        _LDAP,
    ),
    "krb_realm": frozenset({"gss", "sspi"}),
    "include_realm": frozenset({"gss", "sspi"}),
    "compat_realm": frozenset({"sspi"}),
    "upn_username": frozenset({"sspi"}),
    **dict.fromkeys(
        ["radiusservers", "radiusserver", "radiussecrets", "radiussecret", "radiusidentifiers",
         "radiusidentifier", "radiusports", "radiusport"],
        _RADIUS,
    ),
    **dict.fromkeys(["issuer", "scope", "validator", "delegate_ident_mapping"], _OAUTH),
}
OPTION_NAMES = frozenset(OPTION_METHODS)
#: Methods the server only has on other platforms; a Linux build rejects them.
FOREIGN_METHODS = {"sspi": "Windows", "bsd": "OpenBSD"}
DATABASE_KEYWORDS = frozenset({"all", "sameuser", "samerole", "samegroup", "replication"})
ADDRESS_KEYWORDS = frozenset({"all", "samehost", "samenet"})
INCLUDE_KINDS = frozenset({"include", "include_if_exists", "include_dir"})

_BLANK = " \t\r"
_PLAIN_TOKEN_RE = re.compile(r"[^ \t\r,]+")
_CIDR_BITS_RE = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+", re.ASCII)
_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")


# --------------------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True)
class HbaName:
    """One item of the database or user list.

    ``text`` is the token as the server sees it (quotes removed, sigils kept);
    ``kind`` is ``keyword`` (unquoted ``all``, ``sameuser``, ...), ``group``
    (unquoted ``+role``, users only), ``file`` (unquoted ``@file``), ``regex``
    (leading ``/``, PostgreSQL 16+) or ``name``.  ``path`` differs from the rule's
    when the name was read from an ``@file`` by the loader.
    """

    text: str
    kind: str
    quoted: bool
    path: str
    line: int
    column: int

    @property
    def name(self) -> str:
        """The text without its ``+``, ``@`` or ``/`` sigil."""
        return self.text[1:] if self.kind in ("group", "file", "regex") else self.text


@dataclass(frozen=True, slots=True)
class HbaAddress:
    """The address field of a host record.

    ``kind`` is ``keyword`` (``all``, ``samehost``, ``samenet``), ``hostname`` (a
    name, or a ``.domain`` suffix) or ``ip``.  For ``ip`` rules ``address`` is the
    address as written and ``network`` the matching network (None only for a
    non-contiguous netmask, which the server accepts but no CIDR can express);
    ``mask`` is the separate netmask column as written, if that form was used.
    """

    text: str
    kind: str
    quoted: bool
    line: int
    column: int
    address: IPAddress | None = None
    network: IPNetwork | None = None
    netmask: IPAddress | None = None
    mask: str | None = None
    mask_line: int | None = None
    mask_column: int | None = None

    @property
    def value(self) -> IPNetwork | str | None:
        """The network for ``ip``, else the keyword or host name."""
        return self.network if self.kind == "ip" else self.text


@dataclass(frozen=True, slots=True)
class HbaOption:
    """A ``name=value`` option after the method (the value is unquoted)."""

    name: str
    value: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class HbaRule:
    """A valid record.  ``line``/``column`` locate the connection type; every other
    field node carries its own position.  ``end_line`` differs from ``line`` when the
    record used backslash continuations.  ``address`` is None for ``local``."""

    type: str
    databases: tuple[HbaName, ...]
    users: tuple[HbaName, ...]
    address: HbaAddress | None
    method: str
    options: tuple[HbaOption, ...]
    path: str
    line: int
    column: int
    method_line: int
    method_column: int
    end_line: int
    raw: str

    @property
    def option_map(self) -> dict[str, str]:
        """Options as a dict (a repeated option keeps its last value)."""
        return {o.name: o.value for o in self.options}

    @property
    def effective_method(self) -> str:
        """The method the server applies: ``ident`` on a local line means ``peer``."""
        return "peer" if self.method == "ident" and self.type == "local" else self.method


@dataclass(frozen=True, slots=True)
class HbaInclude:
    """An ``include``, ``include_if_exists`` or ``include_dir`` record (PG16+)."""

    kind: str
    target: str
    quoted: bool
    path: str
    line: int
    column: int
    target_line: int
    target_column: int


@dataclass(frozen=True, slots=True)
class HbaFile:
    """One parsed pg_hba.conf: rules and include records in file order."""

    path: str
    entries: tuple[HbaRule | HbaInclude, ...]
    diagnostics: tuple[Diagnostic, ...]
    line_count: int

    @property
    def rules(self) -> tuple[HbaRule, ...]:
        return tuple(e for e in self.entries if isinstance(e, HbaRule))

    @property
    def includes(self) -> tuple[HbaInclude, ...]:
        return tuple(e for e in self.entries if isinstance(e, HbaInclude))

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


@dataclass(frozen=True, slots=True)
class HbaSet:
    """Rules in the order the server tries them, across included files."""

    root: str
    files: tuple[HbaFile, ...]
    rules: tuple[HbaRule, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


# --------------------------------------------------------------------------- lines

# A token: (text, initially quoted, start offset, end offset) in the logical line
_Token = tuple[str, bool, int, int]


class _Line:
    """A logical line (physical lines joined by continuations) and its offset map."""

    __slots__ = ("text", "line", "end_line", "segments")

    def __init__(self, text: str, line: int, end_line: int, segments: list[tuple[int, int]] | None) -> None:
        self.text = text
        self.line = line
        self.end_line = end_line
        self.segments = segments  # (offset in text, physical line) when joined

    def locate(self, offset: int) -> tuple[int, int]:
        if self.segments is None:
            return self.line, offset + 1
        # the last segment starting at or before offset (a binary search: a logical line of
        # 30,000 joined lines has as many segments and tokens)
        idx = bisect.bisect_right(self.segments, offset, key=lambda seg: seg[0]) - 1
        if idx < 0:
            return self.line, offset + 1
        seg_start, seg_line = self.segments[idx]
        return seg_line, offset - seg_start + 1


def _logical_lines(text: str, continuation: bool) -> list[_Line]:
    """Split into lines as the server reads them, leaving out blank and comment lines.

    Trailing ``\\r`` and ``\\n`` are stripped.  With ``continuation`` a line ending in
    a backslash is joined with the next (the backslash removed); as in the server, a
    backslash only continues if the newly read part is not empty.
    """
    raw = text.split("\n")
    if raw and raw[-1] == "" and len(raw) > 1:
        raw.pop()
    out: list[_Line] = []
    i, n = 0, len(raw)
    while i < n:
        first = raw[i].rstrip("\r")
        if not continuation or not first.endswith("\\"):
            head = first.lstrip(_BLANK)
            if head and head[0] != "#":  # blank and comment lines carry no tokens
                out.append(_Line(first, i + 1, i + 1, None))
            i += 1
            continue
        start_line = i + 1
        # The server appends each physical line to one buffer, strips trailing CR/LF from the
        # whole buffer, then drops a final backslash. Pieces in a list keep that linear (adding
        # to a string each time was quadratic: 32,000 continued lines took 12 s).
        parts: list[str] = []
        length = 0
        last = 0
        segments: list[tuple[int, int]] = []
        while i < n:
            segments.append((length, i + 1))
            parts.append(raw[i])
            length += len(raw[i])
            i += 1
            while parts:  # pg_strip_crlf on the whole buffer
                tail = parts[-1]
                kept = tail.rstrip("\r")
                length -= len(tail) - len(kept)
                if kept:
                    parts[-1] = kept
                    break
                parts.pop()
            if length > last and parts[-1].endswith("\\"):
                parts[-1] = parts[-1][:-1]
                length -= 1
                last = length
                continue
            break
        out.append(_Line("".join(parts), start_line, i, segments))
    return out


def _fields(text: str) -> list[list[_Token]]:
    """Tokens of one logical line grouped into fields (next_field_expand)."""
    if '"' not in text:
        cut = text.find("#")
        if cut >= 0:
            text = text[:cut]
        fields: list[list[_Token]] = []
        current: list[_Token] | None = None
        n = len(text)
        for m in _PLAIN_TOKEN_RE.finditer(text):
            tok = (m.group(), False, m.start(), m.end())
            if current is None:
                current = [tok]
                fields.append(current)
            else:
                current.append(tok)
            end = m.end()
            if end >= n or text[end] != ",":
                current = None
        return fields
    return _fields_quoted(text)


def _fields_quoted(text: str) -> list[list[_Token]]:
    """Character-by-character version of the tokenizer, for lines with quotes."""
    fields: list[list[_Token]] = []
    current: list[_Token] | None = None
    n = len(text)
    i = 0
    while i < n:
        while i < n and (text[i] in _BLANK or text[i] == ","):
            i += 1
        if i >= n:
            break
        start = i
        chars: list[str] = []
        in_quote = was_quote = saw_quote = initial = False
        comma = comment = False
        while i < n:
            c = text[i]
            if not in_quote:
                if c in _BLANK:
                    break
                if c == "#":
                    comment = True
                    break
                if c == ",":
                    comma = True
                    break
            if c != '"' or was_quote:
                chars.append(c)
            was_quote = (not was_quote) if (in_quote and c == '"') else False
            if c == '"':
                in_quote = not in_quote
                saw_quote = True
                if not chars:
                    initial = True
            i += 1
        if saw_quote or chars:
            tok = ("".join(chars), initial, start, i)
            if current is None:
                current = [tok]
                fields.append(current)
            else:
                current.append(tok)
            if not comma:
                current = None
        else:
            current = None
        if comment:
            break
    return fields


# --------------------------------------------------------------------------- addresses


def _inet_aton(text: str) -> int | None:
    """IPv4 in the classic inet_aton forms glibc's numeric lookup accepts
    (``127.1``, ``10``, hex ``0x7f.1``, octal ``010.0.0.1``), which ipaddress refuses."""
    parts = text.split(".")
    if len(parts) > 4:
        return None
    vals: list[int] = []
    for p in parts:
        if not p:
            return None
        if len(p) > 1 and p[0] == "0" and p[1] in "xX":
            digits = p[2:]
            if not digits or not all(c in _HEX for c in digits):
                return None
            vals.append(int(digits, 16))
        elif p[0] == "0":
            if not all(c in _OCT for c in p):
                return None
            vals.append(int(p, 8))
        else:
            if not (p.isascii() and p.isdigit()):
                return None
            vals.append(int(p))
    *head, last = vals
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = 0
    for v in head:
        value = (value << 8) | v
    return (value << (8 * (4 - len(head)))) | last


def _parse_ip(text: str) -> IPAddress | None:
    """A numeric IPv4/IPv6 address as the server's AI_NUMERICHOST lookup reads it."""
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    value = _inet_aton(text)
    return ipaddress.IPv4Address(value) if value is not None else None


def _network(ip: IPAddress, prefix: int) -> IPNetwork:
    if ip.version == 4:
        return ipaddress.IPv4Network((int(ip), prefix), strict=False)
    return ipaddress.IPv6Network((int(ip), prefix), strict=False)


def _mask_prefix(mask: IPAddress) -> int | None:
    """Prefix length of a contiguous netmask, None for a non-contiguous one."""
    bits = mask.max_prefixlen
    inverse = ~int(mask) & ((1 << bits) - 1)
    if inverse & (inverse + 1):
        return None
    return bits - inverse.bit_length()


# --------------------------------------------------------------------------- parser


class _LineError(Exception):
    """Raised inside the per-line checker to stop at the first problem (as the server does)."""

    def __init__(self, offset: int, message: str, code: str = "hba") -> None:
        self.offset = offset
        self.message = message
        self.code = code


def parse_hba(text: str, path: str = "<string>", *, before_pg16: bool = False) -> HbaFile:
    """Parse the text of one pg_hba.conf. Never raises, does no I/O.

    ``before_pg16`` reads the file as PostgreSQL 15 and older do: no backslash
    continuation, no include records, no regular expressions.
    """
    diagnostics: list[Diagnostic] = []
    entries: list[HbaRule | HbaInclude] = []
    text, bom = strip_bom(
        text, path, consequence="PostgreSQL reads it as part of the first field (an invalid connection type)"
    )
    if bom is not None:
        diagnostics.append(bom)
    modern = not before_pg16
    for lline in _logical_lines(text, modern):
        fields = _fields(lline.text)
        if not fields:
            continue
        if modern and len(fields) == 2 and fields[0][0][0] in INCLUDE_KINDS:
            kind_tok, target_tok = fields[0][0], fields[1][0]
            line, column = lline.locate(kind_tok[2])
            tline, tcolumn = lline.locate(target_tok[2])
            entries.append(
                HbaInclude(kind_tok[0], target_tok[0], target_tok[1], path, line, column, tline, tcolumn)
            )
            continue
        notes: list[Diagnostic] = []
        try:
            entries.append(_parse_rule(fields, lline, path, modern, notes))
            diagnostics.extend(notes)  # a rejected line reports only its error
        except _LineError as err:
            line, column = lline.locate(err.offset)
            diagnostics.append(Diagnostic(path, line, column, err.message, "error", err.code))
    return HbaFile(path, tuple(entries), tuple(diagnostics), count_lines(text))


def _name(tok: _Token, users: bool, modern: bool, lline: _Line, path: str) -> HbaName:
    text, quoted, offset, _ = tok
    line, column = lline.locate(offset)
    return HbaName(text, _name_kind(text, quoted, users, modern), quoted, path, line, column)


def _name_kind(text: str, quoted: bool, users: bool, modern: bool) -> str:
    if not quoted:
        if users:
            if text == "all":
                return "keyword"
            if text.startswith("+"):
                return "group"
        elif text in DATABASE_KEYWORDS:
            return "keyword"
        if len(text) > 1 and text[0] == "@":
            return "file"
    if modern and text.startswith("/"):
        return "regex"
    return "name"


def _parse_rule(
    fields: list[list[_Token]], lline: _Line, path: str, modern: bool, diagnostics: list[Diagnostic]
) -> HbaRule:
    end = fields[-1][-1][3]  # end-of-line errors point just after the last token
    it = iter(fields)
    type_field = next(it)
    if len(type_field) > 1:
        raise _LineError(type_field[1][2], "multiple values specified for connection type")
    conn_type, _, type_offset, _ = type_field[0]
    if conn_type not in CONNECTION_TYPES:
        raise _LineError(type_offset, f'invalid connection type "{conn_type}"', "hba-type")

    db_field = next(it, None)
    if db_field is None:
        raise _LineError(end, "end-of-line before database specification")
    user_field = next(it, None)
    if user_field is None:
        raise _LineError(end, "end-of-line before role specification")
    databases = tuple(_name(t, False, modern, lline, path) for t in db_field)
    users = tuple(_name(t, True, modern, lline, path) for t in user_field)
    for u in users:
        if u.kind == "name" and not u.quoted and u.text in DATABASE_KEYWORDS:
            diagnostics.append(
                Diagnostic(
                    path, u.line, u.column,
                    f'"{u.text}" is a keyword only in the database column; here it names a role called "{u.text}"',
                    "warning", "hba-user-keyword",
                )
            )

    address: HbaAddress | None = None
    if conn_type != "local":
        addr_field = next(it, None)
        if addr_field is None:
            raise _LineError(end, "end-of-line before IP address specification")
        address = _parse_address(addr_field, it, lline, path, end, diagnostics)

    method_field = next(it, None)
    if method_field is None:
        raise _LineError(end, "end-of-line before authentication method")
    if len(method_field) > 1:
        raise _LineError(method_field[1][2], "multiple values specified for authentication type")
    method, _, method_offset, _ = method_field[0]
    if method not in METHODS:
        raise _LineError(method_offset, f'invalid authentication method "{method}"', "hba-method")
    if conn_type == "local" and method == "gss":
        raise _LineError(method_offset, "gssapi authentication is not supported on local sockets")
    if conn_type != "local" and method == "peer":
        raise _LineError(method_offset, "peer authentication is only supported on local sockets")
    if conn_type != "hostssl" and method == "cert":
        raise _LineError(method_offset, "cert authentication is only supported on hostssl connections")
    if method in FOREIGN_METHODS:
        raise _LineError(
            method_offset,
            f'invalid authentication method "{method}": not supported by this build '
            f"(only {FOREIGN_METHODS[method]} builds have it)",
            "hba-method",
        )
    method_line, method_column = lline.locate(method_offset)

    options: list[HbaOption] = []
    for field in it:
        for text, _, offset, _ in field:
            name, eq, value = text.partition("=")
            if not eq:
                raise _LineError(offset, f"authentication option not in name=value format: {text}")
            if name not in OPTION_METHODS:
                raise _LineError(offset, f'unrecognized authentication option name: "{name}"', "hba-option")
            allowed = OPTION_METHODS[name]
            if allowed is not None and _method_for_options(conn_type, method) not in allowed:
                raise _LineError(
                    offset,
                    f'authentication option "{name}" is only valid for authentication methods '
                    + ", ".join(sorted(allowed)),
                    "hba-option",
                )
            if name in ("clientcert", "clientname") and conn_type != "hostssl":
                raise _LineError(offset, f'{name} can only be configured for "hostssl" rows')
            if name == "clientcert" and value not in ("verify-ca", "verify-full"):
                hint = " (1, 0 and no-verify were removed in PostgreSQL 14)" if value in ("1", "0", "no-verify") else ""
                raise _LineError(offset, f'invalid value for clientcert: "{value}"{hint}')
            if name == "clientcert" and method == "cert" and value == "verify-ca":
                raise _LineError(offset, 'clientcert only accepts "verify-full" when using "cert" authentication')
            line, column = lline.locate(offset)
            options.append(HbaOption(name, value, line, column))

    line, column = lline.locate(type_offset)
    return HbaRule(
        conn_type, databases, users, address, method, tuple(options), path, line, column,
        method_line, method_column, lline.end_line, lline.text,
    )


def _method_for_options(conn_type: str, method: str) -> str:
    """The server turns ``ident`` on local lines into ``peer`` before reading options."""
    return "peer" if method == "ident" and conn_type == "local" else method


def _parse_address(
    field: list[_Token], rest, lline: _Line, path: str, end: int, diagnostics: list[Diagnostic]
) -> HbaAddress:
    if len(field) > 1:
        raise _LineError(field[1][2], "multiple values specified for host address")
    text, quoted, offset, _ = field[0]
    line, column = lline.locate(offset)
    if not quoted and text in ADDRESS_KEYWORDS:
        return HbaAddress(text, "keyword", quoted, line, column)
    addr_text, slash, bits = text.partition("/")
    ip = _parse_ip(addr_text)
    if ip is None:
        if slash:
            raise _LineError(offset, f'specifying both host name and CIDR mask is invalid: "{text}"')
        return HbaAddress(text, "hostname", quoted, line, column)
    if slash:
        limit = ip.max_prefixlen
        if not _CIDR_BITS_RE.fullmatch(bits) or not 0 <= int(bits) <= limit:
            raise _LineError(offset, f'invalid CIDR mask in address "{text}"')
        network = _network(ip, int(bits))
        if int(network.network_address) != int(ip):
            diagnostics.append(
                Diagnostic(
                    path, line, column,
                    f'"{text}" has host bits set; the server matches it as {network}',
                    "note", "hba-host-bits",
                )
            )
        return HbaAddress(text, "ip", quoted, line, column, ip, network)
    mask_field = next(rest, None)
    if mask_field is None:
        raise _LineError(
            end,
            "end-of-line before netmask specification "
            "(specify an address range in CIDR notation, or provide a separate netmask)",
        )
    if len(mask_field) > 1:
        raise _LineError(mask_field[1][2], "multiple values specified for netmask")
    mask_text, _, mask_offset, _ = mask_field[0]
    mask = _parse_ip(mask_text)
    if mask is None:
        raise _LineError(mask_offset, f'invalid IP mask "{mask_text}"')
    if mask.version != ip.version:
        raise _LineError(mask_offset, "IP address and mask do not match")
    mask_line, mask_column = lline.locate(mask_offset)
    prefix = _mask_prefix(mask)
    network: IPNetwork | None = None
    if prefix is None:
        diagnostics.append(
            Diagnostic(
                path, mask_line, mask_column,
                f'netmask "{mask_text}" is not contiguous; the server applies it bit by bit',
                "warning", "hba-mask-noncontiguous",
            )
        )
    else:
        network = _network(ip, prefix)
        if int(network.network_address) != int(ip):
            diagnostics.append(
                Diagnostic(
                    path, line, column,
                    f'"{addr_text}" has host bits set for netmask {mask_text}; the server matches it as {network}',
                    "note", "hba-host-bits",
                )
            )
    return HbaAddress(text, "ip", quoted, line, column, ip, network, mask, mask_text, mask_line, mask_column)


# --------------------------------------------------------------------------- loader


def load_hba(
    path: str | os.PathLike[str], *, expand_files: bool = True, before_pg16: bool = False
) -> HbaSet:
    """Read a pg_hba.conf and the files it pulls in, in the order the server does.

    Include records are followed relative to the including file (``include_dir``:
    ``*.conf`` files not starting with a dot, bytewise order; nesting deeper than 10
    or a cycle is an error; a missing ``include_if_exists`` target is a note).  With
    ``expand_files`` every ``@file`` name is replaced by the names read from that
    file (relative to the file holding the ``@``), each keeping its own position.

    Raises OSError only when the top file itself cannot be read.
    """
    root = os.path.abspath(os.fspath(path))
    text, note = read_text(root)
    loader = _HbaLoader(expand_files, before_pg16)
    loader.visit(root, text, note, 0, (os.path.realpath(root),))
    return HbaSet(root, tuple(loader.files), tuple(loader.rules), tuple(loader.diagnostics))


class _HbaLoader:
    __slots__ = ("expand", "legacy", "files", "rules", "diagnostics")

    def __init__(self, expand: bool, legacy: bool) -> None:
        self.expand = expand
        self.legacy = legacy
        self.files: list[HbaFile] = []
        self.rules: list[HbaRule] = []
        self.diagnostics: list[Diagnostic] = []

    def visit(self, path: str, text: str, note: Diagnostic | None, depth: int, stack: tuple[str, ...]) -> None:
        parsed = parse_hba(text, path, before_pg16=self.legacy)
        self.files.append(parsed)
        if note is not None:
            self.diagnostics.append(note)
        self.diagnostics.extend(parsed.diagnostics)
        for entry in parsed.entries:
            if isinstance(entry, HbaRule):
                self.rules.append(self._expand_rule(entry, depth) if self.expand else entry)
            else:
                self._include(entry, depth, stack)

    def _error(self, inc: HbaInclude, message: str, severity: str = "error") -> None:
        self.diagnostics.append(
            Diagnostic(inc.path, inc.target_line, inc.target_column, message, severity, "include")  # type: ignore[arg-type]
        )

    def _include(self, inc: HbaInclude, depth: int, stack: tuple[str, ...]) -> None:
        if inc.target == "":
            self._error(inc, f"empty file name in {inc.kind} record")
            return
        target = os.path.normpath(os.path.join(os.path.dirname(inc.path), inc.target))
        if inc.kind != "include_dir":
            self._include_file(inc, target, depth, stack, missing_ok=inc.kind == "include_if_exists")
            return
        try:
            names = os.listdir(target)
        except OSError as exc:
            self._error(inc, f'could not open directory "{target}": {exc.strerror or exc}')
            return
        picked = sorted(
            (n for n in names if len(n) >= 6 and not n.startswith(".") and n.endswith(".conf")), key=os.fsencode
        )
        for name in picked:
            full = os.path.join(target, name)
            if not os.path.isdir(full):
                self._include_file(inc, full, depth, stack, missing_ok=False)

    def _include_file(
        self, inc: HbaInclude, target: str, depth: int, stack: tuple[str, ...], *, missing_ok: bool
    ) -> None:
        if depth + 1 > MAX_INCLUDE_DEPTH:
            self._error(inc, f'could not open file "{target}": maximum nesting depth exceeded')
            return
        real = os.path.realpath(target)
        if real in stack:
            self._error(inc, f'include cycle: "{target}" is already being read')
            return
        try:
            text, note = read_text(target)
        except FileNotFoundError:
            if missing_ok:
                self._error(inc, f'skipping missing authentication file "{target}"', "note")
            else:
                self._error(inc, f'could not open file "{target}": No such file or directory')
            return
        except OSError as exc:
            self._error(inc, f'could not open file "{target}": {exc.strerror or exc}')
            return
        self.visit(target, text, note, depth + 1, stack + (real,))

    def _expand_rule(self, rule: HbaRule, depth: int) -> HbaRule:
        if not any(n.kind == "file" for n in rule.databases + rule.users):
            return rule
        databases = self._expand_names(rule.databases, False, depth, ())
        users = self._expand_names(rule.users, True, depth, ())
        return replace(rule, databases=databases, users=users)

    def _expand_names(
        self, names: tuple[HbaName, ...], users: bool, depth: int, stack: tuple[str, ...]
    ) -> tuple[HbaName, ...]:
        out: list[HbaName] = []
        modern = not self.legacy
        for name in names:
            if name.kind != "file":
                out.append(name)
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(name.path), name.name))
            real = os.path.realpath(target)
            problem = None
            if depth + 1 > MAX_INCLUDE_DEPTH or real in stack:
                problem = "maximum nesting depth exceeded" if real not in stack else "file includes itself"
            else:
                try:
                    text, note = read_text(target)
                except OSError as exc:
                    problem = exc.strerror or str(exc)
                else:
                    if note is not None:
                        self.diagnostics.append(note)
            if problem is not None:
                self.diagnostics.append(
                    Diagnostic(
                        name.path, name.line, name.column,
                        f'could not open secondary authentication file "{name.text}" as "{target}": {problem}',
                        "error", "include",
                    )
                )
                out.append(name)
                continue
            text, _ = strip_bom(text, target, consequence="")
            read: list[HbaName] = []
            for lline in _logical_lines(text, modern):
                for field in _fields(lline.text):
                    for tok in field:
                        read.append(_name(tok, users, modern, lline, target))
            out.extend(self._expand_names(tuple(read), users, depth + 1, stack + (real,)))
        return tuple(out)
