#!/usr/bin/env python3
"""Build pgforge's PgBouncer catalogue from the real pgbouncer binary.

Why probe: ``SHOW CONFIG`` lists every key with its value, default and whether it can change
online, but not what a key accepts. So this starts the binary in a throwaway directory (Unix
socket only, in that directory; ``auth_type = trust`` for the one admin user of a userlist it
writes there), reads ``SHOW CONFIG``, then, in one admin-console session, sends ``SET key =
'value'`` for every key and every probe value (PgBouncer's loader answers ``SET failed`` for what
its ini reader refuses) and puts each key back. From the answers each key gets a type:

* ``int``: strtol base 0 (``0x10`` and octal ``010`` read), a C int (larger values wrap), signs;
* ``time``: seconds as strtod reads them (1.18 has no unit suffixes), not negative;
* ``enum``: the probe words it accepts, matched case-insensitively;
* ``string``: anything.

The result, with ``pgbouncer --version`` and every probe's verdict, goes to
``src/pgforge/data/pgbouncer/<major.minor>.json``, read by ``pgforge.pgbouncer_catalog``.
tests/test_pgbouncer_catalog.py re-probes a sample of keys live against the installed binary.

usage: python scripts/build_pgbouncer_catalog.py [--pgbouncer PATH] [--psql PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "src" / "pgforge" / "data" / "pgbouncer"
DEFAULT_PGBOUNCER = Path(os.environ.get("PGFORGE_PGBOUNCER", "/usr/sbin/pgbouncer"))
DEFAULT_PSQL = Path(os.environ.get("PGFORGE_PSQL", "/opt/pgforge/pg/18/bin/psql"))
RUN_AS = os.environ.get("PGFORGE_PG_OS_USER", "postgres")  # PgBouncer refuses to run as root

#: Values every key is tried with: numbers of each shape, words, and the edges of a C int. Not
#: ``inf`` or ``nan``: 1.18's time reader takes them, and a timeout of nan hangs the process (found
#: probing idle_transaction_timeout), so pgforge refuses them without asking.
PROBE_VALUES = ("", "abc", "0", "1", "2", "-1", "-0", "1.5", "0x10", "010", "08", "1e3", "1s",
                "2147483647", "2147483648", "-2147483648", "-2147483649", "9223372036854775808",
                "on", "off", "yes", "true")
#: Words that some enum of some PgBouncer version takes; each key keeps those it accepts.
ENUM_VOCABULARY = ("session", "transaction", "statement", "any", "trust", "plain", "md5", "cert", "hba", "pam",
                   "scram-sha-256", "disable", "allow", "prefer", "require", "verify-ca", "verify-full",
                   "Transaction", "SESSION")
#: Keys whose probing would end the probe session or the process (none in 1.18; kept explicit).
SKIP_KEYS: frozenset[str] = frozenset()


def _account() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(RUN_AS)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def version_output(pgbouncer: Path) -> str:
    proc = subprocess.run([str(pgbouncer), "--version"], capture_output=True, text=True, check=True, timeout=30)
    return proc.stdout.strip()


def version_number(output: str) -> str:
    m = re.match(r"PgBouncer (\d+)\.(\d+)(?:\.(\d+))?", output)
    if m is None:
        raise RuntimeError(f"cannot read the PgBouncer version from {output!r}")
    return ".".join(g for g in m.groups() if g is not None)


class Bouncer:
    """A throwaway pgbouncer: Unix socket in its own temp dir, one trusted admin user, removed on exit."""

    def __init__(self, pgbouncer: Path, psql: Path) -> None:
        self.pgbouncer, self.psql = pgbouncer, psql
        self.dir = Path(tempfile.mkdtemp(prefix="pgforge-pgbcat-", dir="/tmp"))
        self.port = 16000 + os.getpid() % 20000
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Bouncer:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        d = self.dir
        (d / "userlist.txt").write_text('"pgbouncer" ""\n', encoding="utf-8")
        (d / "pgbouncer.ini").write_text(
            "[databases]\n[pgbouncer]\nlisten_addr =\n"
            f"listen_port = {self.port}\nunix_socket_dir = {d}\nauth_type = trust\n"
            f"auth_file = {d / 'userlist.txt'}\nadmin_users = pgbouncer\n"
            f"logfile = {d / 'pgbouncer.log'}\npidfile = {d / 'pgbouncer.pid'}\n", encoding="utf-8")
        account = _account()
        if account:
            for path in (d, *d.iterdir()):
                os.chown(path, account["user"], account["group"])
            d.chmod(0o700)
        self.proc = subprocess.Popen([str(self.pgbouncer), str(d / "pgbouncer.ini")], cwd=d, env=_env(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **account)
        socket = d / f".s.PGSQL.{self.port}"
        deadline = time.monotonic() + 20
        while not socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (d / "pgbouncer.log").read_text(errors="replace") if (d / "pgbouncer.log").exists() else ""
                raise RuntimeError(f"pgbouncer did not start: {self.proc.stderr.read() if self.proc.stderr else ''}{log}")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def admin(self, script: str) -> str:
        """Run an admin-console script in one session; errors do not stop it (``\\echo :ERROR`` marks them)."""
        proc = subprocess.run(
            [str(self.psql), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=0", "-h", str(self.dir), "-p",
             str(self.port), "-U", "pgbouncer", "-d", "pgbouncer", "-f", "-"],
            input=script, capture_output=True, text=True, env=_env(), timeout=float(os.environ.get("PGFORGE_PROBE_TIMEOUT", "10")), check=False)
        if proc.returncode != 0:  # the session was lost: the last SET broke it
            raise subprocess.TimeoutExpired(str(self.psql), 0, output=proc.stderr)
        return proc.stdout

    def show_config(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for line in self.admin("SHOW CONFIG;\n").splitlines():
            parts = line.split("|")
            if len(parts) == 4:
                key, value, default, changeable = parts
                out[key] = {"value": value, "default": default, "changeable": changeable == "yes"}
        return out


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def probe(bouncer: Bouncer, keys: dict[str, str], values: tuple[str, ...]) -> dict[str, dict[str, bool]]:
    """{key: {value: accepted}} from ``SET key = value`` on the admin console; each key is put back
    to ``keys[key]`` (its current value) after every probe, so no probe sees another's effect."""
    script: list[str] = []
    for key, current in keys.items():
        for value in values:
            script += [f"SET {key} = {_literal(value)};", "\\echo V :ERROR", f"SET {key} = {_literal(current)};"]
    marks = [line for line in bouncer.admin("\n".join(script) + "\n").splitlines() if line.startswith("V ")]
    expected = len(keys) * len(values)
    if len(marks) != expected:
        raise RuntimeError(f"expected {expected} probe answers, got {len(marks)}")
    answers = iter(marks)
    return {key: {value: next(answers) == "V false" for value in values} for key in keys}


def classify(accepts: dict[str, bool]) -> dict[str, Any]:
    """A key's type and rules from its probe answers."""
    def ok(v: str) -> bool:
        return accepts[v]

    if ok("abc"):
        return {"type": "string"}
    words = [w for w in ENUM_VOCABULARY if ok(w)]
    if words:
        return {"type": "enum", "values": sorted({w.lower() for w in words})}
    if ok("1.5") and not ok("-1") and not ok("1s"):
        return {"type": "time", "unit": "s", "min": 0}
    if (ok("0x10") or ok("2147483647")) and not ok("1.5"):
        return {"type": "int", "min": -2147483648, "max": 2147483647}
    return {"type": "unknown"}


def build(pgbouncer: Path, psql: Path) -> dict[str, Any]:
    output = version_output(pgbouncer)
    with Bouncer(pgbouncer, psql) as b:
        config = b.show_config()
    # A key that cannot change online takes any text on SET (1.18 checks it only at start-up),
    # so SET says nothing about it: such keys are listed, typed "unprobed".
    keys = {k: v["value"] for k, v in config.items() if k not in SKIP_KEYS and v["changeable"]}
    answers: dict[str, dict[str, bool]] = {}
    hangs: dict[str, list[str]] = {}
    pending = list(keys)
    while pending:  # one session per key; a value that hangs the process is found alone, then we go on
        with Bouncer(pgbouncer, psql) as b:
            while pending:
                key = pending[0]
                try:
                    answers.update(probe(b, {key: keys[key]}, PROBE_VALUES + ENUM_VOCABULARY))
                except subprocess.TimeoutExpired:
                    break
                pending.pop(0)
        if pending:
            key = pending.pop(0)
            answers[key], hangs[key] = _isolate(pgbouncer, psql, key, keys[key])
    with Bouncer(pgbouncer, psql) as b:
        wrap = _int_readback(b, [k for k in keys if classify(answers[k])["type"] == "int"])
    settings: dict[str, Any] = {}
    for key in sorted(config):
        entry: dict[str, Any] = {"default": config[key]["default"], "changeable": config[key]["changeable"]}
        if key not in answers:
            entry["type"] = "unprobed"
        else:
            entry.update(classify(answers[key]))
            entry["probes"] = {v: answers[key][v] for v in PROBE_VALUES}
            if key in wrap:
                entry["reads_2147483648_as"] = wrap[key]
            if hangs.get(key):
                entry["disrupts_on"] = hangs[key]
        settings[key] = entry
    return {
        "pgbouncer_version": version_number(output),
        "version_output": output,
        "generated_by": "scripts/build_pgbouncer_catalog.py (SHOW CONFIG and SET probes on the admin console)",
        "probe_values": list(PROBE_VALUES),
        "settings": settings,
    }


def _isolate(pgbouncer: Path, psql: Path, key: str, current: str) -> tuple[dict[str, bool], list[str]]:
    """Probe ``key`` one value per fresh process; a value after which the process stops answering, or
    the admin session breaks, is recorded as refused (pgforge must not write it) and listed."""
    verdicts: dict[str, bool] = {}
    hung: list[str] = []
    for value in PROBE_VALUES + ENUM_VOCABULARY:
        with Bouncer(pgbouncer, psql) as b:
            try:
                verdicts[value] = probe(b, {key: current}, (value,))[key][value]
                b.admin("SHOW VERSION;\n")  # still answering after the restore?
            except subprocess.TimeoutExpired:
                verdicts[value] = False
                hung.append(value)
    return verdicts, hung


def _int_readback(b: Bouncer, keys: list[str]) -> dict[str, str]:
    """What an int key holds after ``SET key = '2147483648'`` (a C int wraps to -2147483648)."""
    if not keys:
        return {}
    config = b.show_config()
    script = [f"SET {k} = '2147483648';" for k in keys] + ["SHOW CONFIG;"]
    script += [f"SET {k} = {_literal(config[k]['value'])};" for k in keys]
    held: dict[str, str] = {}
    for line in b.admin("\n".join(script) + "\n").splitlines():
        parts = line.split("|")
        if len(parts) == 4 and parts[0] in keys:
            held[parts[0]] = parts[1]
    return held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pgbouncer", type=Path, default=DEFAULT_PGBOUNCER)
    parser.add_argument("--psql", type=Path, default=DEFAULT_PSQL if DEFAULT_PSQL.exists() else Path("psql"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    doc = build(args.pgbouncer, args.psql)
    major_minor = ".".join(doc["pgbouncer_version"].split(".")[:2])
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{major_minor}.json"
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path}: {len(doc['settings'])} keys of PgBouncer {doc['pgbouncer_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
