"""Memory probe: host MemTotal capped by the tightest cgroup v1/v2 limit, over fake trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeroot import GIB, V1_UNLIMITED, FakeRoot

from pgforge.detect import CgroupDir, cgroup_dirs, read_meminfo
from pgforge.detect.memory import probe_memory


@pytest.fixture
def fr(tmp_path: Path) -> FakeRoot:
    root = FakeRoot(tmp_path / "root")
    root.meminfo(64 * GIB)
    return root


def test_cgroup_v2_limit_caps_host_memory(fr: FakeRoot) -> None:
    fr.cgroup_v2("/kubepods/pod1", {"kubepods/pod1/memory.max": f"{2 * GIB}\n", "kubepods/pod1/memory.high": "max\n"})
    probe = probe_memory(fr.path)
    assert probe.value == 2 * GIB
    (note,) = probe.notes
    assert note.source == "cgroup v2 memory.max"
    assert note.message == "memory limited by cgroup v2 memory.max to 2 GiB of 64 GiB"


def test_cgroup_v2_max_means_no_limit(fr: FakeRoot) -> None:
    fr.cgroup_v2("/user.slice", {"user.slice/memory.max": "max\n"})
    probe = probe_memory(fr.path)
    assert probe.value == 64 * GIB
    assert probe.notes[0].source == "/proc/meminfo"
    assert "no cgroup memory limit" in probe.notes[0].message


def test_cgroup_v2_parent_limit_applies_to_child(fr: FakeRoot) -> None:
    fr.cgroup_v2(
        "/machine.slice/app.scope",
        {"machine.slice/memory.max": f"{8 * GIB}\n", "machine.slice/app.scope/memory.max": "max\n"},
    )
    assert probe_memory(fr.path).value == 8 * GIB


def test_cgroup_v2_smallest_of_nested_limits_wins(fr: FakeRoot) -> None:
    fr.cgroup_v2("/a/b", {"a/memory.max": f"{3 * GIB}\n", "a/b/memory.max": f"{5 * GIB}\n"})
    assert probe_memory(fr.path).value == 3 * GIB


def test_cgroup_v2_memory_high_is_treated_as_ceiling(fr: FakeRoot) -> None:
    fr.cgroup_v2("/svc", {"svc/memory.max": f"{8 * GIB}\n", "svc/memory.high": f"{6 * GIB}\n"})
    probe = probe_memory(fr.path)
    assert probe.value == 6 * GIB
    assert probe.notes[0].source == "cgroup v2 memory.high"


def test_cgroup_v2_namespace_sees_own_cgroup_as_root(fr: FakeRoot) -> None:
    # docker --cgroupns=private: "0::/" and the limit sits at the mount point itself.
    fr.cgroup_v2("/", {"memory.max": f"{4 * GIB}\n"})
    assert probe_memory(fr.path).value == 4 * GIB


def test_cgroup_v1_limit(fr: FakeRoot) -> None:
    fr.cgroup_v1("memory", "/docker/abc", {"docker/abc/memory.limit_in_bytes": f"{4 * GIB}\n"})
    probe = probe_memory(fr.path)
    assert probe.value == 4 * GIB
    assert probe.notes[0].source == "cgroup v1 memory.limit_in_bytes"


def test_cgroup_v1_unlimited_value(fr: FakeRoot) -> None:
    fr.cgroup_v1("memory", "/docker/abc", {"docker/abc/memory.limit_in_bytes": f"{V1_UNLIMITED}\n"})
    probe = probe_memory(fr.path)
    assert probe.value == 64 * GIB
    assert "no cgroup memory limit" in probe.notes[0].message


def test_cgroup_v1_container_mount_root_is_its_own_cgroup(fr: FakeRoot) -> None:
    # Without a cgroup namespace the container's mount root is /docker/abc while
    # /proc/self/cgroup still names /docker/abc: the limit file is at the mount point.
    fr.cgroup_v1("memory", "/docker/abc", {"memory.limit_in_bytes": f"{3 * GIB}\n"}, mount_root="/docker/abc")
    assert probe_memory(fr.path).value == 3 * GIB


def test_cgroup_v1_path_not_visible_falls_back_to_mount_point(fr: FakeRoot) -> None:
    fr.cgroup_v1("memory", "/docker/abc", {"memory.limit_in_bytes": f"{GIB}\n"}, create_leaf=False)
    assert probe_memory(fr.path).value == GIB


def test_hybrid_v1_memory_and_empty_v2_unified(fr: FakeRoot) -> None:
    # The layout of the build machine: v1 controllers, plus "0::/" on a controller-less unified mount.
    fr.cgroup_v1("memory", "/process_api/x", {"process_api/x/memory.limit_in_bytes": f"{V1_UNLIMITED}\n"})
    fr.cgroup_v2("/", point="/sys/fs/cgroup/unified")
    groups = cgroup_dirs(fr.path, "memory")
    assert {g.version for g in groups} == {1, 2}
    assert probe_memory(fr.path).value == 64 * GIB


def test_no_cgroup_files_at_all(fr: FakeRoot) -> None:
    probe = probe_memory(fr.path)
    assert probe.value == 64 * GIB
    assert probe.reason is None


def test_limit_above_host_ram_does_not_raise_memory(fr: FakeRoot) -> None:
    fr.cgroup_v2("/big", {"big/memory.max": f"{128 * GIB}\n"})
    probe = probe_memory(fr.path)
    assert probe.value == 64 * GIB
    assert "is not below it" in probe.notes[0].message


def test_garbled_limit_file_is_ignored_with_a_note(fr: FakeRoot) -> None:
    fr.cgroup_v2("/svc", {"svc/memory.max": "lots\n", "memory.max": f"{2 * GIB}\n"})
    probe = probe_memory(fr.path)
    assert probe.value == 2 * GIB
    assert any("ignored unreadable value 'lots'" in n.message for n in probe.notes)


def test_missing_meminfo_uses_cgroup_limit(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path)
    fr.cgroup_v2("/svc", {"svc/memory.max": f"{2 * GIB}\n"})
    probe = probe_memory(fr.path)
    assert probe.value == 2 * GIB
    assert "host total unknown" in probe.notes[0].message


def test_garbled_meminfo_and_no_cgroup_is_undetected(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path)
    fr.write("/proc/meminfo", "MemTotal: lots kB\n\x00garbage\n")
    probe = probe_memory(fr.path)
    assert probe.value is None
    assert "MemTotal" in (probe.reason or "")


def test_meminfo_parser_converts_kb_and_keeps_counts(fr: FakeRoot) -> None:
    info = read_meminfo(fr.path)
    assert info["MemTotal"] == 64 * GIB
    assert info["HugePages_Total"] == 0
    assert info["Hugepagesize"] == 2 * 1024 * 1024


def test_psutil_is_not_used_for_a_fake_root(fr: FakeRoot) -> None:
    # use_psutil=True must not leak the real machine's RAM into a fake tree.
    assert probe_memory(fr.path, use_psutil=True).value == 64 * GIB


def test_cgroup_chain_stops_at_mount_point() -> None:
    from pathlib import PurePosixPath as P

    group = CgroupDir(2, P("/sys/fs/cgroup/a/b"), P("/sys/fs/cgroup"))
    assert group.chain() == [P("/sys/fs/cgroup/a/b"), P("/sys/fs/cgroup/a"), P("/sys/fs/cgroup")]
