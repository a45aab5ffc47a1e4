"""Property: every command's file and number inputs end in exit 0, 1 or 2 with a message, never a
traceback, within bounded time and memory (issue 12, "a second property").

Hypothesis draws cases: a command (generate, explain, check, detect, apply --dry-run, terraform,
profiles show, rules, generate --inventory), a file given to it where it takes one (a special file,
a FIFO, a directory, a file over the size limit, random bytes, a truncated or corrupted valid
spec, non-UTF-8 text), and hostile numbers (hundreds of digits, negative, inf/nan, exponents,
underscores, non-ASCII digits) for --memory/--cpus/--pg-version and the spec's numeric fields.

Starting a Python per case costs about 0.3 s, so each example's cases run in one child process
(the CLI in-process through typer's runner), under an address-space limit, with an alarm per case:
a hang, a MemoryError or any exception other than the CLI's own exit is reported with its case.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

MEMORY_LIMIT = 1536 * 1024 * 1024
CASE_SECONDS = 10

DRIVER = r'''
import io, json, signal, sys, traceback
from typer.testing import CliRunner
from pgforge.cli import app
from pgforge.commands import register_for

class Hang(BaseException):
    pass

def on_alarm(signum, frame):
    raise Hang()

signal.signal(signal.SIGALRM, on_alarm)
runner = CliRunner()
out = []
for case in json.load(open(sys.argv[1])):
    register_for(app, case["args"])
    stdin = None
    if case.get("stdin"):  # what the shell's < would give; an endless device is cut just past the limit
        with open(case["stdin"], "rb") as handle:
            stdin = handle.read(16 * 1024 * 1024 + 2)
    signal.alarm(case["seconds"])
    try:
        result = runner.invoke(app, case["args"], input=stdin, catch_exceptions=True)
        signal.alarm(0)
        exc = result.exception
        problem = None
        if exc is not None and not isinstance(exc, SystemExit):
            problem = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:]
        out.append({"code": result.exit_code, "stderr": result.stderr[-2000:], "stdout": result.stdout[-500:],
                    "problem": problem})
    except Hang:
        out.append({"code": None, "stderr": "", "problem": "did not finish in %d s" % case["seconds"]})
    except BaseException as exc:  # MemoryError outside the runner, etc.
        signal.alarm(0)
        out.append({"code": None, "stderr": "", "problem": repr(exc)[:2000]})
print(json.dumps(out))
'''


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


VALID_SPEC = ("memory: 16GB\ncpus: 4\nstorage: ssd\nworkload: oltp\npg_version: 17\nconnections: 200\n"
              "pgbouncer: {enabled: true, pool_mode: transaction, databases: [app]}\n"
              "archive: {target: local, local_dir: /var/lib/wal, archive_timeout: 5min}\n")
VALID_INVENTORY = "all:\n  vars:\n    pgforge_memory: 8GB\n    pgforge_cpus: 2\n  hosts:\n    db[1:2]:\n"

# Numbers as a user, a pipeline or an attacker writes them.
numbers = st.one_of(
    st.sampled_from(["0", "-1", "-5GB", "1e400", "1e-400", "inf", "-inf", "nan", ".inf", ".nan", "1_000",
                     "16_000MB", "\u0661\u0666GB", "\uff11\uff16GB", "\u00b2", "0x10", "0o17", "1.5e3GB",
                     "9" * 400, "9" * 5000, "1" + "0" * 40 + "TB", "4.2", "17.0", "+17", " 17 ", "",
                     "99", "12", "2147483648", "-2147483649"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(alphabet="0123456789.eE+-_ kMGTBib", max_size=12),
)

# What a file the user names may be. "valid" is a well-formed spec (or inventory) to corrupt.
file_kinds = st.sampled_from(["/dev/zero", "/dev/urandom", "/dev/null", "fifo", "directory", "missing", "empty",
                              "huge", "random", "truncated", "corrupted", "latin1", "valid", "numbers"])

# What the shell can redirect to stdin (a FIFO without a writer, a directory or a missing file
# fail in the shell, before pgforge runs).
stdin_kinds = st.sampled_from(["/dev/zero", "/dev/urandom", "/dev/null", "empty", "huge", "random", "truncated",
                               "corrupted", "latin1", "valid", "numbers"])


def make_file(root: Path, name: str, kind: str, data: st.DataObject, valid: str) -> str:
    """Create the input ``kind`` as ``root/name`` and return its path."""
    path = root / name
    if kind.startswith("/dev/"):
        path.symlink_to(kind)  # a config, include or PG_VERSION linked to a device
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "missing":
        pass
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "huge":
        with open(path, "wb") as fh:
            fh.truncate(16 * 1024 * 1024 + 1)
    elif kind == "random":
        path.write_bytes(data.draw(st.binary(max_size=300), label="random bytes"))
    elif kind == "truncated":
        path.write_text(valid[: data.draw(st.integers(0, len(valid)), label="cut")])
    elif kind == "corrupted":
        at = data.draw(st.integers(0, len(valid)), label="at")
        junk = data.draw(st.binary(min_size=1, max_size=20), label="junk")
        path.write_bytes(valid[:at].encode() + junk + valid[at:].encode())
    elif kind == "latin1":
        path.write_bytes(valid.encode() + b"# caf\xe9\n")
    elif kind == "numbers":
        picks = {key: data.draw(numbers, label=key) for key in ("memory", "cpus", "pg_version", "connections")}
        timeout = data.draw(numbers, label="archive_timeout")
        path.write_text("".join(f"{k}: {json.dumps(v) if data.draw(st.booleans(), label='quoted') else v}\n"
                                for k, v in picks.items())
                        + f"archive: {{target: local, local_dir: /var/lib/wal, archive_timeout: {timeout}}}\n")
    else:
        path.write_text(valid)
    return str(path)


def make_case(root: Path, index: int, data: st.DataObject) -> dict:
    """One command line with hostile file and number inputs, set up under ``root``."""
    here = root / f"case{index}"
    here.mkdir()
    command = data.draw(st.sampled_from(["generate", "generate-stdin", "explain", "check", "check-baseline",
                                         "detect", "apply", "terraform", "profiles", "rules", "inventory"]),
                        label="command")
    kind = data.draw(file_kinds, label="file")
    flags = []
    for flag in ("--memory", "--cpus", "--pg-version"):
        if data.draw(st.booleans(), label=f"use {flag}"):
            flags += [flag, data.draw(numbers, label=flag)]
    stdin = None
    if command == "generate":
        args = ["generate", "--spec", make_file(here, "spec.yaml", kind, data, VALID_SPEC), *flags]
    elif command == "generate-stdin":
        stdin = make_file(here, "spec.yaml", data.draw(stdin_kinds, label="stdin"), data, VALID_SPEC)
        args = ["generate", "--spec", "-", *flags]
    elif command == "explain":
        args = ["explain", "shared_buffers", "--spec", make_file(here, "spec.yaml", kind, data, VALID_SPEC), *flags]
    elif command in ("check", "check-baseline"):
        conf = here / "conf"
        conf.mkdir()
        (conf / "postgresql.conf").write_text("shared_buffers = 128MB\ninclude_if_exists 'extra.conf'\n")
        (conf / "pg_hba.conf").write_text("local all all peer\nhost @extra.list all 10.0.0.0/8 scram-sha-256\n")
        target = make_file(conf, data.draw(st.sampled_from(["extra.conf", "extra.list", "PG_VERSION"]),
                                           label="which"), kind, data, "work_mem = 4MB\n")
        args = ["check", str(conf)]
        if command == "check-baseline":
            args += ["--baseline", target]
        if data.draw(st.booleans(), label="pg-version"):
            args += ["--pg-version", data.draw(numbers, label="--pg-version")]
    elif command == "detect":
        data_dir = here / "data"
        data_dir.mkdir()
        make_file(data_dir, "PG_VERSION", kind, data, "17\n")
        args = ["detect", "--data-dir", str(data_dir), "--format", "json"]
    elif command == "apply":
        data_dir = here / "data"
        data_dir.mkdir()
        make_file(data_dir, "PG_VERSION", data.draw(st.sampled_from(["valid", "valid", "random", "fifo", "/dev/zero",
                                                                     "huge", "numbers"]), label="PG_VERSION"),
                  data, "17\n")
        (data_dir / "postgresql.conf").write_text("shared_buffers = 128MB\n")
        args = ["apply", "--dry-run", "-D", str(data_dir), "--spec",
                make_file(here, "spec.yaml", kind, data, VALID_SPEC), *flags]
    elif command == "terraform":
        stdin = make_file(here, "query.json", data.draw(stdin_kinds, label="stdin"), data,
                          json.dumps({"memory": "8GB", "cpus": "2"}))
        args = ["terraform"]
    elif command == "profiles":
        args = ["profiles", "show", make_file(here, "profile.yaml", kind, data, VALID_SPEC)]
    elif command == "rules":
        args = ["rules", data.draw(st.one_of(numbers, st.sampled_from(["PGF001", "pgf999", "\x00", "x" * 5000])),
                                   label="code")]
    else:
        args = ["generate", "--inventory", make_file(here, "hosts.yaml", kind, data, VALID_INVENTORY),
                "-o", str(here / "out")]
    return {"args": args, "stdin": stdin, "seconds": CASE_SECONDS}


@settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_command_ends_with_an_exit_code_and_a_message(tmp_path_factory, data: st.DataObject) -> None:
    root = tmp_path_factory.mktemp("inputs")
    cases = [make_case(root, i, data) for i in range(12)]
    (root / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(root / "cases.json")], capture_output=True, text=True,
                          timeout=CASE_SECONDS * len(cases) + 60, preexec_fn=_limit_memory, cwd=root,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    for case, result in zip(cases, results):
        shown = json.dumps(case)[:600]
        assert result["problem"] is None, f"{shown}\n{result['problem']}"
        assert result["code"] in (0, 1, 2), (shown, result)
        assert "Traceback" not in result["stderr"], (shown, result["stderr"])
        if result["code"] == 2:
            assert result["stderr"].strip(), (shown, "exit 2 without a message")
        elif result["code"] == 1:  # findings (check) or failed hosts (fleet): a report says which
            assert (result["stderr"] + result["stdout"]).strip(), (shown, "exit 1 without a message")
