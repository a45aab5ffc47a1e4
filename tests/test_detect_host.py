"""detect_host: probes combined into one Detection, on a fake container and on this machine."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from fakeroot import GIB, NVME_PCI, FakeRoot, fake_runner

from pgforge.detect import Detection, Note, detect_host
from pgforge.detect.host import FIELDS

CONFIGURE_17 = "'--prefix=/usr' '--with-lz4' '--with-zstd'"


def container(tmp_path: Path) -> FakeRoot:
    """A 64-CPU, 64 GiB host; the container gets 2 GiB and 2 CPUs; its data dir is on a spinning disk."""
    fr = FakeRoot(tmp_path / "root")
    fr.meminfo(64 * GIB, hp_total=0, hp_free=0)
    fr.cpus(allowed="0-63", online="0-63")
    fr.cgroup_v2("/", {"memory.max": f"{2 * GIB}\n", "cpu.max": "200000 100000\n"})
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI)
    fr.disk("sdb", "8:16", rotational="1", partitions={"sdb1": "8:17"})
    fr.mount("/", "259:0", source="/dev/nvme0n1")
    fr.mount("/var/lib/postgresql/data", "8:17", source="/dev/sdb1")
    fr.data_dir("/var/lib/postgresql/data", "17")
    return fr


def test_container_detection(tmp_path: Path) -> None:
    fr = container(tmp_path)
    run = fake_runner({("pg_config", "--version"): "PostgreSQL 17.5\n", ("pg_config", "--configure"): CONFIGURE_17})
    d = detect_host(fr.path, env={"PGDATA": "/var/lib/postgresql/data"}, run=run)
    assert d.values == {
        "memory": 2 * GIB,
        "cpus": 2,
        # the data directory's disk, not the root filesystem's NVMe
        "storage": "hdd",
        "pg_version": 17,
        "data_dir": "/var/lib/postgresql/data",
        "data_size": "1MB",  # 16kB of relation files, rounded up to whole MB
        "pg_build": {"lz4": True, "zstd": True, "io_uring": False},
        "huge_pages": {"page_size": 2 * 1024 * 1024, "total": 0, "free": 0},
    }
    assert d.undetected == {}
    memory_note = next(n for n in d.notes if n.field == "memory")
    assert memory_note == Note("memory", "cgroup v2 memory.max", "memory limited by cgroup v2 memory.max to 2 GiB of 64 GiB")
    # notes come in FIELDS order
    seen = list(dict.fromkeys(n.field for n in d.notes))
    assert seen == [f for f in FIELDS if f in seen]


def test_explicit_data_dir_steers_storage(tmp_path: Path) -> None:
    fr = container(tmp_path)
    d = detect_host(fr.path, Path("/srv/new"))  # not there yet: nearest existing parent is / on NVMe
    assert d.values["storage"] == "nvme"
    assert d.values["data_dir"] == "/srv/new"
    assert "pg_version" in d.undetected


def test_empty_root_reports_every_field_undetected(tmp_path: Path) -> None:
    # This machine has pg_lsclusters and pg_config: had detect_host run them for a fake root,
    # data_dir and pg_version would have been found.
    d = detect_host(tmp_path)
    assert d.values == {}
    assert set(d.undetected) == set(FIELDS)
    assert all(reason for reason in d.undetected.values())


def test_to_dict_is_json_ready(tmp_path: Path) -> None:
    d = detect_host(container(tmp_path).path)
    data = json.loads(json.dumps(d.to_dict()))
    assert set(data) == {"values", "notes", "undetected"}
    assert data["values"]["memory"] == 2 * GIB
    assert {"field", "source", "message"} == set(data["notes"][0])


def test_detection_is_frozen() -> None:
    d = Detection(values={"cpus": 2})
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.values = {}  # type: ignore[misc]


def test_real_machine_is_sane() -> None:
    import psutil

    d = detect_host()
    assert isinstance(d.values["memory"], int) and 0 < d.values["memory"] <= psutil.virtual_memory().total
    assert isinstance(d.values["cpus"], int) and 1 <= d.values["cpus"] <= (os.cpu_count() or 1)
    assert d.values["cpus"] <= len(os.sched_getaffinity(0))
    assert d.values.get("storage") in (None, "ssd", "nvme", "hdd", "san")
    assert all(n.source and n.message for n in d.notes)
    json.dumps(d.to_dict())
    # psutil and /proc/meminfo read the same MemTotal on the live root.
    assert detect_host(use_psutil=False).values["memory"] == d.values["memory"]
