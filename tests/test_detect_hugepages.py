"""Huge pages probe: page size and reserved/free counts from /proc/meminfo, THP mode as a note."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeroot import GIB, FakeRoot

from pgforge.detect.hugepages import THP_PATH, probe_huge_pages, transparent_mode


@pytest.fixture
def fr(tmp_path: Path) -> FakeRoot:
    return FakeRoot(tmp_path / "root")


def test_reserved_huge_pages(fr: FakeRoot) -> None:
    fr.meminfo(64 * GIB, hugepagesize_kb=2048, hp_total=4222, hp_free=100)
    probe = probe_huge_pages(fr.path)
    assert probe.value == {"page_size": 2 * 1024 * 1024, "total": 4222, "free": 100}
    assert probe.notes[0].source == "/proc/meminfo"
    assert probe.notes[0].message.startswith("4222 huge pages of 2 MiB reserved (100 free")


def test_gigantic_pages(fr: FakeRoot) -> None:
    fr.meminfo(64 * GIB, hugepagesize_kb=1048576, hp_total=8, hp_free=8)
    assert probe_huge_pages(fr.path).value == {"page_size": GIB, "total": 8, "free": 8}


def test_no_hugepagesize_is_undetected(fr: FakeRoot) -> None:
    fr.meminfo(64 * GIB, hugepagesize_kb=None)
    probe = probe_huge_pages(fr.path)
    assert probe.value is None
    assert "Hugepagesize" in (probe.reason or "")


def test_missing_meminfo_is_undetected(fr: FakeRoot) -> None:
    assert probe_huge_pages(fr.path).value is None


@pytest.mark.parametrize(
    ("text", "mode"),
    [("always [madvise] never\n", "madvise"), ("[always] madvise never\n", "always"), ("garbage", None)],
)
def test_transparent_mode(fr: FakeRoot, text: str, mode: str | None) -> None:
    fr.write(THP_PATH, text)
    assert transparent_mode(fr.path) == mode


def test_thp_always_is_flagged_in_a_note(fr: FakeRoot) -> None:
    fr.meminfo(8 * GIB)
    fr.write(THP_PATH, "[always] madvise never\n")
    notes = probe_huge_pages(fr.path).notes
    thp = [n for n in notes if n.source == THP_PATH]
    assert len(thp) == 1 and "latency spikes" in thp[0].message


def test_thp_missing_adds_no_note(fr: FakeRoot) -> None:
    fr.meminfo(8 * GIB)
    assert [n.source for n in probe_huge_pages(fr.path).notes] == ["/proc/meminfo"]
