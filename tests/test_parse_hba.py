"""pg_hba.conf parser: fields, quoting, address forms, methods, options, PG16 syntax, loader.

Accept/reject expectations for the less obvious lines (``a ,b``, ``127.1``, ``10``,
octal ``010.1.1.1``, a non-contiguous netmask, quoted ``"local"``, ``hostgssenc`` with
md5, ``map`` on a trust line, ``sspi`` on Linux) were checked against PostgreSQL 15's
``pg_hba_file_rules``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pgforge.parsers.hba import METHODS, HbaInclude, HbaRule, load_hba, parse_hba


def rule(line: str, **kw: bool) -> HbaRule:
    parsed = parse_hba(line, "pg_hba.conf", **kw)
    assert parsed.errors == (), [str(d) for d in parsed.errors]
    (r,) = parsed.rules
    return r


def error(line: str, **kw: bool) -> tuple[int, int, str]:
    parsed = parse_hba(line, "pg_hba.conf", **kw)
    assert parsed.rules == ()
    (d,) = parsed.errors
    return d.line, d.column, d.message


# --------------------------------------------------------------------------- fields


def test_local_and_host_records_with_field_positions() -> None:
    parsed = parse_hba(
        "# TYPE DATABASE USER ADDRESS METHOD\n"
        "local   all   postgres                peer\n"
        "host\tapp\tapp_user\t10.0.0.0/8\tscram-sha-256\t\n",
        "h.conf",
    )
    assert parsed.diagnostics == ()
    local, host = parsed.rules
    assert (local.type, local.line, local.column, local.address) == ("local", 2, 1, None)
    assert (local.method, local.method_line, local.method_column) == ("peer", 2, 39)
    assert [(n.text, n.kind, n.column) for n in local.users] == [("postgres", "name", 15)]
    assert host.databases[0].column == 6 and host.users[0].column == 10
    assert host.address is not None
    assert (host.address.column, host.address.network) == (19, ipaddress.ip_network("10.0.0.0/8"))
    assert host.method_column == 30


def test_comma_lists_continue_across_a_space_after_the_comma() -> None:
    r = rule('host db1, db2,"my db" alice,bob 10.0.0.0/8 md5')
    assert [n.text for n in r.databases] == ["db1", "db2", "my db"]
    assert [n.text for n in r.users] == ["alice", "bob"]


def test_a_space_before_the_comma_starts_a_new_field() -> None:
    # "db1 ,db2": db2 becomes the user, "all" the address, the CIDR the method.
    assert error("host db1 ,db2 all 10.0.0.0/8 trust") == (1, 19, 'invalid authentication method "10.0.0.0/8"')


def test_keywords_and_their_quoted_literal_forms() -> None:
    r = rule('host all,"all",sameuser,replication "all",all,sameuser 127.0.0.1/32 trust')
    assert [(n.text, n.kind, n.quoted) for n in r.databases] == [
        ("all", "keyword", False), ("all", "name", True), ("sameuser", "keyword", False),
        ("replication", "keyword", False),
    ]
    assert [(n.text, n.kind) for n in r.users] == [("all", "name"), ("all", "keyword"), ("sameuser", "name")]


def test_database_keyword_in_the_user_column_is_a_warning() -> None:
    parsed = parse_hba("local sameuser sameuser peer", "h")
    (w,) = parsed.diagnostics
    assert (w.severity, w.code, w.column) == ("warning", "hba-user-keyword", 16)


def test_group_file_and_regex_names() -> None:
    r = rule("host @dbs.txt +admins,@users.txt,/^app_.*$ 10.0.0.0/8 md5")
    assert [(n.kind, n.name) for n in r.databases] == [("file", "dbs.txt")]
    assert [(n.kind, n.name) for n in r.users] == [("group", "admins"), ("file", "users.txt"), ("regex", "^app_.*$")]
    legacy = rule("host all /^app_.*$ 10.0.0.0/8 md5", before_pg16=True)
    assert legacy.users[0].kind == "name"
    quoted = rule('host "@dbs" "+admins" 10.0.0.0/8 md5')
    assert [n.kind for n in quoted.databases + quoted.users] == ["name", "name"]


@pytest.mark.parametrize(
    ("field", "text"),
    [('"my db"', "my db"), ('"a""b"', 'a"b'), ('"#notcomment"', "#notcomment"), ('x"y z"w', "xy zw"), ('""', "")],
)
def test_double_quote_rules(field: str, text: str) -> None:
    r = rule(f"local {field} all trust")
    assert r.databases[0].text == text


def test_single_quotes_do_not_quote() -> None:
    assert error("local 'my db' all trust") == (1, 15, 'invalid authentication method "all"')


def test_comments_tabs_crlf_and_no_final_newline() -> None:
    parsed = parse_hba(
        "\n\n  # note \"quoted\"\r\nlocal all all trust # trailing\r\n\thost all all ::1/128 md5\t\t", "h"
    )
    assert parsed.diagnostics == ()
    assert [(r.line, r.type) for r in parsed.rules] == [(4, "local"), (5, "host")]


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("192.168.1.5/32", "192.168.1.5/32"),
        ("::1/128", "::1/128"),
        ("::0/0", "::/0"),
        ("::/0", "::/0"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("10.0.0.0/+8", "10.0.0.0/8"),
        ("010.1.1.1/32", "8.1.1.1/32"),
        ("fe80::1%eth0/64", "fe80::/64"),
    ],
)
def test_cidr_addresses(address: str, network: str) -> None:
    a = rule(f"host all all {address} md5").address
    assert a is not None and a.kind == "ip"
    assert a.network == ipaddress.ip_network(network)


def test_host_bits_set_is_a_note_with_the_normalised_network() -> None:
    parsed = parse_hba("host all all 172.16.61.1/24 md5", "h")
    assert parsed.errors == ()
    (note,) = parsed.diagnostics
    assert (note.severity, note.code, note.column) == ("note", "hba-host-bits", 14)
    assert parsed.rules[0].address.network == ipaddress.ip_network("172.16.61.0/24")  # type: ignore[union-attr]
    assert parsed.rules[0].address.address == ipaddress.ip_address("172.16.61.1")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("10.0.0.0 255.0.0.0", "10.0.0.0/8"),
        ("127.1 255.255.255.255", "127.0.0.1/32"),
        ("fe80:: ffff:ffff::", "fe80::/32"),
    ],
)
def test_address_and_netmask_columns(address: str, network: str) -> None:
    a = rule(f"host all all {address} md5").address
    assert a is not None
    assert a.network == ipaddress.ip_network(network)
    assert a.mask == address.split()[1]
    assert (a.mask_line, a.mask_column) == (1, 14 + len(address.split()[0]) + 1)


def test_non_contiguous_netmask_is_accepted_with_a_warning() -> None:
    parsed = parse_hba("host all all 10.0.0.0 255.0.255.0 md5", "h")
    assert parsed.errors == ()
    a = parsed.rules[0].address
    assert a is not None and a.network is None and str(a.netmask) == "255.0.255.0"
    assert parsed.diagnostics[0].code == "hba-mask-noncontiguous"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("all", "keyword"), ("samehost", "keyword"), ("samenet", "keyword"), ("node0", "hostname"),
        ("localhost", "hostname"), (".example.com", "hostname"), ("${PGHOST}", "hostname"), ('"all"', "hostname"),
    ],
)
def test_keyword_and_hostname_addresses(address: str, kind: str) -> None:
    a = rule(f"host all all {address} md5").address
    assert a is not None
    assert (a.kind, a.network) == (kind, None)
    assert a.value == address.strip('"')


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("host all all 10.0.0.0/33 md5", (1, 14, 'invalid CIDR mask in address "10.0.0.0/33"')),
        ("host all all ::1/129 md5", (1, 14, 'invalid CIDR mask in address "::1/129"')),
        ("host all all 10.0.0.0/x md5", (1, 14, 'invalid CIDR mask in address "10.0.0.0/x"')),
        ("host all all node0/24 md5", (1, 14, 'specifying both host name and CIDR mask is invalid: "node0/24"')),
        ("host all all ::1 255.255.255.255 md5", (1, 18, "IP address and mask do not match")),
        ("host all all 10.0.0.0 nonsense md5", (1, 23, 'invalid IP mask "nonsense"')),
        ("host all all 10.0.0.1", (1, 22, "end-of-line before netmask specification (specify an address "
                                          "range in CIDR notation, or provide a separate netmask)")),
        ("host all all 10.0.0.0/8,10.1.0.0/16 md5", (1, 25, "multiple values specified for host address")),
    ],
)
def test_address_errors(line: str, expected: tuple[int, int, str]) -> None:
    assert error(line) == expected


# --------------------------------------------------------------------------- methods and options


@pytest.mark.parametrize("method", sorted(METHODS - {"peer", "cert", "gss", "sspi", "bsd"}))
def test_every_known_method_on_a_host_line(method: str) -> None:
    assert rule(f"host all all 10.0.0.0/8 {method}").method == method


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("host all all 10.0.0.0/8 krb5", (1, 25, 'invalid authentication method "krb5"')),
        ("host all all 10.0.0.0/8 MD5", (1, 25, 'invalid authentication method "MD5"')),
        ("host all all 10.0.0.0/8 peer", (1, 25, "peer authentication is only supported on local sockets")),
        ("host all all 10.0.0.0/8 cert", (1, 25, "cert authentication is only supported on hostssl connections")),
        ("local all all gss", (1, 15, "gssapi authentication is not supported on local sockets")),
        ("hostx all all 10.0.0.0/8 md5", (1, 1, 'invalid connection type "hostx"')),
        ("host,local all all trust", (1, 6, "multiple values specified for connection type")),
        ("local all all md5,trust", (1, 19, "multiple values specified for authentication type")),
        ("local", (1, 6, "end-of-line before database specification")),
        ("local all # comment", (1, 10, "end-of-line before role specification")),
        ("host all all", (1, 13, "end-of-line before IP address specification")),
        ("local all all", (1, 14, "end-of-line before authentication method")),
    ],
)
def test_method_and_structure_errors(line: str, expected: tuple[int, int, str]) -> None:
    assert error(line) == expected


def test_platform_methods_are_rejected_on_linux() -> None:
    line, column, message = error("host all all all sspi")
    assert column == 18 and message.startswith('invalid authentication method "sspi": not supported by this build')


def test_quoted_type_and_method_still_count() -> None:
    r = rule('"local" all all "trust"')
    assert (r.type, r.method) == ("local", "trust")


def test_ident_on_local_lines_means_peer() -> None:
    r = rule("local all all ident map=omicron")
    assert (r.method, r.effective_method, r.option_map) == ("ident", "peer", {"map": "omicron"})


def test_options_with_quoted_values_commas_and_positions() -> None:
    r = rule('host all all all ldap ldapserver=ldap.example.net ldapprefix="cn=" ldapsuffix=", dc=example"')
    assert r.option_map == {"ldapserver": "ldap.example.net", "ldapprefix": "cn=", "ldapsuffix": ", dc=example"}
    assert [o.column for o in r.options] == [23, 51, 68]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('host all all all trust a"b"c', (1, 24, "authentication option not in name=value format: abc")),
        ("host all all 10.0.0.0/8 md5 foo=bar", (1, 29, 'unrecognized authentication option name: "foo"')),
        ("host all all 10.0.0.0/8 trust map=x", (1, 31, 'authentication option "map" is only valid for '
                                                        "authentication methods cert, gss, ident, oauth, peer, sspi")),
        ("host all all all md5 clientcert=verify-ca", (1, 22, 'clientcert can only be configured for "hostssl" rows')),
        ("hostssl all all all md5 clientcert=1", (1, 25, 'invalid value for clientcert: "1" (1, 0 and no-verify '
                                                         "were removed in PostgreSQL 14)")),
        ("hostssl all all all cert clientcert=verify-ca",
         (1, 26, 'clientcert only accepts "verify-full" when using "cert" authentication')),
    ],
)
def test_option_errors(line: str, expected: tuple[int, int, str]) -> None:
    assert error(line) == expected


def test_hostssl_cert_with_clientcert_verify_full() -> None:
    r = rule("hostssl all all ::/0 cert clientcert=verify-full map=certmap")
    assert r.option_map == {"clientcert": "verify-full", "map": "certmap"}


def test_first_error_on_a_line_stops_it_and_drops_its_warnings() -> None:
    parsed = parse_hba("local sameuser sameuser krb5\nlocal all all trust\n", "h")
    assert [d.code for d in parsed.diagnostics] == ["hba-method"]
    assert [r.line for r in parsed.rules] == [2]


# --------------------------------------------------------------------------- PG16 syntax


def test_backslash_continuation_joins_lines_and_keeps_positions() -> None:
    parsed = parse_hba("host all \\\n    all 10.0.0.0/8 \\\n  scram-sha-256\nlocal all all peer\n", "h")
    assert parsed.diagnostics == ()
    first, second = parsed.rules
    assert (first.line, first.end_line) == (1, 3)
    assert (first.users[0].line, first.users[0].column) == (2, 5)
    assert first.address is not None and (first.address.line, first.address.column) == (2, 9)
    assert (first.method_line, first.method_column) == (3, 3)
    assert second.line == 4


def test_continuation_inside_a_comment_swallows_the_next_line() -> None:
    parsed = parse_hba("# comment \\\nlocal all all trust\nlocal all all peer\n", "h")
    assert [r.method for r in parsed.rules] == ["peer"]
    legacy = parse_hba("# comment \\\nlocal all all trust\n", "h", before_pg16=True)
    assert [r.method for r in legacy.rules] == ["trust"]


def test_backslash_is_literal_before_pg16() -> None:
    parsed = parse_hba("local all all \\\ntrust", "h", before_pg16=True)
    assert [d.message for d in parsed.errors] == [
        'invalid authentication method "\\"',
        'invalid connection type "trust"',
    ]


def test_include_records_are_nodes() -> None:
    parsed = parse_hba('include pre.conf\ninclude_if_exists "my file.conf"\ninclude_dir hba.d\n', "h")
    assert parsed.diagnostics == ()
    assert [(i.kind, i.target, i.quoted, i.target_column) for i in parsed.includes] == [
        ("include", "pre.conf", False, 9),
        ("include_if_exists", "my file.conf", True, 19),
        ("include_dir", "hba.d", False, 13),
    ]
    assert all(isinstance(e, HbaInclude) for e in parsed.entries)
    assert error("include x.conf", before_pg16=True) == (1, 1, 'invalid connection type "include"')


def test_include_with_extra_fields_is_an_ordinary_invalid_line() -> None:
    assert error("include a.conf b.conf") == (1, 1, 'invalid connection type "include"')


def test_byte_order_mark() -> None:
    parsed = parse_hba("\ufefflocal all all trust\n", "h")
    assert [d.code for d in parsed.diagnostics] == ["bom"]
    assert len(parsed.rules) == 1


# --------------------------------------------------------------------------- loader


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_loader_follows_include_records_in_server_order(tmp_path: Path) -> None:
    main = write(
        tmp_path / "pg_hba.conf",
        "local all postgres peer\ninclude_dir hba.d\ninclude_if_exists missing.conf\ninclude last.conf\n",
    )
    write(tmp_path / "hba.d" / "20-b.conf", "host all b 10.0.0.2/32 md5\n")
    write(tmp_path / "hba.d" / "10-a.conf", "host all a 10.0.0.1/32 md5\n")
    write(tmp_path / "hba.d" / "notes.txt", "garbage\n")
    write(tmp_path / "last.conf", "host all all all reject\n")
    result = load_hba(main)
    assert result.errors == ()
    assert [(Path(r.path).name, r.users[0].text) for r in result.rules] == [
        ("pg_hba.conf", "postgres"), ("10-a.conf", "a"), ("20-b.conf", "b"), ("last.conf", "all"),
    ]
    (note,) = result.diagnostics
    assert (note.severity, note.line, note.column) == ("note", 3, 19)


def test_loader_reports_missing_include_and_cycles(tmp_path: Path) -> None:
    main = write(tmp_path / "pg_hba.conf", "include gone.conf\ninclude other.conf\n")
    write(tmp_path / "other.conf", "local all all trust\ninclude pg_hba.conf\n")
    result = load_hba(main)
    missing, cycle = result.errors
    assert (missing.line, missing.column) == (1, 9) and "gone.conf" in missing.message
    assert cycle.path.endswith("other.conf") and "cycle" in cycle.message
    assert len(result.rules) == 1


def test_loader_expands_at_files_with_their_own_positions(tmp_path: Path) -> None:
    main = write(tmp_path / "pg_hba.conf", "host all admin,@staff.txt 10.0.0.0/8 md5\n")
    write(tmp_path / "staff.txt", "# staff\nalice, bob\n\"all\" +ops\n")
    result = load_hba(main)
    assert result.errors == ()
    users = result.rules[0].users
    assert [(u.text, u.kind) for u in users] == [
        ("admin", "name"), ("alice", "name"), ("bob", "name"), ("all", "name"), ("+ops", "group"),
    ]
    assert (Path(users[1].path).name, users[1].line, users[1].column) == ("staff.txt", 2, 1)
    unexpanded = load_hba(main, expand_files=False).rules[0].users
    assert [u.kind for u in unexpanded] == ["name", "file"]


def test_loader_reports_a_missing_at_file(tmp_path: Path) -> None:
    main = write(tmp_path / "pg_hba.conf", "local @nope.txt all trust\n")
    (err,) = load_hba(main).errors
    assert (err.line, err.column) == (1, 7)
    assert "could not open secondary authentication file" in err.message


def test_loader_raises_only_for_the_top_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_hba(tmp_path / "absent")
