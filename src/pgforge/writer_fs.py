"""The file-system half of :mod:`pgforge.writer`: directories held open below a root, and signals held.

* :class:`DirTree` opens each directory below the root with ``O_NOFOLLOW|O_DIRECTORY`` relative
  to its parent's descriptor (creating it when asked), so nothing below the root is followed, and
  removes the directories one write created when that write is abandoned.
* :func:`lstat_at` and :func:`refusal`: what is at a name, and the message that refuses anything
  but a regular file (what a file is, in words, is :func:`pgforge.inputs.file_kind`).
* :func:`write_all` writes every byte, continuing after short writes.
* :func:`signals_guarded` catches SIGTERM, SIGINT and SIGHUP while a write runs: abandon while
  staging, hold while renaming, then deliver the signal as before.

The policy (what is written, ``force``, backups, undo, tightening the mode of unchanged secrets)
is :mod:`pgforge.writer`, the one writer every command calls; its docstring states the
guarantees these operations serve. The reading counterpart (no link followed, bounded reads) is
:mod:`pgforge.inputs`.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pgforge.errors import UserError
from pgforge.inputs import file_kind

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n))


def refusal(kind: str) -> str:
    if kind == "a symbolic link":
        return "is a symbolic link; pgforge does not follow links inside the directory it writes to (remove it)"
    if kind == "a directory":
        return "is a directory, cannot write a file there"
    return f"is {kind}, not a regular file; pgforge only replaces regular files"


class DirTree:
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
                fd = os.open(name, DIR_FLAGS, dir_fd=parent)
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
                    kind = file_kind(os.lstat(name, dir_fd=parent).st_mode)
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


def lstat_at(name: str, dfd: int) -> os.stat_result | None:
    try:
        return os.lstat(name, dir_fd=dfd)
    except FileNotFoundError:
        return None


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``, continuing after short writes."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.EIO, "the file system accepted no bytes")
        view = view[n:]


# --------------------------------------------------------------------------------------------
# Signals: abandon while staging, hold while renaming


class Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class SignalGuard:
    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None

    def handler(self, signum: int, frame: object) -> None:
        if self.holding:
            self.pending = self.pending or signum
            return
        self.holding = True  # a second signal during the clean-up waits for it
        raise Interrupted(signum)


@contextmanager
def signals_guarded(where: str) -> Iterator[SignalGuard]:
    guard = SignalGuard()
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            prev = signal.getsignal(sig)
            if prev is signal.SIG_IGN or prev is None:
                continue
            previous[sig] = prev
            signal.signal(sig, guard.handler)
    abandoned = False
    try:
        yield guard
    except Interrupted as exc:
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
