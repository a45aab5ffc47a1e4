"""The pgforge.postgresql.apply module through ansible-core's ansible-playbook, on a real cluster.

Against localhost (connection local, the test's own Python as the target interpreter): check mode
first (reports changed, writes nothing, diff mode shows the drop-in), then a real run (changed,
the server shows a new value after the module's reload), then the same run again (not changed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pgharness import MAJORS, PgCluster, in_ci

pytestmark = pytest.mark.realpg

ROOT = Path(__file__).resolve().parents[1]

PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: tune
      pgforge.postgresql.apply:
        data_dir: "{data_dir}"
        auto: false
        spec:
          memory: 2GB
          cpus: 2
          workload: oltp
        reload: true
      register: tuned
    - name: keep the result for the test
      ansible.builtin.copy:
        content: "{{{{ tuned | to_json }}}}"
        dest: "{result}"
        mode: "0600"
      check_mode: false
      diff: false
"""


def _ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if found is None:
        message = "ansible-playbook not found: pip install ansible-core"
        if in_ci():
            pytest.fail(message + " (CI=true)")
        pytest.skip(message)
    return found


def _run(playbook: Path, work: Path, *extra: str) -> dict:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PG"))},
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT),
        "ANSIBLE_HOME": str(work / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(work / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        [_ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook), *extra],
        capture_output=True, text=True, env=env, cwd=work, timeout=300,
    )
    assert proc.returncode == 0, f"ansible-playbook failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    result = work / "result.json"
    data = json.loads(result.read_text())
    result.unlink()
    return data


def test_playbook_check_mode_then_changed_then_idempotent():
    _ansible_playbook()
    major = MAJORS[-1]
    work = Path(tempfile.mkdtemp(prefix="pgforge-ansible-", dir="/tmp"))
    try:
        with PgCluster(major) as pg:
            playbook = work / "site.yml"
            playbook.write_text(PLAYBOOK.format(data_dir=pg.datadir, result=work / "result.json"))
            conf = pg.datadir / "postgresql.conf"
            original = conf.read_bytes()
            rpc_before = pg.psql("SHOW random_page_cost")

            check = _run(playbook, work, "--check", "--diff")
            assert check["changed"] is True
            assert conf.read_bytes() == original and not (pg.datadir / "conf.d").exists()
            assert not (pg.datadir / ".pgforge-backup").exists()
            diffs = check["diff"]
            assert any(d["after_header"].endswith("conf.d/pgforge.conf") and "random_page_cost" in d["after"]
                       for d in diffs)

            first = _run(playbook, work)
            assert first["changed"] is True and first["restart_required"] is True
            assert "shared_buffers" in first["restart"] and first["reloaded"] is True
            assert (pg.datadir / "conf.d" / "pgforge.conf").is_file()
            assert conf.read_bytes().startswith(original)
            new_rpc = next(s["new"] for s in first["settings"] if s["name"] == "random_page_cost")
            assert new_rpc != rpc_before
            deadline = time.monotonic() + 10
            while pg.psql("SHOW random_page_cost") != new_rpc and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pg.psql("SHOW random_page_cost") == new_rpc

            second = _run(playbook, work)
            assert second["changed"] is False and second["settings"] == []
            again_check = _run(playbook, work, "--check")
            assert again_check["changed"] is False
    finally:
        shutil.rmtree(work, ignore_errors=True)
