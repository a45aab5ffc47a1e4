"""The one writer for every file pgforge writes: bundles, fleets, baselines, apply's files and backups.

:func:`write_bundle` writes a set of files under a root directory, all or nothing;
:func:`write_file` is the same for one file named by its path. Callers: ``generate -o``
(:mod:`pgforge.cli`), ``generate --inventory`` (:mod:`pgforge.fleet.generate`, one call per host),
``check --write-baseline`` (:mod:`pgforge.commands.check`), and ``apply`` / ``apply --rollback``
(:func:`pgforge.apply.datadir.atomic_write` and :mod:`pgforge.apply.rollback`).

What is guaranteed:

* **Nothing outside the root.** The root directory is the one the user named (symlinks in *its*
  path are followed, as the user spelled it). Below it nothing is followed: every directory is
  opened with ``O_NOFOLLOW|O_DIRECTORY`` relative to its parent's descriptor, and every create,
  link and rename is done relative to those held descriptors (``openat``/``mkdirat``/``linkat``/
  ``renameat``). A symbolic link planted as a directory or at a final name is refused with an
  error naming it. Racing the check does not help an attacker with write access to the output
  directory: a directory swapped for a link after it was opened is not looked up again, one swapped
  before it is opened fails to open (ELOOP), and a rename or link *replaces* a link planted at the
  final name instead of writing through it.
* **Only regular files are replaced.** A directory, character or block device, FIFO or socket at a
  target name is refused by name (an existing file is opened ``O_NONBLOCK|O_NOFOLLOW`` and checked
  with ``fstat``, so a FIFO swapped in cannot hang the read).
* **No clobbering without ``force``.** An existing file whose content differs stops the whole
  write before anything is touched, unless ``force``; then it is first kept as
  ``NAME.bak-STAMP`` (a hard link to the old inode, so its bytes and mode are kept exactly). A name
  that was free when checked is created with ``link()``, which fails rather than replace a file
  that appeared in between.
* **Temporary files are new and private.** ``.NAME.RANDOM.pgforge-tmp`` beside the target, opened
  ``O_CREAT|O_EXCL|O_NOFOLLOW`` with mode 0600 (a name that exists is never reused), given its
  final mode only when complete; every byte is written (short writes are continued), then the file
  is fsynced, and after the renames each directory is fsynced (``sync=False`` leaves durability to
  the caller: the fleet syncs the file system once at the end).
* **All or nothing per call.** Every file is staged before any final name changes; if staging fails
  (ENOSPC, EIO, EACCES...) every temporary file and every directory this call created are removed
  and no final name is touched. If a rename fails part-way, the renames already done are undone
  (the old inode put back from its link). The renames themselves are a handful of metadata
  operations; a power cut in the middle of them is the one window this cannot close.
* **Signals.** While writing, SIGTERM, SIGINT and SIGHUP (unless ignored) are caught: during staging
  the write is abandoned, temporary files removed, and the signal then delivered as before (the
  process dies by it, or the previous handler runs); during the renames it is held until they
  finish, so an interrupted write is never half-done. Previous handlers are restored afterwards.
* **Unchanged secrets get their mode back.** A file whose content is already right but whose mode
  grants more than the bundle's (``userlist.txt`` at 0644 for 0600) has the extra bits removed, and
  the result lists it in ``tightened``. Tightening rather than only warning: the content is not
  touched, only access the bundle never granted is withdrawn, and a warning in a CI log would leave
  the secret readable until someone acts on it.

This module is the policy: staging, ``force`` and backups, the renames and their undo, tightening.
The file-system operations it is built on (directories held open below the root, nothing
followed, full writes, the signal guard) are :mod:`pgforge.writer_fs`. The reading counterpart is
:mod:`pgforge.inputs`; the files written come from :mod:`pgforge.bundle` (one module per file family).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from pgforge.errors import UserError
from pgforge.inputs import file_kind
from pgforge.writer_fs import (
    DirTree,
    SignalGuard,
    lstat_at,
    refusal,
    signals_guarded,
    write_all,
)

TMP_SUFFIX = ".pgforge-tmp"


@dataclass(frozen=True)
class OutFile:
    """One file of a bundle: path relative to the bundle root, content, permission bits."""

    path: str
    content: str | bytes
    mode: int = 0o644
    purpose: str = ""
    apply: str = ""  # restart | reload | run | reference


@dataclass(frozen=True)
class WriteResult:
    written: list[Path]
    backups: list[Path]
    unchanged: list[Path]
    #: unchanged files whose mode was narrowed to the bundle's: (path, old mode, new mode)
    tightened: list[tuple[Path, int, int]] = field(default_factory=list)


def _split(rel: str, what: str) -> tuple[str, ...]:
    """``a/b/c`` -> ("a", "b", "c"); refuses absolute paths, ``.``/``..``, empty parts and NUL."""
    parts = tuple(rel.split("/")) if rel else ()
    if not parts or rel.startswith("/") or "\0" in rel or any(p in ("", ".", "..") for p in parts):
        raise UserError(f"{what} {rel!r} is not a plain relative path (a bug in pgforge or a hostile name)", rel)
    return parts


@dataclass
class _Target:
    path: Path
    dir: tuple[str, ...]
    name: str
    data: bytes
    mode: int
    existing: os.stat_result | None = None
    identical: bool = False
    tmp: str | None = None
    dfd: int | None = None


def _same_content(t: _Target, st: os.stat_result) -> bool:
    if st.st_size != len(t.data):
        return False
    fd = os.open(t.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=t.dfd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(refusal(file_kind(os.fstat(fd).st_mode)), str(t.path))
        chunks, left = [], len(t.data) + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks) == t.data
    finally:
        os.close(fd)


def _create_temp(t: _Target) -> int:
    """A new private temporary file beside ``t``; its name is recorded before it exists, so an
    interruption at any point leaves a name for the clean-up to remove."""
    for _ in range(100):
        t.tmp = f".{t.name[:200]}.{secrets.token_hex(6)}{TMP_SUFFIX}"
        try:
            return os.open(t.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                           dir_fd=t.dfd)
        except FileExistsError:
            t.tmp = None  # someone else's file: never ours to remove
    raise OSError(errno.EEXIST, "no free temporary file name")


def _backup_name(dfd: int, name: str, stamp: str) -> str:
    candidate, n = f"{name}.bak-{stamp}", 1
    while lstat_at(candidate, dfd) is not None:
        candidate, n = f"{name}.bak-{stamp}-{n}", n + 1
    return candidate


# --------------------------------------------------------------------------------------------
# Writing


def write_bundle(root: Path, files: list[OutFile], *, force: bool = False, under: str = "", sync: bool = True,
                 backup: bool = True, keep_mode: bool = False,
                 owner: tuple[int, int] | None = None) -> WriteResult:
    """Write ``files`` under ``root`` (in its subdirectory ``under``), all or nothing.

    Raises UserError (exit 2) before touching anything if a target exists with other content and
    ``force`` is false, or is not a regular file, or a link sits in the way. ``backup`` keeps each
    replaced file as ``NAME.bak-STAMP``; ``keep_mode`` gives a replaced file the mode it had (new
    files get the OutFile's); ``owner`` (uid, gid) is given to the written files; ``sync`` fsyncs
    each file and directory.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserError("exists and is not a directory", str(root))
    base = _split(under, "directory") if under else ()
    targets: list[_Target] = []
    seen: set[tuple[str, ...]] = set()
    for f in files:
        parts = base + _split(f.path, "file name")
        path = root.joinpath(*parts)
        if parts in seen:
            raise UserError("the bundle names this file twice (a bug in pgforge)", str(path))
        seen.add(parts)
        data = f.content.encode("utf-8") if isinstance(f.content, str) else bytes(f.content)
        targets.append(_Target(path, parts[:-1], parts[-1], data, f.mode))

    tree = DirTree(root)
    try:
        with signals_guarded(str(root)) as guard:
            return _write(tree, targets, guard, force=force, sync=sync, backup=backup, keep_mode=keep_mode,
                          owner=owner)
    finally:
        tree.close()


def _write(tree: DirTree, targets: list[_Target], guard: SignalGuard, *, force: bool, sync: bool, backup: bool,
           keep_mode: bool, owner: tuple[int, int] | None) -> WriteResult:
    # 1. Look, touching nothing.
    try:
        for t in targets:
            t.dfd = tree.open(t.dir, create=False)
            st = lstat_at(t.name, t.dfd) if t.dfd is not None else None
            if st is None:
                continue
            if not stat.S_ISREG(st.st_mode):
                raise UserError(refusal(file_kind(st.st_mode)), str(t.path))
            t.existing = st
            t.identical = _same_content(t, st)
            if keep_mode:
                t.mode = stat.S_IMODE(st.st_mode)
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", str(exc.filename or tree.root)) from None
    differing = [t.path for t in targets if t.existing is not None and not t.identical]
    if differing and not force:
        names = ", ".join(str(p) for p in differing[:5]) + (" ..." if len(differing) > 5 else "")
        raise UserError(f"would overwrite existing file(s) {names}; pass --force to replace them "
                        f"(they are backed up first)" if backup else
                        f"would overwrite {names}; pass --force to replace it", str(differing[0]))
    work = [t for t in targets if not t.identical]

    # 2. Stage every file as a temporary file; on any failure remove them all.
    current: _Target | None = None
    try:
        for t in work:
            current = t
            t.dfd = tree.open(t.dir, create=True)
            fd = _create_temp(t)
            try:
                write_all(fd, t.data)
                os.fchmod(fd, t.mode)
                if owner is not None:
                    os.fchown(fd, *owner)
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        current = None
        guard.holding = True  # from here a signal waits until every file is in place
    except BaseException as exc:
        guard.holding = True
        _discard(work, tree)
        if isinstance(exc, OSError):
            where = str(current.path) if current is not None else str(tree.root)
            raise UserError(f"cannot write: {exc.strerror or exc}", where) from None
        raise

    # 3. Put everything in place, signals held; undo on failure.
    stamp = time.strftime("%Y%m%dT%H%M%S")
    done: list[tuple[_Target, str | None]] = []
    linked: str | None = None
    backups: list[Path] = []
    try:
        for t in work:
            current = t
            assert t.dfd is not None and t.tmp is not None
            old = linked = None
            if t.existing is not None:
                old = linked = _keep_old(t, stamp if backup else None)
            if old is None:
                try:
                    os.link(t.tmp, t.name, src_dir_fd=t.dfd, dst_dir_fd=t.dfd, follow_symlinks=False)
                    os.unlink(t.tmp, dir_fd=t.dfd)
                except FileExistsError:
                    raise UserError("appeared while pgforge was writing; run again", str(t.path)) from None
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
                        raise
                    os.replace(t.tmp, t.name, src_dir_fd=t.dfd, dst_dir_fd=t.dfd)
            else:
                os.replace(t.tmp, t.name, src_dir_fd=t.dfd, dst_dir_fd=t.dfd)
            t.tmp = linked = None
            done.append((t, old))
            if old is not None and backup:
                backups.append(t.path.with_name(old))
        current = None
        tightened = _tighten([t for t in targets if t.identical and not keep_mode])
    except BaseException as exc:
        if current is not None and linked is not None:  # linked, but its replacement failed
            try:
                os.unlink(linked, dir_fd=current.dfd)
            except OSError:
                pass
        _undo(done, backup)
        _discard(work, tree)
        if isinstance(exc, OSError):
            where = str(current.path) if current is not None else str(tree.root)
            raise UserError(f"cannot write: {exc.strerror or exc}; nothing was changed", where) from None
        raise
    for t, old in done:
        if old is not None and not backup:  # the old inode was only kept to undo with
            try:
                os.unlink(old, dir_fd=t.dfd)
            except OSError:
                pass
    if sync:
        for dfd in {t.dfd for t, _ in done if t.dfd is not None}:
            try:
                os.fsync(dfd)
            except OSError:
                pass
    return WriteResult([t.path for t, _ in done], backups, [t.path for t in targets if t.identical], tightened)


def _keep_old(t: _Target, stamp: str | None) -> str | None:
    """Link the file about to be replaced to its backup name (or a temporary name); None if it went away."""
    for _ in range(100):
        name = _backup_name(t.dfd, t.name, stamp) if stamp else f".{t.name[:200]}.{secrets.token_hex(6)}{TMP_SUFFIX}"
        try:
            os.link(t.name, name, src_dir_fd=t.dfd, dst_dir_fd=t.dfd, follow_symlinks=False)
            return name
        except FileExistsError:
            continue
        except FileNotFoundError:
            return None
    raise OSError(errno.EEXIST, "no free backup name", str(t.path))


def _tighten(identical: list[_Target]) -> list[tuple[Path, int, int]]:
    out = []
    for t in identical:
        assert t.existing is not None and t.dfd is not None
        old = stat.S_IMODE(t.existing.st_mode)
        if old & ~t.mode & 0o7777:
            fd = os.open(t.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=t.dfd)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    os.fchmod(fd, old & t.mode)
                    out.append((t.path, old, old & t.mode))
            finally:
                os.close(fd)
    return out


def _undo(done: list[tuple[_Target, str | None]], backup: bool) -> None:
    """Put back what the renames replaced: the old inode from its link, or remove the new file."""
    for t, old in reversed(done):
        try:
            if old is not None:  # the old inode goes back under its name (its backup link with it)
                os.replace(old, t.name, src_dir_fd=t.dfd, dst_dir_fd=t.dfd)
            else:
                os.unlink(t.name, dir_fd=t.dfd)
        except OSError:
            pass


def _discard(work: list[_Target], tree: DirTree) -> None:
    for t in work:
        if t.tmp is not None and t.dfd is not None:
            try:
                os.unlink(t.tmp, dir_fd=t.dfd)
            except OSError:
                pass
            t.tmp = None
    tree.remove_created()


def write_file(path: Path, content: str | bytes, *, mode: int = 0o644, force: bool = False, backup: bool = True,
               keep_mode: bool = False, owner: tuple[int, int] | None = None, sync: bool = True) -> WriteResult:
    """Write one file at ``path`` with :func:`write_bundle`'s guarantees (its directory is the root)."""
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise UserError("names a directory; give a file name", str(path))
    return write_bundle(path.parent, [OutFile(path.name, content, mode)], force=force, backup=backup,
                        keep_mode=keep_mode, owner=owner, sync=sync)


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
