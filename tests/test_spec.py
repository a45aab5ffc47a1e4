"""Bad input and spec sources, as a user meets them on the command line.

Issue 2, "Bad input": a negative or unparseable memory, 0 CPUs, an unknown workload or storage,
a major outside 13-18, an unknown key in a spec file each give one line naming the field (and
file:line for files), exit code 2, no traceback, and nothing written. Most cases run in-process
through typer's CliRunner (fast); a few run the real ``python -m pgforge`` so the exit code and
the absence of a traceback are proven end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgforge.cli import app
from pgforge.errors import UserError
from pgforge.spec import DEFAULT_CONNECTIONS, HostSpec, Storage, Workload
from pgforge.spec.load import build_spec
from pgforge.units import GB, MB

runner = CliRunner()

GOOD = ["--memory", "4GB", "--cpus", "2"]


def cli(args: list[str], input: str | None = None):
    return runner.invoke(app, args, input=input)


def assert_user_error(result, *needles: str) -> None:
    """Exit 2, one line on stderr that names the field, no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pgforge: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert result.stdout == ""


# --------------------------------------------------------------------------- flags

BAD_FLAGS = [
    (["--memory", "-4GB", "--cpus", "2"], ("--memory", "-4GB")),
    (["--memory", "lots", "--cpus", "2"], ("--memory", "lots")),
    (["--memory", "0", "--cpus", "2"], ("--memory", "positive")),
    (["--memory", "4PB", "--cpus", "2"], ("--memory", "PB")),
    (["--memory", "128MB", "--cpus", "2"], ("--memory", "256MB")),
    (["--memory", "100TB", "--cpus", "2"], ("--memory", "64TB")),
    (["--memory", "4GB", "--cpus", "0"], ("--cpus",)),
    (["--memory", "4GB", "--cpus", "-2"], ("--cpus",)),
    (["--memory", "4GB", "--cpus", "two"], ("--cpus",)),
    (["--memory", "4GB", "--cpus", "5000"], ("--cpus",)),
    ([*GOOD, "--workload", "batch"], ("--workload", "'batch'", "oltp")),
    ([*GOOD, "--storage", "tape"], ("--storage", "'tape'", "nvme")),
    ([*GOOD, "--pg-version", "12"], ("--pg-version", "12", "13")),
    ([*GOOD, "--pg-version", "19"], ("--pg-version", "19", "18")),
    ([*GOOD, "--pg-version", "17.2"], ("--pg-version",)),
    ([*GOOD, "--connections", "2"], ("--connections",)),
    ([*GOOD, "--os", "beos"], ("--os", "beos")),
    ([*GOOD, "--extensions", "pg_stat_statements,nosuchext"], ("--extensions", "nosuchext")),
    (["--memory", "4GB"], ("cpus", "required")),
    (["--cpus", "4"], ("memory", "required")),
    (["--profile", "no-such-profile"], ("--profile", "no-such-profile", "web-small")),
    (["--spec", "/nonexistent/host.yaml"], ("/nonexistent/host.yaml", "no such file")),
]


@pytest.mark.parametrize(("args", "needles"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_exit_2_naming_the_field(args: list[str], needles: tuple[str, ...], tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = cli(["generate", *args, "-o", str(out)])
    assert_user_error(result, *needles)
    assert not out.exists(), "nothing may be written on bad input"


def test_bad_input_leaves_an_existing_output_dir_empty(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    assert_user_error(cli(["generate", "--memory", "4GB", "--cpus", "0", "-o", str(out)]), "--cpus")
    assert list(out.iterdir()) == []


def test_explain_bad_input_is_a_user_error() -> None:
    assert_user_error(cli(["explain", "shared_buffers", "--memory", "x", "--cpus", "2"]), "--memory")
    assert_user_error(cli(["explain", "no_such_guc"]), "no_such_guc")
    assert_user_error(cli(["explain"]), "--all")
    assert_user_error(cli(["explain", "--budget"]), "required")


def test_overcommitting_request_is_fitted_not_a_crash(tmp_path: Path) -> None:
    result = cli(["generate", "--memory", "512MB", "--cpus", "1", "--connections", "5000", "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, (result.exit_code, result.exception)
    assert "warning: max_connections" in result.stderr


# --------------------------------------------------------------------------- spec files


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_in_yaml_names_file_line_and_key(tmp_path: Path) -> None:
    spec = write(tmp_path / "host.yaml", "memory: 4GB\ncpus: 2\nmemroy: 8GB\nworkload: web\n")
    out = tmp_path / "o"
    assert_user_error(cli(["generate", "--spec", str(spec), "-o", str(out)]), f"{spec}:3:", "memroy", "unknown key")
    assert not out.exists()


def test_unknown_nested_key_in_yaml_names_its_line(tmp_path: Path) -> None:
    spec = write(tmp_path / "host.yaml", "memory: 4GB\ncpus: 2\npg_build:\n  lz4: true\n  lz5: true\n")
    assert_user_error(cli(["generate", "--spec", str(spec)]), f"{spec}:5:", "pg_build.lz5")


def test_bad_value_in_yaml_names_file_line_and_field(tmp_path: Path) -> None:
    spec = write(tmp_path / "host.yaml", "# a comment\nmemory: 4GB\ncpus: 0\n")
    assert_user_error(cli(["generate", "--spec", str(spec)]), f"{spec}:3:", "cpus")
    spec = write(tmp_path / "h2.yaml", "memory: -1GB\ncpus: 2\nstorage: floppy\n")
    # The first problem is reported with a count of the others.
    assert_user_error(cli(["generate", "--spec", str(spec)]), f"{spec}:1:", "memory", "1 more problem")


def test_unknown_key_in_json_names_the_key(tmp_path: Path) -> None:
    spec = write(tmp_path / "host.json", '{\n  "memory": "4GB",\n  "cpus": 2,\n  "memroy": "8GB"\n}\n')
    assert_user_error(cli(["generate", "--spec", str(spec)]), str(spec), "memroy", "unknown key")


def test_unknown_key_in_json_names_its_line(tmp_path: Path) -> None:
    spec = write(tmp_path / "host.json", '{\n  "memory": "4GB",\n  "cpus": 2,\n  "memroy": "8GB"\n}\n')
    assert_user_error(cli(["generate", "--spec", str(spec)]), f"{spec}:4:", "memroy")


def test_syntax_errors_in_spec_files_point_at_the_line(tmp_path: Path) -> None:
    bad_json = write(tmp_path / "bad.json", '{\n  "memory": "4GB",\n  "cpus": 2,,\n}\n')
    assert_user_error(cli(["generate", "--spec", str(bad_json)]), f"{bad_json}:3:", "invalid JSON")
    bad_yaml = write(tmp_path / "bad.yaml", "memory: 4GB\ncpus: [2\nworkload: web\n")
    assert_user_error(cli(["generate", "--spec", str(bad_yaml)]), str(bad_yaml), "invalid YAML")
    listy = write(tmp_path / "list.yaml", "- memory: 4GB\n")
    assert_user_error(cli(["generate", "--spec", str(listy)]), str(listy), "mapping")


def test_empty_spec_file_asks_for_memory(tmp_path: Path) -> None:
    spec = write(tmp_path / "empty.yaml", "")
    assert_user_error(cli(["generate", "--spec", str(spec)]), "memory", "required")


def test_boolean_cpus_is_rejected(tmp_path: Path) -> None:
    spec = write(tmp_path / "host.yaml", "memory: 4GB\ncpus: true\n")
    assert_user_error(cli(["generate", "--spec", str(spec)]), "cpus")


# --------------------------------------------------------------------------- stdin and precedence


def test_spec_from_stdin_yaml_and_json() -> None:
    result = cli(["generate", "--spec", "-", "--format", "json"], input="memory: 8GB\ncpus: 4\nworkload: oltp\npg_version: 16\n")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["pg_version"] == 16 and doc["spec"]["memory"] == 8 * GB and doc["spec"]["workload"] == "oltp"
    result = cli(["generate", "--spec", "-", "--format", "json"], input='{"memory": "2GB", "cpus": 1, "storage": "hdd"}')
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["spec"]["memory"] == 2 * GB and doc["spec"]["storage"] == "hdd"


def test_stdin_spec_errors_name_stdin_and_line() -> None:
    result = cli(["generate", "--spec", "-"], input="memory: 8GB\ncpus: 4\nwrokload: oltp\n")
    assert_user_error(result, "<stdin>:3:", "wrokload")


def test_precedence_profile_then_spec_file_then_flags(tmp_path: Path) -> None:
    # web-small: 4GB, 2 cpus, ssd, web, 17.
    spec = write(tmp_path / "over.yaml", "memory: 8GB\nworkload: oltp\npg_build:\n  lz4: true\n")
    host = build_spec(profile="web-small", spec_file=str(spec), flags={"cpus": "6", "workload": None})
    assert host.memory == 8 * GB  # spec file over profile
    assert host.workload is Workload.oltp  # spec file over profile; a None flag does not override
    assert host.cpus == 6  # flag over both
    assert host.storage is Storage.ssd and host.pg_version == 17  # profile where nobody overrides
    assert host.pg_build.lz4 is True
    host = build_spec(profile="web-small", spec_file=str(spec), flags={"memory": "16GB", "workload": "dw"})
    assert host.memory == 16 * GB and host.workload is Workload.dw


def test_precedence_through_the_cli(tmp_path: Path) -> None:
    spec = write(tmp_path / "over.yaml", "memory: 8GB\npg_version: 15\n")
    result = cli(["generate", "--profile", "web-small", "--spec", str(spec), "--pg-version", "16", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["pg_version"] == 16
    assert doc["spec"]["memory"] == 8 * GB and doc["spec"]["cpus"] == 2 and doc["spec"]["name"] == "web-small"


def test_a_flag_repairs_a_bad_value_in_a_file(tmp_path: Path) -> None:
    spec = write(tmp_path / "bad.yaml", "memory: banana\ncpus: 2\n")
    assert build_spec(spec_file=str(spec), flags={"memory": "2GB"}).memory == 2 * GB


def test_error_blames_the_source_that_set_the_value(tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", "cpus: 2\nstorage: tape\n")
    with pytest.raises(UserError) as info:
        build_spec(profile="web-small", spec_file=str(spec))
    assert info.value.where == f"{spec}:2: storage"
    with pytest.raises(UserError) as info:
        build_spec(profile="web-small", flags={"storage": "tape"})
    assert info.value.where == "--storage"


def test_profile_by_path(tmp_path: Path) -> None:
    prof = write(tmp_path / "mine.yaml", "memory: 3GB\ncpus: 3\nworkload: dw\n")
    host = build_spec(profile=str(prof))
    assert host.memory == 3 * GB and host.cpus == 3


def test_spec_defaults_and_terraform_strings() -> None:
    host = build_spec(flags={"memory": "7.5GB", "cpus": "4", "pg_version": "13", "connections": "300"})
    assert host.memory == 7 * GB + 512 * MB and host.cpus == 4 and host.pg_version == 13 and host.connections == 300
    host = HostSpec(memory="1GB", cpus=1)
    assert host.pg_version == 17 and host.workload is Workload.mixed and host.extensions == ["pg_stat_statements"]
    for wl in Workload:
        assert HostSpec(memory="1GB", cpus=1, workload=wl).requested_connections == DEFAULT_CONNECTIONS[wl]
    # duplicates in extensions collapse, order kept
    assert HostSpec(memory="1GB", cpus=1, extensions=["auto_explain", "pg_stat_statements", "auto_explain"]).extensions == [
        "auto_explain", "pg_stat_statements"]


# --------------------------------------------------------------------------- the real process


def run_pgforge(args: list[str], cwd: Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgforge", *args], cwd=cwd, input=input, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--memory", "-1GB", "--cpus", "2"], "--memory"),
        (["--memory", "4GB", "--cpus", "0"], "--cpus"),
        (["--memory", "4GB", "--cpus", "2", "--pg-version", "12"], "--pg-version"),
        (["--spec", "host.yaml"], "host.yaml:2: memroy"),
    ],
)
def test_real_process_exits_2_without_traceback(args: list[str], needle: str, tmp_path: Path) -> None:
    write(tmp_path / "host.yaml", "memory: 4GB\nmemroy: 8GB\ncpus: 2\n")
    proc = run_pgforge(["generate", *args, "-o", "out"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- values that reach the files


def active_lines(conf: str) -> list[str]:
    return [line for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_a_plain_name_lands_in_the_headers_only() -> None:
    from pgforge.render.formats import render_conf, render_sql
    from pgforge.tuning import tune

    t = tune(HostSpec(memory="4GB", cpus=2, name="db-01.example"))
    conf = render_conf(t)
    assert conf.splitlines()[0].endswith("for db-01.example")
    assert len(active_lines(conf)) == len(t.settings)
    sql_active = active_lines(render_sql(t).replace("--", "#"))
    assert len(sql_active) == len(t.settings) + 1  # + SELECT pg_reload_conf();


def test_a_newline_in_the_name_cannot_inject_settings_or_sql() -> None:
    from pydantic import ValidationError

    from pgforge.render.formats import render_conf, render_sql
    from pgforge.tuning import tune

    name = "db\narchive_command = 'rm -rf /'\nDROP DATABASE app;"
    # first layer: the spec refuses it, naming the field
    with pytest.raises(ValidationError, match="name"):
        HostSpec(memory="4GB", cpus=2, name=name)
    # second layer: a name that got past validation (model_copy skips it) still stays in its comment
    t = tune(HostSpec(memory="4GB", cpus=2).model_copy(update={"name": name}))
    assert len(active_lines(render_conf(t))) == len(t.settings)
    sql = "\n".join(active_lines(render_sql(t).replace("--", "#")))
    assert "DROP DATABASE" not in sql and "rm -rf" not in sql


def test_listen_addresses_entries_are_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises((ValidationError, UserError)):
        build_spec(flags={"memory": "4GB", "cpus": 2, "listen_addresses": ["localhost'\nssl = 'off"]})
