"""Undoing a data-directory apply from the backup it left.

:func:`execute` (in :mod:`pgforge.apply.datadir`) copies every file it replaces into
``.pgforge-backup/<stamp>/`` beside postgresql.conf, with a manifest of what it wrote.
:func:`plan_rollback` reads the newest backup (or a chosen one) and plans to restore each replaced
file byte for byte and remove each created one, noting files changed since pgforge wrote them;
:func:`execute_rollback` carries that out and marks the backup as used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgforge.apply.datadir import MANIFEST, ROLLED_BACK, _sha256, atomic_write, backup_root
from pgforge.apply.plan import FileChange
from pgforge.errors import UserError
from pgforge.writer import fsync_dir


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
