"""The bundle writer: all or nothing, modes as asked, never a silent overwrite.

A config bundle half written is worse than none (a postgresql.conf from one run beside a
pg_hba.conf from another), and secret-bearing files must never be readable, even briefly. These
tests break the writer on purpose, part-way through staging, and look at what is left.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from pgforge import writer
from pgforge.errors import UserError
from pgforge.writer import OutFile, write_bundle


def files3() -> list[OutFile]:
    return [
        OutFile("postgresql.conf", "shared_buffers = 1GB\n", 0o644),
        OutFile("userlist.txt", '"app" "SCRAM-SHA-256$secret"\n', 0o600),
        OutFile("scripts/backup.sh", "#!/bin/sh\necho hi\n", 0o755),
    ]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if "pgforge-tmp" in p.name]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_all_files_with_their_modes(tmp_path: Path) -> None:
    old = os.umask(0o000)  # the modes must not depend on the caller's umask ...
    try:
        result = write_bundle(tmp_path / "b", files3())
    finally:
        os.umask(old)
    root = tmp_path / "b"
    assert tree(root) == {f.path: f.content.encode() for f in files3()}
    assert mode(root / "postgresql.conf") == 0o644
    assert mode(root / "userlist.txt") == 0o600
    assert mode(root / "scripts/backup.sh") == 0o755
    assert [p.name for p in result.written] == ["postgresql.conf", "userlist.txt", "backup.sh"]
    assert result.backups == [] and result.unchanged == []


def test_modes_hold_under_a_strict_umask_too(tmp_path: Path) -> None:
    old = os.umask(0o077)  # ... in either direction
    try:
        write_bundle(tmp_path, files3())
    finally:
        os.umask(old)
    assert mode(tmp_path / "postgresql.conf") == 0o644 and mode(tmp_path / "scripts/backup.sh") == 0o755


def test_unchanged_files_are_reported_and_left_alone(tmp_path: Path) -> None:
    write_bundle(tmp_path, files3())
    inode = (tmp_path / "postgresql.conf").stat().st_ino
    result = write_bundle(tmp_path, files3())
    assert sorted(p.name for p in result.unchanged) == ["backup.sh", "postgresql.conf", "userlist.txt"]
    assert result.written == [] and result.backups == []
    assert (tmp_path / "postgresql.conf").stat().st_ino == inode  # not even rewritten


def test_existing_different_file_stops_everything_without_force(tmp_path: Path) -> None:
    (tmp_path / "userlist.txt").write_text("mine\n")
    with pytest.raises(UserError) as info:
        write_bundle(tmp_path, files3())
    assert "--force" in str(info.value) and info.value.where == str(tmp_path / "userlist.txt")
    assert tree(tmp_path) == {"userlist.txt": b"mine\n"}, "no other file may be written either"
    assert not leftovers(tmp_path)


def test_force_backs_up_each_replaced_file_with_its_old_mode(tmp_path: Path) -> None:
    write_bundle(tmp_path, files3())
    changed = [OutFile(f.path, f.content + "# v2\n", f.mode) for f in files3()]
    (tmp_path / "userlist.txt").write_bytes(b"old secret\n")
    result = write_bundle(tmp_path, changed, force=True)
    assert len(result.backups) == 3
    backup = next(p for p in result.backups if p.name.startswith("userlist.txt.bak-"))
    assert backup.read_bytes() == b"old secret\n"
    assert mode(backup) == 0o600, "a backup of a secret stays private"
    assert (tmp_path / "userlist.txt").read_text().endswith("# v2\n")
    # a second forced write in the same second gets a distinct backup name
    again = [OutFile(f.path, f.content + "# v3\n", f.mode) for f in files3()]
    result2 = write_bundle(tmp_path, again, force=True)
    assert not set(result2.backups) & set(result.backups)
    assert all(p.exists() for p in result.backups + result2.backups)


def test_failure_creating_the_second_temp_file_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_bundle(tmp_path, files3()[:1])  # an existing postgresql.conf that must survive
    before = tree(tmp_path)
    real_create = writer._create_temp
    calls = []

    def failing_create(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise OSError(errno.EACCES, "Permission denied")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(writer, "_create_temp", failing_create)
    changed = [OutFile(f.path, f.content + "# v2\n", f.mode) for f in files3()]
    with pytest.raises(UserError, match="cannot write"):
        write_bundle(tmp_path, changed, force=True)
    assert len(calls) == 2
    assert tree(tmp_path) == before, "nothing replaced, nothing new"
    assert not leftovers(tmp_path), "the first staged temp file must be removed"
    assert not list(tmp_path.glob("*.bak-*"))


def test_disk_full_while_writing_the_second_file_leaves_no_temp_files(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write_bundle(tmp_path, files3()[:1])
    before = tree(tmp_path)
    real_fsync = os.fsync
    calls = []

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(writer.os, "fsync", failing_fsync)
    changed = [OutFile(f.path, f.content + "# v2\n", f.mode) for f in files3()]
    with pytest.raises((OSError, UserError)):
        write_bundle(tmp_path, changed, force=True)
    monkeypatch.undo()
    assert tree(tmp_path) == before
    assert not leftovers(tmp_path), leftovers(tmp_path)


def test_disk_full_is_reported_as_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer.os, "fsync", failing_fsync)
    with pytest.raises(UserError):
        write_bundle(tmp_path, files3())


def test_failure_while_renaming_does_not_lose_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the rename phase fails, the file that was to be replaced survives as a backup."""
    write_bundle(tmp_path, files3()[:1])
    old = (tmp_path / "postgresql.conf").read_bytes()

    def failing_replace(src, dst, **kwargs):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(writer.os, "replace", failing_replace)
    with pytest.raises(UserError, match="nothing was changed"):
        write_bundle(tmp_path, [OutFile("postgresql.conf", "x = 1\n")], force=True)
    monkeypatch.undo()
    assert (tmp_path / "postgresql.conf").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["postgresql.conf"], "no backup, no temp file left"


def test_bad_targets_are_user_errors(tmp_path: Path) -> None:
    (tmp_path / "postgresql.conf").mkdir()
    with pytest.raises(UserError, match="is a directory"):
        write_bundle(tmp_path, files3())
    with pytest.raises(UserError, match="twice"):
        write_bundle(tmp_path / "x", [OutFile("a", "1"), OutFile("a", "2")])
    afile = tmp_path / "plain"
    afile.write_text("")
    with pytest.raises(UserError, match="not a directory"):
        write_bundle(afile, files3())
    assert not (tmp_path / "x").exists()
