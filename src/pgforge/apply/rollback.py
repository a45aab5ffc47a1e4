"""Undoing a data-directory apply from the backup it left.

:func:`execute` (in :mod:`pgforge.apply.datadir`) copies every file it replaces into
``.pgforge-backup/<stamp>/`` beside postgresql.conf, with a manifest of what it wrote.
:func:`plan_rollback` reads the newest backup (or a chosen one) and plans to restore each replaced
file byte for byte and remove each created one, noting files changed since pgforge wrote them; the
manifest is checked first (see below: it is editable by the data directory's owner, and rollback may
run as root);
:func:`execute_rollback` carries that out and marks the backup as used.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgforge.apply.datadir import DROPIN_DIR, DROPIN_NAME, MANIFEST, ROLLED_BACK, _sha256, atomic_write, backup_root
from pgforge.apply.plan import FileChange
from pgforge.errors import UserError
from pgforge.inputs import read_bytes
from pgforge.writer import fsync_dir


@dataclass
class RollbackPlan:
    backup: Path
    files: list[FileChange]  # current -> restored; ``new`` empty with ``remove`` for created files
    remove: list[Path]
    remove_dirs: list[Path]
    modified_since: list[Path]
    settings: list[dict[str, Any]]
    config_dir: Path | None = None  # no link is followed below it when restoring

    @property
    def noop(self) -> bool:
        return not self.files and not self.remove

    def diff(self) -> str:
        out = [f.diff() for f in self.files]
        for p in self.remove:
            old = read_bytes(p) if p.exists() else b""
            out.append(FileChange(p, old, b"", 0, 0, 0).diff().replace(f"b{p}", "/dev/null", 1))
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"backup": str(self.backup), "changed": not self.noop,
                "files": [f.to_dict() for f in self.files], "removed": [str(p) for p in self.remove],
                "modified_since": [str(p) for p in self.modified_since], "settings": self.settings}


def list_backups(config_file: Path) -> list[Path]:
    """Backups not yet rolled back, oldest first (links among them are not backups pgforge made)."""
    root = backup_root(config_file)
    if root.is_symlink() or not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if not p.is_symlink() and p.is_dir() and not p.name.endswith(ROLLED_BACK)
                  and (p / MANIFEST).is_file())


# --------------------------------------------------------------------------------------------
# The manifest is not trusted: the data directory's owner can edit it, and a rollback often runs
# as root. Every entry must name a file that apply writes for *this* configuration (postgresql.conf
# itself, or pgforge.conf in conf.d/ or an include_dir that resolves inside the configuration or
# data directory), with a backup copy that is a plain file inside the backup directory, a mode of
# permission bits only and the owner the file or its directory already has.

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MODE = re.compile(r"[0-7]{3,4}")


def _field(entry: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in entry:
        raise UserError(f"{key} is missing (damaged or hand-edited manifest)", where)
    value = entry[key]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise UserError(f"{key} has the wrong type ({type(value).__name__}); damaged or hand-edited manifest", where)
    return value


def _within(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _dropin_dirs(conf: Path, containers: list[str]) -> list[str]:
    """The directories apply may have put pgforge.conf in: conf.d/, and each include_dir of the
    configuration that resolves inside the configuration or data directory."""
    from pgforge.parsers.pgconf import parse_pgconf

    dirs = [os.path.abspath(conf.parent / DROPIN_DIR)]
    try:
        main = parse_pgconf(read_bytes(conf).decode("utf-8", errors="replace"), str(conf))
        targets = [inc.target for inc in main.includes if inc.kind == "include_dir" and inc.target]
    except (OSError, ValueError, UserError):
        targets = []
    for target in targets:
        d = os.path.abspath(target if os.path.isabs(target) else conf.parent / target)
        if _within(os.path.realpath(d), containers):
            dirs.append(d)
    return dirs


def _allowed_path(value: str, conf: Path, dropin_dirs: list[str], containers: list[str], where: str) -> Path:
    if "\0" in value or "\n" in value or not os.path.isabs(value) or os.path.normpath(value) != value:
        raise UserError(f"{value!r} is not a plain absolute path; refusing a hand-edited manifest", where)
    ok = value == str(conf) or (os.path.basename(value) == DROPIN_NAME and os.path.dirname(value) in dropin_dirs)
    if not ok or not _within(os.path.realpath(os.path.dirname(value)), containers):
        raise UserError(f"{value} is not a file pgforge apply writes for {conf} (its postgresql.conf, or "
                        f"{DROPIN_DIR}/{DROPIN_NAME}); refusing to touch it", where)
    if os.path.islink(value):
        raise UserError(f"{value} is a symbolic link; rollback restores regular files only", where)
    return Path(value)


def _read_regular(path: Path, where: str) -> bytes | None:
    """The bytes of a regular file, None when absent; links, devices and FIFOs are refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}", where) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{path} is not a regular file", where)
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    finally:
        os.close(fd)


def _owner_ok(uid: int, gid: int, path: Path, conf: Path) -> bool:
    candidates = set()
    for p in (path, path.parent, conf):
        try:
            st = os.stat(p)
        except OSError:
            continue
        candidates.add((st.st_uid, st.st_gid))
    return (uid, gid) in candidates


def plan_rollback(config_file: Path, backup: Path | None = None, *, data_dir: Path | None = None) -> RollbackPlan:
    """Undo the newest apply (or ``backup``): restore each file it replaced, remove each it created.

    Only files apply writes for ``config_file`` are touched (see above); anything else in the
    manifest is a UserError naming the manifest entry, before anything changes."""
    conf = Path(os.path.realpath(config_file))
    backups = list_backups(conf)
    if backup is None:
        if not backups:
            raise UserError(f"no pgforge backup to roll back to in {backup_root(conf)}", str(config_file))
        backup = backups[-1]
    backup = Path(backup)
    mpath = backup / MANIFEST
    raw = _read_regular(mpath, str(mpath))
    if raw is None:
        raise UserError("no manifest.json: not a pgforge backup directory", str(backup))
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"unreadable backup manifest: {exc}", str(mpath)) from None
    if not isinstance(manifest, dict):
        raise UserError("a backup manifest is a JSON object", str(mpath))
    recorded = manifest.get("config_file")
    if recorded is not None and (not isinstance(recorded, str) or os.path.realpath(recorded) != str(conf)):
        raise UserError(f"this backup is of {recorded!r}, not of {conf}", f"{mpath}: config_file")
    containers = [os.path.realpath(conf.parent)] + ([os.path.realpath(data_dir)] if data_dir is not None else [])
    dropin_dirs = _dropin_dirs(conf, containers)
    entries = _field(manifest, "files", list, f"{mpath}: files")

    files: list[FileChange] = []
    remove: list[Path] = []
    modified: list[Path] = []
    seen: set[Path] = set()
    for i, entry in enumerate(entries):
        where = f"{mpath}: files[{i}]"
        if not isinstance(entry, dict):
            raise UserError("an entry is a JSON object", where)
        path = _allowed_path(_field(entry, "path", str, where), conf, dropin_dirs, containers, f"{where}.path")
        if path in seen:
            raise UserError(f"{path} is listed twice", where)
        seen.add(path)
        existed = _field(entry, "existed", bool, where)
        written = _field(entry, "written_sha256", str, where)
        if not _SHA256.fullmatch(written):
            raise UserError("written_sha256 is not a SHA-256 in hex", where)
        now = _read_regular(path, where)
        if now is None or _sha256(now) != written:
            modified.append(path)
        if not existed:
            if now is not None:
                remove.append(path)
            continue
        name = _field(entry, "backup", str, where)
        if name in ("", ".", "..") or "/" in name or "\0" in name:
            raise UserError(f"backup {name!r} is not a file name inside the backup directory", f"{where}.backup")
        old = _read_regular(backup / name, f"{where}.backup")
        if old is None:
            raise UserError(f"the backup copy {name} is missing (damaged backup)", f"{where}.backup")
        sha = _field(entry, "sha256", str, where)
        if _sha256(old) != sha:
            raise UserError("backup copy does not match its manifest (damaged backup)", str(backup / name))
        mode = _field(entry, "mode", str, where)
        if not _MODE.fullmatch(mode) or int(mode, 8) & ~0o777:
            raise UserError(f"mode {mode!r} is not permission bits (0000-0777)", f"{where}.mode")
        uid, gid = _field(entry, "uid", int, where), _field(entry, "gid", int, where)
        if not _owner_ok(uid, gid, path, conf):
            raise UserError(f"owner {uid}:{gid} is neither the file's, its directory's nor postgresql.conf's",
                            f"{where}.uid")
        if now != old:
            files.append(FileChange(path, now, old, int(mode, 8), uid, gid))
    dirs = []
    for j, d in enumerate(manifest.get("created_dirs") or []):
        if not isinstance(d, str) or d not in dropin_dirs:
            raise UserError(f"{d!r} is not a directory pgforge apply creates", f"{mpath}: created_dirs[{j}]")
        dirs.append(Path(d))
    settings = manifest.get("settings") or []
    if not isinstance(settings, list) or not all(isinstance(x, dict) and isinstance(x.get("name"), str)
                                                 and isinstance(x.get("action", ""), str) for x in settings):
        raise UserError("settings is not a list of {name, action} objects", f"{mpath}: settings")
    return RollbackPlan(backup, files, remove, dirs, modified, settings, conf.parent)


def execute_rollback(plan: RollbackPlan) -> None:
    """Restore the files, remove what the apply created, and mark the backup as used."""
    for f in plan.files:
        atomic_write(f.path, f.new, f.mode, f.uid, f.gid, root=plan.config_dir)
    for p in plan.remove:
        p.unlink(missing_ok=True)  # unlink never follows a link at the name
    for d in plan.remove_dirs:
        try:
            d.rmdir()  # only when empty: someone else's drop-ins stay
        except OSError:
            pass
    for directory in {f.path.parent for f in plan.files} | {p.parent for p in plan.remove}:
        if directory.exists():
            fsync_dir(directory)
    plan.backup.rename(plan.backup.with_name(plan.backup.name + ROLLED_BACK))
