"""The database and user fields and the ``name=value`` options of a pg_hba.conf line in a spec.

Part of :mod:`pgforge.spec.grammar` (the spec's input grammars; escaping where values leave is
:mod:`pgforge.render.escape`). The section that uses them is :mod:`pgforge.spec.access`; the
written file is :mod:`pgforge.bundle.pg_hba` (escaped by :func:`pgforge.render.escape.hba_token`); the
server's own reading of the file is :mod:`pgforge.parsers.hba`.
"""

from __future__ import annotations

import re
import unicodedata

from pgforge.spec.grammar.text import _full, show


_HBA_TOKEN = _full(r"[+@]?[A-Za-z_][A-Za-z0-9_$.-]{0,62}")
_HBA_OPTION_KEY = _full(r"[a-z_]{1,40}")


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
