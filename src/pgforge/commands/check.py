"""``pgforge check`` (audit files or a live server) and ``pgforge rules`` (the check catalogue)."""

from __future__ import annotations

import sys
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Optional

import typer


class CheckFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


def _split(values: Optional[list[str]]) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check_cmd(
        paths: Annotated[Optional[list[Path]], typer.Argument(help="Directories, bundles or files to audit.")] = None,
        pg_version: Annotated[Optional[int], typer.Option("--pg-version", "-V", help="Major the files are for (13..18).")] = None,
        against: Annotated[Optional[str], typer.Option("--against", help="Spec file: report drift from what generate writes for it.")] = None,
        profile: Annotated[Optional[str], typer.Option("--profile", "-p", help="Bundled profile as the desired state (drift).")] = None,
        auto: Annotated[bool, typer.Option("--auto", help="Judge against this host, detected.")] = False,
        memory: Annotated[Optional[str], typer.Option("--memory", "-m", help="Host RAM, for performance checks.")] = None,
        cpus: Annotated[Optional[str], typer.Option("--cpus", "-c", help="Host CPUs, for performance checks.")] = None,
        storage: Annotated[Optional[str], typer.Option("--storage", help="Host storage, for performance checks.")] = None,
        workload: Annotated[Optional[str], typer.Option("--workload", "-w", help="Workload, for performance checks.")] = None,
        data_size: Annotated[Optional[str], typer.Option("--data-size", help="Data the cluster holds (2TB, or less_than_ram | about_ram | more_than_ram), for performance checks.")] = None,
        dsn: Annotated[Optional[str], typer.Option("--dsn", help="Audit a live server (libpq connection string or URI).")] = None,
        fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="text | json | sarif | github")] = CheckFormat.text,
        select: Annotated[Optional[list[str]], typer.Option("--select", help="Codes, prefixes, categories or rule sets.")] = None,
        ignore: Annotated[Optional[list[str]], typer.Option("--ignore", help="Codes, prefixes, categories or rule sets to skip.")] = None,
        fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Exit 1 when a finding reaches this severity.")] = FailOn.error,
        baseline: Annotated[Optional[Path], typer.Option("--baseline", help="Ignore findings listed in this baseline file.")] = None,
        write_baseline: Annotated[Optional[Path], typer.Option("--write-baseline", help="Write the current findings as a baseline and exit 0.")] = None,
        force: Annotated[bool, typer.Option("--force", help="With --write-baseline: replace an existing baseline file (backed up first).")] = False,
    ) -> None:
        """Audit configuration files or a live server: validity, durability, security, performance, drift."""
        from pgforge.errors import UserError

        try:
            code = _run(paths or [], pg_version, against, profile, auto, memory, cpus, storage, workload, dsn, fmt.value,
                        _split(select), _split(ignore), fail_on.value, baseline, write_baseline, force=force,
                        data_size=data_size)
        except UserError as exc:
            typer.echo(f"pgforge: error: {exc}", err=True)
            raise typer.Exit(2) from None
        raise typer.Exit(code)

    @app.command("rules")
    def rules_cmd(code: Annotated[Optional[str], typer.Argument(help="A check code (PGF012) or name for its full documentation.")] = None) -> None:
        """The catalogue of audit checks; with a code, that check's documentation."""
        from pgforge.audit.runner import RULE_SETS, load_checks

        checks = load_checks()
        if code:
            match = [c for c in checks.values() if c.code.upper() == code.upper() or c.name == code]
            if not match:
                typer.echo(f"pgforge: error: no check {code!r}; `pgforge rules` lists them", err=True)
                raise typer.Exit(2)
            c = match[0]
            sets = ", ".join((c.category,) + c.sets)
            sys.stdout.write(f"{c.code} {c.name}\nseverity: {c.severity}   category: {c.category}   sets: {sets}\n\n{c.doc}\n")
            return
        for c in sorted(checks.values(), key=lambda c: c.code):
            sys.stdout.write(f"{c.code}  {c.name:<34} {c.severity:<8} {c.category:<12} {c.summary}\n")
        sys.stdout.write("\nRule sets (--select NAME): " + "; ".join(f"{k}: {v}" for k, v in RULE_SETS.items()) + "\n")


def _host_spec(against, profile, auto, memory, cpus, storage, workload, major, data_size=None):
    """(spec, desired): the desired state for drift, or a host description for performance checks."""
    from pgforge.spec.load import build_spec

    flags = {"memory": memory, "cpus": cpus, "storage": storage, "workload": workload,
             "pg_version": major, "data_size": data_size}
    if against or profile:
        return build_spec(profile=profile, spec_file=against, flags=flags), True
    if auto:
        from pgforge.cli import _detected

        return build_spec(extra=_detected(None), flags=flags), True
    if memory or cpus:
        if not (memory and cpus):
            from pgforge.errors import UserError

            raise UserError("performance checks need both --memory and --cpus", "--memory/--cpus")
        return build_spec(flags=flags), False
    if data_size:
        from pgforge.errors import UserError

        raise UserError("a data size belongs to a host: give --memory and --cpus (or --against, --profile, --auto) too",
                        "--data-size")
    return None, False


def _cached_host_spec(against, profile, auto, memory, cpus, storage, workload, major, data_size=None):
    """_host_spec once per distinct major: a fleet of thousands of targets builds a handful of specs."""
    return _host_spec_cache(against, profile, auto, memory, cpus, storage, workload, major, data_size)


_host_spec_cache = lru_cache(maxsize=64)(_host_spec)


def _prepare_target(t, against, profile, auto, memory, cpus, storage, workload, pg_version, data_size=None) -> None:
    """Attach the host spec (desired state or host facts) to one target; module-level so worker
    processes can receive it."""
    spec, desired = _cached_host_spec(against, profile, auto, memory, cpus, storage, workload, pg_version or t.major,
                                      data_size)
    t.spec, t.desired = spec, desired
    if spec is not None and t.major is None and (against or profile):
        t.major, t.major_source = spec.pg_version, "the spec"


def _run(paths, pg_version, against, profile, auto, memory, cpus, storage, workload, dsn, fmt, select, ignore,
         fail_on, baseline, write_baseline, force: bool = False, data_size=None) -> int:
    from functools import partial

    from pgforge.audit import report
    from pgforge.audit.discover import plan_groups
    from pgforge.audit.runner import audit_groups, baseline_text, exit_status, read_baseline, run_checks, select_checks
    from pgforge.errors import UserError

    if not paths and not dsn:
        raise UserError("give files or directories to audit, or --dsn for a live server", "check")
    checks = select_checks(select, ignore)
    accepted = read_baseline(baseline) if baseline else None
    host = (against, profile, auto, memory, cpus, storage, workload)
    if any(host) or data_size:
        _cached_host_spec(*host, pg_version, data_size)  # a bad spec or flag is reported before any file is read
    prepare = partial(_prepare_target, against=against, profile=profile, auto=auto, memory=memory, cpus=cpus,
                      storage=storage, workload=workload, pg_version=pg_version, data_size=data_size)
    if dsn:
        from pgforge.audit.live import live_target

        target = live_target(dsn)
        prepare(target)
        outcome = run_checks([target], checks, baseline=accepted)
    else:
        explicit = len(paths) > 1 and all(p.is_file() for p in paths)
        groups = plan_groups(list(paths), explicit_group=explicit)
        outcome = audit_groups(groups, checks, major=pg_version, prepare=prepare, baseline=accepted)
    if write_baseline:
        # Through the one writer: an existing file is replaced only with --force (and backed up,
        # keeping its mode), a device, directory or link at the name is refused, nothing half-written.
        from pgforge.writer import write_file

        path = Path(write_baseline)
        result = write_file(path, baseline_text(outcome.findings), mode=0o644, keep_mode=True, force=force)
        verb = "kept the identical baseline" if result.unchanged else "wrote a baseline"
        typer.echo(f"{verb} of {len(outcome.findings)} finding(s) to {path}", err=True)
        for p in result.backups:
            typer.echo(f"backed up the previous baseline as {p}", err=True)
        return 0
    sys.stdout.write(report.render(fmt, outcome, checks))
    return exit_status(outcome.findings, fail_on)
