"""The input grammars of a spec: what each kind of string field may hold, checked where it enters.

Every value of a spec ends up in some output (postgresql.conf, pg_hba.conf, pgbouncer.ini, shell
scripts, cron lines, SQL), so each string field has a grammar here and is refused with a message
naming what is wrong when it does not fit (only spaces around list commas and between cron fields
are tidied; nothing else is repaired). Every check matches the whole string (``re.fullmatch`` or
an explicit parse): Python's ``$`` also matches before a final ``"\\n"``, which is how ``"app\\n"``
once passed a pattern anchored with ``^...$``.

This module is the first layer: the values that pass are plain. The second layer is the escaping
for each output's grammar where values leave (src/pgforge/render/ and src/pgforge/parts/). The
spec models that use these types are src/pgforge/spec.py and src/pgforge/sections/.

Each ``check_*`` function returns the value (sometimes normalised, as said in its docstring) or
raises ValueError with a message a DBA can act on; pydantic adds the field path and
pgforge.specload the file:line. The ``Annotated`` types below apply them to pydantic fields.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

__all__ = [
    "AwsCli", "Bucket", "CidrOrKeyword", "CronSchedule", "DnsSuffix", "EndpointUrl", "HbaOptionKey", "HbaOptionValue",
    "HostName", "HostOrIp", "IpAddress", "ListenAddress", "PgBouncerDbName", "PgBouncerListen",
    "PgBouncerVersion", "PlainDbName", "QualifiedTable", "RoleName", "S3Prefix", "S3Region", "SafePath",
    "Prose", "ShortLine", "SingleLine", "SqlIdentifier", "Stanza", "TimeZone",
]

CRON_WORDS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def show(value: str, limit: int = 60) -> str:
    """A value as it appears in a message: quoted, control characters visible, long ones cut."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _full(pattern: str) -> re.Pattern[str]:
    """A pattern that is only ever used with fullmatch (the whole string, no trailing newline)."""
    return re.compile(pattern)


# --------------------------------------------------------------------------- free text
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


# --------------------------------------------------------------------------- host names and addresses
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = _full(rf"{_LABEL}(?:\.{_LABEL})*")
_IP_CHARS = _full(r"[0-9A-Fa-f:.]+")
_ZONE = _full(r"[A-Za-z0-9_.-]{1,15}")


def is_host_name(value: str) -> bool:
    """RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 1-63 characters
    each, at most 253 in all; the last label is not all digits (RFC 3696 2: ``10.0.0.300`` is a
    mistyped address, not a name). No trailing dot, no underscore, no spaces."""
    if len(value) > 253 or not _HOST_NAME.fullmatch(value):
        return False
    return not value.rsplit(".", 1)[-1].isdigit()


def check_host_name(value: str) -> str:
    """A host name per RFC 1123 (see :func:`is_host_name`)."""
    if not is_host_name(value):
        raise ValueError(f"{show(value)} is not a host name: use letters, digits, hyphens and dots "
                         "(RFC 1123, such as db1.example.com)")
    return value


def is_ip_address(value: str) -> bool:
    """An IPv4 (dotted quad, no leading zeros) or IPv6 address, without a zone or mask."""
    if not _IP_CHARS.fullmatch(value):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def check_ip_address(value: str) -> str:
    """An IPv4 or IPv6 address (no ``%zone``, no ``/mask``)."""
    if not is_ip_address(value):
        raise ValueError(f"{show(value)} is not an IP address (such as 10.0.0.5 or 2001:db8::5)")
    return value


def check_host_or_ip(value: str) -> str:
    """Where a client connects to: an IP address or an RFC 1123 host name. It lands in libpq
    connection strings, pgbouncer.ini and pg_hba.conf, so nothing else is allowed."""
    if is_ip_address(value) or is_host_name(value):
        return value
    raise ValueError(f"{show(value)} is neither an IP address nor a host name: give an address such as 10.0.0.5 "
                     "or a name of letters, digits, hyphens and dots such as db1.example.com")


def check_listen_address(value: str) -> str:
    """One entry of PostgreSQL's ``listen_addresses``: ``*``, a host name, or an IP address, an
    IPv6 one optionally with its ``%interface`` zone (fe80::1%eth0)."""
    if value == "*" or is_host_name(value) or is_ip_address(value):
        return value
    addr, sep, zone = value.partition("%")
    if sep and is_ip_address(addr) and ":" in addr and _ZONE.fullmatch(zone):
        return value
    raise ValueError(f"listen address {show(value)}: give '*', a host name or an IP address")


def check_pgbouncer_listen(value: str) -> str:
    """PgBouncer's ``listen_addr``: ``*``, ``localhost`` or IP addresses, comma-separated. Spaces
    around the commas are dropped (the value is returned as ``a,b``); any other whitespace is refused."""
    parts = [p.strip(" ") for p in value.split(",")]
    for part in parts:
        if part in ("*", "localhost") or is_ip_address(part):
            continue
        raise ValueError(f"listen_addr {show(part)}: give '*', 'localhost' or IP addresses, comma-separated")
    return ",".join(parts)


def check_dns_suffix(value: str) -> str:
    """A pg_hba.conf address that starts with a dot: every host whose name ends in that suffix
    (``.example.com``). After the dot, an RFC 1123 host name."""
    if not value.startswith(".") or not is_host_name(value[1:]):
        raise ValueError(f"{show(value)} is not a DNS suffix: a leading dot then a domain name of letters, "
                         "digits, hyphens and dots, such as .example.com")
    return value


def check_cidr(value: str) -> str:
    """A network in CIDR form, strictly (no host bits set: ``10.0.1.5/24`` is refused). A bare
    address becomes a one-host network (``10.0.2.10`` -> ``10.0.2.10/32``): pg_hba.conf would look
    a bare address up as a host name."""
    if not _full(r"[0-9A-Fa-f:./]+").fullmatch(value):
        raise ValueError(f"not a valid CIDR address: {show(value)} (a network such as 10.0.1.0/24)")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not a valid CIDR address: {exc}") from None
    return network.with_prefixlen


def check_hba_address(value: str) -> str:
    """The address field of a pg_hba.conf host line: ``all``, ``samehost``, ``samenet``, a DNS
    suffix (``.example.com``) or a CIDR network (see :func:`check_cidr`, which normalises bare
    addresses). Host names are refused: they match only when forward and reverse DNS agree."""
    if value in ("all", "samehost", "samenet"):
        return value
    if value.startswith("."):
        return check_dns_suffix(value)
    return check_cidr(value)


# --------------------------------------------------------------------------- pg_hba tokens, SQL and PgBouncer names
_HBA_TOKEN = _full(r"[+@]?[A-Za-z_][A-Za-z0-9_$.-]{0,62}")
_HBA_OPTION_KEY = _full(r"[a-z_]{1,40}")
_SQL_IDENT = _full(r"[a-z_][a-z0-9_]{0,62}")
_QUALIFIED = _full(r"[a-z_][a-z0-9_]{0,62}(?:\.[a-z_][a-z0-9_]{0,62})?")
_PLAIN_DB = _full(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
_ROLE = _full(r"[A-Za-z_][A-Za-z0-9_.$-]{0,62}")


def hba_tokens(value: str, what: str) -> str:
    """A pg_hba.conf database or user field: comma-separated elements, each a keyword (all,
    sameuser, samerole, samegroup, replication), a name, ``+group`` or ``@file``, in the form
    pg_hba.conf takes without quotes (letters, digits, ``_ $ . -``, at most 63). Spaces around
    commas are dropped; the value is returned as ``a,b``."""
    parts = [p.strip(" ") for p in value.split(",")]
    for part in parts:
        if not _HBA_TOKEN.fullmatch(part):
            raise ValueError(f"{what} {show(part)}: use names of letters, digits and _ $ . - (comma-separated), "
                             "or +group / @file")
    return ",".join(parts)


def check_hba_option_key(value: str) -> str:
    """The name of a pg_hba.conf option (``clientcert``, ``map``, ``ldapserver``...): lower-case letters and _."""
    if not _HBA_OPTION_KEY.fullmatch(value):
        raise ValueError(f"option name {show(value)} is not a pg_hba.conf option")
    return value


def check_hba_option_value(value: str) -> str:
    """The value of a pg_hba.conf option: one line of printable text, without a double quote (pg_hba.conf
    has no way to escape one) or a backslash (one at the end of a line continues it). Spaces are allowed
    (an LDAP suffix needs them); the line is written with the value quoted."""
    if not value:
        raise ValueError("an option value cannot be empty")
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs") or ch in '"\\':
            raise ValueError(f"option value {show(value)}: a value cannot hold a double quote, a backslash "
                             "or a line break or other control character")
    return value


# Per option: the methods it is valid for (PostgreSQL's hba.c refuses it elsewhere: "authentication
# option X is only valid for authentication methods ...") and the grammar of its value.
_BOOL01 = _full(r"[01]")
_HOST_LIST = _full(r"[A-Za-z0-9.:_-]+(?:[ ,][A-Za-z0-9.:_-]+)*")
_PORT_LIST = _full(r"[0-9]{1,5}(?:,[0-9]{1,5})*")
_LDAP_URL = _full(r"ldaps?://[A-Za-z0-9.:\[\]_-]*(?:/[A-Za-z0-9=,._ ()*?&%+-]*)?")
_MAP_NAME = _full(r"[A-Za-z0-9_.-]{1,63}")
HBA_OPTIONS: dict[str, tuple[frozenset[str] | None, re.Pattern[str] | None, str]] = {
    "clientcert": (None, _full(r"verify-ca|verify-full"), "verify-ca or verify-full"),
    "clientname": (None, _full(r"CN|DN"), "CN or DN"),
    "map": (frozenset({"peer", "ident", "gss", "sspi", "cert"}), _MAP_NAME, "a pg_ident.conf map name"),
    "pamservice": (frozenset({"pam"}), _MAP_NAME, "a PAM service name"),
    "pam_use_hostname": (frozenset({"pam"}), _BOOL01, "0 or 1"),
    "ldapurl": (frozenset({"ldap"}), _LDAP_URL, "an ldap:// or ldaps:// URL"),
    "ldapserver": (frozenset({"ldap"}), _HOST_LIST, "host names separated by spaces"),
    "ldapport": (frozenset({"ldap"}), _full(r"[0-9]{1,5}"), "a port number"),
    "ldapscheme": (frozenset({"ldap"}), _full(r"ldap|ldaps"), "ldap or ldaps"),
    "ldaptls": (frozenset({"ldap"}), _BOOL01, "0 or 1"),
    "ldapbasedn": (frozenset({"ldap"}), None, ""),
    "ldapbinddn": (frozenset({"ldap"}), None, ""),
    "ldapsearchattribute": (frozenset({"ldap"}), _full(r"[A-Za-z][A-Za-z0-9-]*"), "an LDAP attribute name"),
    "ldapsearchfilter": (frozenset({"ldap"}), None, ""),
    "ldapprefix": (frozenset({"ldap"}), None, ""),
    "ldapsuffix": (frozenset({"ldap"}), None, ""),
    "krb_realm": (frozenset({"gss", "sspi"}), _full(r"[A-Za-z0-9._-]+"), "a Kerberos realm"),
    "include_realm": (frozenset({"gss", "sspi"}), _BOOL01, "0 or 1"),
    "compat_realm": (frozenset({"sspi"}), _BOOL01, "0 or 1"),
    "upn_username": (frozenset({"sspi"}), _BOOL01, "0 or 1"),
    "radiusservers": (frozenset({"radius"}), _HOST_LIST, "host names separated by commas"),
    "radiusports": (frozenset({"radius"}), _PORT_LIST, "port numbers separated by commas"),
    "radiusidentifiers": (frozenset({"radius"}), None, ""),
}
#: Options whose value is a password: pgforge writes no secret into a generated file.
HBA_SECRET_OPTIONS = ("ldapbindpasswd", "radiussecrets")


def check_hba_option(name: str, value: str, method: str) -> None:
    """One pg_hba.conf option of a line with ``method``: a name PostgreSQL knows, valid for that
    method, and a value of its grammar (free-text options: :func:`check_hba_option_value`)."""
    if name in HBA_SECRET_OPTIONS:
        raise ValueError(f"option {name} holds a password, and pgforge writes no secret into a generated file: "
                         "add it to the installed pg_hba.conf by hand (mode 0600)")
    if name not in HBA_OPTIONS:
        raise ValueError(f"option {show(name)} is not a pg_hba.conf option: known are {', '.join(sorted(HBA_OPTIONS))}")
    methods, grammar, what = HBA_OPTIONS[name]
    if methods is not None and method not in methods:
        raise ValueError(f"option {name} is only valid for method {' or '.join(sorted(methods))}, not {method} "
                         "(PostgreSQL refuses the line)")
    if grammar is not None and not grammar.fullmatch(value):
        raise ValueError(f"option {name} {show(value)}: give {what}")


def check_sql_identifier(value: str) -> str:
    """A lower-case SQL identifier usable without quotes (and as a replication slot name):
    ``[a-z_][a-z0-9_]*``, at most 63 characters (NAMEDATALEN - 1)."""
    if not _SQL_IDENT.fullmatch(value):
        raise ValueError(f"{show(value)}: use a lower-case name of letters, digits and _ "
                         "(starting with a letter or _, at most 63)")
    return value


def check_qualified_table(value: str) -> str:
    """A table for a publication: ``table`` or ``schema.table``, each a lower-case SQL identifier."""
    if not _QUALIFIED.fullmatch(value):
        raise ValueError(f"table name {show(value)}: use lower-case [schema.]table")
    return value


def check_plain_db_name(value: str) -> str:
    """A database name that is also a file name, an object key and a bare PgBouncer key: letters,
    digits, ``_ . -``, not starting with ``.`` or ``-``, at most 63 (PgBouncer 1.18 cannot quote
    names in [databases])."""
    if not _PLAIN_DB.fullmatch(value):
        raise ValueError(f"database name {show(value)}: use letters, digits and _ . - "
                         "(starting with a letter, digit or _, at most 63; PgBouncer takes these unquoted)")
    return value


def check_role_name(value: str) -> str:
    """A role name as PgBouncer's admin_users/stats_users and userlist.txt take it: letters, digits,
    ``_ . $ -``, starting with a letter or _, at most 63."""
    if not _ROLE.fullmatch(value):
        raise ValueError(f"user name {show(value)} is not a plain role name: use letters, digits and _ . $ - "
                         "(starting with a letter or _, at most 63)")
    return value


def check_pgbouncer_version(value: str) -> str:
    """A PgBouncer version ``MAJOR.MINOR[.PATCH]`` (1.18, 1.24.1), exactly, with nothing around it."""
    if not _full(r"[0-9]{1,3}\.[0-9]{1,3}(?:\.[0-9]{1,3})?").fullmatch(value):
        raise ValueError(f"PgBouncer version {show(value)} is not MAJOR.MINOR[.PATCH] (such as 1.18 or 1.24.1)")
    return value


# --------------------------------------------------------------------------- paths, schedules, storage
_SAFE_PATH = _full(r"/[A-Za-z0-9._/+=@-]{0,1023}")


def check_safe_path(value: str) -> str:
    """An absolute path usable unquoted in a shell command and inside a postgresql.conf, pgbouncer.ini
    or pgbackrest.conf value: ``/`` then letters, digits and ``. _ / + = @ -``, no ``//``, ``.`` or
    ``..`` components, at most 1024 characters. A trailing slash is dropped."""
    if not value.startswith("/"):
        raise ValueError(f"{show(value)}: give an absolute path (starting with /); relative paths depend on "
                         "the working directory of whoever runs the program")
    if not _SAFE_PATH.fullmatch(value):
        raise ValueError(f"{show(value)}: a path here may hold only letters, digits and . _ / + = @ - "
                         "(no spaces, quotes, line breaks or shell characters)")
    if "//" in value or "/../" in value + "/" or "/./" in value + "/":
        raise ValueError("must be a plain absolute path (no //, . or .. components)")
    return value.rstrip("/") or "/"


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: (what, lowest, highest, names that stand for lowest, lowest+1, ...)
_CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
                ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS))
_CRON_ITEM = _full(r"(?:\*|(?P<a>[0-9]{1,2}|[A-Za-z]{3})(?:-(?P<b>[0-9]{1,2}|[A-Za-z]{3}))?)"
                   r"(?:/(?P<step>[0-9]{1,2}))?")


def _cron_number(text: str, what: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text.isdigit():
        number = int(text)
    elif text.lower() in names:
        number = low + names.index(text.lower())
    else:
        raise ValueError(f"{what} {text!r} is not a number" + (f" or a name ({', '.join(names)})" if names else ""))
    if not low <= number <= high:
        raise ValueError(f"{what} {number} is out of range {low}-{high}")
    return number


def _cron_field(field: str, what: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for item in field.split(","):
        m = _CRON_ITEM.fullmatch(item)
        if not m:
            raise ValueError(f"{what} {item!r} is not cron syntax (*, N, N-M, */S, N-M/S, comma-separated)")
        if m["a"] is not None:
            a = _cron_number(m["a"], what, low, high, names)
            if m["b"] is not None:
                b = _cron_number(m["b"], what, low, high, names)
                if a > b:
                    raise ValueError(f"{what} range {item!r} runs backwards")
            elif m["step"] is not None:
                raise ValueError(f"{what} {item!r}: a step needs * or a range before it (*/S or N-M/S)")
        if m["step"] is not None and not 1 <= int(m["step"]) <= high - low + 1:
            raise ValueError(f"{what} step {m['step']!r} must be between 1 and {high - low + 1}")


def check_cron_schedule(value: str) -> str:
    """The time part of a crontab line, and nothing else: five fields (minute, hour, day of month,
    month, day of week), each ``*``, a number, a range ``N-M``, a step ``*/S`` or ``N-M/S``, or a
    comma list of those, with numbers in the field's range (month and day names such as ``jan`` and
    ``mon-fri`` where cron takes them); or one of the words @yearly @annually @monthly @weekly
    @daily @midnight @hourly alone. The user and command of the line come from pgforge only.
    ``@reboot`` is refused: it runs once when cron starts, which is not a backup schedule. Fields are
    separated by spaces; the value is returned with single spaces."""
    fields = value.split(" ")
    fields = [f for f in fields if f]
    if len(fields) == 1 and fields[0].startswith("@"):
        word = fields[0]
        if word == "@reboot":
            raise ValueError("@reboot runs once when cron starts, not on a schedule: give five cron fields "
                             "(such as 30 2 * * *) or @daily, @weekly...")
        if word not in CRON_WORDS:
            raise ValueError(f"{show(value)} is not a cron word: use one of {' '.join(CRON_WORDS)} "
                             "or five cron fields")
        return word
    if len(fields) != 5 or not _full(r"[0-9A-Za-z*,/ -]+").fullmatch(value):
        raise ValueError(f"{show(value)} is not a cron schedule: give the five time fields only (minute hour "
                         "day-of-month month day-of-week, such as 30 2 * * *) or one of "
                         f"{' '.join(CRON_WORDS)} alone")
    for field, (what, low, high, names) in zip(fields, _CRON_FIELDS):
        _cron_field(field, what, low, high, names)
    return " ".join(fields)


_BUCKET = _full(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_bucket(value: str) -> str:
    """An S3 bucket name by AWS's rules: 3-63 characters of lower-case letters, digits, dots and
    hyphens, starting and ending with a letter or digit, no ``..``, not shaped like an IP address,
    not starting with ``xn--`` or ``sthree-`` and not ending with ``-s3alias`` or ``--ol-s3``."""
    if not _BUCKET.fullmatch(value):
        raise ValueError(f"bucket {show(value)}: 3-63 lower-case letters, digits, dots and hyphens, "
                         "starting and ending with a letter or digit")
    if ".." in value:
        raise ValueError(f"bucket {show(value)}: two dots in a row are not allowed in a bucket name")
    if _full(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}").fullmatch(value):
        raise ValueError(f"bucket {show(value)}: a bucket name cannot be shaped like an IP address")
    if value.startswith(("xn--", "sthree-")) or value.endswith(("-s3alias", "--ol-s3")):
        raise ValueError(f"bucket {show(value)}: the prefixes xn-- and sthree- and the suffixes -s3alias and "
                         "--ol-s3 are reserved by AWS")
    return value


_S3_PREFIX = _full(r"[A-Za-z0-9._/=+-]{0,1024}")


def check_s3_prefix(value: str) -> str:
    """A key prefix inside a bucket: letters, digits and ``. _ / = + -``, path-like (no empty, ``.`` or
    ``..`` components). Leading and trailing slashes are dropped."""
    if not _S3_PREFIX.fullmatch(value):
        raise ValueError(f"prefix {show(value)}: use letters, digits and . _ / = + - (no spaces or quotes)")
    value = value.strip("/")
    if "//" in value or any(part in (".", "..") for part in value.split("/")):
        raise ValueError("an S3 prefix is path-like: no empty, . or .. components")
    return value


_URL = _full(r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
             r"(?P<path>/[A-Za-z0-9._/-]*)?")


def check_endpoint_url(value: str) -> str:
    """An S3-compatible endpoint: ``http(s)://host[:port][/path]``, the host a name or an IP address
    (IPv6 in brackets), the port 1-65535, the path of letters, digits and ``. _ / -``."""
    m = _URL.fullmatch(value)
    bad = m is None
    if m is not None:
        host = m["host"]
        bad = not (is_ip_address(host[1:-1]) and ":" in host if host.startswith("[") else
                   is_ip_address(host) or is_host_name(host))
        bad = bad or (m["port"] is not None and not 1 <= int(m["port"]) <= 65535)
    if bad:
        raise ValueError(f"endpoint_url {show(value)}: give http(s)://host[:port][/path], such as "
                         "https://s3.eu-west-1.amazonaws.com or http://10.0.0.5:9000")
    return value


def check_s3_region(value: str) -> str:
    """A region name such as ``eu-west-1``: lower-case letters, digits and inner hyphens, at most 32."""
    if not _full(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?").fullmatch(value):
        raise ValueError(f"region {show(value)}: use lower-case letters, digits and hyphens, such as eu-west-1")
    return value


def check_aws_cli(value: str) -> str:
    """The aws CLI as a command word: a plain program name found on PATH (``aws``) or an absolute
    :func:`safe path <check_safe_path>`."""
    if value.startswith("/"):
        return check_safe_path(value)
    if not _full(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,63}").fullmatch(value):
        raise ValueError(f"aws_cli {show(value)}: give a program name such as aws or an absolute path")
    return value


def check_stanza(value: str) -> str:
    """A pgBackRest stanza name: letters, digits and ``_ . -``, starting with a letter, digit or _, at most 64."""
    if not _full(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}").fullmatch(value):
        raise ValueError(f"stanza {show(value)}: use letters, digits and _ . - (starting with a letter, digit or _)")
    return value


def check_timezone(value: str) -> str:
    """A time zone as PostgreSQL's ``timezone`` takes it from the tz database: ``UTC``,
    ``Europe/Paris``, ``America/Argentina/Buenos_Aires``, ``Etc/GMT+5``: components of letters,
    digits and ``_ + -`` separated by single slashes, at most 64 characters."""
    part = r"[A-Za-z0-9_+-]+"
    if len(value) > 64 or not _full(rf"{part}(?:/{part})*").fullmatch(value):
        raise ValueError(f"time zone {show(value)}: give a tz database name such as UTC or Europe/Paris")
    return value


# --------------------------------------------------------------------------- the pydantic types
SingleLine = Annotated[str, AfterValidator(check_single_line)]
ShortLine = Annotated[str, StringConstraints(max_length=200), AfterValidator(check_single_line)]
"""A name: one line of at most 200 characters."""
Prose = Annotated[str, StringConstraints(max_length=2000), AfterValidator(check_prose)]
"""A description: plain text of at most 2000 characters, line breaks and tabs allowed."""
HostName = Annotated[str, AfterValidator(check_host_name)]
IpAddress = Annotated[str, AfterValidator(check_ip_address)]
HostOrIp = Annotated[str, AfterValidator(check_host_or_ip)]
ListenAddress = Annotated[str, AfterValidator(check_listen_address)]
PgBouncerListen = Annotated[str, AfterValidator(check_pgbouncer_listen)]
DnsSuffix = Annotated[str, AfterValidator(check_dns_suffix)]
CidrOrKeyword = Annotated[str, AfterValidator(check_hba_address)]
HbaOptionKey = Annotated[str, AfterValidator(check_hba_option_key)]
HbaOptionValue = Annotated[str, AfterValidator(check_hba_option_value)]
SqlIdentifier = Annotated[str, AfterValidator(check_sql_identifier)]
QualifiedTable = Annotated[str, AfterValidator(check_qualified_table)]
PlainDbName = Annotated[str, AfterValidator(check_plain_db_name)]
PgBouncerDbName = PlainDbName
RoleName = Annotated[str, AfterValidator(check_role_name)]
PgBouncerVersion = Annotated[str, AfterValidator(check_pgbouncer_version)]
SafePath = Annotated[str, AfterValidator(check_safe_path)]
CronSchedule = Annotated[str, AfterValidator(check_cron_schedule)]
Bucket = Annotated[str, AfterValidator(check_bucket)]
S3Prefix = Annotated[str, AfterValidator(check_s3_prefix)]
EndpointUrl = Annotated[str, AfterValidator(check_endpoint_url)]
S3Region = Annotated[str, AfterValidator(check_s3_region)]
AwsCli = Annotated[str, AfterValidator(check_aws_cli)]
Stanza = Annotated[str, AfterValidator(check_stanza)]
TimeZone = Annotated[str, AfterValidator(check_timezone)]
