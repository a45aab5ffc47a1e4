"""Fleets: an Ansible inventory in, one bundle per host out, a broken host reported and skipped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pgforge.errors import UserError
from pgforge.fleet import expand_range, generate_inventory, load_inventory, run_cli

INVENTORY = """\
all:
  vars:
    ansible_user: deploy          # not pgforge's: ignored
    pgforge_workload: web
    pgforge_pg_version: 16
  hosts:
    lone.example.com:
      pgforge_memory: 4GB
      pgforge_cpus: 2
  children:
    db:
      vars:
        pgforge_workload: oltp
        pgforge_memory: 16GB
        pgforge_cpus: 4
      children:
        db_big:
          vars:
            pgforge_memory: 64GB
          hosts:
            big[1:2].example.com:
        db_small:
          hosts:
            small.example.com:
              pgforge:
                memory: 8GB
                connections: 50
            broken.example.com:
              pgforge_memory: lots
    analytics:
      vars:
        pgforge: {workload: dw, storage: hdd}
      hosts:
        big1.example.com:       # also in db_big: deeper groups win, then the name
"""


def _inv(tmp_path: Path, text: str = INVENTORY) -> Path:
    p = tmp_path / "hosts.yaml"
    p.write_text(text)
    return p


def test_expand_range():
    assert expand_range("db[01:03].x") == ["db01.x", "db02.x", "db03.x"]
    assert expand_range("web[a:c]") == ["weba", "webb", "webc"]
    assert expand_range("n[1:9:4]") == ["n1", "n5", "n9"]
    assert expand_range("r[1:2]-[a:b]") == ["r1-a", "r1-b", "r2-a", "r2-b"]
    with pytest.raises(UserError):
        expand_range("bad[1:b]")


def test_variables_follow_ansible_precedence(tmp_path):
    hosts = load_inventory(_inv(tmp_path))
    assert set(hosts) == {"lone.example.com", "big1.example.com", "big2.example.com", "small.example.com",
                          "broken.example.com"}
    assert hosts["lone.example.com"] == {"workload": "web", "pg_version": 16, "memory": "4GB", "cpus": 2}
    # db (depth 1) < db_big (depth 2); analytics is depth 1 so db_big's memory wins over nothing,
    # and analytics' workload (depth 1, name 'analytics' < 'db') loses to db's oltp.
    assert hosts["big1.example.com"]["memory"] == "64GB"
    assert hosts["big1.example.com"]["workload"] == "oltp" and hosts["big1.example.com"]["storage"] == "hdd"
    assert hosts["big2.example.com"] == {"workload": "oltp", "pg_version": 16, "memory": "64GB", "cpus": 4}
    assert hosts["small.example.com"]["memory"] == "8GB" and hosts["small.example.com"]["connections"] == 50
    assert "ansible_user" not in hosts["lone.example.com"] and "user" not in hosts["lone.example.com"]


def test_ansible_inventory_list_json_is_read(tmp_path):
    data = {
        "_meta": {"hostvars": {"a": {"pgforge_memory": "8GB"}, "b": {"pgforge_memory": "4GB", "x": 1}}},
        "all": {"children": ["ungrouped", "pg"], "vars": {"pgforge_cpus": 2}},
        "pg": {"hosts": ["a", "b"], "vars": {"pgforge_workload": "oltp"}},
    }
    p = tmp_path / "inv.json"
    p.write_text(json.dumps(data))
    hosts = load_inventory(p)
    assert hosts == {"a": {"cpus": 2, "workload": "oltp", "memory": "8GB"},
                     "b": {"cpus": 2, "workload": "oltp", "memory": "4GB"}}


def test_bad_host_is_reported_and_the_others_are_written(tmp_path):
    out = tmp_path / "out"
    result = generate_inventory(_inv(tmp_path), out, progress=False)
    by_host = {r.host: r for r in result.results}
    assert by_host["broken.example.com"].status == "failed"
    assert "memory" in by_host["broken.example.com"].error
    ok = [h for h, r in by_host.items() if r.ok]
    assert len(ok) == 4 and result.exit_code == 1
    for host in ok:
        conf = (out / host / "postgresql.conf").read_text()
        assert f"for {host}" in conf.splitlines()[0]
        assert json.loads((out / host / "MANIFEST.json").read_text())["host"] == host
    assert not (out / "broken.example.com").exists()
    assert "shared_buffers = 16GB" in (out / "big2.example.com" / "postgresql.conf").read_text()
    assert by_host["big2.example.com"].shared_buffers == "16GB" and by_host["big2.example.com"].pg_version == 16


def test_rerun_is_unchanged_and_changes_need_force(tmp_path):
    inv = _inv(tmp_path)
    out = tmp_path / "out"
    generate_inventory(inv, out, progress=False)
    again = generate_inventory(inv, out, progress=False)
    assert {r.status for r in again.results if r.ok} == {"unchanged"}
    inv.write_text(INVENTORY.replace("pgforge_memory: 64GB", "pgforge_memory: 32GB"))
    refused = generate_inventory(inv, out, progress=False)
    big = {r.host: r for r in refused.results}["big1.example.com"]
    assert big.status == "failed" and "--force" in big.error
    forced = generate_inventory(inv, out, force=True, progress=False)
    assert {r.host: r.status for r in forced.results}["big1.example.com"] == "written"
    assert list((out / "big1.example.com").glob("postgresql.conf.bak-*"))


def test_parallel_run_keeps_inventory_order_and_extra_formats(tmp_path):
    lines = ["all:", "  vars: {pgforge_cpus: 2}", "  hosts:"]
    lines += [f"    h{i:03d}: {{pgforge_memory: {1 + i % 30}GB}}" for i in range(150)]
    lines.append("    bad-host: {pgforge_cpus: 0}")
    out = tmp_path / "out"
    result = generate_inventory(_inv(tmp_path, "\n".join(lines) + "\n"), out, jobs=2, fmt="sql", progress=False)
    assert result.jobs == 2
    assert [r.host for r in result.results] == [f"h{i:03d}" for i in range(150)] + ["bad-host"]
    assert [r.host for r in result.failed] == ["bad-host"]
    assert (out / "h042" / "alter_system.sql").read_text().count("ALTER SYSTEM SET") > 10


def test_unsafe_host_names_fail_alone(tmp_path):
    text = "all:\n  vars: {pgforge_memory: 4GB, pgforge_cpus: 2}\n  hosts:\n    ..:\n    .hidden:\n    ok1:\n"
    result = generate_inventory(_inv(tmp_path, text), tmp_path / "out", progress=False)
    assert {r.host: r.status for r in result.results} == {"..": "failed", ".hidden": "failed", "ok1": "written"}


@pytest.mark.parametrize(("text", "message"), [
    ("- a\n- b\n", "mapping of groups"),
    ("all:\n  hosts: [a, b]\n", "expected a mapping"),
    ("all:\n  hostz: {}\n", "'hostz'"),
    ("all: {hosts: {a: }\n", "invalid YAML"),
    ("all: {}\n", "no hosts"),
])
def test_unreadable_inventory_is_a_user_error(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        generate_inventory(_inv(tmp_path, text), tmp_path / "out", progress=False)


def test_run_cli_table_and_json(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    code = run_cli(_inv(tmp_path), tmp_path / "out", stdout=out, stderr=err)
    assert code == 1
    table = out.getvalue().splitlines()
    assert table[0].split()[:3] == ["HOST", "STATUS", "PG"]
    assert any(line.startswith("broken.example.com") and " failed " in line for line in table)
    assert "broken.example.com: " in err.getvalue() and "5 hosts: 4 written, 0 unchanged, 1 failed" in err.getvalue()

    out, err = io.StringIO(), io.StringIO()
    code = run_cli(_inv(tmp_path), tmp_path / "out", summary="json", stdout=out, stderr=err)
    data = json.loads(out.getvalue())
    assert code == 1 and err.getvalue() == ""
    assert data["unchanged"] == 4 and data["failed"] == 1 and len(data["results"]) == 5

    out, err = io.StringIO(), io.StringIO()
    assert run_cli(tmp_path / "missing.yaml", tmp_path / "out", stdout=out, stderr=err) == 2
    assert "no such file" in err.getvalue()


def test_without_libyaml_ruamel_reads_the_same_inventory(tmp_path, monkeypatch):
    import sys

    with_libyaml = load_inventory(_inv(tmp_path))
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    assert load_inventory(_inv(tmp_path)) == with_libyaml
    with pytest.raises(UserError, match=r"hosts\.yaml:\d+: invalid YAML"):
        load_inventory(_inv(tmp_path, "all:\n  hosts: {a: [\n"))
