"""Host auto-detection: what ``pgforge detect`` and ``generate --auto`` read from the machine.

Every probe reads files through a ``root`` directory instead of ``/`` so tests can hand it a fake
``/proc``, ``/sys`` and cgroup tree built in a temporary directory. Probes never raise on a
missing or garbled file: they report what they found, where they found it (a :class:`Note`), and
why a value could not be found, and leave defaults to the caller. Detection never *decides* a
setting; it only describes the host.

This module holds the vocabulary the probes share (:class:`Note`, :class:`Probe`), safe file
readers, a chroot-style symlink resolver, and cgroup discovery, which both the memory and the CPU
probe need. :func:`detect_host` and :class:`Detection` live in :mod:`pgforge.detect.host` and are
re-exported here lazily, so importing a single probe does not import all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pgforge.inputs import MAX_FILE_BYTES, read_bytes

if TYPE_CHECKING:  # pragma: no cover - names re-exported lazily below
    from pgforge.detect.host import Detection, detect_host

__all__ = [
    "CgroupDir",
    "Detection",
    "Mount",
    "Note",
    "Probe",
    "cgroup_dirs",
    "detect_host",
    "exists",
    "is_dir",
    "is_file",
    "is_live_root",
    "list_dir",
    "read_int",
    "read_meminfo",
    "read_text",
    "resolve_under",
    "under",
]


@dataclass(frozen=True)
class Note:
    """Where one detected value came from, in words a user can check by hand."""

    field: str
    source: str
    message: str


@dataclass(frozen=True)
class Probe:
    """The outcome of one probe: a value, or ``None`` and the reason it could not be found."""

    field: str
    value: object | None = None
    notes: tuple[Note, ...] = ()
    reason: str | None = None

    @classmethod
    def found(cls, field: str, value: object, *notes: Note) -> Probe:
        return cls(field=field, value=value, notes=tuple(notes))

    @classmethod
    def missing(cls, field: str, reason: str, *notes: Note) -> Probe:
        return cls(field=field, value=None, notes=tuple(notes), reason=reason)


def __getattr__(name: str) -> object:
    # PEP 562 lazy re-export: host.py imports every probe, and the probes import this module.
    if name in ("Detection", "detect_host"):
        from pgforge.detect import host

        return getattr(host, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# Reading files under a root


def is_live_root(root: Path) -> bool:
    """True when ``root`` is this machine's ``/``, where live calls (psutil, affinity, binaries) agree with the files."""
    try:
        return Path(root).resolve() == Path("/").resolve()
    except OSError:
        return False


def under(root: Path, path: str | PurePosixPath) -> Path:
    """The real location of the host path ``path`` (``/proc/meminfo``) inside ``root``."""
    return Path(root) / str(path).lstrip("/")


# os.path's predicates return False on any OSError; Path.exists()/is_dir() re-raise
# PermissionError (a data directory inside a 0700 parent), which would crash a probe.


def exists(root: Path, path: str | PurePosixPath) -> bool:
    return os.path.exists(under(root, path))


def is_dir(root: Path, path: str | PurePosixPath) -> bool:
    return os.path.isdir(under(root, path))


def is_file(root: Path, path: str | PurePosixPath) -> bool:
    return os.path.isfile(under(root, path))


def list_dir(root: Path, path: str | PurePosixPath) -> list[str]:
    """Sorted entry names, or ``[]`` when the directory is missing or unreadable."""
    try:
        return sorted(os.listdir(under(root, path)))
    except OSError:
        return []


def read_text(root: Path, path: str | PurePosixPath) -> str | None:
    """File contents, or ``None`` when it is missing, unreadable or not text (never raises)."""
    try:
        # bounded, regular files only: a root's /proc or /sys file swapped for a FIFO or a
        # device must not hang or exhaust detection (pgforge.inputs)
        return read_bytes(under(root, path), limit=MAX_FILE_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def read_int(root: Path, path: str | PurePosixPath) -> int | None:
    """A file holding one integer (``memory.limit_in_bytes``, ``rotational``), else ``None``."""
    text = read_text(root, path)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def read_meminfo(root: Path) -> dict[str, int]:
    """``/proc/meminfo`` as a dict; ``kB`` values are converted to bytes, bare counts kept as is.

    Garbled lines are skipped, so one bad line does not hide ``MemTotal``.
    """
    text = read_text(root, "/proc/meminfo") or ""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or not parts:
            continue
        try:
            number = int(parts[0])
        except ValueError:
            continue
        if len(parts) > 1 and parts[1] == "kB":
            number *= 1024
        values[key.strip()] = number
    return values


def resolve_under(root: Path, path: str | PurePosixPath) -> PurePosixPath:
    """Follow symlinks in the host path ``path`` as if ``root`` were ``/`` (like ``realpath`` in a chroot).

    Absolute link targets restart at ``root`` rather than at the real ``/``, so a fake tree can
    use the same links as real sysfs without escaping. Components that do not exist are kept as
    written, which lets callers walk up to the nearest existing parent.
    """
    pending = list(PurePosixPath("/", str(path)).parts[1:])
    pending.reverse()
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        real = under(root, PurePosixPath("/", *resolved, part))
        if hops < 40 and os.path.islink(real):
            hops += 1
            try:
                target = os.readlink(real)
            except OSError:
                resolved.append(part)
                continue
            if target.startswith("/"):
                resolved = []
            pending.extend(reversed(PurePosixPath(target).parts[1 if target.startswith("/") else 0 :]))
            continue
        resolved.append(part)
    return PurePosixPath("/", *resolved)


# --------------------------------------------------------------------------------------------
# cgroups


@dataclass(frozen=True)
class CgroupDir:
    """This process's cgroup directory for one hierarchy, and the mount point above which we cannot see.

    ``leaf`` and ``mount`` are host paths (read them with :func:`under`). Limits are inherited, so
    callers read a limit file in every directory from ``leaf`` up to ``mount`` and keep the smallest.
    """

    version: int
    leaf: PurePosixPath
    mount: PurePosixPath

    @property
    def label(self) -> str:
        return f"cgroup v{self.version}"

    def chain(self) -> list[PurePosixPath]:
        """``leaf``, its parents, up to and including ``mount``."""
        dirs = [self.leaf]
        current = self.leaf
        while current != self.mount and self.mount in current.parents:
            current = current.parent
            dirs.append(current)
        return dirs


@dataclass(frozen=True)
class Mount:
    """One line of ``/proc/self/mountinfo`` (paths unescaped)."""

    mount_id: str
    major_minor: str
    root: str
    point: str
    fstype: str
    source: str
    super_options: tuple[str, ...] = ()


def _unescape_mountinfo(text: str) -> str:
    # The kernel writes space, tab, newline and backslash in paths as 3-digit octal escapes.
    out, i = [], 0
    while i < len(text):
        chunk = text[i : i + 4]
        if len(chunk) == 4 and chunk[0] == "\\" and chunk[1:].isdigit():
            try:
                out.append(chr(int(chunk[1:], 8)))
                i += 4
                continue
            except ValueError:
                pass
        out.append(text[i])
        i += 1
    return "".join(out)


def read_mountinfo(root: Path) -> list[Mount]:
    """Mounts from ``/proc/self/mountinfo`` in kernel order; malformed lines are skipped."""
    mounts = []
    for line in (read_text(root, "/proc/self/mountinfo") or "").splitlines():
        fields = line.split()
        try:
            dash = fields.index("-", 6)
            mounts.append(
                Mount(
                    mount_id=fields[0],
                    major_minor=fields[2],
                    root=_unescape_mountinfo(fields[3]),
                    point=_unescape_mountinfo(fields[4]),
                    fstype=fields[dash + 1],
                    source=_unescape_mountinfo(fields[dash + 2]),
                    super_options=tuple(fields[dash + 3].split(",")) if len(fields) > dash + 3 else (),
                )
            )
        except (ValueError, IndexError):
            continue
    return mounts


def _read_proc_cgroup(root: Path) -> list[tuple[str, tuple[str, ...], str]]:
    """``/proc/self/cgroup`` lines as (hierarchy id, controllers, path)."""
    entries = []
    for line in (read_text(root, "/proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[2].startswith("/"):
            continue
        hid, controllers, path = parts
        entries.append((hid, tuple(c for c in controllers.split(",") if c), path.strip()))
    return entries


def _dir_in_mount(root: Path, cgroup_path: str, mount_root: str, mount_point: str) -> PurePosixPath:
    """Map a path from ``/proc/self/cgroup`` to a directory under the hierarchy's mount point.

    Inside containers the mount often shows only the container's own cgroup (mount root
    ``/docker/<id>``, or a cgroup namespace where the path reads ``/``), and the path named in
    ``/proc/self/cgroup`` may not exist below the mount. Then the mount point itself is the
    process's cgroup, the deepest directory we can see.
    """
    point = PurePosixPath(mount_point)
    if ".." in PurePosixPath(cgroup_path).parts:
        return point
    cg = PurePosixPath(cgroup_path)
    mroot = PurePosixPath(mount_root or "/")
    if cg == mroot:
        relative = PurePosixPath(".")
    elif mroot in cg.parents:
        relative = cg.relative_to(mroot)
    else:
        return point
    candidate = point / relative if str(relative) != "." else point
    return candidate if is_dir(root, candidate) else point


def cgroup_dirs(root: Path, controller: str) -> list[CgroupDir]:
    """This process's cgroup directories that may hold ``controller`` limits (v2 unified and v1).

    Both are returned on hybrid hosts (v1 controllers plus a v2 ``unified`` mount, as on the machine
    pgforge was built on); a hierarchy without the controller simply has no limit file to read.
    Without ``/proc/self/mountinfo`` the conventional mount points under ``/sys/fs/cgroup`` are tried.
    """
    entries = _read_proc_cgroup(root)
    mounts = read_mountinfo(root)
    found: list[CgroupDir] = []
    for hid, controllers, path in entries:
        if hid == "0" and not controllers:
            v2 = [m for m in mounts if m.fstype == "cgroup2"]
            if v2:
                m = v2[0]
                found.append(CgroupDir(2, _dir_in_mount(root, path, m.root, m.point), PurePosixPath(m.point)))
            elif not mounts and is_file(root, "/sys/fs/cgroup/cgroup.controllers"):
                found.append(CgroupDir(2, _dir_in_mount(root, path, "/", "/sys/fs/cgroup"), PurePosixPath("/sys/fs/cgroup")))
        elif controller in controllers:
            v1 = [m for m in mounts if m.fstype == "cgroup" and controller in m.super_options]
            if v1:
                m = v1[0]
                found.append(CgroupDir(1, _dir_in_mount(root, path, m.root, m.point), PurePosixPath(m.point)))
            elif not mounts:
                for name in (controller, ",".join(controllers)):
                    point = f"/sys/fs/cgroup/{name}"
                    if is_dir(root, point):
                        found.append(CgroupDir(1, _dir_in_mount(root, path, "/", point), PurePosixPath(point)))
                        break
    return found
