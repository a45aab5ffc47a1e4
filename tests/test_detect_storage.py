"""Storage probe: data directory -> mount -> block device -> disks -> class, over fake sysfs trees."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from fakeroot import FC_PATH, ISCSI_PATH, NVME_PCI, SATA_PCI, VIRTIO_PCI, FakeRoot

from pgforge.detect import read_mountinfo, resolve_under
from pgforge.detect.storage import find_mount, nearest_existing, probe_storage


@pytest.fixture
def fr(tmp_path: Path) -> FakeRoot:
    return FakeRoot(tmp_path / "root")


def test_nvme_disk(fr: FakeRoot) -> None:
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI, rotational="0")
    fr.mount("/", "259:0", source="/dev/nvme0n1")
    probe = probe_storage(fr.path)
    assert probe.value == "nvme"
    assert probe.notes[0].message.startswith("nvme: / is on /dev/nvme0n1 (ext4 at /)")


def test_rotational_disk_is_hdd(fr: FakeRoot) -> None:
    fr.disk("sda", "8:0", rotational="1")
    fr.mount("/", "8:0", source="/dev/sda")
    probe = probe_storage(fr.path)
    assert probe.value == "hdd"
    assert probe.notes[0].source == "/sys/block/sda/queue/rotational"


def test_non_rotational_sata_is_ssd(fr: FakeRoot) -> None:
    fr.disk("sda", "8:0", rotational="0")
    fr.mount("/", "8:0", source="/dev/sda")
    assert probe_storage(fr.path).value == "ssd"


def test_partition_resolves_to_parent_disk(fr: FakeRoot) -> None:
    fr.disk("sda", "8:0", rotational="1", partitions={"sda1": "8:1", "sda2": "8:2"})
    fr.mount("/", "8:2", source="/dev/sda2")
    probe = probe_storage(fr.path)
    assert probe.value == "hdd"
    assert "sda2 is a partition of sda" in probe.notes[0].message


def test_device_mapper_resolves_to_nvme_slave(fr: FakeRoot) -> None:
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI, partitions={"nvme0n1p2": "259:2"})
    # dm devices often report rotational=1 (e.g. dm-crypt): the slave must decide, not dm-0.
    fr.stacked("dm-0", "253:0", ["nvme0n1p2"], dm_name="vg-root", rotational="1")
    fr.mount("/", "253:0", source="/dev/mapper/vg-root")
    probe = probe_storage(fr.path)
    assert probe.value == "nvme"
    message = probe.notes[0].message
    assert "dm-0 is device-mapper over nvme0n1p2" in message
    assert "nvme0n1p2 is a partition of nvme0n1" in message


def test_md_raid_over_mixed_disks_takes_the_slowest(fr: FakeRoot) -> None:
    fr.disk("sda", "8:0", rotational="1")
    fr.disk("sdb", "8:16", rotational="0")
    fr.stacked("md0", "9:0", ["sda", "sdb"])
    fr.mount("/data", "9:0", source="/dev/md0")
    probe = probe_storage(fr.path, "/data")
    assert probe.value == "hdd"
    assert "members differ (ssd, hdd)" in probe.notes[0].message


def test_lvm_on_md_on_nvme(fr: FakeRoot) -> None:
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI)
    fr.disk("nvme1n1", "259:1", devpath=NVME_PCI.replace("nvme0", "nvme1"))
    fr.stacked("md0", "9:0", ["nvme0n1", "nvme1n1"])
    fr.stacked("dm-1", "253:1", ["md0"], dm_name="vg-pg")
    fr.mount("/var/lib/postgresql", "253:1", source="/dev/mapper/vg-pg")
    assert probe_storage(fr.path, "/var/lib/postgresql/17/main").value == "nvme"


def test_virtio_disk_defaults_to_ssd_and_says_why(fr: FakeRoot) -> None:
    fr.disk("vda", "254:0", devpath=VIRTIO_PCI, rotational="1")
    fr.mount("/", "254:0", source="/dev/vda")
    probe = probe_storage(fr.path)
    assert probe.value == "ssd"
    assert "virtual disk (rotational=1)" in probe.notes[0].message
    assert "set storage explicitly" in probe.notes[0].message


def test_xen_disk_is_virtual(fr: FakeRoot) -> None:
    fr.disk("xvda", "202:0", devpath="devices/vbd-51712", rotational="1")
    fr.mount("/", "202:0", source="/dev/xvda")
    assert probe_storage(fr.path).value == "ssd"


def test_iscsi_disk_is_san(fr: FakeRoot) -> None:
    fr.disk("sdc", "8:32", devpath=ISCSI_PATH, rotational="1")
    fr.mount("/pg", "8:32", source="/dev/sdc")
    probe = probe_storage(fr.path, "/pg")
    assert probe.value == "san"
    assert "iSCSI" in probe.notes[0].message


def test_fibre_channel_disk_is_san(fr: FakeRoot) -> None:
    fr.disk("sdd", "8:48", devpath=FC_PATH, rotational="0")
    fr.mount("/pg", "8:48", source="/dev/sdd")
    assert probe_storage(fr.path, "/pg").value == "san"


def test_nvme_over_tcp_is_san(fr: FakeRoot) -> None:
    fr.disk("nvme2n1", "259:5", devpath="devices/virtual/nvme-fabrics/ctl/nvme2", transport="tcp")
    fr.mount("/pg", "259:5", source="/dev/nvme2n1")
    probe = probe_storage(fr.path, "/pg")
    assert probe.value == "san"
    assert "NVMe over TCP" in probe.notes[0].message


def test_longest_mount_prefix_wins(fr: FakeRoot) -> None:
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI)
    fr.disk("sdb", "8:16", rotational="1")
    fr.mount("/", "259:0", source="/dev/nvme0n1")
    fr.mount("/var/lib/postgresql", "8:16", source="/dev/sdb")
    fr.mount("/var/lib/postgresql-old", "259:0", source="/dev/nvme0n1")
    fr.data_dir("/var/lib/postgresql/17/main")
    assert probe_storage(fr.path, "/var/lib/postgresql/17/main").value == "hdd"
    assert probe_storage(fr.path, "/var/lib").value == "nvme"


def test_missing_data_dir_uses_nearest_existing_parent(fr: FakeRoot) -> None:
    fr.disk("sdb", "8:16", rotational="1")
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI)
    fr.mount("/", "259:0", source="/dev/nvme0n1")
    fr.mount("/srv/pg", "8:16", source="/dev/sdb")
    fr.mkdir("/srv/pg")
    probe = probe_storage(fr.path, "/srv/pg/18/main")
    assert probe.value == "hdd"
    assert "(nearest existing: /srv/pg)" in probe.notes[0].message
    assert nearest_existing(fr.path, "/nowhere/at/all") == PurePosixPath("/")


def test_symlinked_data_dir_follows_link_inside_root(fr: FakeRoot) -> None:
    fr.disk("sdb", "8:16", rotational="1")
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI)
    fr.mount("/", "259:0", source="/dev/nvme0n1")
    fr.mount("/data", "8:16", source="/dev/sdb")
    fr.mkdir("/data/pg")
    fr.link("/var/lib/postgresql", "/data/pg")  # absolute target: must stay inside the fake root
    assert resolve_under(fr.path, "/var/lib/postgresql/17") == PurePosixPath("/data/pg/17")
    assert probe_storage(fr.path, "/var/lib/postgresql/17/main").value == "hdd"


def test_btrfs_anonymous_device_uses_mount_source(fr: FakeRoot) -> None:
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI, partitions={"nvme0n1p2": "259:2"})
    fr.mount("/", "0:33", fstype="btrfs", source="/dev/nvme0n1p2")
    assert probe_storage(fr.path).value == "nvme"


def test_dev_mapper_source_is_matched_by_dm_name(fr: FakeRoot) -> None:
    fr.disk("sda", "8:0", rotational="1")
    fr.stacked("dm-3", "253:3", ["sda"], dm_name="vg-data")
    fr.mount("/data", "0:40", fstype="btrfs", source="/dev/mapper/vg-data")
    assert probe_storage(fr.path, "/data").value == "hdd"


def test_overlay_root_is_undetected_with_reason(fr: FakeRoot) -> None:
    fr.mount("/", "0:45", fstype="overlay", source="overlay")
    probe = probe_storage(fr.path)
    assert probe.value is None
    assert probe.reason == "/ is on overlay (overlay at /), which has no block device pgforge can inspect"


def test_missing_rotational_flag_is_undetected(fr: FakeRoot) -> None:
    fr.disk("sda", "8:0", rotational=None)
    fr.mount("/", "8:0", source="/dev/sda")
    probe = probe_storage(fr.path)
    assert probe.value is None
    assert "queue/rotational is missing" in (probe.reason or "")


def test_garbled_rotational_flag_is_undetected(fr: FakeRoot) -> None:
    fr.disk("sda", "8:0", rotational="maybe")
    fr.mount("/", "8:0", source="/dev/sda")
    assert "unreadable ('maybe')" in (probe_storage(fr.path).reason or "")


def test_no_mountinfo_is_undetected(fr: FakeRoot) -> None:
    probe = probe_storage(fr.path)
    assert probe.value is None
    assert "no mount found" in (probe.reason or "")


def test_garbled_mountinfo_lines_are_skipped(fr: FakeRoot) -> None:
    fr.disk("sda", "8:0", rotational="1")
    fr.write("/proc/self/mountinfo", "garbage line\n\n27 1 8:0 / / rw - ext4 /dev/sda rw\n1 2 3\n")
    assert [m.point for m in read_mountinfo(fr.path)] == ["/"]
    assert probe_storage(fr.path).value == "hdd"


def test_mountinfo_escapes_are_decoded(fr: FakeRoot) -> None:
    fr.disk("sdb", "8:16", rotational="1")
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI)
    fr.mount("/", "259:0", source="/dev/nvme0n1")
    fr.mount("/mnt/my disk", "8:16", source="/dev/sdb")
    mount = find_mount(fr.path, PurePosixPath("/mnt/my disk/pg"))
    assert mount is not None and mount.point == "/mnt/my disk"
    assert probe_storage(fr.path, "/mnt/my disk").value == "hdd"


def test_overmount_last_one_wins(fr: FakeRoot) -> None:
    fr.disk("sda", "8:0", rotational="1")
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI)
    fr.mount("/data", "8:0", source="/dev/sda")
    fr.mount("/data", "259:0", source="/dev/nvme0n1")
    assert probe_storage(fr.path, "/data").value == "nvme"


def test_sata_path_constant_is_not_mistaken_for_san(fr: FakeRoot) -> None:
    # SATA disks live under .../host0/target0:0:0/...: "host" alone must not mean SAN.
    assert "host0" in SATA_PCI
    fr.disk("sda", "8:0", rotational="0")
    fr.mount("/", "8:0", source="/dev/sda")
    assert probe_storage(fr.path).value == "ssd"
