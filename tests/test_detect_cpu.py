"""CPU probe: affinity mask capped by cgroup CPU quota, over fake trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeroot import FakeRoot

from pgforge.detect.cpu import parse_cpu_list, probe_cpus


@pytest.fixture
def fr(tmp_path: Path) -> FakeRoot:
    return FakeRoot(tmp_path / "root")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0-3,8,10-11", {0, 1, 2, 3, 8, 10, 11}), ("0", {0}), ("0-63\n", set(range(64))), ("2, 4-5", {2, 4, 5})],
)
def test_parse_cpu_list(text: str, expected: set[int]) -> None:
    assert parse_cpu_list(text) == expected


@pytest.mark.parametrize("text", ["", "a-b", "3-1", "-1", "0-"])
def test_parse_cpu_list_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cpu_list(text)


def test_container_with_affinity_two_of_64(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-1", online="0-63", cpuinfo_count=64)
    probe = probe_cpus(fr.path)
    assert probe.value == 2
    assert probe.notes[0].source == "/proc/self/status Cpus_allowed_list"
    assert probe.notes[0].message == "2 CPUs from /proc/self/status Cpus_allowed_list of 64 online; no cgroup CPU quota"


def test_container_with_cpu_max_two_of_64(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-63", online="0-63")
    fr.cgroup_v2("/docker/abc", {"docker/abc/cpu.max": "200000 100000\n"})
    probe = probe_cpus(fr.path)
    assert probe.value == 2
    assert probe.notes[0].source == "cgroup v2 cpu.max"
    assert "quota 200000/100000 µs = 2 CPUs of 64 allowed" in probe.notes[0].message


def test_cpu_max_unlimited(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-63")
    fr.cgroup_v2("/docker/abc", {"docker/abc/cpu.max": "max 100000\n"})
    assert probe_cpus(fr.path).value == 64


def test_fractional_quota_rounds_up(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-7")
    fr.cgroup_v2("/pod", {"pod/cpu.max": "150000 100000\n"})
    probe = probe_cpus(fr.path)
    assert probe.value == 2
    assert "1.5 CPUs, rounded up to 2" in probe.notes[0].message


def test_tiny_quota_still_gives_one_cpu(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-7")
    fr.cgroup_v2("/pod", {"pod/cpu.max": "10000 100000\n"})
    assert probe_cpus(fr.path).value == 1


def test_parent_quota_is_tighter_than_child(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-15")
    fr.cgroup_v2("/kubepods/pod", {"kubepods/cpu.max": "300000 100000\n", "kubepods/pod/cpu.max": "800000 100000\n"})
    assert probe_cpus(fr.path).value == 3


def test_cgroup_v1_quota_with_cpu_cpuacct_mount(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-31")
    fr.cgroup_v1("cpu,cpuacct", "/docker/abc", {
        "docker/abc/cpu.cfs_quota_us": "400000\n",
        "docker/abc/cpu.cfs_period_us": "100000\n",
    })
    probe = probe_cpus(fr.path)
    assert probe.value == 4
    assert probe.notes[0].source == "cgroup v1 cpu.cfs_quota_us"


def test_cgroup_v1_quota_minus_one_is_unlimited(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-31")
    fr.cgroup_v1("cpu,cpuacct", "/", {"cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n"})
    probe = probe_cpus(fr.path)
    assert probe.value == 32
    assert "no cgroup CPU quota" in probe.notes[0].message


def test_quota_above_affinity_is_reported_but_not_used(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-1")
    fr.cgroup_v2("/a", {"a/cpu.max": "800000 100000\n"})
    probe = probe_cpus(fr.path)
    assert probe.value == 2
    assert "is not below it" in probe.notes[0].message


def test_garbled_cpu_max_is_ignored_with_note(fr: FakeRoot) -> None:
    fr.cpus(allowed="0-3")
    fr.cgroup_v2("/a", {"a/cpu.max": "lots\n"})
    probe = probe_cpus(fr.path)
    assert probe.value == 4
    assert any("ignored unreadable value 'lots'" in n.message for n in probe.notes)


def test_garbled_affinity_falls_back_to_online(fr: FakeRoot) -> None:
    fr.write("/proc/self/status", "Cpus_allowed_list:\tnonsense\n")
    fr.cpus(online="0-5")
    probe = probe_cpus(fr.path)
    assert probe.value == 6
    assert probe.notes[0].source == "/sys/devices/system/cpu/online"


def test_cpuinfo_is_the_last_fallback(fr: FakeRoot) -> None:
    fr.cpus(cpuinfo_count=3)
    fr.write("/sys/devices/system/cpu/online", "garbage\n")
    probe = probe_cpus(fr.path)
    assert probe.value == 3
    assert probe.notes[0].source == "/proc/cpuinfo"


def test_quota_alone_is_enough(fr: FakeRoot) -> None:
    fr.cgroup_v2("/a", {"a/cpu.max": "300000 100000\n"})
    assert probe_cpus(fr.path).value == 3


def test_nothing_readable_is_undetected(fr: FakeRoot) -> None:
    probe = probe_cpus(fr.path)
    assert probe.value is None
    assert "/proc/cpuinfo" in (probe.reason or "")
