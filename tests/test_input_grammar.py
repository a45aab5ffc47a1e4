"""Issue 12, the input side: every string of a spec is checked against its grammar where it enters.

The reproductions of the issue go through the real CLI (``pgforge generate --spec FILE -o DIR``):
each must exit 2 with the field named and leave the output directory empty. Then each grammar of
src/pgforge/spec/grammar/ is driven with values it must take and values it must refuse, and every
bundled profile and documented spec must still validate. The escaping of outputs, the second layer,
is tested elsewhere (the property tests over every field).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from pgharness import PgCluster
from pgforge.bundle import build_bundle, pg_hba
from pgforge.cli import app
from pgforge.spec import grammar
from pgforge.spec.load import build_spec, list_profiles
from pgforge.tuning import tune

runner = CliRunner()
BASE: dict[str, Any] = {"memory": "8GB", "cpus": 4}
PGB = {"enabled": True, "databases": ["app"]}


def _generate(tmp_path: Path, spec: dict[str, Any]) -> tuple[Any, Path]:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**BASE, **spec}))
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", "--spec", str(path), "-o", str(out)])
    return result, out


def refused(tmp_path: Path, spec: dict[str, Any], field: str, words: str = "") -> str:
    """Generate must exit 2 naming ``field`` (and ``words``), with nothing written."""
    result, out = _generate(tmp_path, spec)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert f"spec.json:1: {field}: " in result.stderr, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())
    return result.stderr


# --------------------------------------------------------------------------- item 1: DNS suffixes in access
@pytest.mark.parametrize("address", [
    ".example.com trust\nhost all all 0.0.0.0/0 trust\n#",  # a live trust line for everyone
    ".example.com trust #",  # turns its own line's method into trust
    ".example.com\n",
    ".",
    "..example.com",
    ".exa mple.com",
    ".-bad.example.com",
])
def test_item1_access_address_dns_suffix_is_validated(tmp_path: Path, address: str) -> None:
    rule = {"type": "hostssl", "database": "app", "user": "app", "address": address}
    refused(tmp_path, {"access": [rule]}, "access.0.address", "DNS suffix")


def test_item1_a_real_dns_suffix_still_works(tmp_path: Path) -> None:
    rule = {"type": "hostssl", "database": "app", "user": "app", "address": ".example.com"}
    result, out = _generate(tmp_path, {"access": [rule]})
    assert result.exit_code == 0, result.stderr
    hba = (out / "pg_hba.conf").read_text()
    assert any(line.split()[:5] == ["hostssl", "app", "app", ".example.com", "scram-sha-256"]
               for line in hba.splitlines() if line and not line.startswith("#"))
    assert "0.0.0.0/0" not in hba and " trust" not in hba


# --------------------------------------------------------------------------- item 2: server_host
@pytest.mark.parametrize("host", [
    "127.0.0.1\n* = host=evil.example.com",
    "127.0.0.1 dbname=postgres user=postgres",
    "127.0.0.1\n",
    "db1.example.com;",
    "",
])
def test_item2_pgbouncer_server_host_is_a_host_name_or_address(tmp_path: Path, host: str) -> None:
    refused(tmp_path, {"pgbouncer": {**PGB, "server_host": host}}, "pgbouncer.server_host",
            "neither an IP address nor a host name")


@pytest.mark.parametrize("host", ["db1.example.com", "localhost", "10.0.0.5", "2001:db8::5"])
def test_item2_good_server_hosts_pass(host: str) -> None:
    spec = build_spec(extra={**BASE, "pgbouncer": {**PGB, "server_host": host}})
    assert spec.pgbouncer is not None and spec.pgbouncer.server_host == host


# --------------------------------------------------------------------------- item 3: a trailing newline
@pytest.mark.parametrize(("spec", "field"), [
    ({"pgbouncer": {**PGB, "databases": ["app\n"]}}, "pgbouncer.databases.0"),
    ({"pgbouncer": {**PGB, "users": ["app\n"]}}, "pgbouncer.users.0"),
    ({"pgbouncer": {**PGB, "admin_users": ["app\n"]}}, "pgbouncer.admin_users.0"),
    ({"pgbouncer": {**PGB, "stats_users": ["app\n"]}}, "pgbouncer.stats_users.0"),
    ({"replication": {"publications": [{"name": "p", "tables": ["app\n"]}]}}, "replication.publications.0.tables.0"),
    ({"replication": {"publications": [{"name": "p\n"}]}}, "replication.publications.0.name"),
    ({"replication": {"publications": [{"name": "p", "database": "app\n"}]}}, "replication.publications.0.database"),
    ({"backup": {"target": "local", "local_dir": "/srv/dumps", "databases": ["app\n"]}}, "backup.databases.0"),
    ({"listen_addresses": ["localhost\n"]}, "listen_addresses.0"),
    ({"extensions": ["pg_stat_statements\n"]}, "extensions"),
    ({"access": [{"type": "host", "database": "app\n", "address": "10.0.0.0/8"}]}, "access.0.database"),
    ({"access": [{"type": "host", "user": "app\n", "address": "10.0.0.0/8"}]}, "access.0.user"),
    ({"access": [{"type": "host", "address": "10.0.0.0/8\n"}]}, "access.0.address"),
    ({"replication": {"replicas": [{"name": "r1\n", "host": "10.0.0.2"}]}}, "replication.replicas.0.name"),
    ({"replication": {"user": "replicator\n"}}, "replication.user"),
    ({"pgbouncer": {**PGB, "version": "1.18\n"}}, "pgbouncer.version"),
    ({"timezone": "UTC\n"}, "timezone"),
    ({"archive": {"target": "pgbackrest", "stanza": "main\n"}}, "archive.stanza"),
])
def test_item3_trailing_newline_is_refused_in_every_list_and_name(tmp_path: Path, spec: dict, field: str) -> None:
    refused(tmp_path, spec, field)


# --------------------------------------------------------------------------- item 7: cron schedules
@pytest.mark.parametrize("schedule", [
    "@reboot root /tmp/evil.sh # x",
    "@reboot",
    "30 2 * * * root /tmp/evil.sh",
    "30 2 * * *\nroot /tmp/evil.sh",
    "@daily x",
    "60 * * * *",
])
@pytest.mark.parametrize(("section", "key"), [
    ({"target": "local", "local_dir": "/srv/dumps"}, ("backup", "schedule")),
    ({"target": "local", "local_dir": "/srv/wal"}, ("archive", "base_backup_schedule")),
])
def test_item7_cron_schedule_is_the_time_fields_only(tmp_path: Path, schedule: str, section: dict, key: tuple) -> None:
    name, field = key
    refused(tmp_path, {name: {**section, field: schedule}}, f"{name}.{field}")


def test_item7_good_schedule_reaches_the_cron_line(tmp_path: Path) -> None:
    result, out = _generate(tmp_path, {"backup": {"target": "local", "local_dir": "/srv/dumps",
                                                  "schedule": "*/15  0-6 * * mon-fri"}})
    assert result.exit_code == 0, result.stderr
    cron = next(out.rglob("pgforge-backup.cron")).read_text()
    assert "\n*/15 0-6 * * mon-fri postgres " in "\n" + cron


# --------------------------------------------------------------------------- the other string fields
@pytest.mark.parametrize(("spec", "field"), [
    ({"pgbouncer": {**PGB, "listen_addr": "127.0.0.1\nadmin_users = evil"}}, "pgbouncer.listen_addr"),
    ({"pgbouncer": {**PGB, "tls_cert_file": "/etc/x.crt\nauth_type = trust"}}, "pgbouncer.tls_cert_file"),
    ({"pgbouncer": {**PGB, "tls_key_file": "/etc/my key.pem"}}, "pgbouncer.tls_key_file"),
    ({"pgbouncer": {**PGB, "tls_key_file": "/etc/'k'.pem"}}, "pgbouncer.tls_key_file"),
    ({"replication": {"replicas": [{"name": "r1", "host": "10.0.0.2\nhost all all 0.0.0.0/0 trust"}]}},
     "replication.replicas.0.host"),
    ({"replication": {"primary_host": "10.0.0.1 sslmode=disable"}}, "replication.primary_host"),
    ({"replication": {"primary_host": "$(reboot)"}}, "replication.primary_host"),
    ({"access": [{"type": "hostssl", "address": "10.0.0.0/8", "method": "ldap",
                  "options": {"ldapserver": "x\nhost all all 0.0.0.0/0 trust"}}]}, "access.0.options.ldapserver"),
    ({"access": [{"type": "hostssl", "address": "10.0.0.0/8", "method": "ldap",
                  "options": {"ldapserver": 'x" trust'}}]}, "access.0.options.ldapserver"),
    ({"archive": {"target": "s3", "s3": {"bucket": "b-1", "endpoint_url": "http://x:9000 --no-verify-ssl"}}},
     "archive.s3.endpoint_url"),
    ({"archive": {"target": "s3", "s3": {"bucket": "b-1", "region": "eu-west-1\n"}}}, "archive.s3.region"),
    ({"archive": {"target": "s3", "s3": {"bucket": "b-1", "aws_cli": "aws;reboot"}}}, "archive.s3.aws_cli"),
    ({"archive": {"target": "s3", "s3": {"bucket": "192.168.1.1"}}}, "archive.s3.bucket"),
    ({"archive": {"target": "s3", "s3": {"bucket": "my..bucket"}}}, "archive.s3.bucket"),
    ({"archive": {"target": "local", "local_dir": "/srv/wal\n"}}, "archive.local_dir"),
    ({"archive": {"target": "local", "local_dir": "/srv/wal", "archive_timeout": float("inf")}},
     "archive.archive_timeout"),
    ({"name": "db1\u2028shared_buffers = 1"}, "name"),
    ({"description": "a\x85b"}, "description"),
    ({"description": "a\u202eb"}, "description"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"cpus": "9" * 400}, "cpus"),
])
def test_every_other_string_field_is_checked(tmp_path: Path, spec: dict, field: str) -> None:
    refused(tmp_path, spec, field)


def test_a_description_may_be_a_folded_yaml_block() -> None:
    # prose: shown by `profiles list`, never written into a generated file
    from pgforge.spec import HostSpec

    spec = HostSpec(memory="4GB", cpus=2, description="Reporting replica,\n\tkept for the finance team.\n")
    assert spec.description == "Reporting replica,\n\tkept for the finance team."


# --------------------------------------------------------------------------- item 10: terraform
def _tf(query: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgforge", "terraform"], input=json.dumps(query),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("query", "where"), [
    ({"memory": "16GB", "cpus": "many"}, "query.cpus: "),
    ({"memory": "16GB", "cpus": "0"}, "query.cpus: "),
    ({"memory": "16GB", "cpus": "2", "timezone": "UTC\nssl = off"}, "query.timezone: "),
    ({"memory": "16GB", "cpus": "2", "listen_addresses": "localhost, a b"}, "query.listen_addresses: "),
    ({"memory": "16GB", "cpus": "2", "spec_json": json.dumps({"pgbouncer": {**PGB, "server_host": "a b"}})},
     "query.spec_json: pgbouncer.server_host: "),
    ({"cpus": "2"}, "query.memory: "),
])
def test_item10_terraform_bad_input_exits_2_naming_the_query_key(query: dict[str, str], where: str) -> None:
    p = _tf(query)
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""
    assert p.stderr.startswith("pgforge terraform: " + where), p.stderr
    assert "--" not in p.stderr.split(":")[1]  # never a CLI flag: Terraform has none


# --------------------------------------------------------------------------- the grammars, one by one
GRAMMARS: list[tuple[Callable[[str], str], list[str], list[str]]] = [
    (grammar.check_cron_schedule,
     ["*/15 0-6 * * 1-5", "0 3 1,15 * *", "@daily", "30 2 * * *", "0 0 * jan,jul sun", "5 4 * * mon-fri",
      "0 0-23/2 * * *", "0 0 31 12 7", "@hourly", "@annually", "@midnight", "0 0 1 * *"],
     ["60 * * * *", "* * * *", "@reboot", "@daily x", "* * * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
      "* * * * 8", "*/0 * * * *", "5-1 * * * *", "5/10 * * * *", "* * * * mon\n", "@DAILY", "@every 5m",
      "*\t* * * *", "* * * foo *", "* * * * jan", "1,,2 * * * *", "", "@daily\n", "30 2 * * * root x",
      "999 * * * *", "*/61 * * * *"]),
    (grammar.check_host_name,
     ["localhost", "db1", "db1.example.com", "a-b.c", "x" * 63 + ".com", "1db.example.com"],
     ["", "db1.example.com.", "-db", "db-", "db_1", "a..b", "a b", "db1\n", "x" * 64, "10.0.0.300", "db1;",
      ".example.com", "a" * 250 + ".com"]),
    (grammar.check_ip_address,
     ["10.0.0.5", "127.0.0.1", "::1", "2001:db8::5", "::ffff:10.0.0.1"],
     ["", "10.0.0", "10.0.0.256", "010.0.0.1", "10.0.0.5\n", " 10.0.0.5", "fe80::1%eth0", "10.0.0.0/8", "db1"]),
    (grammar.check_host_or_ip,
     ["10.0.0.5", "db1.example.com", "localhost", "::1"],
     ["", "10.0.0.5 port=1", "a\nb", "fe80::1%eth0 x", "/run/postgresql", "host=x"]),
    (grammar.check_listen_address,
     ["*", "localhost", "10.0.0.5", "::", "db1.example.com", "fe80::1%eth0"],
     ["", "* ", "localhost\n", "fe80::1%eth0 x", "10.0.0.5%eth0", "a,b", "'*'"]),
    (grammar.check_dns_suffix,
     [".example.com", ".com", ".a-b.example.com"],
     ["example.com", ".", "..com", ".example.com.", ".example.com trust", ".exa_mple.com", ".example.com\n"]),
    (grammar.check_hba_address,
     ["all", "samehost", "samenet", ".example.com", "10.0.1.0/24", "10.0.2.10", "::1/128", "2001:db8::/32"],
     ["10.0.1.5/24", "db.example.com", "10.0.0.0/8 trust", "10.0.0.0/8\n", "", "0.0.0.0/33", "samehost\n"]),
    (grammar.check_hba_option_value,
     ["verify-full", "ldap.example.com", "dc=example, dc=com", "(uid=$username)", "1"],
     ["", 'a"b', "a\\", "a\nb", "a\rb", "a\x00b", "a\u2028b"]),
    (grammar.check_hba_option_key, ["clientcert", "map", "ldap_x"], ["", "Map", "a-b", "a\n", "a=b"]),
    (grammar.check_sql_identifier,
     ["replicator", "r1", "_x", "a" * 63],
     ["", "R1", "1r", "a-b", "a b", "r1\n", "a" * 64, "a;drop"]),
    (grammar.check_qualified_table,
     ["orders", "app.orders", "_s._t"],
     ["", "Orders", "a.b.c", "a.", ".a", "orders\n", "a b", "a;drop"]),
    (grammar.check_plain_db_name,
     ["app", "App_1", "my-db", "db.v2", "1db"],
     ["", ".hidden", "-x", "../etc", "my db", "app\n", "a/b", "a" * 64, "app$"]),
    (grammar.check_role_name,
     ["app", "pgbouncer_admin", "u$1", "a.b-c"],
     ["", "1app", "app\n", "a b", "a\"b", "a=b", "a" * 64]),
    (grammar.check_pgbouncer_version, ["1.18", "1.24.1", "1.18.0"], ["", "latest", "1", "1.18\n", " 1.18", "1.x"]),
    (grammar.check_safe_path,
     ["/", "/etc/pgbouncer/tls/pgbouncer.crt", "/srv/wal", "/a/b+c=d@e-f_g.h"],
     ["", "tls/x.crt", "~/.pgpass", "/a b", "/a\n", "/a//b", "/a/../b", "/a/./b", "/a;b", "/a$b", "/'a'",
      "/a`b`", "/" + "a" * 1100]),
    (grammar.check_bucket,
     ["my-bucket", "abc", "a.b.c", "wal-2024", "a" * 63],
     ["", "ab", "a" * 64, "My-Bucket", "-abc", "abc-", "a..b", "192.168.1.1", "a_b", "xn--abc", "abc-s3alias",
      "abc--ol-s3", "sthree-abc", "abc\n"]),
    (grammar.check_s3_prefix, ["", "pg/wal", "db1/2024=x+y"], ["a b", "a\n", "a/../b", "a//b", "a;b"]),
    (grammar.check_endpoint_url,
     ["http://127.0.0.1:9000", "https://s3.eu-west-1.amazonaws.com", "http://[::1]:9000/minio", "https://minio"],
     ["", "ftp://x", "http://", "http://x:99999", "http://x y", "http://x\n", "http://x/$(id)", "http://a_b",
      "http://[db1]:9000"]),
    (grammar.check_s3_region, ["eu-west-1", "us-east-1"], ["", "EU", "eu_west", "eu-west-1\n", "-eu"]),
    (grammar.check_aws_cli, ["aws", "/usr/local/bin/aws", "aws2"], ["", "-aws", "aws;id", "aws x", "bin/aws", "aws\n"]),
    (grammar.check_stanza, ["main", "db1", "prod.v2-a_b"], ["", "-x", "a b", "main\n", "a/b", "a" * 65]),
    (grammar.check_timezone,
     ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "EST5EDT"],
     ["", "/etc/passwd", "../x", "Europe//Paris", "Europe/Paris/", "UTC\n", "UTC'", "a b", "x" * 65]),
    (grammar.check_single_line,
     ["db1", "Web VM (4 GB), PostgreSQL 17 — ünïcode", "a # b ' \" $(x)"],
     ["", " ", "a\nb", "a\rb", "a\x0bb", "a\x0cb", "a\x85b", "a\u2028b", "a\u2029b", "a\tb", "a\x00b",
      "a\u202eb", "a\x7fb"]),
]


@pytest.mark.parametrize(("check", "value"), [(c, v) for c, good, _ in GRAMMARS for v in good],
                         ids=lambda x: getattr(x, "__name__", repr(x)))
def test_grammar_accepts(check: Callable[[str], str], value: str) -> None:
    check(value)


@pytest.mark.parametrize(("check", "value"), [(c, v) for c, _, bad in GRAMMARS for v in bad],
                         ids=lambda x: getattr(x, "__name__", repr(x)))
def test_grammar_refuses(check: Callable[[str], str], value: str) -> None:
    with pytest.raises(ValueError):
        check(value)


def test_lists_are_normalised_without_line_breaks() -> None:
    assert grammar.check_pgbouncer_listen("127.0.0.1, ::1") == "127.0.0.1,::1"
    assert grammar.hba_tokens("app, crm", "database") == "app,crm"
    assert grammar.check_cron_schedule(" 30  2 * * * ") == "30 2 * * *"
    for bad in ("127.0.0.1,\n::1", "127.0.0.1\n", "db.example.com"):
        with pytest.raises(ValueError, match="listen_addr"):
            grammar.check_pgbouncer_listen(bad)
    with pytest.raises(ValueError):
        grammar.hba_tokens("app,\ncrm", "database")


def test_no_grammar_uses_match_with_dollar() -> None:
    """Python's ``$`` matches before a final newline: the spec models and grammar use fullmatch only."""
    root = Path(grammar.__file__).parent.parent  # src/pgforge/spec: the host spec, its sections, grammar/
    paths = sorted(root.rglob("*.py"))
    assert {"host.py", "access.py", "archive.py", "network.py"} <= {p.name for p in paths}
    for path in paths:
        text = path.read_text()
        assert "re.match(" not in text and ".match(" not in text, path
        assert "pattern=" not in text, path


# --------------------------------------------------------------------------- nothing legitimate is refused
@pytest.mark.parametrize("profile", [name for name, _ in list_profiles()])
def test_every_bundled_profile_still_validates(profile: str) -> None:
    assert build_spec(profile=profile).memory > 0


def _models() -> list[type]:
    from pydantic import BaseModel

    from pgforge.spec import HostSpec

    seen: list[type] = []
    todo: list[type] = [HostSpec]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            for arg in _flatten(field.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    todo.append(arg)
    return seen


def _flatten(annotation: Any) -> list[Any]:
    from typing import get_args

    out = [annotation]
    for arg in get_args(annotation):
        out.extend(_flatten(arg))
    return out


def _bare_str(annotation: Any) -> bool:
    """True when a ``str`` sits in the annotation outside any Annotated (grammar) type or Literal."""
    from typing import Annotated, Literal, get_args, get_origin

    if annotation is str:
        return True
    if get_origin(annotation) in (Annotated, Literal):
        return False
    return any(_bare_str(a) for a in get_args(annotation))


def _unguarded(models: list[type]) -> list[str]:
    out = []
    for model in models:
        validated = {name for dec in model.__pydantic_decorators__.field_validators.values()
                     for name in dec.info.fields}
        for name, field in model.model_fields.items():
            if name not in validated and not field.metadata and _bare_str(field.annotation):
                out.append(f"{model.__name__}.{name}")
    return out


def test_every_string_field_of_the_spec_has_a_grammar() -> None:
    """A new ``str`` field must come with its grammar: a plain ``str`` (alone, in a list or a dict)
    without a validator is how hostile values got through."""
    from pgforge.spec.base import Section

    class Careless(Section):
        host: str = "x"
        names: list[str] = []
        opts: dict[str, grammar.SafePath] = {}
        fine: grammar.HostOrIp = "x"
        fine_list: list[grammar.RoleName] = []

    assert _unguarded([Careless]) == ["Careless.host", "Careless.names", "Careless.opts"]
    assert len(_models()) >= 10
    assert _unguarded(_models()) == [], "string fields without a grammar"


# --------------------------------------------------------------------------- a real server reads what passes
def test_accepted_addresses_and_tokens_load_in_a_real_postgresql() -> None:
    """What the grammars let through is what PostgreSQL 17 parses, one rule per access line:
    pg_hba_file_rules parses the file on disk, so one server checks every accepted form."""
    access = [
        {"type": "host", "database": "app, crm", "user": "app", "address": ".example.com"},
        {"type": "host", "database": "all", "user": "+staff", "address": "2001:db8::/32"},
        {"type": "host", "database": "sameuser", "user": "all", "address": "samenet"},
        {"type": "host", "database": "app", "user": "u$1", "address": "10.0.2.10"},
    ]
    spec = build_spec(extra={**BASE, "pg_version": 17, "access": access,
                             "replication": {"replicas": [{"name": "r1", "host": "db2.example.com"}]}})
    text = {f.path: f.content for f in build_bundle(tune(spec))}[pg_hba.PATH]
    with PgCluster(17) as c:
        c.write_hba(text)
        assert c.psql("select count(*) from pg_hba_file_rules where error is not null") == "0", \
            c.psql("select line_number, error from pg_hba_file_rules where error is not null")
        rows = c.psql("select concat_ws(' ', type, array_to_string(database, ','), array_to_string(user_name, ','), "
                      "address, netmask, auth_method) from pg_hba_file_rules").splitlines()
    assert "host app,crm app .example.com scram-sha-256" in rows
    assert "host all +staff 2001:db8:: ffff:ffff:: scram-sha-256" in rows
    assert "host sameuser all samenet scram-sha-256" in rows
    assert "host app u$1 10.0.2.10 255.255.255.255 scram-sha-256" in rows, "\n".join(rows)
    assert any(r.startswith("host replication replicator db2.example.com scram-sha-256") for r in rows), rows
    assert not any(" trust" in r for r in rows)


# --------------------------------------------------------------------------- pg_hba.conf options
def _rule(method: str, options: dict[str, str], type_: str = "hostssl"):
    from pgforge.spec.access import AccessRule

    return AccessRule(type=type_, database="app", user="app", address="10.0.1.0/24", method=method, options=options)


@pytest.mark.parametrize(("method", "options", "needle"), [
    ("scram-sha-256", {"clientcert": " trust #"}, "verify-ca or verify-full"),
    ("scram-sha-256", {"clientcert": "$(touch /tmp/x)"}, "verify-ca or verify-full"),
    ("scram-sha-256", {"map": "m"}, "only valid for method"),
    ("ldap", {"ldapport": "389 ldaptls=1"}, "a port number"),
    ("ldap", {"ldapserver": "ldap1\" ldapport=1"}, "double quote"),
    ("ldap", {"ldapserver": "ldap1;ldap2"}, "host names"),
    ("ldap", {"ldapbindpasswd": "secret"}, "no secret"),
    ("radius", {"radiussecrets": "s"}, "no secret"),
    ("ldap", {"ldapfoo": "x"}, "not a pg_hba.conf option"),
    ("cert", {"clientcert": "verify-ca"}, "verify-full"),
    ("gss", {"include_realm": "yes"}, "0 or 1"),
])
def test_hba_options_are_checked_per_option_and_method(method: str, options: dict, needle: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=re.escape(needle)):
        _rule(method, options)


@pytest.mark.parametrize(("method", "options"), [
    ("scram-sha-256", {"clientcert": "verify-full"}),
    ("cert", {"clientname": "DN", "map": "certmap"}),
    ("ldap", {"ldapserver": "ldap1.example.com ldap2.example.com", "ldapbasedn": "dc=example, dc=com",
              "ldapsearchattribute": "uid", "ldaptls": "1", "ldapport": "389"}),
    ("ldap", {"ldapurl": "ldaps://ldap.example.com/dc=example,dc=com?uid?sub"}),
    ("gss", {"include_realm": "0", "krb_realm": "EXAMPLE.COM", "map": "krb"}),
    ("pam", {"pamservice": "postgresql"}),
])
def test_valid_hba_options_pass(method: str, options: dict) -> None:
    assert _rule(method, options).options == options
