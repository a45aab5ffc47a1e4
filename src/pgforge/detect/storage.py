"""Storage class under the data directory: ``nvme``, ``ssd``, ``hdd`` or ``san``.

The path is mapped to its filesystem by the longest mount-point prefix in
``/proc/self/mountinfo``, the filesystem to a block device by its ``major:minor`` through
``/sys/dev/block`` (or, for filesystems such as btrfs that report an anonymous ``0:N``, by the
``/dev`` source), and the device to the disks that hold it:

* a partition (it has a ``partition`` file) becomes its parent disk;
* device-mapper (LVM, LUKS, multipath: ``dm-*``) and md RAID become their ``slaves/``, recursively.
  When the disks below differ, the slowest class wins, since the array is as slow as its slowest member.

Each disk is then classified: ``nvme*`` is ``nvme`` (or ``san`` for NVMe over TCP/RDMA/FC); a
sysfs path through an iSCSI ``session*`` or a Fibre Channel ``rport-*`` is ``san``; virtio
(``vd*``) and Xen (``xvd*``) disks are ``ssd`` whatever their rotational flag says, because the
hypervisor sets that flag without knowing the backing storage (the build VM's virtio disk
reports 1), and the note says so; otherwise ``queue/rotational`` 1 is ``hdd`` and 0 is ``ssd``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pgforge.detect import Mount, Note, Probe, exists, is_dir, is_file, list_dir, read_mountinfo, read_text, resolve_under

FIELD = "storage"
# Stacked devices take the slowest member's class.
_SLOWNESS = {"nvme": 0, "ssd": 1, "san": 2, "hdd": 3}
_NVME_FABRICS = {"tcp": "TCP", "rdma": "RDMA", "fc": "Fibre Channel"}
_ISCSI_SESSION = re.compile(r"^session\d+$")
_MAX_DEPTH = 8


@dataclass(frozen=True)
class Disk:
    """One physical (or virtual) disk and why it was classified as it was."""

    name: str
    kind: str | None
    source: str
    why: str


def nearest_existing(root: Path, path: str | PurePosixPath) -> PurePosixPath:
    """``path`` with symlinks resolved inside ``root``, or its nearest existing parent (a data dir before initdb)."""
    current = resolve_under(root, path)
    while not exists(root, current) and current != current.parent:
        current = current.parent
    return current


def find_mount(root: Path, path: PurePosixPath) -> Mount | None:
    """The mount holding ``path``: the longest mount point that is ``path`` or one of its parents.

    Among equal mount points the last one wins, since a later mount hides an earlier one.
    """
    best: Mount | None = None
    best_len = -1
    for mount in read_mountinfo(root):
        point = PurePosixPath(mount.point)
        if point == path or point in path.parents:
            length = len(point.parts)
            if length >= best_len:
                best, best_len = mount, length
    return best


def _device_dir(root: Path, mount: Mount) -> PurePosixPath | None:
    """The sysfs directory of the mount's block device, or ``None``."""
    if not mount.major_minor.startswith("0:"):
        candidate = resolve_under(root, f"/sys/dev/block/{mount.major_minor}")
        if is_dir(root, candidate):
            return candidate
    if mount.source.startswith("/dev/"):
        name = resolve_under(root, mount.source).name
        if mount.source.startswith("/dev/mapper/") and not name.startswith("dm-"):
            # /dev/mapper/vg-lv is normally a link to ../dm-N; without /dev, match dm/name instead.
            for entry in list_dir(root, "/sys/block"):
                if entry.startswith("dm-") and (read_text(root, f"/sys/block/{entry}/dm/name") or "").strip() == name:
                    name = entry
                    break
        candidate = resolve_under(root, f"/sys/class/block/{name}")
        if is_dir(root, candidate):
            return candidate
    return None


def classify_disk(root: Path, disk: PurePosixPath) -> Disk:
    """Class of one whole disk from its name, its sysfs path (transport) and ``queue/rotational``."""
    name = disk.name
    parts = disk.parts
    sys_block = f"/sys/block/{name}"
    if name.startswith("nvme"):
        transport = (read_text(root, disk / "device" / "transport") or "").strip()
        if transport in _NVME_FABRICS:
            return Disk(name, "san", f"{sys_block}/device/transport", f"{name} is NVMe over {_NVME_FABRICS[transport]}")
        return Disk(name, "nvme", sys_block, f"{name} is an NVMe device")
    if any(_ISCSI_SESSION.match(p) for p in parts):
        return Disk(name, "san", sys_block, f"{name} is reached through an iSCSI session")
    if any(p.startswith("rport-") for p in parts):
        return Disk(name, "san", sys_block, f"{name} is reached through a Fibre Channel remote port")
    rotational = read_text(root, disk / "queue" / "rotational")
    flag = rotational.strip() if rotational is not None else None
    source = f"{sys_block}/queue/rotational"
    virtual = name.startswith(("vd", "xvd")) or any(p.startswith(("virtio", "vbd-")) for p in parts)
    if virtual:
        if flag == "0":
            return Disk(name, "ssd", source, f"{name} is a virtual disk flagged non-rotational")
        shown = f"rotational={flag}" if flag is not None else "no rotational flag"
        return Disk(
            name,
            "ssd",
            source,
            f"{name} is a virtual disk ({shown}); hypervisors set that flag without knowing the backing "
            "storage, so ssd is assumed: set storage explicitly if it is spinning disk or a SAN",
        )
    if flag == "1":
        return Disk(name, "hdd", source, f"{name} is rotational")
    if flag == "0":
        return Disk(name, "ssd", source, f"{name} is non-rotational")
    shown = "missing" if flag is None else f"unreadable ({flag[:20]!r})"
    return Disk(name, None, source, f"{name}: queue/rotational is {shown}")


def _slave_dir(root: Path, holder: PurePosixPath, name: str) -> PurePosixPath | None:
    for candidate in (holder / "slaves" / name, PurePosixPath("/sys/class/block", name)):
        resolved = resolve_under(root, candidate)
        if is_dir(root, resolved):
            return resolved
    return None


def disks_below(root: Path, device: PurePosixPath, trail: list[str], depth: int = 0) -> list[Disk]:
    """The whole disks holding ``device``: partition -> disk, dm/md -> slaves (recursively).

    ``trail`` collects the steps taken (``nvme0n1p2 is a partition of nvme0n1``) for the note.
    """
    if is_file(root, device / "partition") and device.parent.name != "block":
        trail.append(f"{device.name} is a partition of {device.parent.name}")
        device = device.parent
    slaves = list_dir(root, device / "slaves")
    if slaves and depth < _MAX_DEPTH:
        kind = "device-mapper" if device.name.startswith("dm-") else "md RAID" if device.name.startswith("md") else "stacked"
        trail.append(f"{device.name} is {kind} over {', '.join(slaves)}")
        found: list[Disk] = []
        for name in slaves:
            slave = _slave_dir(root, device, name)
            if slave is None:
                found.append(Disk(name, None, f"{device}/slaves/{name}", f"{name}: not found in sysfs"))
            else:
                found.extend(disks_below(root, slave, trail, depth + 1))
        return found
    return [classify_disk(root, device)]


def probe_storage(root: Path = Path("/"), path: str | PurePosixPath | None = None) -> Probe:
    """Storage class of the disk holding ``path`` (the data directory; ``/`` when unknown)."""
    wanted = PurePosixPath(str(path)) if path is not None else PurePosixPath("/")
    existing = nearest_existing(root, wanted)
    where = str(wanted) if existing == wanted else f"{wanted} (nearest existing: {existing})"
    mount = find_mount(root, existing)
    if mount is None:
        return Probe.missing(FIELD, f"no mount found for {where} in /proc/self/mountinfo")
    on = f"{where} is on {mount.source} ({mount.fstype} at {mount.point})"
    device = _device_dir(root, mount)
    if device is None:
        return Probe.missing(FIELD, f"{on}, which has no block device pgforge can inspect")
    trail: list[str] = []
    disks = disks_below(root, device, trail)
    known = [d for d in disks if d.kind is not None]
    if not known:
        why = "; ".join(d.why for d in disks)
        return Probe.missing(FIELD, f"{on}: {'; '.join([*trail, why])}")
    slowest = max(known, key=lambda d: _SLOWNESS[d.kind or "ssd"])
    kinds = sorted({d.kind for d in known if d.kind}, key=_SLOWNESS.__getitem__)
    steps = [*trail, *(d.why for d in disks)]
    if len(kinds) > 1:
        steps.append(f"members differ ({', '.join(kinds)}), so the slowest, {slowest.kind}, is used")
    message = f"{slowest.kind}: {on}; {'; '.join(steps)}"
    return Probe.found(FIELD, slowest.kind, Note(FIELD, slowest.source, message))
