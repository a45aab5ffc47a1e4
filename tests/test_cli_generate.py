"""``pgforge generate``, ``explain`` and ``profiles`` as a user runs them.

Every output format must be what its consumer parses (json.loads, ruamel for Patroni's
``postgresql.parameters``, psql for ALTER SYSTEM), ``-o DIR`` must write a bundle with its
manifest, and an existing, different file must never be replaced without ``--force``; with it,
the old file is kept byte for byte.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgforge.cli import app
from pgforge.spec.load import list_profiles, profile_path

runner = CliRunner()
WEB = ["--profile", "web-small"]


def ok(args: list[str], input: str | None = None):
    result = runner.invoke(app, args, input=input)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def snapshot_dir(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- stdout formats


def test_conf_to_stdout() -> None:
    out = ok(["generate", *WEB]).stdout
    assert out.startswith("# postgresql.conf written by pgforge")
    assert "\nshared_buffers = 1GB\n" in out
    assert "\nlisten_addresses = 'localhost'\n" in out  # strings quoted
    assert "[restart]" in out
    # every non-comment line is "name = value"
    settings = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert settings and all(" = " in line for line in settings)


def test_json_to_stdout_has_every_setting_with_its_facts() -> None:
    doc = json.loads(ok(["generate", *WEB, "--format", "json"]).stdout)
    assert doc["pg_version"] == 17
    by_name = {s["name"]: s for s in doc["settings"]}
    for s in doc["settings"]:
        assert {"name", "value", "unit", "context", "rationale"} <= set(s)
        assert s["rationale"] and s["context"] and s["apply"] in ("restart", "reload")
    assert by_name["shared_buffers"]["value"] == "1GB" and by_name["shared_buffers"]["unit"] == "8kB"
    assert by_name["shared_buffers"]["context"] == "postmaster" and by_name["shared_buffers"]["apply"] == "restart"
    assert by_name["work_mem"]["context"] == "user" and by_name["work_mem"]["apply"] == "reload"
    assert doc["budget"]["fits"] is True and doc["budget"]["total"] <= doc["budget"]["limit"]


def test_yaml_to_stdout_is_patroni_parameters() -> None:
    from ruamel.yaml import YAML

    text = ok(["generate", *WEB, "--format", "yaml"]).stdout
    data = YAML(typ="safe").load(text)
    params = data["postgresql"]["parameters"]
    doc = json.loads(ok(["generate", *WEB, "--format", "json"]).stdout)
    assert params == {s["name"]: s["value"] for s in doc["settings"]}
    assert all(isinstance(v, str) for v in params.values())  # CloudNativePG wants strings
    assert params["log_line_prefix"] == "%m [%p] %q%u@%d app=%a "


def test_sql_to_stdout_is_an_alter_system_script() -> None:
    text = ok(["generate", *WEB, "--format", "sql", "--extensions", "pg_stat_statements,auto_explain"]).stdout
    doc = json.loads(ok(["generate", *WEB, "--format", "json", "--extensions", "pg_stat_statements,auto_explain"]).stdout)
    lines = [line for line in text.splitlines() if line.startswith("ALTER SYSTEM SET ")]
    assert len(lines) == len(doc["settings"])
    assert "ALTER SYSTEM SET shared_buffers = '1GB';" in lines
    # a list setting gets one literal per element
    assert "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', 'auto_explain';" in lines
    assert "ALTER SYSTEM SET log_line_prefix = '%m [%p] %q%u@%d app=%a ';" in lines
    assert text.rstrip().endswith("SELECT pg_reload_conf();")


def test_warnings_go_to_stderr_not_into_stdout() -> None:
    result = ok(["generate", "--memory", "512MB", "--cpus", "1", "--workload", "web", "--format", "json"])
    doc = json.loads(result.stdout)  # stdout stays machine-readable
    assert doc["warnings"]
    assert "pgforge: warning: max_connections" in result.stderr


# --------------------------------------------------------------------------- -o DIR


def test_output_dir_gets_conf_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = ok(["generate", *WEB, "-o", str(out)])
    assert result.stdout == ""
    conf = (out / "postgresql.conf").read_text()
    assert conf == ok(["generate", *WEB]).stdout  # the same file as on stdout
    manifest = json.loads((out / "MANIFEST.json").read_text())
    paths = [f["path"] for f in manifest["files"]]
    assert paths[0] == "postgresql.conf"
    # the manifest names every other file of the bundle
    assert sorted(paths) == sorted(p.name for p in out.iterdir() if p.name != "MANIFEST.json")
    for f in manifest["files"]:
        assert (out / f["path"]).is_file() and f["purpose"]
    assert "shared_buffers" in manifest["restart_settings"] and "work_mem" in manifest["reload_settings"]
    assert f"wrote {out / 'postgresql.conf'}" in result.stderr
    assert "a restart is needed for:" in result.stderr


def test_output_dir_with_sql_format_adds_the_script(tmp_path: Path) -> None:
    out = tmp_path / "b"
    ok(["generate", *WEB, "-o", str(out), "--format", "sql"])
    assert (out / "alter_system.sql").read_text().count("ALTER SYSTEM SET") > 20
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert "alter_system.sql" in [f["path"] for f in manifest["files"]]


def test_same_run_twice_is_unchanged_and_needs_no_force(tmp_path: Path) -> None:
    out = tmp_path / "b"
    ok(["generate", *WEB, "-o", str(out)])
    before = snapshot_dir(out)
    result = ok(["generate", *WEB, "-o", str(out)])
    assert "unchanged" in result.stderr and "wrote" not in result.stderr
    assert snapshot_dir(out) == before


def test_changed_target_without_force_exits_2_and_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "b"
    ok(["generate", *WEB, "-o", str(out)])
    conf = out / "postgresql.conf"
    conf.write_text(conf.read_text() + "\n# edited by hand\n")
    before = snapshot_dir(out)
    result = runner.invoke(app, ["generate", "--profile", "oltp-nvme-32core", "-o", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--force" in lines[0] and "postgresql.conf" in lines[0]
    assert snapshot_dir(out) == before, "nothing may change, not even the unchanged files"


def test_force_replaces_and_keeps_a_byte_identical_backup(tmp_path: Path) -> None:
    out = tmp_path / "b"
    ok(["generate", *WEB, "-o", str(out)])
    conf = out / "postgresql.conf"
    old = conf.read_bytes() + b"# edited by hand\n"
    conf.write_bytes(old)
    result = ok(["generate", "--profile", "oltp-nvme-32core", "-o", str(out), "--force"])
    assert "\nshared_buffers = 32GB\n" in conf.read_text()
    backups = sorted(out.glob("postgresql.conf.bak-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == old
    assert "backed up" in result.stderr
    assert not list(out.glob("*.pgforge-tmp")) and not list(out.glob(".*pgforge-tmp"))


def test_output_path_that_is_a_file_is_a_user_error(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    result = runner.invoke(app, ["generate", *WEB, "-o", str(target)])
    assert result.exit_code == 2 and "not a directory" in result.stderr
    assert target.read_text() == "x"


# --------------------------------------------------------------------------- explain and profiles


def test_explain_param_with_a_host() -> None:
    out = ok(["explain", "shared_buffers", "--memory", "16GB", "--cpus", "4", "--storage", "ssd", "--workload", "oltp",
              "--pg-version", "17"]).stdout
    assert "shared_buffers = 4GB" in out and "rationale:" in out and "source:" in out
    assert "inputs:" in out and "memory=16 GiB" in out and "restart" in out


def test_explain_all_and_budget() -> None:
    from pgforge.rules import REGISTRY

    out = ok(["explain", "--all"]).stdout
    assert len(out.strip().splitlines()) == len(REGISTRY)
    chart = ok(["explain", "--budget", *WEB]).stdout
    assert "Memory budget" in chart and "^ 90%" in chart and "fits" in chart
    assert "connections (200 x 4 MiB)" in chart


def test_profiles_list_and_show() -> None:
    out = ok(["profiles", "list"]).stdout
    names = [line.split()[0] for line in out.strip().splitlines()]
    assert names == [n for n, _ in list_profiles()]
    assert {"web-small", "oltp-nvme-32core", "dw-large", "dev-laptop"} <= set(names)
    assert all(len(line.split(None, 1)) == 2 for line in out.strip().splitlines()), "every profile has a description"
    shown = ok(["profiles", "show", "web-small"]).stdout
    assert shown == profile_path("web-small").read_text()
    assert "memory: 4GB" in shown


def test_profiles_show_output_is_a_usable_spec() -> None:
    shown = ok(["profiles", "show", "web-small"]).stdout
    via_stdin = ok(["generate", "--spec", "-"], input=shown).stdout
    assert via_stdin == ok(["generate", *WEB]).stdout


@pytest.mark.parametrize("name", [n for n, _ in list_profiles()])
def test_every_bundled_profile_generates(name: str) -> None:
    assert "\nshared_buffers = " in ok(["generate", "--profile", name]).stdout


def test_the_installed_entry_point_matches_in_process(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pgforge", "generate", *WEB], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ok(["generate", *WEB]).stdout
