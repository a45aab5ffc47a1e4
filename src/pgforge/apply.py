"""Putting tuned settings into an existing cluster without disturbing what is already there.

Two ways in, both planned first and carried out only on request:

* **Data directory** (:func:`plan_datadir`, :func:`execute`): the settings go into one drop-in
  file, ``conf.d/pgforge.conf``, next to ``postgresql.conf``. When postgresql.conf has no
  ``include_dir`` yet, one line is appended at its end, so every existing line and comment stays
  byte for byte as it was and the drop-in is read after everything in the main file. Each write is
  atomic (a temporary file renamed into place, owner and mode preserved), and what is replaced is
  first copied into ``.pgforge-backup/<stamp>/`` beside postgresql.conf with a manifest, which
  :func:`plan_rollback` / :func:`execute_rollback` restore byte for byte.
* **ALTER SYSTEM over a connection** (:func:`plan_sql`, :func:`execute_sql`): for servers whose
  files pgforge cannot reach. The previous ``postgresql.auto.conf`` values are saved to a JSON file
  so ``--rollback`` can set them back.

A plan compares *values*, not text, against what the server's configuration files say today (the
catalog normalises ``4GB`` and ``524288`` on an 8kB setting to the same thing), so running apply
twice changes nothing the second time. It says which changed settings need a restart and which a
reload (the catalog's context), and which settings were left out and why: the site settings
(``listen_addresses``, ``port``, ``timezone``...) an existing cluster already has are not touched
unless asked, and a library missing from the server's ``$libdir`` is never added to
``shared_preload_libraries``, which would stop the server at its next start.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgforge import __version__
from pgforge.catalog import LIST_SETTINGS, Catalog
from pgforge.errors import UserError
from pgforge.tuning import Setting, Tuning
from pgforge.writer import fsync_dir

DROPIN_DIR = "conf.d"
DROPIN_NAME = "pgforge.conf"
BACKUP_DIR = ".pgforge-backup"
MANIFEST = "manifest.json"
ROLLED_BACK = ".rolled-back"

#: Settings that describe the site rather than the load: an existing cluster already has them and
#: changing them moves clients (port, listen_addresses) or timestamps (timezone). Left out unless
#: the caller asks for them.
SITE_SETTINGS = ("listen_addresses", "port", "timezone", "log_timezone", "lc_messages")


INCLUDE_COMMENT = "# Added by pgforge apply: read the drop-in files in conf.d/ (pgforge writes conf.d/pgforge.conf)."


# ============================================================================================
# Values


def split_list(text: str) -> list[str]:
    """``'a, "b"'`` -> ``['a', 'b']``: the elements of a list setting, quotes and blanks removed."""
    return [part.strip().strip('"') for part in text.split(",") if part.strip().strip('"')]


def canonical(catalog: Catalog, name: str, text: str) -> Any:
    """A form of a setting's value in which equal values compare equal (``4GB`` == ``524288``)."""
    from pgforge.parsers.values import parse_bool as parse_pg_bool
    from pgforge.units import UnitError

    text = text.strip()
    if name in LIST_SETTINGS:
        return tuple(split_list(text))
    guc = catalog.get(name)
    if guc is None:
        return text
    if guc.vartype == "bool":
        parsed = parse_pg_bool(text)
        return parsed if parsed is not None else text
    if guc.vartype == "enum":
        return text.lower()
    if guc.vartype in ("integer", "real"):
        try:
            value = guc.to_base(text)
        except UnitError:
            return text
        return round(value) if guc.vartype == "integer" else round(value, 9)
    return text


def default_display(catalog: Catalog, name: str) -> str | None:
    """The compiled-in default of ``name`` as a person reads it (``128MB`` rather than ``16384``)."""
    from pgforge.units import format_bytes_pg

    guc = catalog.get(name)
    if guc is None:
        return None
    if guc.is_memory and guc.boot_val.lstrip("-").isdigit() and int(guc.boot_val) > 0:
        nbytes = int(guc.boot_val) * guc.unit_bytes()
        if nbytes % 1024 == 0:
            return format_bytes_pg(nbytes)
    if guc.unit and guc.boot_val and not guc.is_memory and guc.boot_val.lstrip("-").isdigit():
        return f"{guc.boot_val}{guc.unit}"
    return guc.boot_val


# ============================================================================================
# Plans


@dataclass(frozen=True)
class FileChange:
    """One file to create or replace. ``old`` is None for a file that does not exist yet."""

    path: Path
    old: bytes | None
    new: bytes
    mode: int
    uid: int
    gid: int

    @property
    def action(self) -> str:
        return "create" if self.old is None else "modify"

    def diff(self) -> str:
        old = (self.old or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        new = self.new.decode("utf-8", errors="replace").splitlines(keepends=True)
        before = "/dev/null" if self.old is None else f"a{self.path}"
        text = "".join(difflib.unified_diff(old, new, before, f"b{self.path}"))
        return text if text.endswith("\n") or not text else text + "\n\\ No newline at end of file\n"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "action": self.action, "diff": self.diff(),
                "before": (self.old or b"").decode("utf-8", errors="replace"),
                "after": self.new.decode("utf-8", errors="replace")}


@dataclass(frozen=True)
class SettingChange:
    """A setting whose effective value changes: from where, to what, and what that takes."""

    name: str
    old: str | None  # None: not set anywhere, the server default applies
    old_where: str  # "postgresql.conf:64", "conf.d/pgforge.conf:12" or "default"
    new: str
    action: str  # restart | reload

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ApplyPlan:
    """Everything :func:`execute` will do, and everything the user should know before it does."""

    mode: str  # data_dir | sql
    target: str  # data directory, or the connection's description
    settings: list[Setting]  # what the drop-in (or ALTER SYSTEM) carries
    changes: list[SettingChange]
    files: list[FileChange] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)  # sql mode
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    shadowed: list[tuple[str, str, str]] = field(default_factory=list)  # (name, where, value)
    warnings: list[str] = field(default_factory=list)
    new_dirs: list[Path] = field(default_factory=list)
    config_file: Path | None = None
    data_dir: Path | None = None
    dropin: Path | None = None
    sql_diff: str = ""
    previous_auto: dict[str, str | None] = field(default_factory=dict)  # sql mode: for rollback

    @property
    def noop(self) -> bool:
        return not self.files and not self.statements

    @property
    def restart(self) -> list[str]:
        return [c.name for c in self.changes if c.action == "restart"]

    @property
    def reload(self) -> list[str]:
        return [c.name for c in self.changes if c.action != "restart"]

    def diff(self) -> str:
        if self.mode == "sql":
            return self.sql_diff
        return "".join(f.diff() for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "target": self.target,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "config_file": str(self.config_file) if self.config_file else None,
            "dropin": str(self.dropin) if self.dropin else None,
            "changed": not self.noop,
            "files": [f.to_dict() for f in self.files],
            "statements": list(self.statements),
            "settings": [c.to_dict() for c in self.changes],
            "restart_required": bool(self.restart),
            "restart": self.restart,
            "reload": self.reload,
            "excluded": [{"name": n, "reason": r} for n, r in self.excluded],
            "shadowed": [{"name": n, "where": w, "value": v} for n, w, v in self.shadowed],
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------
# Choosing what to write


def _library_file(libdir: Path, lib: str) -> bool:
    base = lib.removeprefix("$libdir/")
    return any((libdir / f"{base}{ext}").exists() for ext in (".so", ".dylib", ".dll", ""))


def select_settings(
    t: Tuning,
    *,
    existing: dict[str, str],
    include_site: bool = False,
    exclude: Iterable[str] = (),
    libdir: Path | None = None,
) -> tuple[list[Setting], list[tuple[str, str]], list[str]]:
    """The settings to write, the ones left out (with why), and warnings.

    ``existing`` maps names to the values set *outside* pgforge's own drop-in. Libraries already in
    ``shared_preload_libraries`` are kept (pgforge adds, never removes: dropping timescaledb from
    the list would break every database using it), and a library pgforge would add that is missing
    from ``libdir`` is left out together with its settings.
    """
    excluded: list[tuple[str, str]] = []
    warnings: list[str] = []
    skip = {n.strip().lower() for n in exclude if n.strip()}
    unknown = sorted(n for n in skip if t.get(n) is None)
    if unknown:
        warnings.append(f"--exclude names settings pgforge does not set: {', '.join(unknown)}")
    missing_libs: set[str] = set()
    out: list[Setting] = []
    for s in t.settings:
        if s.name in skip:
            excluded.append((s.name, "excluded on request"))
            continue
        if s.name in SITE_SETTINGS and not include_site:
            excluded.append((s.name, "site settings the cluster already has; --site applies them"))
            continue
        if s.name == "shared_preload_libraries":
            have = split_list(existing.get(s.name, ""))
            wanted = split_list(str(s.value))
            added = [lib for lib in wanted if lib not in have]
            if libdir is not None:
                for lib in added:
                    if not _library_file(libdir, lib):
                        missing_libs.add(lib)
                        warnings.append(f"{lib} is not installed in {libdir}: left out of shared_preload_libraries "
                                        f"(the server would refuse to start); install it and apply again")
            merged = have + [lib for lib in added if lib not in missing_libs]
            if not merged:
                excluded.append((s.name, "no library to preload"))
                continue
            if have and merged != wanted:
                warnings.append(f"shared_preload_libraries keeps what the cluster already loads: {', '.join(merged)}")
            s = dataclasses.replace(s, value=",".join(merged))
        out.append(s)
    if missing_libs:
        kept = []
        for s in out:
            prefix = s.name.split(".", 1)[0] if "." in s.name else None
            if prefix in missing_libs:
                excluded.append((s.name, f"{prefix} is not installed"))
            else:
                kept.append(s)
        out = kept
    return out, excluded, warnings


def render_dropin(t: Tuning, settings: Sequence[Setting], excluded: Sequence[tuple[str, str]]) -> str:
    """The drop-in file. Deterministic (no time stamp), so an unchanged tuning rewrites nothing."""
    from pgforge.units import format_bytes_human

    spec = t.spec
    who = f" for {spec.name}" if spec.name else ""
    lines = [
        f"# pgforge {__version__}: settings tuned{who}: {format_bytes_human(spec.memory)} RAM, {spec.cpus} CPUs, "
        f"{spec.storage.value}, {spec.workload.value}, PostgreSQL {spec.pg_version}",
        "# Written by `pgforge apply`: the next apply replaces this file and `pgforge apply --rollback`",
        "# restores what was here before. To override a value, set it in a file that sorts after this one",
        "# or with ALTER SYSTEM (postgresql.auto.conf is read last). [restart] marks settings that take",
        "# effect only when the server restarts; the rest apply on reload.",
    ]
    if excluded:
        lines.append("# Not set here: " + ", ".join(n for n, _ in excluded) + ".")
    for s in settings:
        lines.append("")
        lines.append(f"# {s.rationale}{' [restart]' if s.apply_action == 'restart' else ''}")
        lines.append(f"{s.name} = {s.text}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Data directory mode


def debian_config_file(data_dir: Path) -> Path | None:
    """``/etc/postgresql/17/main/postgresql.conf`` for ``/var/lib/postgresql/17/main`` (Debian's layout)."""
    parts = data_dir.parts
    if len(parts) >= 3:
        candidate = Path("/etc/postgresql") / parts[-2] / parts[-1] / "postgresql.conf"
        if candidate.is_file():
            return candidate
    return None


def find_config_file(data_dir: Path, config_file: Path | None = None) -> Path:
    """postgresql.conf of the cluster in ``data_dir``: explicit, in the data directory, or Debian's."""
    if config_file is not None:
        if not config_file.is_file():
            raise UserError("no such file", str(config_file))
        return config_file.resolve()
    if not (data_dir / "PG_VERSION").is_file():
        raise UserError("not a PostgreSQL data directory (no PG_VERSION file)", str(data_dir))
    inside = data_dir / "postgresql.conf"
    if inside.is_file():
        return inside.resolve()
    debian = debian_config_file(data_dir)
    if debian is not None:
        return debian.resolve()
    raise UserError("no postgresql.conf in the data directory; name it with --config-file", str(data_dir))


def data_dir_major(data_dir: Path) -> int:
    try:
        text = (data_dir / "PG_VERSION").read_text(encoding="utf-8").strip()
        return int(text.split(".")[0])
    except (OSError, ValueError):
        raise UserError("cannot read PG_VERSION (not a data directory?)", str(data_dir)) from None


def _owner_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def _where(path: str, line: int, base: Path) -> str:
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        rel = path
    return f"{path if rel.startswith('..') else rel}:{line}"


def plan_datadir(
    t: Tuning,
    data_dir: Path,
    *,
    config_file: Path | None = None,
    include_site: bool = False,
    exclude: Iterable[str] = (),
    libdir: Path | None = None,
) -> ApplyPlan:
    """What applying ``t`` to the cluster in ``data_dir`` would change. Reads files, writes nothing."""
    from pgforge.parsers.pgconf import load_pgconf, parse_pgconf

    data_dir = Path(data_dir).resolve()
    conf = find_config_file(data_dir, config_file)
    confdir = conf.parent
    major = data_dir_major(data_dir)
    if major != t.spec.pg_version:
        raise UserError(f"the data directory is PostgreSQL {major} but the settings were tuned for "
                        f"{t.spec.pg_version}; drop --pg-version or set it to {major}", str(data_dir))
    old_main = conf.read_bytes()
    main = parse_pgconf(old_main.decode("utf-8", errors="replace"), str(conf))
    include_dirs = [inc for inc in main.includes if inc.kind == "include_dir" and inc.target]
    if include_dirs:
        inc = include_dirs[-1]
        target = Path(inc.target)
        dropin_dir = (target if target.is_absolute() else confdir / target)
        include_line: float = inc.line
    else:
        dropin_dir = confdir / DROPIN_DIR
        include_line = float("inf")
    dropin_dir = Path(os.path.abspath(dropin_dir))
    dropin = dropin_dir / DROPIN_NAME

    confset = load_pgconf(conf, data_dir=data_dir)
    real_dropin = os.path.realpath(dropin)
    # A missing drop-in directory is what this apply creates; every other error stops it.
    problems = [d for d in confset.errors if os.path.realpath(d.path) != real_dropin
                and not (d.code == "include" and str(dropin_dir) in d.message)]
    if problems:
        d = problems[0]
        raise UserError(f"the server's configuration has an error ({d.message}); fix it before applying",
                        f"{d.path}:{d.line}")

    # Values set outside pgforge's drop-in, and which assignments are read after the drop-in.
    auto = os.path.realpath(data_dir / "postgresql.auto.conf")
    real_main = os.path.realpath(conf)
    later_files = {auto}
    for inc in main.includes:
        if inc.line > include_line and inc.target:
            target = Path(inc.target) if Path(inc.target).is_absolute() else confdir / inc.target
            if inc.kind == "include_dir" and target.is_dir():
                later_files.update(os.path.realpath(p) for p in target.glob("*.conf"))
            else:
                later_files.add(os.path.realpath(target))
    outside: dict[str, str] = {}
    current: dict[str, tuple[str, str]] = {}  # name -> (value, where), what the server reads now
    after: dict[str, tuple[str, str]] = {}
    for s in confset.settings:
        real = os.path.realpath(s.path)
        where = _where(s.path, s.line, confdir)
        current[s.name] = (s.value, where)
        if real == real_dropin:
            continue
        outside[s.name] = s.value
        is_after = (real in later_files or (real == real_main and s.line > include_line)
                    or (os.path.dirname(real) == os.path.realpath(dropin_dir) and os.path.basename(real) > DROPIN_NAME))
        if is_after:
            after[s.name] = (s.value, where)

    settings, excluded, warnings = select_settings(t, existing=outside, include_site=include_site, exclude=exclude,
                                                   libdir=libdir)
    catalog = t.catalog
    changes: list[SettingChange] = []
    shadowed: list[tuple[str, str, str]] = []
    for s in settings:
        if s.name in after:
            value, where = after[s.name]
            if canonical(catalog, s.name, value) != canonical(catalog, s.name, s.display):
                shadowed.append((s.name, where, value))
            continue
        old, where = current.get(s.name, (None, "default"))
        old_cmp = old if old is not None else default_display(catalog, s.name)
        if old_cmp is not None and canonical(catalog, s.name, old_cmp) == canonical(catalog, s.name, s.display):
            continue
        changes.append(SettingChange(s.name, old, where, s.display, s.apply_action))
    for name, where, value in shadowed:
        warnings.append(f"{name} is also set in {where} ({value}), which the server reads after the drop-in: "
                        f"pgforge's value does not take effect until that line is removed")

    mode, uid, gid = _owner_mode(conf)
    files: list[FileChange] = []
    new_dirs: list[Path] = []
    new_dropin = render_dropin(t, settings, excluded).encode("utf-8")
    old_dropin = dropin.read_bytes() if dropin.exists() else None
    if old_dropin != new_dropin:
        if old_dropin is not None:
            d_mode, d_uid, d_gid = _owner_mode(dropin)
        else:
            d_mode, d_uid, d_gid = mode, uid, gid
        files.append(FileChange(dropin, old_dropin, new_dropin, d_mode, d_uid, d_gid))
    if not dropin_dir.exists():
        new_dirs.append(dropin_dir)
    if not include_dirs:
        rel = os.path.relpath(dropin_dir, confdir)
        sep = b"" if not old_main or old_main.endswith(b"\n") else b"\n"
        addition = f"\n{INCLUDE_COMMENT}\ninclude_dir = '{rel}'\n".encode()
        files.append(FileChange(conf, old_main, old_main + sep + addition, mode, uid, gid))

    return ApplyPlan("data_dir", str(data_dir), settings, changes, files=files, excluded=excluded, shadowed=shadowed,
                     warnings=warnings, new_dirs=new_dirs, config_file=conf, data_dir=data_dir, dropin=dropin)


# --------------------------------------------------------------------------------------------
# Carrying out a data-directory plan


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _chown(path: Path | int, uid: int, gid: int) -> None:
    """Give a file its owner back; only root can, and only root needs to."""
    if os.geteuid() != 0:
        return
    if isinstance(path, int):
        os.fchown(path, uid, gid)
    else:
        os.chown(path, uid, gid)


def atomic_write(path: Path, data: bytes, mode: int, uid: int, gid: int) -> None:
    """Replace ``path`` with ``data`` in one rename: a crash leaves the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".pgforge-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            _chown(handle.fileno(), uid, gid)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mkdir_owned(path: Path, mode: int, uid: int, gid: int) -> None:
    path.mkdir(mode=mode)
    os.chmod(path, mode)
    _chown(path, uid, gid)


def backup_root(config_file: Path) -> Path:
    return config_file.parent / BACKUP_DIR


@dataclass(frozen=True)
class ExecuteResult:
    written: list[Path]
    backup: Path | None


def execute(plan: ApplyPlan, *, stamp: str | None = None) -> ExecuteResult:
    """Write a data-directory plan: back up, then replace each file atomically.

    The backup (old bytes, mode, owner, and a hash of what pgforge wrote) is complete and synced
    before the first file changes; if a write fails part-way, the files already replaced are put
    back from it before the error propagates.
    """
    if plan.mode != "data_dir" or plan.config_file is None:
        raise ValueError("execute() carries out data-directory plans; use execute_sql() for ALTER SYSTEM")
    if plan.noop:
        return ExecuteResult([], None)
    conf = plan.config_file
    dir_mode, dir_uid, dir_gid = _owner_mode(conf.parent)
    root = backup_root(conf)
    if not root.exists():
        _mkdir_owned(root, 0o700, dir_uid, dir_gid)
    stamp = stamp or time.strftime("%Y%m%dT%H%M%S")
    bdir = root / stamp
    n = 1
    while bdir.exists() or (root / f"{bdir.name}{ROLLED_BACK}").exists():
        bdir = root / f"{stamp}-{n}"
        n += 1
    _mkdir_owned(bdir, 0o700, dir_uid, dir_gid)
    entries = []
    for i, f in enumerate(plan.files):
        entry: dict[str, Any] = {"path": str(f.path), "existed": f.old is not None, "written_sha256": _sha256(f.new)}
        if f.old is not None:
            copy = bdir / f"{i}-{f.path.name}"
            atomic_write(copy, f.old, f.mode, f.uid, f.gid)
            entry.update(backup=copy.name, mode=f"{f.mode:04o}", uid=f.uid, gid=f.gid, sha256=_sha256(f.old))
        entries.append(entry)
    manifest = {"pgforge_version": __version__, "stamp": bdir.name, "data_dir": str(plan.data_dir),
                "config_file": str(conf), "created_dirs": [str(d) for d in plan.new_dirs], "files": entries,
                "settings": [c.to_dict() for c in plan.changes]}
    atomic_write(bdir / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode(), 0o600, dir_uid, dir_gid)
    fsync_dir(bdir)
    fsync_dir(root)

    written: list[Path] = []
    created: list[Path] = []
    try:
        for d in plan.new_dirs:
            _mkdir_owned(d, stat.S_IMODE(dir_mode) | 0o700, dir_uid, dir_gid)
            created.append(d)
        for f in plan.files:  # drop-in first: the include line never names an empty directory
            atomic_write(f.path, f.new, f.mode, f.uid, f.gid)
            written.append(f.path)
        for directory in {f.path.parent for f in plan.files}:
            fsync_dir(directory)
    except BaseException:
        for f in plan.files:
            if f.path in written:
                if f.old is None:
                    f.path.unlink(missing_ok=True)
                else:
                    atomic_write(f.path, f.old, f.mode, f.uid, f.gid)
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass
        raise
    return ExecuteResult(written, bdir)


# --------------------------------------------------------------------------------------------
# Rollback


@dataclass
class RollbackPlan:
    backup: Path
    files: list[FileChange]  # current -> restored; ``new`` empty with ``remove`` for created files
    remove: list[Path]
    remove_dirs: list[Path]
    modified_since: list[Path]
    settings: list[dict[str, Any]]

    @property
    def noop(self) -> bool:
        return not self.files and not self.remove

    def diff(self) -> str:
        out = [f.diff() for f in self.files]
        for p in self.remove:
            old = p.read_bytes() if p.exists() else b""
            out.append(FileChange(p, old, b"", 0, 0, 0).diff().replace(f"b{p}", "/dev/null", 1))
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"backup": str(self.backup), "changed": not self.noop,
                "files": [f.to_dict() for f in self.files], "removed": [str(p) for p in self.remove],
                "modified_since": [str(p) for p in self.modified_since], "settings": self.settings}


def list_backups(config_file: Path) -> list[Path]:
    """Backups not yet rolled back, oldest first."""
    root = backup_root(config_file)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.endswith(ROLLED_BACK)
                  and (p / MANIFEST).is_file())


def plan_rollback(config_file: Path, backup: Path | None = None) -> RollbackPlan:
    """Undo the newest apply (or ``backup``): restore each file it replaced, remove each it created."""
    backups = list_backups(config_file)
    if backup is None:
        if not backups:
            raise UserError(f"no pgforge backup to roll back to in {backup_root(config_file)}", str(config_file))
        backup = backups[-1]
    try:
        manifest = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"unreadable backup manifest: {exc}", str(backup)) from None
    files: list[FileChange] = []
    remove: list[Path] = []
    modified: list[Path] = []
    for entry in manifest["files"]:
        path = Path(entry["path"])
        now = path.read_bytes() if path.exists() else None
        if now is None or _sha256(now) != entry["written_sha256"]:
            modified.append(path)
        if not entry["existed"]:
            if now is not None:
                remove.append(path)
            continue
        old = (backup / entry["backup"]).read_bytes()
        if _sha256(old) != entry["sha256"]:
            raise UserError("backup copy does not match its manifest (damaged backup)", str(backup / entry["backup"]))
        if now != old:
            files.append(FileChange(path, now, old, int(entry["mode"], 8), int(entry["uid"]), int(entry["gid"])))
    dirs = [Path(d) for d in manifest.get("created_dirs", [])]
    return RollbackPlan(backup, files, remove, dirs, modified, manifest.get("settings", []))


def execute_rollback(plan: RollbackPlan) -> None:
    """Restore the files, remove what the apply created, and mark the backup as used."""
    for f in plan.files:
        atomic_write(f.path, f.new, f.mode, f.uid, f.gid)
    for p in plan.remove:
        p.unlink(missing_ok=True)
    for d in plan.remove_dirs:
        try:
            d.rmdir()  # only when empty: someone else's drop-ins stay
        except OSError:
            pass
    for directory in {f.path.parent for f in plan.files} | {p.parent for p in plan.remove}:
        if directory.exists():
            fsync_dir(directory)
    plan.backup.rename(plan.backup.with_name(plan.backup.name + ROLLED_BACK))


# --------------------------------------------------------------------------------------------
# The server binaries and process behind a data directory


def postmaster_pid(data_dir: Path) -> int | None:
    """PID of the postmaster running on ``data_dir``, or None when it is not running."""
    try:
        first = (data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0]
        pid = int(first.strip())
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _binary_major(postgres: Path) -> int | None:
    try:
        out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\)\s+(\d+)", out)
    return int(m.group(1)) if m else None


def find_bindir(data_dir: Path, major: int, explicit: Path | None = None) -> tuple[Path | None, str]:
    """The directory of ``postgres``/``pg_ctl`` for this cluster, and how it was found."""
    if explicit is not None:
        if not os.access(explicit / "postgres", os.X_OK):
            raise UserError("no postgres binary here", str(explicit))
        return explicit, "--bindir"
    pid = postmaster_pid(data_dir)
    if pid is not None:
        try:
            exe = Path(os.readlink(f"/proc/{pid}/exe"))
            if os.access(exe.parent / "pg_ctl", os.X_OK):
                return exe.parent, f"the running postmaster (pid {pid})"
        except OSError:
            pass
    for candidate in (Path(f"/usr/lib/postgresql/{major}/bin"), Path(f"/usr/pgsql-{major}/bin"),
                      Path(f"/usr/local/pgsql-{major}/bin")):
        if os.access(candidate / "postgres", os.X_OK):
            return candidate, str(candidate)
    import shutil

    found = shutil.which("postgres") or shutil.which("pg_ctl")
    if found:
        bindir = Path(found).resolve().parent
        if _binary_major(bindir / "postgres") == major:
            return bindir, "PATH"
    return None, f"no PostgreSQL {major} binaries found (pass --bindir)"


def libdir_for(bindir: Path) -> Path | None:
    """The server's ``$libdir``: ``pg_config --pkglibdir``, else ``../lib`` beside the binaries."""
    pg_config = bindir / "pg_config"
    if os.access(pg_config, os.X_OK):
        try:
            out = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and Path(out.stdout.strip()).is_dir():
                return Path(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for candidate in (bindir.parent / "lib" / "postgresql", bindir.parent / "lib"):
        if any(candidate.glob("plpgsql.*")):
            return candidate
    return None


def data_dir_owner(data_dir: Path) -> tuple[int, int]:
    st = data_dir.stat()
    return st.st_uid, st.st_gid


def run_as_owner(argv: Sequence[str], owner: tuple[int, int], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a server binary as the data directory's owner (PostgreSQL refuses to run as root)."""
    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0 and owner[0] != 0:
        kwargs = {"user": owner[0], "group": owner[1], "extra_groups": []}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, cwd="/", env=env, timeout=timeout,
                              check=False, **kwargs)
    except (OSError, subprocess.SubprocessError) as exc:
        return subprocess.CompletedProcess(list(argv), 127, "", str(exc))


def server_check(bindir: Path, data_dir: Path, config_file: Path) -> str | None:
    """Let the server's own parser read the configuration; the reason it refuses, or None.

    ``postgres -C`` reads every file the server would (includes, postgresql.auto.conf) and checks
    each value, and may run next to a live server for ordinary settings.
    """
    proc = run_as_owner([str(bindir / "postgres"), "-D", str(data_dir), "-c", f"config_file={config_file}",
                         "-C", "shared_buffers"], data_dir_owner(data_dir))
    if proc.returncode == 0:
        return None
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip() and "LOG:" not in ln]
    return "; ".join(lines[-3:]) or f"postgres -C exited {proc.returncode}"


def reload_server(bindir: Path, data_dir: Path) -> tuple[bool, str]:
    """``pg_ctl reload`` as the owner: (sent, message)."""
    if postmaster_pid(data_dir) is None:
        return False, "the server is not running; the new settings apply when it starts"
    proc = run_as_owner([str(bindir / "pg_ctl"), "reload", "-D", str(data_dir)], data_dir_owner(data_dir), timeout=60)
    if proc.returncode != 0:
        return False, f"pg_ctl reload failed: {(proc.stderr or proc.stdout).strip()}"
    return True, "server signalled to reload its configuration"


# ============================================================================================
# ALTER SYSTEM over a connection


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ident(name: str) -> str:
    return ".".join(p if re.fullmatch(r"[a-z_][a-z0-9_]*", p) else '"' + p.replace('"', '""') + '"'
                    for p in name.split("."))


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
    old_lines: dict[str, str] = {n: f"{n} = {_sql_literal(v)}" for n, v in state.auto_conf.items()}
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
        new_lines[s.name] = f"{s.name} = {_sql_literal(s.display)}"
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
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the saved state: {exc}", str(record_path)) from None
    return [alter_system(name, value) for name, value in record["previous"].items()]


def latest_sql_record(state_dir: Path | None = None) -> Path | None:
    state_dir = state_dir or default_state_dir()
    records = sorted(p for p in state_dir.glob("*.json")) if state_dir.is_dir() else []
    return records[-1] if records else None
