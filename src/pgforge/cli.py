"""The ``pgforge`` command line.

Only typer is imported at start-up; each command imports what it needs when it runs, so that
``pgforge generate`` does not pay for the audit, and ``pgforge profiles list`` not for Jinja2.
User errors (bad spec, existing file) print one line naming the field or file and exit 2.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

# pydantic scans every installed distribution for plugins at first use (~20 ms); pgforge uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402

app = typer.Typer(
    name="pgforge",
    help="Compute, write and audit a coherent PostgreSQL configuration for a host.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
profiles_app = typer.Typer(help="Bundled host profiles.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")


class OutFormat(str, Enum):
    conf = "conf"
    sql = "sql"
    json = "json"
    yaml = "yaml"


# -- spec options shared by generate and explain ----------------------------------------------
ProfileOpt = Annotated[Optional[str], typer.Option("--profile", "-p", help="Bundled profile name or a profile file.")]
SpecOpt = Annotated[Optional[str], typer.Option("--spec", "-s", help="Spec file (YAML or JSON); '-' reads stdin.")]
MemoryOpt = Annotated[Optional[str], typer.Option("--memory", "-m", help="RAM: 16GB, 16GiB, 512MB, 7.5GB or bytes.")]
CpusOpt = Annotated[Optional[str], typer.Option("--cpus", "-c", help="CPU cores available to PostgreSQL.")]
StorageOpt = Annotated[Optional[str], typer.Option("--storage", help="ssd | nvme | hdd | san")]
WorkloadOpt = Annotated[Optional[str], typer.Option("--workload", "-w", help="web | oltp | dw | mixed | desktop")]
VersionOpt = Annotated[Optional[str], typer.Option("--pg-version", "-V", help="PostgreSQL major: 13..18.")]
ConnOpt = Annotated[Optional[str], typer.Option("--connections", help="Client connections to size for.")]
OsOpt = Annotated[Optional[str], typer.Option("--os", help="linux | windows | macos")]
ExtOpt = Annotated[Optional[str], typer.Option("--extensions", help="Comma list, e.g. pg_stat_statements,auto_explain.")]
NameOpt = Annotated[Optional[str], typer.Option("--name", help="Host name, written into the files' headers.")]
DataSizeOpt = Annotated[Optional[str], typer.Option(
    "--data-size", help="Data the cluster holds: bytes such as 2TB, or less_than_ram | about_ram | more_than_ram.")]
AutoOpt = Annotated[bool, typer.Option("--auto", help="Detect memory, CPUs, storage, data size and PostgreSQL on this host.")]
DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (for --auto storage and version detection).")]


def _fail(exc: Exception) -> None:
    typer.echo(f"pgforge: error: {exc}", err=True)
    raise typer.Exit(2)


def spec_flags(memory, cpus, storage, workload, pg_version, connections, os_, extensions, name, data_size=None) -> dict:
    """The host flags as spec keys (None = not given); extensions arrive as a comma list."""
    return {"memory": memory, "cpus": cpus, "storage": storage, "workload": workload, "pg_version": pg_version,
            "connections": connections, "os": os_, "name": name, "data_size": data_size,
            "extensions": [e.strip() for e in extensions.split(",") if e.strip()] if extensions is not None else None}


def _spec(profile, spec_file, memory, cpus, storage, workload, pg_version, connections, os_, extensions, name,
          auto=False, data_dir=None, *, required: bool = True, data_size=None):
    """Merge the sources into a HostSpec; None when nothing describes a host and ``required`` is false."""
    from pgforge.spec.load import build_spec

    flags = spec_flags(memory, cpus, storage, workload, pg_version, connections, os_, extensions, name, data_size)
    if not required and not (profile or spec_file or auto or any(v is not None for v in flags.values())):
        return None
    extra = _detected(data_dir) if auto else None
    return build_spec(profile=profile, spec_file=spec_file, flags=flags, extra=extra)


def _detected(data_dir: Optional[Path]) -> dict:
    """Spec values detected on this host; what could not be detected is said on stderr."""
    import os

    from pgforge.detect import detect_host

    det = detect_host(Path("/"), data_dir, env=dict(os.environ))
    for note in det.notes:
        typer.echo(f"pgforge: detect: {note.field}: {note.message}", err=True)
    for field, why in det.undetected.items():
        typer.echo(f"pgforge: detect: {field}: not detected ({why}); the default is used", err=True)
    keep = ("memory", "cpus", "storage", "pg_version", "pg_build", "data_size")
    return {k: v for k, v in det.values.items() if k in keep}


@app.command()
def generate(
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
    data_dir: DataDirOpt = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write the bundle into this directory.")] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="conf | sql (ALTER SYSTEM) | json | yaml (Patroni/CNPG).")] = OutFormat.conf,
    force: Annotated[bool, typer.Option("--force", help="Replace existing files (each is backed up first).")] = False,
    inventory: Annotated[Optional[Path], typer.Option("--inventory", "-i", help="Ansible inventory: one bundle per host under -o DIR.")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Worker processes for --inventory (default: the CPUs available).")] = None,
) -> None:
    """Compute the settings for a host and write them (stdout, or a bundle with -o)."""
    from pgforge.errors import UserError

    if output is not None and not output.strip():
        # Path("") is ".": an empty -o (an unset variable in a script) must not mean this directory.
        _fail(UserError("is empty; name the directory to write into (-o . for the current one)", "-o/--output"))
    output = Path(output) if output is not None else None
    if inventory is not None:
        from pgforge.fleet import run_cli

        if output is None:
            _fail(UserError("--inventory writes one bundle per host: give -o DIR", "--inventory"))
        raise typer.Exit(run_cli(inventory, output, force=force, jobs=jobs, fmt=fmt.value,
                                 summary="json" if fmt is OutFormat.json else "table"))
    try:
        host = _spec(profile, spec, memory, cpus, storage, workload, pg_version, connections, os_, extensions, name, auto, data_dir,
                     data_size=data_size)
        from pgforge.tuning import tune

        tuning = tune(host)
        if output is None:
            from pgforge.render.formats import render_format

            sys.stdout.write(render_format(tuning, fmt.value))
            from pgforge.render.escape import comment_text

            for w in tuning.warnings:
                typer.echo(f"pgforge: warning: {comment_text(w)}", err=True)
            return
        from pgforge.bundle import build_bundle
        from pgforge.writer import write_bundle

        from pgforge.bundle import bundle_warnings

        files = build_bundle(tuning, formats=(fmt.value,) if fmt is not OutFormat.conf else ())
        result = write_bundle(output, files, force=force)
        warnings = bundle_warnings(tuning)
    except UserError as exc:
        _fail(exc)
        return
    from pgforge.render.escape import comment_text

    for w in warnings:
        typer.echo(f"pgforge: warning: {comment_text(w)}", err=True)  # one line each, whatever a value holds
    for p in result.written:
        typer.echo(f"wrote {p}", err=True)
    for p in result.unchanged:
        typer.echo(f"unchanged {p}", err=True)
    for p in result.backups:
        typer.echo(f"backed up the previous file as {p}", err=True)
    for p, was, now in result.tightened:
        typer.echo(f"tightened the mode of unchanged {p} from {was:04o} to {now:04o} (the bundle's)", err=True)
    restart = [s.name for s in tuning.settings if s.apply_action == "restart"]
    typer.echo(f"{len(tuning.settings)} settings; a restart is needed for: {', '.join(restart)}", err=True)


@app.command()
def explain(
    param: Annotated[Optional[str], typer.Argument(help="Parameter name, e.g. shared_buffers.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="List every rule.")] = False,
    budget: Annotated[bool, typer.Option("--budget", help="Draw the memory budget as a bar chart.")] = False,
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
    data_size: DataSizeOpt = None,
    auto: AutoOpt = False,
) -> None:
    """Why a parameter gets its value: rule, rationale, source, inputs, restart or reload."""
    from pgforge.errors import UserError

    try:
        if not (param or all_ or budget):
            raise UserError("name a parameter, or use --all or --budget", "explain")
        host = _spec(profile, spec, memory, cpus, storage, workload, pg_version, connections, os_, extensions, None,
                     auto, required=budget, data_size=data_size)
        from pgforge import explain as ex

        if budget:
            from pgforge.tuning import tune

            sys.stdout.write(ex.budget_chart(tune(host).budget))
        if all_:
            sys.stdout.write(ex.explain_all(host))
        if param:
            sys.stdout.write(ex.explain_rule(param, host))
    except UserError as exc:
        _fail(exc)


class DetectFormat(str, Enum):
    yaml = "yaml"
    json = "json"


@app.command()
def detect(
    data_dir: DataDirOpt = None,
    fmt: Annotated[DetectFormat, typer.Option("--format", "-f", help="yaml (a spec you can edit) or json.")] = DetectFormat.yaml,
) -> None:
    """What pgforge sees on this host (memory and CPUs within cgroup limits, storage, PostgreSQL), as a spec."""
    import json
    import os

    from pgforge.detect import detect_host

    det = detect_host(Path("/"), data_dir, env=dict(os.environ))
    if fmt is DetectFormat.json:
        sys.stdout.write(json.dumps(det.to_dict(), indent=2) + "\n")
        return
    from pgforge.render.formats import render_detected_yaml

    sys.stdout.write(render_detected_yaml(det.values, [(n.field, n.message) for n in det.notes], det.undetected))


@profiles_app.command("list")
def profiles_list() -> None:
    """List the bundled profiles."""
    from pgforge.spec.load import list_profiles

    rows = list_profiles()
    width = max(len(n) for n, _ in rows)
    for name, desc in rows:
        typer.echo(f"{name:<{width}}  {desc}")


@profiles_app.command("show")
def profiles_show(name: Annotated[str, typer.Argument(help="Profile name.")]) -> None:
    """Print a profile's spec (usable as --spec after editing)."""
    from pgforge.errors import UserError
    from pgforge.inputs import read_text
    from pgforge.spec.load import profile_path

    try:
        sys.stdout.write(read_text(profile_path(name)))  # a regular UTF-8 file only, bounded
    except UserError as exc:
        _fail(exc)


def main() -> None:
    from pgforge.commands import register_for

    register_for(app, sys.argv[1:])
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
