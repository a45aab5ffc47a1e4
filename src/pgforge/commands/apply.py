"""``pgforge apply``: put the tuned settings into an existing cluster (data directory or ALTER SYSTEM).

The command is glue: :mod:`pgforge.apply` plans and writes, :mod:`pgforge.hugepages` sizes huge
pages. Here: building the spec (the cluster's own major wins), asking before writing, printing the
diff on stdout and the rest on stderr (or one JSON object with ``--format json``, which is what the
Ansible module reads), and exit codes: 0 done or nothing to do, 1 the server refused the result
(the change is rolled back) or a reload failed, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from pgforge.cli import (
    AutoOpt,
    ConnOpt,
    CpusOpt,
    DataSizeOpt,
    ExtOpt,
    MemoryOpt,
    NameOpt,
    OsOpt,
    ProfileOpt,
    SpecOpt,
    StorageOpt,
    VersionOpt,
    WorkloadOpt,
    spec_flags,
)


class ApplyFormat(str, Enum):
    text = "text"
    json = "json"


def register(app: typer.Typer) -> None:
    @app.command("apply")
    def apply_cmd(
        data_dir: Annotated[Optional[Path], typer.Option("--data-dir", "-D", help="Data directory of the cluster to tune.")] = None,
        dsn: Annotated[Optional[str], typer.Option("--dsn", help="Apply with ALTER SYSTEM over this connection instead (libpq string or URI).")] = None,
        config_file: Annotated[Optional[Path], typer.Option("--config-file", help="postgresql.conf when it is not in the data directory (found automatically on Debian).")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff and what would need a restart; change nothing.")] = False,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before writing.")] = False,
        reload: Annotated[bool, typer.Option("--reload", help="Reload the server afterwards (pg_ctl reload / pg_reload_conf()).")] = False,
        rollback: Annotated[bool, typer.Option("--rollback", help="Restore what the last apply replaced, byte for byte.")] = False,
        backup: Annotated[Optional[Path], typer.Option("--backup", help="With --rollback: this backup (directory, or ALTER SYSTEM record) instead of the newest.")] = None,
        site: Annotated[bool, typer.Option("--site", help="Also apply listen_addresses, port, timezone, log_timezone, lc_messages.")] = False,
        exclude: Annotated[Optional[str], typer.Option("--exclude", help="Comma list of settings to leave alone.")] = None,
        bindir: Annotated[Optional[Path], typer.Option("--bindir", help="Directory of the cluster's postgres and pg_ctl (found from the running server otherwise).")] = None,
        state_dir: Annotated[Optional[Path], typer.Option("--state-dir", help="With --dsn: where previous values are saved for --rollback.")] = None,
        fmt: Annotated[ApplyFormat, typer.Option("--format", "-f", help="text (diff on stdout) | json (one object on stdout).")] = ApplyFormat.text,
        profile: ProfileOpt = None,
        spec: SpecOpt = None,
        memory: MemoryOpt = None,
        cpus: CpusOpt = None,
        storage: StorageOpt = None,
        workload: WorkloadOpt = None,
        pg_version: VersionOpt = None,
        connections: ConnOpt = None,
        os_: OsOpt = None,
        extensions: ExtOpt = None,
        name: NameOpt = None,
        data_size: DataSizeOpt = None,
        auto: AutoOpt = False,
    ) -> None:
        """Write the tuned settings into a cluster as conf.d/pgforge.conf (or ALTER SYSTEM), with diff, backup and rollback."""
        from pgforge.errors import UserError

        flags = spec_flags(memory, cpus, storage, workload, pg_version, connections, os_, extensions, name, data_size)
        opts = _Opts(data_dir=data_dir, dsn=dsn, config_file=config_file, dry_run=dry_run, yes=yes, reload=reload,
                     site=site, exclude=[e for e in (exclude or "").split(",") if e.strip()], bindir=bindir,
                     state_dir=state_dir, json=fmt is ApplyFormat.json, backup=backup)
        try:
            if (data_dir is None) == (dsn is None):
                raise UserError("name the cluster with --data-dir or --dsn (one of them)", "apply")
            if rollback:
                code = _rollback_sql(opts) if dsn else _rollback_datadir(opts)
            else:
                code = _apply(opts, profile, spec, flags, auto)
        except OSError as exc:  # unreadable data directory, permissions: the user's to fix
            exc = UserError(f"{exc.strerror or exc}; run as the data directory's owner or root",
                            str(exc.filename or data_dir or "apply"))
            if opts.json:
                sys.stdout.write(json.dumps({"failed": True, "error": str(exc)}) + "\n")
            typer.echo(f"pgforge: error: {exc}", err=True)
            raise typer.Exit(2) from None
        except UserError as exc:
            if opts.json:
                sys.stdout.write(json.dumps({"failed": True, "error": str(exc)}) + "\n")
            typer.echo(f"pgforge: error: {exc}", err=True)
            raise typer.Exit(2) from None
        raise typer.Exit(code)


class _Opts:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    data_dir: Path | None
    dsn: str | None
    config_file: Path | None
    dry_run: bool
    yes: bool
    reload: bool
    site: bool
    exclude: list[str]
    bindir: Path | None
    state_dir: Path | None
    json: bool
    backup: Path | None


def _say(opts: _Opts, message: str) -> None:
    """Human messages go to stderr, in every format (stdout carries only the diff or the JSON)."""
    typer.echo(f"pgforge: {message}", err=True)


def _confirm(opts: _Opts, question: str) -> None:
    from pgforge.errors import UserError

    if opts.yes:
        return
    if opts.json or not sys.stdin.isatty():
        raise UserError("not asking on a non-interactive run: pass --yes to write, or --dry-run to only look", "apply")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(1)


def _build_tuning(profile, spec_file, flags: dict, auto: bool, data_dir: Path | None, major: int):
    from pgforge.errors import UserError
    from pgforge.spec.load import build_spec
    from pgforge.tuning import tune

    flags = {k: v for k, v in flags.items() if v is not None}
    if "pg_version" in flags and str(flags["pg_version"]).strip() != str(major):
        raise UserError(f"the cluster is PostgreSQL {major}; --pg-version {flags['pg_version']} does not match it",
                        "--pg-version")
    extra: dict[str, Any] = {}
    if auto:
        from pgforge.cli import _detected

        extra.update(_detected(data_dir))
    extra["pg_version"] = major
    if not (profile or spec_file or auto or {"memory", "cpus"} <= flags.keys()):
        raise UserError("describe the host: --auto, --profile, --spec, or at least --memory and --cpus", "apply")
    return tune(build_spec(profile=profile, spec_file=spec_file, flags=flags, extra=extra))


def _settings_table(plan) -> list[str]:
    if not plan.changes:
        return []
    width = max(len(c.name) for c in plan.changes)
    rows = []
    for c in plan.changes:
        old = c.old if c.old is not None else "(default)"
        where = f" ({c.old_where})" if c.old is not None else ""
        rows.append(f"  {c.name:<{width}}  {old}{where} -> {c.new}{'  [restart]' if c.action == 'restart' else ''}")
    return rows


def _report_plan(opts: _Opts, plan, huge) -> None:
    if opts.json:
        return
    diff = plan.diff()
    if diff:
        sys.stdout.write(diff)
        sys.stdout.flush()
    for w in plan.warnings:
        _say(opts, f"warning: {w}")
    if plan.excluded:
        reasons: dict[str, list[str]] = {}
        for n, why in plan.excluded:
            reasons.setdefault(why, []).append(n)
        for why, names in reasons.items():
            _say(opts, f"not applied: {', '.join(names)} ({why})")
    if plan.noop:
        _say(opts, f"nothing to change: {plan.target} already has these {len(plan.settings)} settings")
    else:
        restart, reload = plan.restart, plan.reload
        _say(opts, f"{len(plan.changes)} setting(s) change: {len(restart)} need a restart, {len(reload)} take effect on reload")
        for row in _settings_table(plan):
            typer.echo(row, err=True)
    if huge is not None:
        for line in huge.describe().splitlines():
            _say(opts, line.strip() if line.startswith("  ") else line)


def _huge_pages(opts: _Opts, plan, tuning, bindir: Path | None, major: int):
    from pgforge import hugepages

    page_size, available = hugepages.host_huge_pages() if opts.data_dir is not None else (None, None)
    page_size = page_size or hugepages.DEFAULT_PAGE_SIZE
    if opts.data_dir is not None and bindir is not None and plan.config_file is not None and major >= 15:
        from pgforge.apply import data_dir_owner

        overrides = {s.name: s.display for s in plan.settings if s.apply_action == "restart"}
        exact = hugepages.exact_huge_pages(bindir, plan.data_dir, plan.config_file, overrides,
                                           owner=data_dir_owner(plan.data_dir), page_size=page_size,
                                           available=available, major=major)
        if not isinstance(exact, str):
            return exact
        estimate = hugepages.for_tuning(tuning, page_size, available)
        return hugepages.HugePages(estimate.pages, estimate.page_size, estimate.shared_memory, False,
                                   f"{estimate.source} ({exact})", available)
    return hugepages.for_tuning(tuning, page_size, available)


def _apply(opts: _Opts, profile, spec_file, flags: dict, auto: bool) -> int:
    if opts.dsn:
        return _apply_sql(opts, profile, spec_file, flags, auto)
    from pgforge import apply as ap
    from pgforge.progress import status

    quiet = opts.json
    data_dir = opts.data_dir.resolve()
    conf = ap.find_config_file(data_dir, opts.config_file)
    major = ap.data_dir_major(data_dir)
    tuning = _build_tuning(profile, spec_file, flags, auto, data_dir, major)
    bindir, bin_source = ap.find_bindir(data_dir, major, opts.bindir)
    libdir = ap.libdir_for(bindir) if bindir is not None else None
    plan = ap.plan_datadir(tuning, data_dir, config_file=conf, include_site=opts.site, exclude=opts.exclude,
                           libdir=libdir)
    if bindir is None:
        plan.warnings.append(f"{bin_source}: the result is not checked by the server, and it cannot be reloaded")
    if libdir is None and bindir is not None:
        plan.warnings.append(f"the server's library directory was not found beside {bindir}: preload libraries are not checked")
    status("sizing huge pages", enabled=False if quiet else None)
    huge = _huge_pages(opts, plan, tuning, bindir, major)
    _report_plan(opts, plan, huge)
    result: dict[str, Any] = {**plan.to_dict(), "dry_run": opts.dry_run, "applied": False, "backup": None,
                              "reloaded": False, "huge_pages": huge.to_dict(), "pg_version": major,
                              "bindir": str(bindir) if bindir else None}
    code = 0
    if opts.dry_run or plan.noop:
        if not quiet and opts.dry_run and not plan.noop:
            _say(opts, "dry run: nothing written")
    else:
        _confirm(opts, f"Write {len(plan.files)} file(s) under {plan.config_file.parent}?")
        status("writing (backing up first)", enabled=False if quiet else None)
        done = ap.execute(plan)
        result.update(applied=True, backup=str(done.backup))
        refused = None
        if bindir is not None:
            status("checking the result with the server's own parser (postgres -C)", enabled=False if quiet else None)
            refused = ap.server_check(bindir, data_dir, plan.config_file)
        if refused:
            undo = ap.plan_rollback(plan.config_file, done.backup, data_dir=data_dir)
            ap.execute_rollback(undo)
            result.update(applied=False, failed=True, error=f"the server refused the new configuration: {refused}",
                          rolled_back=True)
            _say(opts, f"error: the server refused the new configuration, so it was rolled back: {refused}")
            code = 1
        else:
            if not quiet:
                for p in done.written:
                    _say(opts, f"wrote {p}")
                _say(opts, f"backup of what was replaced: {done.backup} (pgforge apply --rollback restores it)")
    if opts.reload and result["applied"]:
        sent, message = ap.reload_server(bindir, data_dir) if bindir is not None else (False, "no pg_ctl found")
        result.update(reloaded=sent, reload_message=message)
        if not quiet:
            _say(opts, message)
        if not sent and "not running" not in message:
            code = 1
    if result["applied"] and plan.restart and not quiet:
        _say(opts, f"restart needed for {', '.join(plan.restart)}: pg_ctl restart -D {data_dir} "
                   f"(or the service manager, e.g. systemctl restart postgresql@{major}-main)")
    if quiet:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return code


def _rollback_datadir(opts: _Opts) -> int:
    from pgforge import apply as ap

    data_dir = opts.data_dir.resolve()
    conf = ap.find_config_file(data_dir, opts.config_file)
    plan = ap.plan_rollback(conf, opts.backup, data_dir=data_dir)
    result: dict[str, Any] = {**plan.to_dict(), "dry_run": opts.dry_run, "applied": False, "reloaded": False}
    if not opts.json:
        sys.stdout.write(plan.diff())
        for p in plan.modified_since:
            _say(opts, f"warning: {p} changed since pgforge wrote it; rolling back discards that change")
    if opts.dry_run:
        if not opts.json:
            _say(opts, f"dry run: would restore {plan.backup}")
    else:
        _confirm(opts, f"Restore the files saved in {plan.backup}?")
        ap.execute_rollback(plan)
        result["applied"] = True
        if not opts.json:
            _say(opts, f"restored the files saved in {plan.backup}")
        restart = [s["name"] for s in plan.settings if s.get("action") == "restart"]
        if opts.reload:
            bindir, _ = ap.find_bindir(data_dir, ap.data_dir_major(data_dir), opts.bindir)
            sent, message = ap.reload_server(bindir, data_dir) if bindir else (False, "no pg_ctl found")
            result.update(reloaded=sent, reload_message=message)
            if not opts.json:
                _say(opts, message)
        if restart and not opts.json:
            _say(opts, f"restart needed for {', '.join(restart)} to go back as well")
        result["restart"] = restart
    if opts.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


# -- ALTER SYSTEM ----------------------------------------------------------------------------------


def _connect(dsn: str):
    from pgforge.errors import UserError

    try:
        import psycopg
    except ImportError:
        raise UserError("--dsn needs psycopg 3: pip install 'pgforge[live]'", "--dsn") from None
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise UserError(f"cannot connect: {str(exc).strip()}", "--dsn") from None


def _target(conn) -> str:
    info = conn.info
    return f"host={info.host} port={info.port} dbname={info.dbname}"


def _apply_sql(opts: _Opts, profile, spec_file, flags: dict, auto: bool) -> int:
    import psycopg

    from pgforge import apply as ap
    from pgforge import hugepages
    from pgforge.errors import UserError

    with _connect(opts.dsn) as conn:
        try:
            state = ap.read_server_state(conn)
        except psycopg.Error as exc:
            raise UserError(f"cannot read the server's settings ({str(exc).strip()}); connect as a superuser "
                            "or a member of pg_read_all_settings", "--dsn") from None
        tuning = _build_tuning(profile, spec_file, flags, auto, None, state.major)
        target = _target(conn)
        plan = ap.plan_sql(tuning, state, target=target, include_site=opts.site, exclude=opts.exclude)
        huge = hugepages.for_tuning(tuning)
        _report_plan(opts, plan, huge)
        result: dict[str, Any] = {**plan.to_dict(), "dry_run": opts.dry_run, "applied": False, "backup": None,
                                  "reloaded": False, "huge_pages": huge.to_dict(), "pg_version": state.major}
        if not (opts.dry_run or plan.noop):
            _confirm(opts, f"Run {len(plan.statements)} ALTER SYSTEM statement(s) on {target}?")
            try:
                record = ap.execute_sql(plan, conn, state_dir=opts.state_dir, reload=opts.reload)
            except psycopg.Error as exc:
                raise UserError(f"ALTER SYSTEM failed: {str(exc).strip()}", "--dsn") from None
            result.update(applied=True, backup=str(record), reloaded=opts.reload)
            if not opts.json:
                _say(opts, f"ran {len(plan.statements)} ALTER SYSTEM statement(s); previous values saved in {record}")
                if opts.reload:
                    _say(opts, "server asked to reload (pg_reload_conf())")
                if plan.restart:
                    _say(opts, f"restart needed for {', '.join(plan.restart)}")
        elif opts.dry_run and not opts.json and not plan.noop:
            _say(opts, "dry run: nothing run")
    if opts.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


def _rollback_sql(opts: _Opts) -> int:
    import psycopg

    from pgforge import apply as ap
    from pgforge.errors import UserError

    record = opts.backup or ap.latest_sql_record(opts.state_dir)
    if record is None:
        raise UserError(f"no saved ALTER SYSTEM state in {opts.state_dir or ap.default_state_dir()}", "--rollback")
    statements = ap.rollback_statements(record)
    if not opts.json:
        for s in statements:
            sys.stdout.write(s + ";\n")
    applied = False
    if not opts.dry_run:
        _confirm(opts, f"Run {len(statements)} statement(s) to restore the values saved in {record}?")
        with _connect(opts.dsn) as conn, conn.cursor() as cur:
            try:
                for s in statements:
                    cur.execute(s)
                if opts.reload:
                    cur.execute("SELECT pg_reload_conf()")
            except psycopg.Error as exc:
                raise UserError(f"rollback failed: {str(exc).strip()}", "--dsn") from None
        record.rename(record.with_name(record.name + ap.ROLLED_BACK))
        applied = True
    if opts.json:
        sys.stdout.write(json.dumps({"backup": str(record), "statements": statements, "applied": applied,
                                     "changed": applied, "dry_run": opts.dry_run}) + "\n")
    elif applied:
        _say(opts, f"restored the values saved in {record}")
    return 0
