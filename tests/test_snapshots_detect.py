"""Snapshots of ``pgforge detect --format yaml`` and ``--format json`` on fake machines, beside
checks of what they say.

``pgforge detect`` reads the live ``/``; here ``pgforge.detect.detect_host`` is pointed at a fake
root built with tests/fakeroot.py (with no environment and a fake ``pg_config``), so the output
depends only on the machine described below, never on the one running the tests. The probes
themselves are tested in tests/test_detect_*.py; these snapshots show what a user reads, and the
YAML is checked to be what its first line promises: a spec that ``generate --spec`` takes back
with the detected values.

Update after an intended change with
``python -m pytest tests/test_snapshots_detect.py --snapshot-update`` and review the .ambr diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fakeroot import GIB, KIB, NVME_PCI, FakeRoot, fake_runner
from test_detect_host import CONFIGURE_17
from test_detect_host import container as container_root

import pgforge.detect

CONFIGURE_16 = "'--prefix=/usr' '--with-lz4' '--with-liburing'"
BARE_MEMORY = 16_311_828 * KIB  # what a "16 GB" machine reports: not a whole number of MiB


def container(path: Path) -> tuple[FakeRoot, dict, dict]:
    """tests/test_detect_host.py's container: 2 GiB and 2 CPUs of a 64-CPU, 64 GiB host, PGDATA on a spinning disk."""
    run = {("pg_config", "--version"): "PostgreSQL 17.5\n", ("pg_config", "--configure"): CONFIGURE_17}
    return container_root(path), {"PGDATA": "/var/lib/postgresql/data"}, run


def bare(path: Path) -> tuple[FakeRoot, dict, dict]:
    """A 4-CPU machine without cgroup limits, with 1 GiB of huge pages reserved; the data
    directory (given with --data-dir) is on NVMe."""
    fr = FakeRoot(path)
    fr.meminfo(BARE_MEMORY, hp_total=512, hp_free=500)
    fr.cpus(allowed="0-3", online="0-3")
    fr.disk("nvme0n1", "259:0", devpath=NVME_PCI, partitions={"nvme0n1p1": "259:1"})
    fr.mount("/", "259:1", source="/dev/nvme0n1p1")
    fr.data_dir("/var/lib/postgresql/16/main", "16")
    run = {("pg_config", "--version"): "PostgreSQL 16.9\n", ("pg_config", "--configure"): CONFIGURE_16}
    return fr, {}, run


def empty(path: Path) -> tuple[FakeRoot, dict, dict]:
    """Nothing to read: every field undetected, each with its reason."""
    return FakeRoot(path), {}, {}


MACHINES = {
    "container": (container, [], {"memory": 2 * GIB, "cpus": 2, "storage": "hdd", "pg_version": 17}),
    "bare": (bare, ["--data-dir", "/var/lib/postgresql/16/main"],
             {"memory": BARE_MEMORY, "cpus": 4, "storage": "nvme", "pg_version": 16}),
    "empty": (empty, [], {}),
}


@pytest.fixture
def detect(tmp_path: Path, invoke, monkeypatch):
    """``detect(machine, fmt)``: ``pgforge detect --format fmt`` on that fake machine; its stdout."""
    real = pgforge.detect.detect_host
    built: dict[str, tuple[FakeRoot, dict, dict]] = {}

    def run(machine: str, fmt: str) -> str:
        build, args, _ = MACHINES[machine]
        if machine not in built:
            built[machine] = build(tmp_path / machine)
        fr, env, outputs = built[machine]

        def fake(root, data_dir=None, **kwargs):
            assert root == Path("/")  # the CLI asks for the live root; this test answers for it
            return real(fr.path, data_dir, env=env, run=fake_runner(outputs), use_psutil=False)

        monkeypatch.setattr(pgforge.detect, "detect_host", fake)
        result = invoke("detect", "--format", fmt, *args)
        assert result.exit_code == 0, result.output
        assert str(tmp_path) not in result.stdout  # paths are the fake machine's, not the test's
        return result.stdout

    return run


@pytest.mark.parametrize("machine", list(MACHINES))
def test_detect_json(detect, machine: str, snapshot) -> None:
    text = detect(machine, "json")
    doc = json.loads(text)
    _, _, expected = MACHINES[machine]
    values = doc["values"]
    assert {k: values[k] for k in expected} == expected
    # every field is either detected or says why not, never both
    assert not set(values) & set(doc["undetected"])
    assert all(reason for reason in doc["undetected"].values())
    assert {n["field"] for n in doc["notes"]} <= set(values) | set(doc["undetected"])
    if machine == "empty":
        assert values == {} and len(doc["undetected"]) == 8
    assert text == snapshot


@pytest.mark.parametrize("machine", list(MACHINES))
def test_detect_yaml(detect, invoke, tmp_path: Path, machine: str, snapshot) -> None:
    text = detect(machine, "yaml")
    doc = json.loads(detect(machine, "json"))
    comments = [ln for ln in text.splitlines() if ln.startswith("#")]
    assert comments[0] == "# Detected by pgforge on this host; edit and pass back with --spec."
    assert len(comments) == 1 + len(doc["notes"]) + len(doc["undetected"])  # a line per note and per gap
    assert (yaml.safe_load(text) or {}).keys() <= {"memory", "cpus", "storage", "pg_version", "pg_build", "data_size"}
    if machine == "empty":
        assert yaml.safe_load(text) is None  # comments only: nothing was found to write as a key
        assert text == snapshot
        return
    # what its first line says: generate takes it back, with the detected values
    spec = tmp_path / f"{machine}.yaml"
    spec.write_text(text, encoding="utf-8")
    result = invoke("generate", "--spec", str(spec), "--format", "json")
    assert result.exit_code == 0, result.output
    taken = json.loads(result.stdout)["spec"]
    _, _, expected = MACHINES[machine]
    assert {k: taken[k] for k in expected} == expected
    if "pg_build" in doc["values"]:
        assert taken["pg_build"] == doc["values"]["pg_build"]
    assert text == snapshot
