"""Hostile files, streams and numbers as inputs (issue 12, items 8, 9 and part of 10).

Every file pgforge reads on a user's say-so goes through pgforge.inputs: only regular files, at
most a documented size, refused by name otherwise. A YAML document's aliases are followed but
what they expand to is bounded. The parsers stay linear in time and memory on long inputs.

Cases that used to exhaust memory or hang (``/dev/zero``, a FIFO, ``db[0:99999999]``, a billion
laughs) run pgforge in a subprocess with a timeout and an address-space limit, so a regression
fails the test instead of taking the machine down.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgforge.errors import UserError

MEMORY_LIMIT = 1536 * 1024 * 1024


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(args: list[str], *, stdin=subprocess.DEVNULL, timeout: float = 30,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``pgforge ARGS`` in a child with a timeout and a 1.5 GiB address-space limit."""
    return subprocess.run([sys.executable, "-m", "pgforge", *args], stdin=stdin, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limit_memory, cwd=cwd)


def run_python(code: str, *, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``code`` in a child Python with the same limits (for calls that once read /dev/zero forever)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limit_memory)


def assert_refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.startswith("pgforge: error: "), proc.stderr[-2000:]
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


# --------------------------------------------------------------------------- special files as a spec


@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/urandom", "fifo", "directory"])
def test_a_spec_that_is_no_regular_file_is_refused_by_name(kind: str, tmp_path: Path) -> None:
    words = {"/dev/zero": "character device", "/dev/urandom": "character device", "fifo": "FIFO",
             "directory": "directory"}[kind]
    if kind == "fifo":
        path = str(tmp_path / "spec.yaml")
        os.mkfifo(path)
    elif kind == "directory":
        path = str(tmp_path)
    else:
        path = kind
    assert_refused(run_cli(["generate", "--spec", path]), path, words)


def test_stdin_from_dev_zero_is_too_large_not_a_memory_error() -> None:
    with open("/dev/zero", "rb") as zero:
        assert_refused(run_cli(["generate", "--spec", "-"], stdin=zero), "<stdin>", "too large", "16 MiB")
    with open("/dev/zero", "rb") as zero:
        assert_refused(run_cli(["terraform"], stdin=zero), "too large")


def test_a_file_over_the_limit_is_refused_with_the_limit(tmp_path: Path) -> None:
    from pgforge.inputs import MAX_FILE_BYTES, RefusedInput, read_bytes
    from pgforge.spec.load import read_source

    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(RefusedInput, match="16 MiB"):
        read_bytes(big)
    with pytest.raises(UserError, match="too large"):
        read_source(str(big))
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(b"#" * 100)
    assert read_bytes(exact, limit=100) == b"#" * 100


def test_a_spec_that_is_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    from pgforge.spec.load import read_source

    spec = tmp_path / "latin1.yaml"
    spec.write_bytes(b"memory: 16GB\n# caf\xe9\ncpus: 4\n")
    with pytest.raises(UserError) as err:
        read_source(str(spec))
    assert err.value.where == str(spec)
    assert "line 2" in err.value.message and "UTF-8" in err.value.message


# --------------------------------------------------------------------------- includes


def test_includes_of_dev_zero_a_fifo_and_a_directory_are_findings_at_the_directive(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "postgresql.conf").write_text(
        "shared_buffers = 128MB\ninclude '/dev/zero'\ninclude 'pipe'\ninclude_if_exists '/tmp'\n")
    (tmp_path / "pg_hba.conf").write_text(
        "local all all peer\nhost @/dev/zero all 10.0.0.0/8 scram-sha-256\n"
        "host all @pipe 10.0.0.0/8 scram-sha-256\ninclude /dev/zero\n")
    (tmp_path / "pgbouncer.ini").write_text(f"[pgbouncer]\n%include /dev/zero\n%include {tmp_path / 'pipe'}\n")
    proc = run_cli(["check", str(tmp_path), "--pg-version", "17", "--format", "json"], timeout=30)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    found = {(Path(f["path"]).name, f["line"], f["message"]) for f in json.loads(proc.stdout)["findings"]
             if f["code"] == "PGF001"}
    messages = "\n".join(sorted(f"{n}:{line}: {m}" for n, line, m in found))
    for name, line, word in [("postgresql.conf", 2, "character device"), ("postgresql.conf", 3, "FIFO"),
                             ("postgresql.conf", 4, "directory"), ("pg_hba.conf", 2, "character device"),
                             ("pg_hba.conf", 3, "FIFO"), ("pg_hba.conf", 4, "character device"),
                             ("pgbouncer.ini", 2, "character device"), ("pgbouncer.ini", 3, "FIFO")]:
        assert any(n == name and ln == line and word in m for n, ln, m in found), (name, line, word, messages)


# --------------------------------------------------------------------------- PG_VERSION


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "5000-digits"])
def test_detect_survives_a_hostile_pg_version(kind: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    version = data / "PG_VERSION"
    if kind == "dev-zero":
        version.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(version)
    else:
        version.write_text("1" * 5000 + "\n")
    proc = run_cli(["detect", "--data-dir", str(data), "--format", "json"], timeout=30)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    notes = [n for n in json.loads(proc.stdout)["notes"] if n["source"] == str(version)]
    assert notes and "ignored" in notes[0]["message"], notes


def test_check_reads_pg_version_bounded_and_refuses_unsupported_majors(tmp_path: Path) -> None:
    from pgforge.audit.discover import load_group, plan_groups

    (tmp_path / "postgresql.conf").write_text("shared_buffers = 128MB\n")
    (tmp_path / "PG_VERSION").write_text("1" * 5000 + "\n")
    target = load_group(plan_groups([tmp_path])[0])
    assert target.major is None  # unreadable: the checks stay cautious
    (tmp_path / "PG_VERSION").write_text("12\n")
    with pytest.raises(UserError) as err:
        load_group(plan_groups([tmp_path])[0])
    assert err.value.where == str(tmp_path / "PG_VERSION") and "--pg-version" in err.value.message
    with pytest.raises(UserError) as err:
        load_group(plan_groups([tmp_path])[0], 99)
    assert err.value.where == "--pg-version"


def test_the_catalog_of_an_unknown_major_is_a_user_error() -> None:
    from pgforge.catalog import load_catalog

    for major in (99, 12, 10**5000):
        with pytest.raises(UserError) as err:
            load_catalog(major)
        assert err.value.where == "--pg-version" and "13" in err.value.message


def test_check_pg_version_99_exits_2(tmp_path: Path) -> None:
    from pgforge.cli import app
    from pgforge.commands import register_for

    register_for(app, ["check"])
    (tmp_path / "postgresql.conf").write_text("shared_buffers = 128MB\n")
    result = CliRunner().invoke(app, ["check", str(tmp_path), "--pg-version", "99"])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "--pg-version" in result.output


# --------------------------------------------------------------------------- check's paths and baseline


def test_check_of_a_device_or_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    from pgforge.audit.discover import plan_groups

    with pytest.raises(UserError, match="character device"):
        plan_groups([Path("/dev/zero")])
    (tmp_path / "README").write_text("no configs here\n")
    with pytest.raises(UserError, match="no configuration files"):
        plan_groups([tmp_path])
    os.mkfifo(tmp_path / "x.conf")  # sniffed without a blocking open (a child: it used to hang), then skipped
    proc = run_python("import sys\nfrom pathlib import Path\nfrom pgforge.audit.discover import plan_groups\n"
                      "from pgforge.errors import UserError\n"
                      f"try:\n    plan_groups([Path({str(tmp_path)!r})])\n"
                      "except UserError as exc:\n    print(exc)\n", timeout=20)
    assert proc.stdout.strip() == f"{tmp_path}: no configuration files found here (postgresql.conf, postgresql.auto.conf," \
                                  " pg_hba.conf, pgbouncer.ini or *.conf files that look like them)", proc.stderr


def test_check_baseline_that_is_a_directory_or_device_is_a_user_error(tmp_path: Path) -> None:
    from pgforge.audit.runner import read_baseline

    proc = run_python("from pathlib import Path\nfrom pgforge.audit.runner import read_baseline\n"
                      "from pgforge.errors import UserError\n"
                      "for path in ('/etc', '/dev/zero'):\n"
                      "    try:\n        read_baseline(Path(path))\n"
                      "    except UserError as exc:\n        print(exc)\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["/etc: cannot read the baseline: is a directory, not a regular file",
                                        "/dev/zero: cannot read the baseline: is a character device, not a regular file"]
    bad = tmp_path / "baseline.json"
    bad.write_text('{"fingerprints": "abc"}')
    with pytest.raises(UserError, match="not a pgforge baseline"):
        read_baseline(bad)


# --------------------------------------------------------------------------- profiles show


def test_profiles_show_of_a_directory_or_non_utf8_file_exits_2(tmp_path: Path) -> None:
    from pgforge.cli import app

    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes(b"memory: 16GB\n# caf\xe9\n")
    runner = CliRunner()
    for path, word in [(folder, "directory"), (latin, "UTF-8")]:
        result = runner.invoke(app, ["profiles", "show", str(path)])
        assert result.exit_code == 2, (result.output, result.exception)
        assert word in result.output and str(path) in result.output


# --------------------------------------------------------------------------- numbers


def test_memory_with_400_digits_is_a_message() -> None:
    from pgforge.spec.load import build_spec
    from pgforge.units import UnitError, parse_memory

    for text in ["1" + "0" * 400, "1" + "0" * 400 + "GB", "9" * 90 + "TB"]:
        with pytest.raises(UnitError):
            parse_memory(text)
    for value in [float("inf"), 10**400]:
        with pytest.raises(UnitError, match="too large"):
            parse_memory(value)
    with pytest.raises(UserError) as err:
        build_spec(flags={"memory": "1" + "0" * 400, "cpus": 2})
    assert err.value.where == "--memory" and len(str(err.value)) < 200


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf", "1e400s"])
def test_archive_timeout_infinite_is_a_message(value: str, tmp_path: Path) -> None:
    from pgforge.spec.load import build_spec

    spec = tmp_path / "spec.yaml"
    spec.write_text(f"memory: 16GB\ncpus: 4\narchive: {{target: local, local_dir: /var/lib/wal, "
                    f"archive_timeout: {value}}}\n")
    with pytest.raises(UserError, match="archive_timeout"):
        build_spec(spec_file=str(spec))


def test_a_yaml_integer_of_5000_digits_is_a_message(tmp_path: Path) -> None:
    from pgforge.spec.load import read_source

    spec = tmp_path / "spec.yaml"
    spec.write_text("memory: " + "1" * 5000 + "\n")
    with pytest.raises(UserError, match="4300 digits"):
        read_source(str(spec))


# --------------------------------------------------------------------------- inventories


def test_inventory_range_of_a_hundred_million_hosts_is_refused(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text("all:\n  hosts:\n    db[0:99999999]:\n")
    assert_refused(run_cli(["generate", "--inventory", str(inventory), "-o", str(tmp_path / "out")], timeout=20),
                   "db[0:99999999]", "100,000")
    assert not (tmp_path / "out").exists()


def test_inventory_ranges_still_expand_and_are_bounded_in_product() -> None:
    from pgforge.fleet import expand_range

    assert expand_range("db[01:03].x") == ["db01.x", "db02.x", "db03.x"]
    assert expand_range("r[a:b]n[1:2]") == ["ran1", "ran2", "rbn1", "rbn2"]
    assert expand_range("h[0:9:4]") == ["h0", "h4", "h8"]
    with pytest.raises(UserError, match="100,000"):
        expand_range("db[0:999][0:999]")
    for bad in ["db[0:1:0]", "db[0:" + "9" * 5000 + "]", "db[\u00b2:\u00b3]"]:
        with pytest.raises(UserError):
            expand_range(bad)


def test_inventory_that_is_a_device_is_refused(tmp_path: Path) -> None:
    assert_refused(run_cli(["generate", "--inventory", "/dev/zero", "-o", str(tmp_path / "out")]),
                   "/dev/zero", "character device")


# --------------------------------------------------------------------------- pathological documents

LAUGHS = "".join(
    f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9 if prev else ['"lol"'] * 9) + "]\n"
    for prev, name in zip([None, "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi")
)


def test_billion_laughs_spec_is_refused_quickly(tmp_path: Path) -> None:
    spec = tmp_path / "laughs.yaml"
    spec.write_text(LAUGHS)
    started = time.monotonic()
    assert_refused(run_cli(["generate", "--spec", str(spec)], timeout=20), "expands to more than")
    assert time.monotonic() - started < 10


def test_billion_laughs_inventory_is_refused_quickly_but_anchors_still_work(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    body = "".join("    " + line + "\n" for line in LAUGHS.splitlines())
    inventory.write_text("all:\n  vars:\n" + body + "    pgforge_extensions: *i\n  hosts:\n    db1:\n")
    started = time.monotonic()
    assert_refused(run_cli(["generate", "--inventory", str(inventory), "-o", str(tmp_path / "out")], timeout=30),
                   "expands to more than")
    assert time.monotonic() - started < 10

    from pgforge.fleet import load_inventory

    shared = tmp_path / "shared.yaml"
    shared.write_text("all:\n  vars:\n    common: &common {pgforge_memory: 8GB, pgforge_cpus: 2}\n"
                      "  hosts:\n    db1: *common\n    db2:\n      <<: *common\n      pgforge_cpus: 4\n")
    hosts = load_inventory(shared)
    assert hosts["db1"] == {"memory": "8GB", "cpus": 2} and hosts["db2"]["cpus"] == 4


def test_a_spec_that_refers_to_itself_is_refused(tmp_path: Path) -> None:
    from pgforge.spec.load import read_source

    spec = tmp_path / "loop.yaml"
    spec.write_text("extensions: &x [pg_stat_statements, *x]\n")
    with pytest.raises(UserError, match="contains itself"):
        read_source(str(spec))


def test_spec_anchors_and_merge_keys_still_work_with_lines(tmp_path: Path) -> None:
    from pgforge.spec.load import build_spec, read_source

    spec = tmp_path / "spec.yaml"
    spec.write_text("base: &b {memory: 16GB}\n")
    doc = read_source(str(spec))
    assert doc.data == {"base": {"memory": "16GB"}} and doc.lines[("base",)] == 1
    spec.write_text("memory: 16GB\ncpus: 4\n\nworkload: oltpp\n")
    with pytest.raises(UserError) as err:
        build_spec(spec_file=str(spec))
    assert err.value.where.startswith(f"{spec}:4")


def test_a_spec_of_comments_parses_in_linear_time(tmp_path: Path) -> None:
    """The round-trip loader gathered comments quadratically: 4.5 MB took 13 s. 4 MB now takes about 1 s."""
    from pgforge.spec.load import read_source

    spec = tmp_path / "comments.yaml"
    comment = "# a comment line that pads the spec out to a realistic width\n"
    spec.write_text("memory: 16GB\n" + comment * (4_000_000 // len(comment)) + "cpus: 4\n")
    started = time.monotonic()
    doc = read_source(str(spec))
    assert time.monotonic() - started < 5
    assert doc.data == {"memory": "16GB", "cpus": 4}
    assert doc.lines[("cpus",)] == 4_000_000 // len(comment) + 2


def test_json_duplicate_keys_are_refused_with_the_line(tmp_path: Path) -> None:
    from pgforge.spec.load import parse_text

    # tabs make it JSON that YAML refuses, so the JSON reader reads it
    text = '{\n\t"memory": "16GB",\n\t"cpus": 4,\n\t"pgbouncer": {"enabled": true,\n\t\t"enabled": false}\n}\n'
    with pytest.raises(UserError) as err:
        parse_text(text, "host.json")
    assert err.value.where == "host.json:5" and "duplicate key 'enabled'" in err.value.message
    with pytest.raises(UserError) as err:
        parse_text('{"memory": "16GB",\n "memory": "1GB"}', "host.json")
    assert err.value.where.startswith("host.json:2") and "duplicate" in err.value.message


def test_pg_hba_continuation_lines_are_linear() -> None:
    """32,000 continued lines took 12 s (the logical line was rebuilt for each physical one)."""
    from pgforge.parsers.hba import parse_hba

    n = 40_000
    text = "host " + "".join(f"db{i},\\\n" for i in range(n)) + "db all 10.0.0.0/8 scram-sha-256\n"
    started = time.monotonic()
    parsed = parse_hba(text, "pg_hba.conf")
    assert time.monotonic() - started < 3
    rule = parsed.rules[0]
    assert len(rule.databases) == n + 1
    assert (rule.databases[-1].line, rule.databases[-1].column) == (n + 1, 1)
    assert (rule.databases[1234].line, rule.databases[1234].column) == (1235, 1)


def test_a_2mb_quoted_value_parses_in_linear_memory() -> None:
    """The quoted-string regex kept a backtracking entry per character: 2 MB took 300 MB."""
    from pgforge.parsers.pgconf import parse_pgconf

    value = "x" * 2_000_000
    tracemalloc.start()
    try:
        parsed = parse_pgconf(f"search_path = '{value}'\nwork_mem = 4MB\n", "postgresql.conf")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [s.name for s in parsed.settings] == ["search_path", "work_mem"]
    assert parsed.settings[0].value == value
    assert peak < 40_000_000, peak


@pytest.mark.parametrize("line, token", [
    ("a = 'abc'' x", "'abc'"),          # the longest match ends at the first quote of the last ''
    ("a = 'it''s'", "'it''s'"),
    ("a = 'x\\'", None),                 # an escaped final quote: no string at all
])
def test_quoted_string_tokens_keep_flex_longest_match(line: str, token: str | None) -> None:
    from pgforge.parsers.pgconf import _scan

    kind, start, end = _scan(line, 4)
    if token is None:
        assert kind == "err"
    else:
        assert (kind, line[start:end]) == ("string", token)


# --------------------------------------------------------------------------- apply's and detect's own reads


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_apply_dry_run_refuses_a_postgresql_conf_that_is_no_regular_file(kind: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "PG_VERSION").write_text("17\n")
    conf = data / "postgresql.conf"
    if kind == "fifo":
        os.mkfifo(conf)
    else:
        conf.symlink_to("/dev/zero")
    proc = run_cli(["apply", "--memory", "4GB", "--cpus", "2", "--pg-version", "17", "--data-dir", str(data),
                    "--config-file", str(conf), "--dry-run"], timeout=30)
    assert_refused(proc, "postgresql.conf", "FIFO" if kind == "fifo" else "character device")


def test_detect_under_a_root_whose_proc_files_are_fifos_does_not_hang(tmp_path: Path) -> None:
    from pgforge.detect import read_text

    (tmp_path / "proc").mkdir()
    os.mkfifo(tmp_path / "proc" / "meminfo")
    (tmp_path / "proc" / "cpuinfo").symlink_to("/dev/zero")
    proc = run_python(f"from pathlib import Path; from pgforge.detect import read_text as r; "
                      f"print(r(Path({str(tmp_path)!r}), '/proc/meminfo'), r(Path({str(tmp_path)!r}), '/proc/cpuinfo'))",
                      timeout=20)
    assert proc.returncode == 0 and proc.stdout.split() == ["None", "None"], proc.stderr[-2000:]
    assert read_text(tmp_path, "/proc/missing") is None
