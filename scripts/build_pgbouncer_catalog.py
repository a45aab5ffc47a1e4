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

A key that cannot change online takes any text on ``SET`` (1.18 checks it only when it loads the
file at start-up), so each such key (listen_port, pkt_buf, unix_socket_mode, user, ...) is probed
by starting the binary in the foreground, once per value, with a minimal ini in a fresh directory
(Unix socket only; ``start_verdict``): a value the loader refuses ends it at once with ``invalid
value``; any other start-up failure (no such user, group or host) belongs to this machine, and such
a key is a string whose ``depends_on_machine`` lists examples. listen_port is also started on a
loopback TCP listener: PgBouncer reads a C int but binds a 16-bit port (70000 listens on 4464), so
its range is 1..65535. Every int/time key that SET typed is started with every probe value too;
``set_vs_start`` records that the two verdicts agree (the loader checks no range SET does not),
and ``start_differs`` would list a key where they do not.

Run time: about 20 s of start-ups (four at a time) after the SET probes, which take 20-80 s
depending on how many keys need the one-value-per-process isolation.

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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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


#: Base of every start-up probe: a Unix socket in the probe's own directory, no TCP listener.
_STARTUP_BASE = (("listen_addr", ""), ("listen_port", "6432"), ("unix_socket_dir", "{dir}"), ("auth_type", "trust"),
                 ("auth_file", "{dir}/userlist.txt"), ("pidfile", "{dir}/pgbouncer.pid"))
#: Extra values for keys probed at start-up: the edges of a port, a backlog and a file mode.
STARTUP_EXTRA = ("65535", "65536", "70000", "0777", "0600", "0o777", "999")
STARTUP_VALUES = PROBE_VALUES + STARTUP_EXTRA + ENUM_VOCABULARY


def start_verdict(pgbouncer: Path, key: str, value: str, timeout: float = 10.0,
                  base: tuple[tuple[str, str], ...] = ()) -> tuple[bool, str]:
    """Does ``pgbouncer`` start with ``key = value`` in an otherwise minimal ini? Runs it in the
    foreground in a fresh directory: a value its loader refuses ends it at once with ``FATAL``
    (exit 1); a config it takes reaches ``process up``, and the process is then stopped. Returns
    (started, the first ERROR/FATAL line or, when it started, its first "listening on" line), the
    line without its time stamp and pid, the temp directory written ``<dir>``. ``base`` overrides
    the minimal ini's settings."""
    d = Path(tempfile.mkdtemp(prefix="pgforge-pgbstart-", dir="/tmp"))
    try:
        settings = dict(_STARTUP_BASE) | dict(base)
        lines = [(k, v.format(dir=d)) for k, v in settings.items() if k != key] + [(key, value)]
        (d / "userlist.txt").write_text('"pgbouncer" ""\n', encoding="utf-8")
        (d / "pgbouncer.ini").write_text("[databases]\n[pgbouncer]\n" + "".join(f"{k} = {v}\n" for k, v in lines),
                                         encoding="utf-8")
        account = _account()
        if account:
            for path in (d, *d.iterdir()):
                os.chown(path, account["user"], account["group"])
        proc = subprocess.Popen([str(pgbouncer), str(d / "pgbouncer.ini")], cwd=d, env=_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **account)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        started, problem, listening = False, "", ""
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                text = line.split(" ", 4)[-1].strip().replace(str(d), "<dir>")  # from the level on
                if not problem and (" ERROR " in line or " FATAL " in line):
                    problem = text
                if not listening and " listening on " in line:
                    listening = text
                if " process up: " in line:
                    started = True
                    break
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return started, listening if started else problem
    finally:
        shutil.rmtree(d, ignore_errors=True)


def loads(verdict: tuple[bool, str]) -> bool:
    """Did the ini loader take the value? It names a value it refuses ``invalid value``; any other
    failure (no such user, group or host, nowhere to listen) is this machine's, not the value's type."""
    started, message = verdict
    return started or "invalid value" not in message


def startup_probe(pgbouncer: Path, keys: list[str], values: tuple[str, ...],
                  workers: int = 4) -> dict[str, dict[str, tuple[bool, str]]]:
    """{key: {value: (started, message)}}; the starts run ``workers`` at a time (each is mostly waiting)."""
    jobs = [(k, v) for k in keys for v in values]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda job: start_verdict(pgbouncer, *job), jobs))
    out: dict[str, dict[str, tuple[bool, str]]] = {k: {} for k in keys}
    for (k, v), verdict in zip(jobs, verdicts):
        out[k][v] = verdict
    return out


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
            _log(f"{key}: a value stops the process; probing it one value per process")
            answers[key], hangs[key] = _isolate(pgbouncer, psql, key, keys[key])
    with Bouncer(pgbouncer, psql) as b:
        wrap = _int_readback(b, [k for k in keys if classify(answers[k])["type"] == "int"])
    # Keys that cannot change online: the verdict of a start with the value in the ini.
    fixed = [k for k in config if k not in SKIP_KEYS and not config[k]["changeable"]]
    _log(f"SET probes done ({len(keys)} keys)")
    at_start = startup_probe(pgbouncer, fixed, STARTUP_VALUES)
    _log(f"start-up probes done ({len(fixed)} keys x {len(STARTUP_VALUES)} values)")
    # Keys SET typed as numbers: does a start with the same values give the same verdicts?
    numeric = [k for k in keys if classify(answers[k])["type"] in ("int", "time")]
    recheck = startup_probe(pgbouncer, numeric, PROBE_VALUES)
    _log(f"start-up re-check done ({len(numeric)} keys x {len(PROBE_VALUES)} values)")
    ports = {v: start_verdict(pgbouncer, "listen_port", v, base=_TCP_BASE) for v in TCP_PORT_VALUES}
    settings: dict[str, Any] = {}
    differing = 0
    for key in sorted(config):
        entry: dict[str, Any] = {"default": config[key]["default"], "changeable": config[key]["changeable"]}
        if key in at_start:
            verdicts = {v: loads(at_start[key][v]) for v in STARTUP_VALUES}
            entry.update(classify(verdicts))
            entry["probed_at"] = "start-up"
            entry["probes"] = {v: verdicts[v] for v in PROBE_VALUES + STARTUP_EXTRA}
            machine = {v: m for v, (ok, m) in at_start[key].items() if not ok and "invalid value" not in m}
            if machine:  # a path, user, group or host: what it names must exist on the target machine
                entry["type"] = "string"
                entry["depends_on_machine"] = {v: machine[v] for v in list(machine)[:3]}
            if key == "listen_port":
                entry.update(_port_range(ports))
        elif key not in answers:
            entry["type"] = "unprobed"
        else:
            entry.update(classify(answers[key]))
            entry["probes"] = {v: answers[key][v] for v in PROBE_VALUES}
            if key in wrap:
                entry["reads_2147483648_as"] = wrap[key]
            if hangs.get(key):
                entry["disrupts_on"] = hangs[key]
            if key in recheck:
                # a value that hung the running process was recorded refused; the loader takes it
                differs = {v: {"set": answers[key][v], "start": loads(recheck[key][v])} for v in PROBE_VALUES
                           if answers[key][v] != loads(recheck[key][v]) and v not in hangs.get(key, ())}
                if differs:
                    entry["start_differs"] = differs
                    differing += 1
        settings[key] = entry
    return {
        "pgbouncer_version": version_number(output),
        "version_output": output,
        "generated_by": ("scripts/build_pgbouncer_catalog.py (SHOW CONFIG and SET probes on the admin console; "
                         "keys that cannot change online probed by starting pgbouncer with each value)"),
        "probe_values": list(PROBE_VALUES),
        "startup_extra_values": list(STARTUP_EXTRA),
        "set_vs_start": (f"{len(numeric)} int/time keys re-probed by starting pgbouncer with every probe value: "
                         + (f"{differing} differ (see start_differs)" if differing else
                            "the start-up verdict equals SET's for every one (but the values in disrupts_on, which "
                            "a start takes and a running pgbouncer does not survive): the loader checks no "
                            "range of its own")),
        "settings": settings,
    }


#: listen_port on a loopback TCP listener: PgBouncer 1.18 reads a C int but binds a 16-bit port.
_TCP_BASE = (("listen_addr", "127.0.0.1"), ("unix_socket_dir", ""))
TCP_PORT_VALUES = ("-1", "0", "65535", "65536", "70000")


def _port_range(ports: dict[str, tuple[bool, str]]) -> dict[str, Any]:
    """listen_port's range from where a TCP listener binds: a value is in range when PgBouncer listens
    on that very port; 0 is out too (the kernel picks any free port)."""
    heard = {v: m for v, (ok, m) in ports.items()}
    same = [int(v) for v, m in heard.items() if ports[v][0] and m.endswith(f":{v}") and int(v) > 0]
    return {"min": 1, "max": max(same) if same else 65535, "tcp_listen_probes": heard}


_T0 = time.monotonic()


def _log(text: str) -> None:
    print(f"[{time.monotonic() - _T0:5.1f}s] {text}", file=sys.stderr)


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
