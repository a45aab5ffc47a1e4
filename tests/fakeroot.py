"""Build fake ``/proc``, ``/sys`` and cgroup trees in a temporary directory for the detect probes.

The trees mirror the real kernel layout closely enough that the probes cannot tell the
difference: sysfs links are relative (``/sys/dev/block/259:0 -> ../../devices/.../nvme0n1``), a
partition is a subdirectory of its disk holding a ``partition`` file, and dm/md devices list their
members in ``slaves/``. Everything is built in code so no fixture directories are committed.
"""

from __future__ import annotations

import os
from pathlib import Path

GIB = 1024**3
KIB = 1024
V1_UNLIMITED = 9223372036854771712  # what cgroup v1 reports when no memory limit is set

NVME_PCI = "devices/pci0000:00/0000:00:04.0/nvme/nvme0"
SATA_PCI = "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0"
VIRTIO_PCI = "devices/pci0000:00/0000:00:02.0/virtio1"
ISCSI_PATH = "devices/platform/host3/session1/target3:0:0/3:0:0:0"
FC_PATH = "devices/pci0000:00/0000:00:03.0/0000:05:00.0/host5/rport-5:0-0/target5:0:0/5:0:0:0"


class FakeRoot:
    """A fake machine rooted at ``path``; methods write the files a probe would read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mounts: list[str] = []
        self._cgroup_lines: list[str] = []
        path.mkdir(parents=True, exist_ok=True)

    # ---- plain files -------------------------------------------------------------------------

    def host(self, host_path: str) -> Path:
        return self.path / host_path.lstrip("/")

    def write(self, host_path: str, text: str | bytes) -> Path:
        target = self.host(host_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
        return target

    def mkdir(self, host_path: str) -> Path:
        target = self.host(host_path)
        target.mkdir(parents=True, exist_ok=True)
        return target

    def link(self, host_path: str, target: str) -> None:
        """Symlink ``host_path`` -> ``target`` (written as given: relative, or absolute inside the root)."""
        link = self.host(host_path)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        os.symlink(target, link)

    def rel_link(self, host_path: str, host_target: str) -> None:
        """Symlink ``host_path`` to ``host_target`` with a relative target, as sysfs does."""
        rel = os.path.relpath("/" + host_target.lstrip("/"), os.path.dirname("/" + host_path.lstrip("/")))
        self.link(host_path, rel)

    # ---- memory and CPUs ---------------------------------------------------------------------

    def meminfo(self, total: int, *, hugepagesize_kb: int | None = 2048, hp_total: int = 0, hp_free: int = 0) -> None:
        """``/proc/meminfo`` with MemTotal ``total`` bytes (written in kB, as the kernel does)."""
        lines = [f"MemTotal:       {total // KIB} kB", "MemFree:        1000 kB", "AnonHugePages:         0 kB"]
        lines += [f"HugePages_Total:   {hp_total}", f"HugePages_Free:    {hp_free}", "HugePages_Rsvd:        0"]
        if hugepagesize_kb is not None:
            lines.append(f"Hugepagesize:       {hugepagesize_kb} kB")
        self.write("/proc/meminfo", "\n".join(lines) + "\n")

    def cpus(self, allowed: str | None = None, online: str | None = None, cpuinfo_count: int | None = None) -> None:
        """Affinity (``Cpus_allowed_list``), ``/sys/devices/system/cpu/online`` and ``/proc/cpuinfo``."""
        if allowed is not None:
            self.write("/proc/self/status", f"Name:\tpython\nCpus_allowed:\tff\nCpus_allowed_list:\t{allowed}\nMems_allowed_list:\t0\n")
        if online is not None:
            self.write("/sys/devices/system/cpu/online", online + "\n")
        if cpuinfo_count is not None:
            blocks = [f"processor\t: {i}\nvendor_id\t: GenuineIntel\n" for i in range(cpuinfo_count)]
            self.write("/proc/cpuinfo", "\n".join(blocks))

    # ---- mounts and cgroups ------------------------------------------------------------------

    def mount(self, point: str, major_minor: str, fstype: str = "ext4", source: str = "/dev/sda1",
              *, root: str = "/", super_options: str = "rw") -> None:
        """Add a line to ``/proc/self/mountinfo`` (spaces in paths escaped as the kernel does).

        The mount point is created, as it exists on a real machine.
        """
        self.mkdir(point)
        esc = lambda s: s.replace("\\", "\\134").replace(" ", "\\040")  # noqa: E731
        mount_id = 20 + len(self._mounts)
        self._mounts.append(f"{mount_id} 1 {major_minor} {esc(root)} {esc(point)} rw,relatime shared:1 - {fstype} {esc(source)} {super_options}")
        self.write("/proc/self/mountinfo", "\n".join(self._mounts) + "\n")

    def _cgroup_line(self, line: str) -> None:
        self._cgroup_lines.append(line)
        self.write("/proc/self/cgroup", "\n".join(self._cgroup_lines) + "\n")

    def cgroup_v2(self, path: str = "/", files: dict[str, str] | None = None, *,
                  mount_root: str = "/", point: str = "/sys/fs/cgroup") -> None:
        """A cgroup v2 hierarchy: ``0::path`` and a cgroup2 mount; ``files`` are relative to the mount point."""
        self._cgroup_line(f"0::{path}")
        self.mount(point, "0:26", "cgroup2", "cgroup2", root=mount_root, super_options="rw,nsdelegate")
        self.write(f"{point}/cgroup.controllers", "cpuset cpu io memory pids\n")
        if mount_root == "/":
            self.mkdir(f"{point}/{path.lstrip('/')}")
        for rel, text in (files or {}).items():
            self.write(f"{point}/{rel}", text)

    def cgroup_v1(self, controllers: str, path: str, files: dict[str, str] | None = None, *,
                  mount_root: str = "/", create_leaf: bool = True) -> str:
        """A v1 hierarchy for ``controllers`` (``memory`` or ``cpu,cpuacct``) mounted at ``/sys/fs/cgroup/<controllers>``.

        ``files`` are relative to that mount point. Returns the mount point.
        """
        point = f"/sys/fs/cgroup/{controllers}"
        self._cgroup_line(f"{len(self._cgroup_lines) + 2}:{controllers}:{path}")
        self.mount(point, f"0:{30 + len(self._mounts)}", "cgroup", "cgroup", root=mount_root, super_options=f"rw,{controllers}")
        self.mkdir(point)
        if create_leaf and mount_root == "/":
            self.mkdir(f"{point}/{path.lstrip('/')}")
        for rel, text in (files or {}).items():
            self.write(f"{point}/{rel}", text)
        return point

    # ---- block devices -----------------------------------------------------------------------

    def disk(self, name: str, major_minor: str, *, rotational: str | None = "0", devpath: str = SATA_PCI,
             partitions: dict[str, str] | None = None, transport: str | None = None) -> str:
        """A whole disk under ``/sys/<devpath>/block/<name>`` with the usual links; returns its sysfs path."""
        real = f"/sys/{devpath}/block/{name}"
        self.mkdir(real)
        if rotational is not None:
            self.write(f"{real}/queue/rotational", rotational + "\n")
        if transport is not None:
            self.write(f"{real}/device/transport", transport + "\n")
        self._block_links(name, major_minor, real)
        self.rel_link(f"/sys/block/{name}", real)
        for part, part_mm in (partitions or {}).items():
            self.write(f"{real}/{part}/partition", "1\n")
            self._block_links(part, part_mm, f"{real}/{part}")
        return real

    def stacked(self, name: str, major_minor: str, slaves: list[str], *, dm_name: str | None = None,
                rotational: str | None = "0") -> str:
        """A dm-* or md* device over ``slaves`` (names of disks or partitions already added)."""
        real = f"/sys/devices/virtual/block/{name}"
        self.mkdir(f"{real}/slaves")
        if rotational is not None:
            self.write(f"{real}/queue/rotational", rotational + "\n")
        if dm_name is not None:
            self.write(f"{real}/dm/name", dm_name + "\n")
        for slave in slaves:
            target = os.readlink(self.host(f"/sys/class/block/{slave}"))
            slave_real = os.path.normpath(os.path.join("/sys/class/block", target))
            self.rel_link(f"{real}/slaves/{slave}", slave_real)
        self._block_links(name, major_minor, real)
        self.rel_link(f"/sys/block/{name}", real)
        return real

    def _block_links(self, name: str, major_minor: str, real: str) -> None:
        self.write(f"{real}/dev", major_minor + "\n")
        self.rel_link(f"/sys/dev/block/{major_minor}", real)
        self.rel_link(f"/sys/class/block/{name}", real)

    # ---- processes ---------------------------------------------------------------------------

    def process(self, pid: int, argv: list[str], *, exe: str | None = None, environ: dict[str, str] | None = None) -> None:
        """``/proc/<pid>/cmdline`` (NUL-separated), optionally ``exe`` (a dangling link) and ``environ``."""
        self.write(f"/proc/{pid}/cmdline", b"\0".join(a.encode() for a in argv) + b"\0")
        if exe is not None:
            self.link(f"/proc/{pid}/exe", exe)
        if environ is not None:
            self.write(f"/proc/{pid}/environ", b"\0".join(f"{k}={v}".encode() for k, v in environ.items()) + b"\0")

    def data_dir(self, host_path: str, pg_version: str | None = "17") -> None:
        """A data directory, with ``PG_VERSION`` unless ``pg_version`` is None, and (with it) two
        8kB relation files under ``base/`` and ``global/`` for the data-size probe."""
        self.mkdir(host_path)
        if pg_version is not None:
            self.write(f"{host_path}/PG_VERSION", pg_version + "\n")
            self.write(f"{host_path}/base/5/1259", bytes(8192))
            self.write(f"{host_path}/global/1262", bytes(8192))


def fake_runner(outputs: dict[tuple[str, ...], str]):
    """A ``run`` callable answering known argv tuples and recording every call in ``.calls``."""
    calls: list[tuple[str, ...]] = []

    def run(argv):
        calls.append(tuple(argv))
        return outputs.get(tuple(argv))

    run.calls = calls  # type: ignore[attr-defined]
    return run
