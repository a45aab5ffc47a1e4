"""A live server as an audit target: ``pgforge check --dsn ...``.

The same checks run against a live server because :class:`~pgforge.audit.target.Target` reads
settings through one interface: here they come from ``pg_settings`` instead of parsed files.
What the server tells depends on the role, and the audit takes what it is given:

* ``pg_settings``: every role sees most values; ``sourcefile``/``sourceline`` (which file and line
  set a value) only superusers and members of ``pg_read_all_settings``. Known places become the
  finding's location, so a finding on a live server still points at ``postgresql.conf:42``;
  otherwise it points at the server itself (the DSN, password removed).
* ``pg_file_settings``: lines of the configuration files the server could not apply (superuser
  by default); reported as parse errors at their file and line.
* ``pg_hba_file_rules``: pg_hba.conf as the server reads it from disk (superuser by default);
  rebuilt into parsed rules so the pg_hba.conf checks run unchanged, at the server's own file
  (``file_name`` on PostgreSQL 16+, else the ``hba_file`` setting) and line. The view drops the
  quotes of a quoted keyword (a database named ``"all"`` reads as the keyword ``all``) and column
  positions; everything else survives.

Needs psycopg 3 (``pip install 'pgforge[live]'``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pgforge.audit.target import LiveInfo, Target
from pgforge.errors import UserError
from pgforge.parsers.pgconf import Setting

#: Sources whose values describe this session, not the server's configuration.
_SESSION_SOURCES = frozenset({"default", "client", "session", "interactive", "test"})


def dsn_label(dsn: str) -> str:
    """The DSN without its password, for messages and finding locations."""
    try:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
    except ImportError:  # pragma: no cover - psycopg is the live extra
        return "<dsn>"
    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - an unparsable DSN is reported when connecting
        return "<dsn>"
    params.pop("password", None)
    return make_conninfo(**{k: str(v) for k, v in params.items()})


def _connect(dsn: str):
    try:
        import psycopg
    except ImportError:
        raise UserError("live mode needs psycopg 3: pip install 'pgforge[live]'", "--dsn") from None
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name="pgforge-check")
    except psycopg.Error as exc:
        raise UserError(f"cannot connect: {str(exc).strip()}", "--dsn") from None


def _try(conn, sql: str) -> list[tuple] | None:
    """Rows of ``sql``, or None when the role may not read them (autocommit: nothing to roll back)."""
    import psycopg

    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    except psycopg.errors.InsufficientPrivilege:
        return None
    except psycopg.Error:
        return None


def live_target(dsn: str) -> Target:
    """Read a running server into a Target: its settings with their files and lines, the file
    errors it reports, and its pg_hba.conf rules when the role may read them."""
    label = dsn_label(dsn)
    with _connect(dsn) as conn:
        version_num = conn.info.server_version
        rows = _try(conn, "SELECT name, setting, source, sourcefile, sourceline FROM pg_settings") or []
        file_rows = _try(conn, "SELECT sourcefile, sourceline, name, error FROM pg_file_settings WHERE error IS NOT NULL")
        major = version_num // 10000
        hba_cols = ("rule_number, file_name, line_number" if major >= 16 else "line_number, NULL, line_number")
        hba_rows = _try(conn, f"SELECT {hba_cols}, type, database, user_name, address, netmask, auth_method, options, "
                              "error FROM pg_hba_file_rules ORDER BY line_number")
        version = _try(conn, "SHOW server_version")
    info = LiveInfo(dsn=label, server_version=version[0][0] if version else str(version_num),
                    hba_rules_visible=hba_rows is not None)
    settings: dict[str, Setting] = {}
    hba_file = None
    for name, value, source, sourcefile, sourceline in rows:
        if name == "hba_file":
            hba_file = value
        if source in _SESSION_SOURCES or value is None:
            continue
        path, line = (sourcefile, int(sourceline)) if sourcefile and sourceline else (label, 0)
        settings[name] = Setting(name, name, value, value, False, path, line, 0, 0)
    for sourcefile, sourceline, name, error in file_rows or ():
        info.file_errors.append((sourcefile or label, int(sourceline or 0), f"{name or 'line'}: {error}"))
    t = Target(label=label, major=major, major_source=f"the server ({info.server_version})", live=info,
               live_settings=settings)
    if hba_rows is not None:
        t.hba = _hba_from_rows(hba_rows, hba_file or label, info, major)
    return t


def _field(items: list[str] | None) -> str:
    """A database/user list as pg_hba.conf text (names with spaces or commas quoted)."""
    out = []
    for item in items or []:
        out.append(f'"{item}"' if any(c in item for c in ' \t,"#') else item)
    return ",".join(out) or '""'


def _hba_from_rows(rows: list[tuple], default_file: str, info: LiveInfo, major: int):
    """pg_hba_file_rules rows as an HbaSet, each rule at the server's own file and line."""
    from pgforge.parsers.hba import HbaSet, parse_hba

    rules = []
    for _rule_number, file_name, line_number, typ, dbs, users, address, netmask, method, options, error in rows:
        path, line = file_name or default_file, int(line_number or 0)
        if error is not None:
            info.file_errors.append((path, line, f"pg_hba.conf: {error}"))
            continue
        opts = " ".join(_option(o) for o in options or [])
        addr = "" if typ == "local" else _address(address, netmask)
        text = f"{typ} {_field(dbs)} {_field(users)} {addr} {method} {opts}".strip()
        parsed = parse_hba(text, path, before_pg16=major < 16)
        for rule in parsed.rules:
            rules.append(_relocate(rule, path, line))
    return HbaSet(default_file, (), tuple(rules), ())


def _address(address: str | None, netmask: str | None) -> str:
    """The view's address and netmask columns as CIDR when the mask is contiguous (as most are written)."""
    import ipaddress

    if not netmask:
        return address or "all"
    try:
        network = ipaddress.ip_network(f"{address}/{netmask}", strict=False)
    except ValueError:
        return f"{address} {netmask}"
    return f"{address}/{network.prefixlen}"


def _option(option: str) -> str:
    name, _, value = option.partition("=")
    return f'{name}="{value}"' if any(c in value for c in " \t,#") else option


def _relocate(rule: Any, path: str, line: int) -> Any:
    """A rule parsed from a synthesised line, moved to where the server read it (columns unknown)."""
    names = lambda items: tuple(replace(n, path=path, line=line, column=0) for n in items)  # noqa: E731
    address = rule.address
    if address is not None:
        address = replace(address, line=line, column=0,
                          mask_line=line if address.mask else None, mask_column=0 if address.mask else None)
    options = tuple(replace(o, line=line, column=0) for o in rule.options)
    return replace(rule, databases=names(rule.databases), users=names(rule.users), address=address, options=options,
                   path=path, line=line, column=0, method_line=line, method_column=0, end_line=line)
