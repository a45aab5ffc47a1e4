"""``pgforge terraform`` speaks the external data source protocol, and the example module uses it right.

The protocol: one JSON object of strings on stdin; exactly one JSON object of strings on stdout;
on any error nothing on stdout, a message on stderr and a non-zero exit. The example module's
query keys are read from its main.tf and sent through the real command, so the module and the
program cannot drift apart. Where terraform is installed, ``terraform fmt -check`` parses the
module; ``terraform validate`` additionally needs the hashicorp/external provider, which
``terraform init`` downloads, so it runs only where the registry is reachable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pgforge.terraform import NESTED_FIELDS, RESULT_KEYS, run

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "examples" / "terraform"


def _tf(stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgforge", "terraform"], input=stdin, capture_output=True,
                          text=True, timeout=60)


def test_good_query_gives_one_flat_object_of_strings():
    query = {"memory": "16GB", "cpus": "4", "storage": "ssd", "workload": "oltp", "pg_version": "17"}
    p = _tf(json.dumps(query))
    assert p.returncode == 0 and p.stderr == ""
    result = json.loads(p.stdout)
    assert isinstance(result, dict) and all(isinstance(v, str) for v in result.values())
    assert set(RESULT_KEYS) <= set(result)
    assert result["shared_buffers"] == "4GB" and result["pg_version"] == "17"
    assert "shared_buffers = 4GB" in result["postgresql_conf"]
    assert json.loads(result["settings_json"])["shared_buffers"] == "4GB"
    assert "shared_buffers" in result["restart_settings"].split(",")
    assert result["sysctl"] == f"vm.nr_hugepages = {result['nr_hugepages']}"
    assert int(result["nr_hugepages"]) * 2 * 1024 * 1024 > 4 * 1024**3


def test_empty_strings_mean_unset_and_lists_are_comma_separated():
    code, out, err = run(json.dumps({"memory": "8GB", "cpus": "2", "connections": "", "storage": "",
                                     "extensions": "pg_stat_statements, auto_explain", "name": "db1"}))
    assert code == 0, err
    result = json.loads(out)
    assert "auto_explain" in result["shared_preload_libraries"]
    assert "for db1" in result["postgresql_conf"].splitlines()[0]


def test_spec_json_carries_nested_sections_and_flat_keys_win():
    spec = {"memory": "4GB", "cpus": 8, "workload": "dw", "pg_build": {"lz4": True}}
    code, out, err = run(json.dumps({"spec_json": json.dumps(spec), "memory": "32GB", "cpus": "2"}))
    assert code == 0, err
    result = json.loads(out)
    assert result["shared_buffers"] == "8GB"  # 32GB from the flat key, not 4GB from spec_json
    assert result["wal_compression"] in ("lz4", "zstd")


@pytest.mark.parametrize(("stdin", "message"), [
    ("", "memory: is required"),
    ("not json", "stdin is not JSON"),
    ("[1, 2]", "expected one JSON object"),
    ('{"memory": 16, "cpus": "2"}', "query.memory: every value must be a string"),
    ('{"memroy": "16GB", "cpus": "2"}', "query.memroy: unknown key"),
    ('{"memory": "16GB", "cpus": "2", "pgbouncer": "{}"}', "nested sections go in spec_json"),
    ('{"memory": "lots", "cpus": "2"}', "memory"),
    ('{"memory": "16GB", "cpus": "2", "pg_version": "9"}', "PostgreSQL 9 is not supported"),
    ('{"memory": "16GB", "cpus": "2", "spec_json": "{bad"}', "spec_json"),
])
def test_bad_query_fails_with_stderr_and_empty_stdout(stdin, message):
    p = _tf(stdin)
    assert p.returncode != 0
    assert p.stdout == ""
    assert message in p.stderr and p.stderr.startswith("pgforge terraform: ")


def _module_query_keys() -> dict[str, str]:
    main = (MODULE / "main.tf").read_text()
    block = re.search(r"query\s*=\s*\{(.*?)\n\s*\}", main, re.S)
    assert block, "main.tf has a query map"
    return dict(re.findall(r"^\s*(\w+)\s*=\s*(.+?)\s*$", block.group(1), re.M))


def test_example_module_sends_only_keys_pgforge_knows():
    keys = _module_query_keys()
    assert {"memory", "cpus", "workload", "pg_version", "spec_json"} <= set(keys)
    assert not set(keys) & set(NESTED_FIELDS)
    # The values terraform would send for example.tfvars (plus defaults), all strings.
    query = {k: "" for k in keys}
    query.update(memory="16GB", cpus="4", storage="ssd", workload="oltp", pg_version="17", connections="300",
                 extensions="pg_stat_statements")
    p = _tf(json.dumps(query))
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    outputs = (MODULE / "outputs.tf").read_text()
    for used in re.findall(r"local\.result\.(\w+)", outputs):
        assert used in result, f"outputs.tf reads {used}, which pgforge does not return"


def _terraform() -> str | None:
    found = shutil.which("terraform")
    if found is None and os.environ.get("CI", "").lower() == "true":
        pytest.skip("terraform is not installed in CI; the protocol tests above cover the program side")
    return found


def test_example_module_is_valid_hcl():
    tf = _terraform()
    if tf is None:
        pytest.skip("terraform is not installed")
    work = Path(tempfile.mkdtemp(prefix="pgforge-tf-", dir="/tmp"))
    try:
        for f in MODULE.glob("*.tf*"):
            shutil.copy(f, work / f.name)
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": "/dev/null"}
        fmt = subprocess.run([tf, "fmt", "-check", "-diff", "-no-color"], cwd=work, capture_output=True, text=True,
                             env=env, timeout=60)
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr
        init = subprocess.run([tf, "init", "-backend=false", "-input=false", "-no-color"], cwd=work,
                              capture_output=True, text=True, env=env, timeout=120)
        if init.returncode != 0:
            pytest.skip("terraform init could not fetch the hashicorp/external provider (offline); "
                        "fmt -check passed, validate needs the provider")
        val = subprocess.run([tf, "validate", "-no-color"], cwd=work, capture_output=True, text=True, env=env,
                             timeout=60)
        assert val.returncode == 0, val.stdout + val.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)
