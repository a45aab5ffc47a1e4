"""SQL identifiers, publication tables, database and role names as PgBouncer takes them bare, and
PgBouncer versions.

Part of :mod:`pgforge.spec.grammar` (the spec's input grammars; escaping where values leave is
:mod:`pgforge.render.escape`). Names are written quoted by
:func:`pgforge.render.escape.sql_ident` and :func:`pgforge.render.escape.pgbouncer_key`.
"""

from __future__ import annotations

from pgforge.spec.grammar.text import _full, show


_SQL_IDENT = _full(r"[a-z_][a-z0-9_]{0,62}")
_QUALIFIED = _full(r"[a-z_][a-z0-9_]{0,62}(?:\.[a-z_][a-z0-9_]{0,62})?")
_PLAIN_DB = _full(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
_ROLE = _full(r"[A-Za-z_][A-Za-z0-9_.$-]{0,62}")


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
