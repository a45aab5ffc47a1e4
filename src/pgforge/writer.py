"""Writing a bundle: all or nothing, atomic per file, never clobbering without ``--force``.

Every file is rendered in memory first. Then, before anything is touched, each target is checked
(an existing file without ``force`` stops the whole write). Files are staged as temporary files in
their target directories and renamed into place only once all are staged, so a failure part-way
leaves no half-written bundle. A file that is replaced is first kept as ``NAME.bak-YYYYmmddTHHMMSS``.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pgforge.errors import UserError


@dataclass(frozen=True)
class OutFile:
    """One file of a bundle: path relative to the bundle root, content, permission bits."""

    path: str
    content: str
    mode: int = 0o644
    purpose: str = ""
    apply: str = ""  # restart | reload | run | reference


@dataclass(frozen=True)
class WriteResult:
    written: list[Path]
    backups: list[Path]
    unchanged: list[Path]


def _backup_name(path: Path, stamp: str) -> Path:
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def write_bundle(root: Path, files: list[OutFile], *, force: bool = False) -> WriteResult:
    """Write ``files`` under ``root`` atomically. Raises UserError (exit 2) before writing anything
    if a target exists and ``force`` is false, or if a target is not writable."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserError("exists and is not a directory", str(root))
    targets = [(root / f.path, f) for f in files]
    seen: set[Path] = set()
    for path, _ in targets:
        if path in seen:
            raise UserError("the bundle names this file twice (a bug in pgforge)", str(path))
        seen.add(path)
        if path.exists() and path.is_dir():
            raise UserError("is a directory, cannot write a file there", str(path))
    existing = [p for p, f in targets if p.exists() and p.read_bytes() != f.content.encode()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise UserError(f"would overwrite existing file(s) {names}; pass --force to replace them (they are backed up first)",
                        str(existing[0]))

    staged: list[tuple[Path, Path, OutFile]] = []
    unchanged: list[Path] = []
    try:
        for path, f in targets:
            if path.exists() and path.read_bytes() == f.content.encode():
                unchanged.append(path)
                continue
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".pgforge-tmp", dir=path.parent)
            except OSError as exc:
                raise UserError(f"cannot write: {exc.strerror}", str(path)) from None
            staged.append((Path(tmp), path, f))  # registered first, so a failed write is cleaned up
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                    os.fchmod(handle.fileno(), f.mode)  # secret-bearing files are never readable, even briefly
                    handle.write(f.content)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise UserError(f"cannot write: {exc.strerror or exc}", str(path)) from None
    except BaseException:
        for tmp, _, _ in staged:
            tmp.unlink(missing_ok=True)
        raise

    stamp = time.strftime("%Y%m%dT%H%M%S")
    written: list[Path] = []
    backups: list[Path] = []
    for tmp, path, _ in staged:
        if path.exists():
            backup = _backup_name(path, stamp)
            try:
                os.link(path, backup)  # the old inode, with its mode, becomes the backup: nothing copied
            except OSError:
                backup.write_bytes(path.read_bytes())
                os.chmod(backup, path.stat().st_mode & 0o7777)
            backups.append(backup)
        os.replace(tmp, path)
        written.append(path)
    for directory in {p.parent for p in written}:
        fsync_dir(directory)
    return WriteResult(written, backups, unchanged)


def fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable; best effort (some file systems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
