"""Data-directory mode: the settings go into a drop-in file beside ``postgresql.conf``.

:func:`plan_datadir` puts the settings in one drop-in file, ``conf.d/pgforge.conf``, next to
``postgresql.conf``. When postgresql.conf has no ``include_dir`` yet, one line is appended at its
end, so every existing line and comment stays byte for byte as it was and the drop-in is read after
everything in the main file. The plan compares values against what the server reads today, from
every file it reads, and reports settings that a file read after the drop-in overrides.

:func:`execute` carries the plan out. Each write is atomic (:func:`atomic_write`: a temporary file
renamed into place, owner and mode preserved), and what is replaced is first copied into
``.pgforge-backup/<stamp>/`` beside postgresql.conf with a manifest, which
:mod:`pgforge.apply.rollback` restores byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgforge import __version__
from pgforge.apply.plan import ApplyPlan, FileChange, SettingChange, render_dropin, select_settings
from pgforge.apply.values import canonical, default_display
from pgforge.errors import UserError
from pgforge.tuning import Tuning
from pgforge.writer import fsync_dir

DROPIN_DIR = "conf.d"
DROPIN_NAME = "pgforge.conf"
INCLUDE_COMMENT = "# Added by pgforge apply: read the drop-in files in conf.d/ (pgforge writes conf.d/pgforge.conf)."

#: The backups beside postgresql.conf: one directory per apply with its manifest, renamed with the
#: ROLLED_BACK suffix once restored (the CLI marks a used ALTER SYSTEM record the same way).
BACKUP_DIR = ".pgforge-backup"
MANIFEST = "manifest.json"
ROLLED_BACK = ".rolled-back"


# --------------------------------------------------------------------------------------------
# Planning


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
            if config_file.exists():
                from pgforge.inputs import file_kind

                raise UserError(f"is {file_kind(config_file.stat().st_mode)}, not a regular file", str(config_file))
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


def _read(path: Path) -> bytes:
    """A configuration file apply edits: a regular file of bounded size (pgforge.inputs), else exit 2."""
    from pgforge.inputs import read_bytes

    try:
        return read_bytes(path)
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", str(path)) from None


def data_dir_major(data_dir: Path) -> int:
    try:
        from pgforge.inputs import MAX_VERSION_FILE_BYTES, read_bytes

        text = read_bytes(data_dir / "PG_VERSION", limit=MAX_VERSION_FILE_BYTES).decode("ascii").strip()
        if not text.split(".")[0].isdigit() or len(text) > 8:
            raise ValueError(text)
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
    old_main = _read(conf)
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
    old_dropin = _read(dropin) if dropin.exists() else None
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


def atomic_write(path: Path, data: bytes, mode: int, uid: int, gid: int, *, root: Path | None = None) -> None:
    """Replace ``path`` with ``data`` in one rename, through the one writer (:mod:`pgforge.writer`):
    a crash or a signal leaves the old or the new file, never half; a symbolic link or a non-regular
    file at the name is refused, and no link is followed below ``root`` (by default the file's own
    directory; apply passes the configuration directory, so a ``conf.d`` or ``.pgforge-backup``
    replaced by a link is refused rather than written through). Owner and mode as given (the owner
    only when running as root, the only case that needs it)."""
    from pgforge.writer import OutFile, write_bundle

    path = Path(path)
    base = Path(root) if root is not None else path.parent
    rel = os.path.relpath(path, base)
    if rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
        base, rel = path.parent, path.name
    owner = (uid, gid) if os.geteuid() == 0 else None
    write_bundle(base, [OutFile(rel, data, mode)], force=True, backup=False, owner=owner)


def _mkdir_owned(path: Path, mode: int, uid: int, gid: int) -> None:
    """A new directory with this mode and owner; mkdir never follows a link at its name, and the mode
    and owner are set through a descriptor opened without following one."""
    path.mkdir(mode=mode)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, mode)
        _chown(fd, uid, gid)
    finally:
        os.close(fd)


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
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise UserError("is not a directory (a link or a file); pgforge keeps its backups in a directory of its own",
                        str(root))
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
            atomic_write(copy, f.old, f.mode, f.uid, f.gid, root=conf.parent)
            entry.update(backup=copy.name, mode=f"{f.mode:04o}", uid=f.uid, gid=f.gid, sha256=_sha256(f.old))
        entries.append(entry)
    manifest = {"pgforge_version": __version__, "stamp": bdir.name, "data_dir": str(plan.data_dir),
                "config_file": str(conf), "created_dirs": [str(d) for d in plan.new_dirs], "files": entries,
                "settings": [c.to_dict() for c in plan.changes]}
    atomic_write(bdir / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode(), 0o600, dir_uid, dir_gid,
                 root=conf.parent)
    fsync_dir(bdir)
    fsync_dir(root)

    written: list[Path] = []
    created: list[Path] = []
    try:
        for d in plan.new_dirs:
            _mkdir_owned(d, stat.S_IMODE(dir_mode) | 0o700, dir_uid, dir_gid)
            created.append(d)
        for f in plan.files:  # drop-in first: the include line never names an empty directory
            atomic_write(f.path, f.new, f.mode, f.uid, f.gid, root=conf.parent)
            written.append(f.path)
        for directory in {f.path.parent for f in plan.files}:
            fsync_dir(directory)
    except BaseException:
        for f in plan.files:
            if f.path in written:
                if f.old is None:
                    f.path.unlink(missing_ok=True)
                else:
                    atomic_write(f.path, f.old, f.mode, f.uid, f.gid, root=conf.parent)
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass
        raise
    return ExecuteResult(written, bdir)
