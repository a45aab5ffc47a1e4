"""Hostile strings in every string field of the spec: generate refuses them (exit 2) or writes
files in which the value stays in its place (issue 12, the first property).

The string fields are found by walking the pydantic models (HostSpec and its sections), so a new
field is covered without touching this file. Each value is put into one field of a full spec that
enables every section; the bundle is rendered in-process with every --format, and each file is
checked against its own grammar:

- no file holds a NUL or any line break other than LF (every line break a reader honours is
  escaped or refused), and file paths stay plain names inside the bundle;
- postgresql.conf parses (pgforge's reader of guc-file.l) into exactly the generator's settings;
- pg_hba.conf parses into exactly the planned records, methods as planned;
- pgbouncer.ini has only the keys pgforge writes and one plain connection string per pool;
- alter_system.sql holds only comments, ALTER SYSTEM SET lines (one per setting) and pgforge's psql lines;
- every script, SQL file, cron file and other file has the shape of the same file rendered with the
  valid base value: same lines, comment lines where comments were, the same number of shell words
  and SQL statements per line; scripts pass ``bash -n``.

The second part has the real servers parse accepted files: PostgreSQL (``postgres -C`` with the
generated postgresql.conf, pg_hba.conf loaded by a started server), PgBouncer (``-v -d`` config
load) and bash.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import typing
from enum import Enum
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from pgforge.bundle import build_bundle
from pgforge.errors import UserError
from pgforge.parsers.hba import parse_hba
from pgforge.parsers.pgbouncer_ini import parse_pgbouncer_ini, scan_connstr
from pgforge.parsers.pgconf import parse_pgconf
from pgforge.spec import HostSpec
from pgforge.tuning import tune

FORMATS = ("sql", "json", "yaml")
#: Every line break a reader of pgforge's files honours (as render/escape.py's LINE_BREAKS).
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"

S3 = {"bucket": "my-wal", "prefix": "prod/wal", "endpoint_url": "http://127.0.0.1:9000", "region": "eu-west-1",
      "aws_cli": "/usr/local/bin/aws"}


def _full(archive: dict, backup: dict | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "db1", "description": "primary of the app", "memory": "16GB", "cpus": 4, "pg_version": 17,
        "listen_addresses": ["10.0.0.5", "localhost"], "timezone": "UTC", "extensions": ["pg_stat_statements"],
        "pgbouncer": {"enabled": True, "databases": ["app"], "users": ["app"], "admin_users": ["pgb_admin"],
                      "stats_users": ["pgb_stats"], "listen_addr": "127.0.0.1", "server_host": "127.0.0.1",
                      "version": "1.18", "tls": True, "tls_cert_file": "/etc/pgbouncer/tls/pgbouncer.crt",
                      "tls_key_file": "/etc/pgbouncer/tls/pgbouncer.key"},
        "access": [
            {"type": "hostssl", "database": "app", "user": "app", "address": "10.0.1.0/24",
             "method": "scram-sha-256", "options": {"clientcert": "verify-ca"}},
            {"type": "host", "database": "app", "user": "app", "address": ".example.com", "method": "scram-sha-256"},
        ],
        "replication": {"replicas": [{"name": "replica1", "host": "10.0.2.10"}], "user": "replicator",
                        "publications": [{"name": "app_pub", "database": "app", "tables": ["public.orders"]}],
                        "primary_host": "10.0.0.5", "passfile": "/var/lib/postgresql/.pgpass", "sslmode": "require"},
        "archive": archive,
    }
    if backup is not None:
        spec["backup"] = backup
    return spec


BASES: dict[str, dict[str, Any]] = {
    "s3": _full({"target": "s3", "s3": S3, "scripts_dir": "/usr/local/lib/pgforge", "base_backup_schedule": "15 1 * * 0"},
                {"target": "s3", "s3": dict(S3, bucket="my-backups", prefix="prod/daily"), "databases": ["app"],
                 "schedule": "30 2 * * *", "scripts_dir": "/usr/local/lib/pgforge"}),
    "local": _full({"target": "local", "local_dir": "/srv/wal", "data_directory": "/srv/pgdata"},
                   {"target": "local", "local_dir": "/srv/dumps", "databases": ["app"]}),
    "pgbackrest": _full({"target": "pgbackrest", "s3": S3, "stanza": "main",
                         "pgbackrest_config": "/etc/pgbackrest/pgbackrest.conf"}, None),
}


# --------------------------------------------------------------------------- the walker


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip(tp: Any) -> Any:
    """Annotated[X, ...] -> X; X | None -> X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _is_string(tp: Any) -> bool:
    tp = _strip(tp)
    if tp is str:
        return True
    if typing.get_origin(tp) is typing.Literal:
        return all(isinstance(a, str) for a in typing.get_args(tp))
    return isinstance(tp, type) and issubclass(tp, Enum) and issubclass(tp, str)


Path = tuple[Any, ...]


def string_paths(model: type[BaseModel], data: dict[str, Any], prefix: Path = ()) -> list[Path]:
    """Every place in ``data`` (a spec for ``model``) where a string goes: a str/Literal/Enum field,
    the first element of a list of strings, the key and the value of a dict of strings."""
    out: list[Path] = []
    for name, field in model.model_fields.items():
        tp = _strip(field.annotation)
        here = (*prefix, name)
        origin = typing.get_origin(tp)
        if _is_string(tp):
            out.append(here)
        elif _is_model(tp):
            if isinstance(data.get(name), dict):
                out.extend(string_paths(tp, data[name], here))
        elif origin is list:
            (item,) = typing.get_args(tp)
            item = _strip(item)
            if _is_string(item):
                out.append((*here, 0))
            elif _is_model(item) and data.get(name):
                for i, element in enumerate(data[name]):
                    if isinstance(element, dict):
                        out.extend(string_paths(item, element, (*here, i)))
        elif origin is dict:
            key_tp, value_tp = typing.get_args(tp)
            if _is_string(key_tp) and _is_string(value_tp):
                out.append((*here, "{key}"))
                out.append((*here, "{value}"))
    return out


def put(spec: dict[str, Any], path: Path, value: str) -> dict[str, Any]:
    """A copy of ``spec`` with ``value`` at ``path`` (intermediate lists and dicts are created)."""
    spec = copy.deepcopy(spec)
    if len(path) == 1:
        spec[path[0]] = value
        return spec
    node: Any = spec
    for step in path[:-2]:
        node = node[step]
    parent_key, last = path[-2], path[-1]
    if last == "{key}":
        node[parent_key] = {value: "x"}
    elif last == "{value}":
        node[parent_key] = {"clientcert": value}
    elif isinstance(last, int):
        current = node.get(parent_key) or []
        node[parent_key] = [value, *current[1:]]
    else:
        node[parent_key][last] = value
    return spec


def get(spec: dict[str, Any], path: Path) -> Any:
    node: Any = spec
    for step in path:
        if step in ("{key}", "{value}"):
            return next(iter(node.items()))[0 if step == "{key}" else 1] if node else None
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


ALL_PATHS = sorted({(base, p) for base, spec in BASES.items() for p in string_paths(HostSpec, spec)},
                   key=lambda bp: (bp[0], str(bp[1])))


def test_the_walker_finds_every_string_field() -> None:
    found = {".".join(map(str, p)) for _, p in ALL_PATHS}
    expected = {
        "name", "description", "storage", "workload", "os", "extensions.0", "listen_addresses.0", "timezone",
        "pgbouncer.pool_mode", "pgbouncer.databases.0", "pgbouncer.version", "pgbouncer.listen_addr",
        "pgbouncer.users.0", "pgbouncer.admin_users.0", "pgbouncer.stats_users.0", "pgbouncer.server_host",
        "pgbouncer.tls_cert_file", "pgbouncer.tls_key_file",
        "access.0.type", "access.0.database", "access.0.user", "access.0.address", "access.0.method",
        "access.0.options.{key}", "access.0.options.{value}", "access.1.address",
        "replication.replicas.0.name", "replication.replicas.0.host", "replication.mode", "replication.user",
        "replication.publications.0.name", "replication.publications.0.database",
        "replication.publications.0.tables.0", "replication.primary_host", "replication.passfile",
        "replication.sslmode",
        "archive.target", "archive.local_dir", "archive.s3.bucket", "archive.s3.prefix", "archive.s3.endpoint_url",
        "archive.s3.region", "archive.s3.aws_cli", "archive.stanza", "archive.pgbackrest_config",
        "archive.scripts_dir", "archive.base_backup_schedule", "archive.data_directory",
        "backup.target", "backup.local_dir", "backup.s3.bucket", "backup.s3.prefix", "backup.s3.endpoint_url",
        "backup.s3.region", "backup.s3.aws_cli", "backup.databases.0", "backup.schedule", "backup.scripts_dir",
    }
    missing = expected - found
    assert not missing, f"the walker lost string fields: {sorted(missing)}"
    assert len(found) >= len(expected)


# --------------------------------------------------------------------------- hostile values

BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x85", "\u2028", "\u2029"]
PIECES = [*BREAKS, " ", "\t", "'", '"', "`", "\\", "$(id)", "`id`", "#", ";", "=", ",", "%", "\x00", "/", "..",
          "host all all 0.0.0.0/0 trust", "* = host=evil", "DROP DATABASE app;", "@reboot root /tmp/evil.sh",
          "shared_buffers = 1", "[pgbouncer]", "\\gexec", "x=1"]

hostile = st.one_of(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=5).map("".join),
    st.text(alphabet=st.sampled_from("ab/._-:'\" \\\n\r$`#;=%,"), min_size=1, max_size=12),
    st.just("a" * 5000),
)


def _variants(base_value: Any, evil: str) -> list[str]:
    """The hostile value alone, after a valid value (a validator with ``$`` lets ``valid\\n...`` through)
    and before one."""
    if isinstance(base_value, str) and base_value:
        return [evil, base_value + evil, evil + base_value]
    return [evil]


# --------------------------------------------------------------------------- checks per file

SHELL_OPERATORS = re.compile(r"\|\||&&|[|;&()<>]")


def shell_shape(line: str) -> tuple[int, int]:
    """(words, operators) of one bash line, quotes ('...', "...", $'...') kept inside their word."""
    words = ops = 0
    i, n, in_word = 0, len(line), False
    while i < n:
        c = line[i]
        if c in " \t":
            in_word = False
            i += 1
            continue
        if c == "#" and not in_word:
            break
        if SHELL_OPERATORS.match(line, i) and c not in "()":
            ops += 1
            in_word = False
            i += len(SHELL_OPERATORS.match(line, i).group(0))
            continue
        if not in_word:
            words += 1
            in_word = True
        if c == "\\":
            i += 2
        elif c == "'" :
            j = line.find("'", i + 1)
            i = n if j < 0 else j + 1
        elif c == "$" and line.startswith("$'", i):
            j = i + 2
            while j < n and line[j] != "'":
                j += 2 if line[j] == "\\" else 1
            i = j + 1
        elif c == '"':
            j = i + 1
            while j < n and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            i = j + 1
        else:
            i += 1
    return words, ops


def sql_shape(line: str) -> tuple[str, int]:
    """(first word, statement ends) of one SQL/psql line, with literals and quoted identifiers removed."""
    bare = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "Q", line)
    bare = bare.split("--", 1)[0]
    first = bare.split()[0] if bare.split() else ""
    return first, bare.count(";") + bare.count("\\g")


def _comment(line: str, mark: str) -> bool:
    return line.lstrip().startswith(mark)


def shape(path: str, text: str) -> list[Any]:
    lines = text.split("\n")
    if path.endswith(".sh"):
        return [("#",) if _comment(l, "#") else shell_shape(l) for l in lines]
    if path.endswith(".sql"):
        return [("--",) if _comment(l, "--") else sql_shape(l) for l in lines]
    if path.endswith(".cron"):
        return [("#",) if _comment(l, "#") else (len(l.split(" ")[:5]), *l.split(" ")[5:6], shell_shape(" ".join(l.split(" ")[6:])))
                for l in lines]
    if path.endswith("pgbackrest.conf"):
        return [("#",) if _comment(l, "#") else l.split("=", 1)[0] for l in lines]
    return [bool(l.strip()) and (l.lstrip()[:1] in "#;" or l.lstrip().startswith("--")) for l in lines]


DEDICATED = {"postgresql.conf", "pg_hba.conf", "pgbouncer/pgbouncer.ini", "alter_system.sql", "MANIFEST.json",
             "pgforge.json", "parameters.yaml", "pgbouncer/userlist.txt"}

_ALTER = re.compile(r"ALTER SYSTEM SET [a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)? = '(?:[^'\n]|'')*'(, '(?:[^'\n]|'')*')*;")
_PSQL = re.compile(r"SELECT current_setting\('[a-z0-9_.]+', true\) IS NOT NULL AS pgforge_known_\d+ \\gset|"
                   r"\\if :pgforge_known_\d+|\\else|\\endif|\\echo 'pgforge: [a-z0-9_.]+ is not known [^'\n]*'|"
                   r"SELECT pg_reload_conf\(\);")


def check_files(spec: HostSpec, files: list[Any], base_files: dict[str, str] | None) -> None:
    t_names = None
    for f in files:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", f.path) and ".." not in f.path.split("/"), f.path
        assert "\x00" not in f.content, f"{f.path}: NUL"
        for c in LINE_BREAKS.replace("\n", ""):
            assert c not in f.content, f"{f.path}: raw {c!r}"
    by_path = {f.path: f.content for f in files}
    tuning = tune(spec)
    t_names = [s.name for s in tuning.settings]

    conf = parse_pgconf(by_path["postgresql.conf"], "postgresql.conf")
    assert not [d for d in conf.diagnostics if d.severity == "error"], conf.diagnostics
    assert [s.name for s in conf.settings] == t_names
    for line in by_path["postgresql.conf"].split("\n"):
        assert not line.strip() or line.startswith("#") or re.match(r"[a-z_][a-z0-9_.]* = ", line), line

    if "pg_hba.conf" in by_path:
        from pgforge.bundle.pg_hba import plan

        hba = parse_hba(by_path["pg_hba.conf"], "pg_hba.conf")
        # An option value the server does not accept (clientcert=" trust #") stays inside its quotes:
        # not an injection, but input validation's to refuse (spec/access.py), so it is tolerated here.
        tolerated = [e for e in hba.errors if e.message.startswith("invalid value for ")]
        assert len(tolerated) == len(hba.errors), hba.errors
        planned = plan(tuning).lines
        assert len(hba.rules) + len(tolerated) == len(planned)
        if not tolerated:
            assert [r.method for r in hba.rules] == [p.method for p in planned]

    if "pgbouncer/pgbouncer.ini" in by_path:
        from pgforge.bundle.pgbouncer import _entries, plan_for_tuning

        ini = parse_pgbouncer_ini(by_path["pgbouncer/pgbouncer.ini"], "pgbouncer.ini")
        assert not ini.errors, ini.errors
        keys = {e.key for _, entries in _entries(tuning, plan_for_tuning(tuning)) for e in entries}
        sections = ini.sections
        assert set(sections) <= {"databases", "pgbouncer"}
        assert {e.key for e in sections["pgbouncer"]} <= keys
        assert [e.key for e in sections["databases"]] == list(spec.pgbouncer.databases)
        for e in sections["databases"]:
            cs = scan_connstr(e.value)
            assert cs.error is None and [p.key for p in cs.params] == ["host", "port", "dbname"], e.value
        userlist = by_path["pgbouncer/userlist.txt"]
        assert all(not l.strip() or l.startswith(";") for l in userlist.split("\n")), userlist

    if "alter_system.sql" in by_path:
        alters = 0
        for line in by_path["alter_system.sql"].split("\n"):
            if not line.strip() or line.startswith("--") or _PSQL.fullmatch(line):
                continue
            assert _ALTER.fullmatch(line), line
            alters += 1
        assert alters == len(t_names)

    json.loads(by_path["MANIFEST.json"])
    data = json.loads(by_path["pgforge.json"])
    assert [s["name"] for s in data["settings"]] == t_names
    params = yaml.safe_load(by_path["parameters.yaml"])["postgresql"]["parameters"]
    assert list(params) == t_names

    scripts = [f for f in files if f.path.endswith(".sh")]
    if scripts:
        bash_n(scripts)
    if base_files is not None:
        others = [f for f in files if f.path not in DEDICATED]
        base_others = [(p, c) for p, c in base_files.items() if p not in DEDICATED]
        assert len(others) == len(base_others)
        for f, (bpath, bcontent) in zip(others, base_others):
            assert shape(f.path, f.content) == shape(bpath, bcontent), f"{f.path}: structure differs from {bpath}"


def bash_n(scripts: list[Any]) -> None:
    for f in scripts:
        proc = subprocess.run(["bash", "-n"], input=f.content, capture_output=True, text=True)
        assert proc.returncode == 0, f"{f.path}: bash -n: {proc.stderr}"


# --------------------------------------------------------------------------- driving generate


def generate(data: dict[str, Any]) -> tuple[HostSpec, list[Any]] | None:
    """What ``pgforge generate --spec`` does in-process: None when it refuses with exit 2."""
    try:
        spec = HostSpec.model_validate(data)
        t = tune(spec)
        files = build_bundle(t, FORMATS)  # --format sql/json/yaml on stdout use the same renderers
    except (UserError, ValidationError):
        return None
    return spec, files


_BASE_FILES: dict[str, dict[str, str]] = {}


def base_files(base: str) -> dict[str, str]:
    if base not in _BASE_FILES:
        result = generate(BASES[base])
        assert result is not None, f"base spec {base} is refused"
        _BASE_FILES[base] = {f.path: f.content for f in result[1]}
    return _BASE_FILES[base]


def test_base_specs_are_valid_and_clean() -> None:
    for base in BASES:
        spec, files = generate(BASES[base])  # type: ignore[misc]
        check_files(spec, files, base_files(base))


def _one(base: str, path: Path, value: str) -> None:
    result = generate(put(BASES[base], path, value))
    if result is None:
        return
    spec, files = result
    check_files(spec, files, base_files(base))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(where=st.sampled_from(ALL_PATHS), evil=hostile, variant=st.integers(0, 2))
def test_hostile_value_in_any_string_field_is_refused_or_stays_in_place(where, evil, variant) -> None:
    base, path = where
    values = _variants(get(BASES[base], path), evil)
    _one(base, path, values[variant % len(values)])


# Every field, deterministically, with the value from the issue (a live hba line after a newline)
# and the same-line variants (a trailing method, shell and SQL injection without a newline).
ISSUE_VALUES = ["\nhost all all 0.0.0.0/0 trust\n#", " trust #", "'; DROP DATABASE app; --", "$(touch /tmp/pwned)",
                "\r\nshared_buffers = 1", "x\x00y"]


@pytest.mark.parametrize("where", ALL_PATHS, ids=lambda bp: f"{bp[0]}:{'.'.join(map(str, bp[1]))}")
def test_every_field_with_the_issue_values(where) -> None:
    base, path = where
    for evil in ISSUE_VALUES:
        for value in _variants(get(BASES[base], path), evil):
            _one(base, path, value)


# --------------------------------------------------------------------------- the real servers parse them

REAL_MAJOR = 17
SAMPLE_VALUES = ["\nhost all all 0.0.0.0/0 trust\n#", " trust #", "'; DROP DATABASE app; --", "$(touch /tmp/pwned)",
                 "a b", "a'b", 'a"b', "a\\b", "a;b", "a#b", "a=b", "a%b", "a,b", "`id`", "\u2028x", "x\x85"]


def accepted_sample() -> list[tuple[str, dict[str, str]]]:
    """Bundles generate accepted for hostile values, one per distinct file content (fixed, no randomness)."""
    out, seen = [], set()
    for base, path in ALL_PATHS:
        for evil in SAMPLE_VALUES:
            for value in _variants(get(BASES[base], path), evil):
                if path[-1] == "{value}":
                    continue  # hba option values: the server judges them (clientcert=" x" is quoted, and refused
                    # as a value), so they are input validation's to refuse (spec/access.py), not escaping's
                result = generate(put(BASES[base], path, value))
                if result is None:
                    continue
                files = {f.path: f.content for f in result[1]}
                key = tuple(sorted(files.items()))
                if key not in seen:
                    seen.add(key)
                    out.append((f"{base}:{'.'.join(map(str, path))}={value!r}", files))
    return out


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, dict[str, str]]]:
    found = accepted_sample()
    assert found, "no hostile value was accepted: the real-server check would prove nothing"
    return found


def _distinct(sample: list[tuple[str, dict[str, str]]], path: str) -> dict[str, str]:
    """content -> the first sample label that produced it."""
    out: dict[str, str] = {}
    for label, files in sample:
        if path in files:
            out.setdefault(files[path], label)
    return out


def test_real_postgres_parses_the_accepted_postgresql_conf(sample) -> None:
    from pgharness import postgres_C

    for conf, label in _distinct(sample, "postgresql.conf").items():
        try:
            postgres_C(REAL_MAJOR, conf, ["shared_buffers"])
        except Exception as exc:  # ConfRejected: the server refused a line
            pytest.fail(f"{label}: {exc}")


def test_real_postgres_loads_the_accepted_pg_hba_conf(sample) -> None:
    from pgharness import _write_pg_owned
    from test_realpg_hba import SslCluster, psql_as_postgres

    from pgforge.rules.ssl import CA_FILE, CERT_FILE

    class CaCluster(SslCluster):
        def _init(self) -> None:
            super()._init()
            _write_pg_owned(self.datadir / CA_FILE, (self.datadir / CERT_FILE).read_text())

    hbas = _distinct(sample, "pg_hba.conf")
    first = next(files for _, files in sample if "pg_hba.conf" in files)
    conf = "\n".join(m[0] for m in re.finditer(r"^(ssl\w*|password_encryption) = .*$", first["postgresql.conf"], re.M))
    with CaCluster(REAL_MAJOR, conf_extra=conf, hba=next(iter(hbas))) as c:
        for text, label in hbas.items():
            c.write_hba(text)  # pg_hba_file_rules reads the file on disk at each query: no reload needed
            errors = psql_as_postgres(c, "select count(*) from pg_hba_file_rules where error is not null")
            rules = int(psql_as_postgres(c, "select count(*) from pg_hba_file_rules"))
            assert errors == "0", f"{label}: {errors} line(s) with an error"
            assert rules == len(parse_hba(text).rules), label


def test_real_pgbouncer_loads_the_accepted_ini(sample, tmp_path) -> None:
    from pgharness import _write_pg_owned, free_port, pg_user_tmpdir
    from test_realpg_hba import _openssl
    from test_realpg_pgbouncer import _need_pgbouncer, relocate, start_pgbouncer, stop

    _need_pgbouncer()
    workdir = pg_user_tmpdir("pgforge-hostile-pgb-")
    try:
        key, crt = workdir / "tls.key", workdir / "tls.crt"
        subprocess.run([_openssl(), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(crt)],
                       check=True, capture_output=True, timeout=60)
        _write_pg_owned(key, key.read_text())
        _write_pg_owned(crt, crt.read_text())
        _write_pg_owned(workdir / "userlist.txt", '"app" "x"\n')
        for ini, label in _distinct(sample, "pgbouncer/pgbouncer.ini").items():
            port = free_port()
            text = relocate(ini, workdir, port, 5432,
                            {"client_tls_cert_file": str(crt), "client_tls_key_file": str(key)})
            proc = start_pgbouncer(workdir, text, port, 1024)  # fails the test if PgBouncer refuses the file
            stop(proc)
            log = (workdir / "pgbouncer.log").read_text(errors="replace")
            assert "ERROR" not in log and "FATAL" not in log, f"{label}: {log[-2000:]}"
            (workdir / "pgbouncer.log").unlink()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_accepted_scripts_pass_bash_and_shellcheck(sample, tmp_path) -> None:
    shellcheck = shutil.which("shellcheck")
    scripts: dict[str, str] = {}
    code_seen: set[str] = set()  # scripts that differ only in comments are checked once (shellcheck is slow)
    for label, files in sample:
        for path, content in files.items():
            code = "\n".join(l for l in content.split("\n") if not l.lstrip().startswith("#"))
            if path.endswith(".sh") and code not in code_seen:
                code_seen.add(code)
                scripts[f"{len(scripts):03d}_{path.replace('/', '_')}"] = content
    assert scripts
    for name, content in scripts.items():
        (tmp_path / name).write_text(content)
    for name in scripts:
        proc = subprocess.run(["bash", "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
    if shellcheck is None:
        import os

        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed (CI=true)")
        pytest.skip("shellcheck is not installed")
    proc = subprocess.run([shellcheck, "--shell=bash", "--severity=style", "--format=gcc",
                           *(str(tmp_path / n) for n in scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]


# --------------------------------------------------------------------------- each escape, against its reader

from pgforge.render import escape as esc  # noqa: E402

any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
no_nul = any_text.filter(lambda s: "\x00" not in s)


def _refused_or(fn, value):
    try:
        return fn(value)
    except esc.EscapeError:
        return None


@settings(max_examples=200, deadline=None)
@given(value=any_text)
def test_conf_string_reads_back_through_the_conf_lexer(value) -> None:
    out = _refused_or(esc.conf_string, value)
    if out is None:
        assert any(c in value for c in "\x00" + LINE_BREAKS) or re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value)
        return
    conf = parse_pgconf(f"archive_command = {out}\n")
    assert [s.value for s in conf.settings] == [value]


@settings(max_examples=200, deadline=None)
@given(value=any_text)
def test_comment_text_never_breaks_the_line(value) -> None:
    out = esc.comment_text(value)
    assert not any(c in out for c in "\x00" + LINE_BREAKS)
    assert parse_pgconf(f"# {out}\n").settings == ()


@settings(max_examples=200, deadline=None)
@given(value=no_nul)
def test_shell_word_is_one_word_bash_reads_back(value) -> None:
    out = esc.shell_word(value)
    assert "\n" not in out
    proc = subprocess.run(["bash", "-c", f"printf '%s' {out}"], capture_output=True)
    assert proc.stdout == value.encode("utf-8", "surrogateescape")


@settings(max_examples=200, deadline=None)
@given(value=any_text.filter(bool))
def test_pgbouncer_connstr_value_reads_back(value) -> None:
    out = _refused_or(lambda v: esc.pgbouncer_connstr([("host", v), ("port", 5432)]), value)
    if out is None:
        return
    cs = scan_connstr(out)
    assert cs.error is None and [(p.key, p.value) for p in cs.params] == [("host", value), ("port", "5432")]


@settings(max_examples=200, deadline=None)
@given(value=any_text)
def test_libpq_value_reads_back(value) -> None:
    out = _refused_or(esc.libpq_value, value)
    if out is None:
        return
    cs = scan_connstr(f"user={out} sslmode=require", style="libpq")
    assert [(p.key, p.value) for p in cs.params] == [("user", value), ("sslmode", "require")]


@settings(max_examples=200, deadline=None)
@given(value=any_text.filter(bool))
def test_hba_token_is_one_field(value) -> None:
    out = _refused_or(esc.hba_token, value)
    if out is None:
        return
    hba = parse_hba(f"host {out} all 10.0.0.0/8 scram-sha-256\n")
    assert not hba.errors and len(hba.rules) == 1
    (db,) = hba.rules[0].databases
    assert db.text == value or db.text == value.lstrip("+@")


@settings(max_examples=200, deadline=None)
@given(value=any_text)
def test_yaml_scalar_reads_back(value) -> None:
    assert yaml.safe_load(f"k: {esc.yaml_scalar(value)}\n") == {"k": value}


def test_cron_schedule_refuses_a_command() -> None:
    assert esc.cron_schedule("30 2 * * *") == "30 2 * * *"
    assert esc.cron_schedule("@daily") == "@daily"
    for bad in ("@reboot root /tmp/evil.sh # x", "* * * * * root x", "1 2 3 4", "30 2 * * *\n* * * * * root x"):
        with pytest.raises(esc.EscapeError):
            esc.cron_schedule(bad)
    assert esc.cron_command(["/usr/local/lib/pgforge/backup.sh"]) == "/usr/local/lib/pgforge/backup.sh"
    assert esc.cron_command(["/a b/x%y"]) == "'/a b/x\\%y'"


def test_sql_identifier_and_literal() -> None:
    assert esc.sql_ident("pg_stat_statements.max") == "pg_stat_statements.max"
    assert esc.sql_ident('Bad"Name') == '"Bad""Name"'
    assert esc.sql_literal("it's") == "'it''s'"
    with pytest.raises(esc.EscapeError):
        esc.sql_literal("a\nDROP DATABASE app;")


def test_an_unescaped_line_break_in_a_template_is_refused() -> None:
    """The finalize guard: an expression that went through no escape filter may not span lines."""
    from pgforge.render.templates import environment

    template = environment().from_string("# {{ value }}\n")
    with pytest.raises(esc.EscapeError):
        template.render(value="x\nshared_buffers = 1")
    assert environment().from_string("# {{ value | conf_comment }}\n").render(value="x\ny") == "# x\\ny\n"


def test_pgbouncer_values_with_a_newline_are_a_message_not_a_traceback() -> None:
    """Issue 12 item 8: admin_users / stats_users / listen_addr / tls_cert_file with a newline gave
    ``AssertionError: ... spans lines``. Past validation (model_copy skips it), rendering now refuses
    them with a UserError (exit 2)."""
    spec = HostSpec.model_validate(BASES["local"])
    for field, value in (("admin_users", ["adm\nin"]), ("stats_users", ["st\nats"]), ("listen_addr", "127.0.0.1\n* = x"),
                         ("tls_cert_file", "/a\n/b"), ("server_host", "127.0.0.1\n* = host=evil")):
        bad = spec.model_copy(update={"pgbouncer": spec.pgbouncer.model_copy(update={field: value})})
        with pytest.raises(UserError):
            build_bundle(tune(bad), FORMATS)


def test_detect_yaml_keeps_a_data_dir_with_a_newline_in_its_comment() -> None:
    """Issue 12 item 10: ``detect --data-dir`` with a newline wrote live lines into its YAML."""
    from pgforge.render.formats import render_detected_yaml

    evil = "/tmp/x\nshared_buffers: 1\nmemory: 1TB\n#"
    text = render_detected_yaml({"memory": 8 * 1024**3, "cpus": 2, "storage": "ssd", "pg_version": 17},
                                [("data_dir", f"data directory {evil} from --data-dir")], {"os": f"no {evil}"})
    assert yaml.safe_load(text) == {"memory": "8GB", "cpus": 2, "storage": "ssd", "pg_version": 17}
    assert all(line.startswith("#") or re.match(r"[a-z_]+: ", line) for line in text.splitlines())
