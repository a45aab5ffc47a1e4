"""The one writer under attack (issue 12, items 4, 5 and 10): links planted in the output directory,
a temporary name taken in advance, short writes, a real full file system, SIGTERM in the middle,
devices as targets, an empty ``-o``, and a secret left readable.

Each test looks at what is left on disk: nothing outside the root touched, no final name half
written, no ``.pgforge-tmp`` file behind. The ENOSPC tests mount a tiny tmpfs (root only).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pgforge import writer
from pgforge.errors import UserError
from pgforge.fleet import generate_inventory
from pgforge.writer import OutFile, write_bundle

SECRET = '"app" "SCRAM-SHA-256$secret"\n'


def files3() -> list[OutFile]:
    return [
        OutFile("postgresql.conf", "shared_buffers = 1GB\n", 0o644),
        OutFile("userlist.txt", SECRET, 0o600),
        OutFile("scripts/backup.sh", "#!/bin/sh\necho hi\n", 0o755),
    ]


def everything(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if "pgforge-tmp" in p.name]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


INVENTORY = "all:\n  vars: {pgforge_memory: 4GB, pgforge_cpus: 2}\n  hosts:\n    h1:\n"


def inventory(tmp_path: Path, text: str = INVENTORY) -> Path:
    inv = tmp_path / "hosts.yaml"
    inv.write_text(text)
    return inv


# ------------------------------------------------------------------------------------ links


def test_a_link_at_a_final_name_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    root, victim = tmp_path / "out", tmp_path / "victim"
    root.mkdir()
    victim.write_text("precious\n")
    (root / "userlist.txt").symlink_to(victim)
    for force in (False, True):
        with pytest.raises(UserError, match="symbolic link") as info:
            write_bundle(root, files3(), force=force)
        assert info.value.where == str(root / "userlist.txt")
    assert victim.read_text() == "precious\n"
    assert everything(root) == ["userlist.txt"], "nothing else written either"


def test_a_link_as_an_intermediate_directory_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "out", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "scripts").symlink_to(outside)
    with pytest.raises(UserError, match="symbolic link") as info:
        write_bundle(root, files3(), force=True)
    assert info.value.where == str(root / "scripts")
    assert list(outside.iterdir()) == [], "nothing may be created through the link"
    assert everything(root) == ["scripts"]


def test_fleet_refuses_a_link_planted_as_a_host_directory(tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (outside / "postgresql.conf").write_text("theirs\n")
    (out / "h1").symlink_to(outside)
    result = generate_inventory(inventory(tmp_path), out, force=True, progress=False)
    assert result.results[0].status == "failed" and "symbolic link" in result.results[0].error
    assert sorted(p.name for p in outside.iterdir()) == ["postgresql.conf"]
    assert (outside / "postgresql.conf").read_text() == "theirs\n"


def test_fleet_refuses_a_link_planted_at_a_file_name(tmp_path: Path) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim"
    (out / "h1").mkdir(parents=True)
    victim.write_text("theirs\n")
    (out / "h1" / "MANIFEST.json").symlink_to(victim)
    result = generate_inventory(inventory(tmp_path), out, force=True, progress=False)
    assert result.results[0].status == "failed" and "symbolic link" in result.results[0].error
    assert victim.read_text() == "theirs\n"
    assert sorted(p.name for p in (out / "h1").iterdir()) == ["MANIFEST.json"], "all or nothing per host"


def test_a_temporary_name_taken_in_advance_is_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """O_CREAT|O_EXCL|O_NOFOLLOW: a link planted at the exact temporary name is left alone."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    root = tmp_path / "out"
    root.mkdir()
    planted = root / ".postgresql.conf.aaaaaaaaaaaa.pgforge-tmp"
    planted.symlink_to(victim)
    tokens = iter(["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc", "dddddddddddd", "eeeeeeeeeeee"])
    monkeypatch.setattr(writer.secrets, "token_hex", lambda n: next(tokens))
    write_bundle(root, [OutFile("postgresql.conf", "x = 1\n")])
    assert victim.read_text() == "precious\n"
    assert planted.is_symlink(), "someone else's file is not ours to remove"
    assert (root / "postgresql.conf").read_text() == "x = 1\n"


# ------------------------------------------------------------------------------ short writes


def _short_writes(monkeypatch: pytest.MonkeyPatch, limit: int) -> list[int]:
    real_write, sizes = os.write, []

    def short(fd, data):
        sizes.append(len(data))
        return real_write(fd, bytes(data[:limit]))

    monkeypatch.setattr(os, "write", short)
    return sizes


def test_short_writes_are_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = "".join(f"# line {i}\n" for i in range(2000))
    sizes = _short_writes(monkeypatch, 1000)
    write_bundle(tmp_path, [OutFile("postgresql.conf", big)])
    monkeypatch.undo()
    assert (tmp_path / "postgresql.conf").read_text() == big
    assert len(sizes) > 10


def test_fleet_writes_whole_files_despite_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = tmp_path / "whole"
    generate_inventory(inventory(tmp_path), whole, jobs=1, progress=False)
    _short_writes(monkeypatch, 512)
    short = tmp_path / "short"
    generate_inventory(inventory(tmp_path), short, jobs=1, progress=False)
    monkeypatch.undo()
    for p in (whole / "h1").iterdir():
        assert (short / "h1" / p.name).read_bytes() == p.read_bytes(), p.name


def test_a_write_that_stores_nothing_is_an_error_not_a_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "write", lambda fd, data: 0)
    with pytest.raises(UserError, match="cannot write"):
        write_bundle(tmp_path / "b", files3())
    monkeypatch.undo()
    assert not (tmp_path / "b").exists(), "the directories this write created go too"


# ------------------------------------------------------------------------------ a full disk


@pytest.fixture
def tiny_fs(tmp_path: Path):
    """An 8 KiB tmpfs: two pages, so the second file of a bundle meets a real ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        if os.environ.get("CI", "").strip().lower() == "true":  # CI runs as root: the real ENOSPC must run
            pytest.fail(f"cannot mount a tmpfs in CI: {p.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_enospc_in_a_bundle_leaves_nothing(tiny_fs: Path) -> None:
    files = [OutFile("postgresql.conf", "a" * 4000), OutFile("pg_hba.conf", "b" * 4000, 0o600),
             OutFile("scripts/x.sh", "c" * 6000, 0o755)]
    with pytest.raises(UserError, match="No space left") as info:
        write_bundle(tiny_fs / "bundle", files)
    assert "pgforge: error" not in str(info.value)
    assert everything(tiny_fs) == [], "no final name, no temporary file, no directory"


def test_enospc_for_a_fleet_host_leaves_nothing_of_that_host(tiny_fs: Path, tmp_path: Path) -> None:
    result = generate_inventory(inventory(tmp_path), tiny_fs / "out", jobs=1, progress=False)
    assert result.results[0].status == "failed" and "No space left" in result.results[0].error
    assert [p for p in (tiny_fs / "out").rglob("*") if p.is_file()] == []
    assert not leftovers(tiny_fs)


# ------------------------------------------------------------------------------ signals

SIGTERM_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from pgforge.writer import OutFile, write_bundle

    marker = Path(sys.argv[2])
    def slow_fsync(fd):
        marker.write_text("staging")
        time.sleep(60)
    os.fsync = slow_fsync
    files = [OutFile("postgresql.conf", "x = 1\\n"), OutFile("conf/userlist.txt", "s\\n", 0o600),
             OutFile("MANIFEST.json", "{}\\n")]
    write_bundle(Path(sys.argv[1]), files)
    print("finished")
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_mid_write_leaves_no_temporary_file(tmp_path: Path, sig: int) -> None:
    root, marker = tmp_path / "out", tmp_path / "marker"
    root.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, str(root), str(marker)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert marker.exists(), proc.communicate()
    assert leftovers(root), "the write is under way: its temporary file exists"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -sig, (proc.returncode, err)
    assert "finished" not in out and "Traceback" not in err
    assert everything(root) == [], "no temporary file, no final name, no directory"


def test_previous_signal_handlers_are_restored(tmp_path: Path) -> None:
    def mine(signum, frame):  # pragma: no cover - never called
        pass

    old = signal.signal(signal.SIGTERM, mine)
    try:
        write_bundle(tmp_path, files3())
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)


# ------------------------------------------------------------------------------ special targets


def _fail_after(seconds: int):
    def boom(signum, frame):
        raise TimeoutError("the writer hung on a special file")

    return signal.signal(signal.SIGALRM, boom)


def test_special_files_at_a_target_name_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "postgresql.conf")
    old = _fail_after(10)
    signal.alarm(10)  # reading a FIFO without O_NONBLOCK would wait for a writer forever
    try:
        with pytest.raises(UserError, match="FIFO"):
            write_bundle(tmp_path, files3(), force=True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert stat.S_ISFIFO((tmp_path / "postgresql.conf").lstat().st_mode)
    assert everything(tmp_path) == ["postgresql.conf"]


def test_unchanged_secret_with_a_loose_mode_is_tightened(tmp_path: Path) -> None:
    write_bundle(tmp_path, files3())
    os.chmod(tmp_path / "userlist.txt", 0o644)
    os.chmod(tmp_path / "scripts/backup.sh", 0o700)  # narrower than the bundle's: left as is
    result = write_bundle(tmp_path, files3())
    assert mode(tmp_path / "userlist.txt") == 0o600
    assert mode(tmp_path / "scripts/backup.sh") == 0o700
    assert result.tightened == [(tmp_path / "userlist.txt", 0o644, 0o600)]
    assert result.written == [] and len(result.unchanged) == 3


# ------------------------------------------------------------------------------ the CLI


def test_generate_refuses_an_empty_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke) -> None:
    monkeypatch.chdir(tmp_path)
    r = invoke("generate", "--memory", "4GB", "--cpus", "2", "-o", "")
    assert r.exit_code == 2 and "-o" in r.output and "empty" in r.output
    r = invoke("generate", "--inventory", str(inventory(tmp_path)), "-o", "")
    assert r.exit_code == 2
    assert everything(tmp_path) == ["hosts.yaml"], "nothing written into the current directory"


def test_generate_reports_a_tightened_mode(tmp_path: Path, invoke) -> None:
    args = ("generate", "--memory", "4GB", "--cpus", "2", "--spec", str(_pgbouncer_spec(tmp_path)), "-o", tmp_path / "b")
    assert invoke(*args).exit_code == 0
    secrets = [p for p in (tmp_path / "b").rglob("*") if p.is_file() and mode(p) == 0o600]
    assert secrets
    os.chmod(secrets[0], 0o644)
    r = invoke(*args)
    assert r.exit_code == 0 and "tightened" in r.output
    assert mode(secrets[0]) == 0o600


def _pgbouncer_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text("memory: 4GB\ncpus: 2\naccess:\n  - {database: app, user: app, address: 10.0.0.0/8}\n")
    return spec


def _audit_dir(tmp_path: Path) -> Path:
    d = tmp_path / "conf"
    d.mkdir()
    (d / "postgresql.conf").write_text("fsync = off\nshared_buffers = 128MB\n")
    return d


def test_write_baseline_needs_force_and_keeps_the_mode(tmp_path: Path, invoke) -> None:
    d = _audit_dir(tmp_path)
    target = tmp_path / "baseline.json"
    target.write_text("mine\n")
    os.chmod(target, 0o600)
    r = invoke("check", d, "-V", "17", "--write-baseline", target)
    assert r.exit_code == 2 and "--force" in r.output
    assert target.read_text() == "mine\n"
    r = invoke("check", d, "-V", "17", "--write-baseline", target, "--force")
    assert r.exit_code == 0, r.output
    assert '"fingerprints"' in target.read_text() and mode(target) == 0o600
    assert [p.read_text() for p in tmp_path.glob("baseline.json.bak-*")] == ["mine\n"]
    fresh = tmp_path / "new.json"
    assert invoke("check", d, "-V", "17", "--write-baseline", fresh).exit_code == 0
    assert mode(fresh) == 0o644


def test_write_baseline_refuses_devices_and_directories(tmp_path: Path, invoke) -> None:
    d = _audit_dir(tmp_path)
    r = invoke("check", d, "-V", "17", "--write-baseline", tmp_path, "--force")
    assert r.exit_code == 2 and "directory" in r.output
    if os.geteuid() != 0:
        pytest.skip("making a character device needs root")
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    r = invoke("check", d, "-V", "17", "--write-baseline", dev, "--force")
    assert r.exit_code == 2 and "character device" in r.output
    assert stat.S_ISCHR(dev.lstat().st_mode)
    assert not list(tmp_path.glob("null.bak-*"))
