"""The one writer for every file pgforge writes: bundles, fleets, baselines, apply's files and backups.

:func:`write_bundle` writes a set of files under a root directory, all or nothing;
:func:`write_file` is the same for one file named by its path. Callers: ``generate -o``
(:mod:`pgforge.cli`), ``generate --inventory`` (:mod:`pgforge.fleet`, one call per host),
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
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import stat
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pgforge.errors import UserError

TMP_SUFFIX = ".pgforge-tmp"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n))


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


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _refusal(kind: str) -> str:
    if kind == "a symbolic link":
        return "is a symbolic link; pgforge does not follow links inside the directory it writes to (remove it)"
    if kind == "a directory":
        return "is a directory, cannot write a file there"
    return f"is {kind}, not a regular file; pgforge only replaces regular files"


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


class _Tree:
    """Descriptors of the directories under the root, each opened without following links."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fds: dict[tuple[str, ...], int] = {}
        self.created: list[tuple[str, ...]] = []
        self.created_root: list[Path] = []

    def _where(self, key: tuple[str, ...]) -> str:
        return str(self.root.joinpath(*key))

    def open_root(self, create: bool) -> int | None:
        if () in self.fds:
            return self.fds[()]
        if create and not self.root.exists():
            missing = []
            p = self.root.absolute()
            while not os.path.lexists(p):
                missing.append(p)
                p = p.parent
            for d in reversed(missing):
                try:
                    os.mkdir(d, 0o755)
                except FileExistsError:
                    continue
                self.created_root.append(d)
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if create:
                raise
            return None
        except NotADirectoryError:
            raise UserError("exists and is not a directory", str(self.root)) from None
        self.fds[()] = fd
        return fd

    def open(self, key: tuple[str, ...], create: bool) -> int | None:
        """The descriptor of directory ``key`` (created when ``create``), None when it does not exist."""
        if not key:
            return self.open_root(create)
        if key in self.fds:
            return self.fds[key]
        parent = self.open(key[:-1], create)
        if parent is None:
            return None
        name = key[-1]
        for _ in range(3):
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
                break
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    os.mkdir(name, 0o755, dir_fd=parent)
                    self.created.append(key)
                except FileExistsError:
                    pass
            except (NotADirectoryError, OSError) as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                try:
                    kind = _kind(os.lstat(name, dir_fd=parent).st_mode)
                except OSError:
                    kind = "not a directory"
                if kind == "a symbolic link":
                    raise UserError("is a symbolic link; pgforge does not follow links inside the directory it "
                                    "writes to (remove it)", self._where(key)) from None
                raise UserError(f"is {kind}, cannot create a directory there", self._where(key)) from None
        else:  # pragma: no cover - a directory created and removed again three times over
            raise UserError("directory keeps disappearing", self._where(key))
        self.fds[key] = fd
        return fd

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def remove_created(self) -> None:
        """Remove the directories this write created, deepest first (only while empty)."""
        for key in reversed(self.created):
            parent = self.fds.get(key[:-1])
            if parent is not None:
                try:
                    os.rmdir(key[-1], dir_fd=parent)
                except OSError:
                    pass
        for d in reversed(self.created_root):
            try:
                os.rmdir(d)
            except OSError:
                pass


def _lstat(name: str, dfd: int) -> os.stat_result | None:
    try:
        return os.lstat(name, dir_fd=dfd)
    except FileNotFoundError:
        return None


def _same_content(t: _Target, st: os.stat_result) -> bool:
    if st.st_size != len(t.data):
        return False
    fd = os.open(t.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=t.dfd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(_refusal(_kind(os.fstat(fd).st_mode)), str(t.path))
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


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``, continuing after short writes."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.EIO, "the file system accepted no bytes")
        view = view[n:]


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
    while _lstat(candidate, dfd) is not None:
        candidate, n = f"{name}.bak-{stamp}-{n}", n + 1
    return candidate


# --------------------------------------------------------------------------------------------
# Signals: abandon while staging, hold while renaming


class _Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Guard:
    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None

    def handler(self, signum: int, frame: object) -> None:
        if self.holding:
            self.pending = self.pending or signum
            return
        self.holding = True  # a second signal during the clean-up waits for it
        raise _Interrupted(signum)


@contextmanager
def _signals_guarded(where: str) -> Iterator[_Guard]:
    guard = _Guard()
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            prev = signal.getsignal(sig)
            if prev is signal.SIG_IGN or prev is None:
                continue
            previous[sig] = prev
            signal.signal(sig, guard.handler)
    abandoned = False
    try:
        yield guard
    except _Interrupted as exc:
        guard.pending, abandoned = exc.signum, True
    finally:
        for sig, prev in previous.items():
            signal.signal(sig, prev)  # type: ignore[arg-type]
    if guard.pending is not None:
        # Deliver the signal as if pgforge had not been holding it: the default action ends the
        # process by it (its exit status says so); a Python handler runs (SIGINT: KeyboardInterrupt).
        sig = guard.pending
        prev = previous.get(sig, signal.SIG_DFL)
        if callable(prev):
            prev(sig, None)
        elif prev == signal.SIG_DFL:
            os.kill(os.getpid(), sig)
        if abandoned:
            raise UserError(f"interrupted by {signal.Signals(sig).name}; nothing was written", where)


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

    tree = _Tree(root)
    try:
        with _signals_guarded(str(root)) as guard:
            return _write(tree, targets, guard, force=force, sync=sync, backup=backup, keep_mode=keep_mode,
                          owner=owner)
    finally:
        tree.close()


def _write(tree: _Tree, targets: list[_Target], guard: _Guard, *, force: bool, sync: bool, backup: bool,
           keep_mode: bool, owner: tuple[int, int] | None) -> WriteResult:
    # 1. Look, touching nothing.
    try:
        for t in targets:
            t.dfd = tree.open(t.dir, create=False)
            st = _lstat(t.name, t.dfd) if t.dfd is not None else None
            if st is None:
                continue
            if not stat.S_ISREG(st.st_mode):
                raise UserError(_refusal(_kind(st.st_mode)), str(t.path))
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


def _discard(work: list[_Target], tree: _Tree) -> None:
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
