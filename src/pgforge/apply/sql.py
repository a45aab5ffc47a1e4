"""ALTER SYSTEM over a connection, for servers whose files pgforge cannot reach.

:func:`read_server_state` reads what the server's configuration files say (pg_settings,
pg_file_settings), :func:`plan_sql` turns the difference into ALTER SYSTEM statements and
:func:`execute_sql` runs them. The previous ``postgresql.auto.conf`` values are saved to a JSON
file first (under :func:`default_state_dir`) so ``--rollback`` can set them back
(:func:`rollback_statements`).
"""

from __future__ import annotations

import difflib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pgforge import __version__
from pgforge.apply.datadir import atomic_write
from pgforge.apply.plan import ApplyPlan, SettingChange, select_settings
from pgforge.apply.values import canonical, split_list
from pgforge.catalog import LIST_SETTINGS
from pgforge.errors import UserError
from pgforge.render.escape import conf_string, sql_ident as _sql_ident, sql_literal as _sql_literal
from pgforge.tuning import Tuning


def alter_system(name: str, value: str | None) -> str:
    """``ALTER SYSTEM SET name = value`` (or ``RESET`` for None); list settings get one literal per element."""
    if value is None:
        return f"ALTER SYSTEM RESET {_sql_ident(name)}"
    if name in LIST_SETTINGS:
        rhs = ", ".join(_sql_literal(v) for v in split_list(value)) or "''"
    else:
        rhs = _sql_literal(value)
    return f"ALTER SYSTEM SET {_sql_ident(name)} = {rhs}"


@dataclass(frozen=True)
class ServerState:
    """What a live server reports: its major, and per setting where its value comes from."""

    major: int
    settings: dict[str, str]  # pg_settings.setting: a bare number is in the setting's base unit
    files: dict[str, tuple[str, str]]  # name -> (value as written, "file:line"), the last one read
    outside_auto: dict[str, str]  # name -> value from files other than postgresql.auto.conf
    auto_conf: dict[str, str]  # name -> value in postgresql.auto.conf
    sources: dict[str, str]  # pg_settings.source


def read_server_state(conn) -> ServerState:
    """Query pg_settings and pg_file_settings (the latter needs superuser or pg_read_all_settings)."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int / 10000")
        major = int(cur.fetchone()[0])
        cur.execute("SELECT name, setting, source FROM pg_settings")
        settings: dict[str, str] = {}
        sources: dict[str, str] = {}
        for name, setting, source in cur.fetchall():
            settings[name] = setting
            sources[name] = source
        cur.execute("SELECT sourcefile, sourceline, name, setting FROM pg_file_settings ORDER BY seqno")
        files: dict[str, tuple[str, str]] = {}
        outside: dict[str, str] = {}
        auto: dict[str, str] = {}
        for sourcefile, sourceline, name, value in cur.fetchall():
            if name is None:
                continue
            files[name] = (value, f"{sourcefile}:{sourceline}")
            if sourcefile and sourcefile.endswith("postgresql.auto.conf"):
                auto[name] = value
            else:
                outside[name] = value
    return ServerState(major, settings, files, outside, auto, sources)


def plan_sql(t: Tuning, state: ServerState, *, target: str, include_site: bool = False,
             exclude: Iterable[str] = ()) -> ApplyPlan:
    """ALTER SYSTEM statements that bring the server's configured values to ``t``'s.

    "Configured" is what the configuration files say (pg_file_settings, postgresql.auto.conf last),
    not what the server runs with: a restart-only setting changed by a previous apply but not yet
    in effect is not set again.
    """
    if state.major != t.spec.pg_version:
        raise UserError(f"the server is PostgreSQL {state.major} but the settings were tuned for {t.spec.pg_version}; "
                        f"drop --pg-version or set it to {state.major}", target)
    settings, excluded, warnings = select_settings(t, existing=state.outside_auto, include_site=include_site,
                                                   exclude=exclude)
    catalog = t.catalog
    changes: list[SettingChange] = []
    statements: list[str] = []
    previous: dict[str, str | None] = {}
    old_lines: dict[str, str] = {n: f"{n} = {conf_string(v)}" for n, v in state.auto_conf.items()}
    new_lines = dict(old_lines)
    for s in settings:
        if s.name in state.files:
            old, where = state.files[s.name]
            compare: str | None = old
        else:
            old, where = None, f"server ({state.sources.get(s.name, 'not set')})"
            compare = state.settings.get(s.name)
        if compare is not None and canonical(catalog, s.name, compare) == canonical(catalog, s.name, s.display):
            continue
        changes.append(SettingChange(s.name, old, where, s.display, s.apply_action))
        statements.append(alter_system(s.name, s.display))
        previous[s.name] = state.auto_conf.get(s.name)
        new_lines[s.name] = f"{s.name} = {conf_string(s.display)}"
        if state.sources.get(s.name) == "command line":
            warnings.append(f"{s.name} is set on the server's command line, which wins over ALTER SYSTEM")
    header = "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n"
    before = header + "".join(line + "\n" for line in old_lines.values())
    after = header + "".join(line + "\n" for line in new_lines.values())
    diff = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        "a/postgresql.auto.conf", "b/postgresql.auto.conf")) if statements else ""
    return ApplyPlan("sql", target, settings, changes, statements=statements, excluded=excluded, warnings=warnings,
                     sql_diff=diff, previous_auto=previous)


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "pgforge" / "alter-system"


def execute_sql(plan: ApplyPlan, conn, *, state_dir: Path | None = None, reload: bool = False) -> Path | None:
    """Save the previous auto.conf values, then run the statements (each commits on its own)."""
    if plan.noop:
        if reload:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_reload_conf()")
        return None
    state_dir = state_dir or default_state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    record = {"pgforge_version": __version__, "target": plan.target, "previous": plan.previous_auto,
              "settings": [c.to_dict() for c in plan.changes]}
    path = state_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
    atomic_write(path, (json.dumps(record, indent=2) + "\n").encode(), 0o600, os.geteuid(), os.getegid())
    with conn.cursor() as cur:
        for statement in plan.statements:
            cur.execute(statement)
        if reload:
            cur.execute("SELECT pg_reload_conf()")
    return path


def rollback_statements(record_path: Path) -> list[str]:
    """The ALTER SYSTEM statements that put back what ``execute_sql`` saved in ``record_path``."""
    try:
        from pgforge.inputs import read_bytes

        record = json.loads(read_bytes(record_path))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the saved state: {exc}", str(record_path)) from None
    previous = record.get("previous") if isinstance(record, dict) else None
    if not isinstance(previous, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                                 for k, v in previous.items()):
        raise UserError("not a pgforge ALTER SYSTEM record (previous: a mapping of setting names to values)",
                        str(record_path))
    return [alter_system(name, value) for name, value in previous.items()]


def latest_sql_record(state_dir: Path | None = None) -> Path | None:
    state_dir = state_dir or default_state_dir()
    records = sorted(p for p in state_dir.glob("*.json")) if state_dir.is_dir() else []
    return records[-1] if records else None
