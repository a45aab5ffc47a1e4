"""pgbouncer.ini parser: PgBouncer's ini dialect, connection strings, values, %include loader.

The dialect (comments only at line start, case-sensitive keys, no inline comments,
''-doubling in connection strings) follows PgBouncer's cfparser.c and loader.c.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pgforge.parsers.pgbouncer_ini import (
    BouncerInclude,
    SectionHeader,
    load_pgbouncer_ini,
    parse_connstr,
    parse_int,
    parse_pgbouncer_ini,
    parse_seconds,
    scan_connstr,
)

BASIC = """\
;; PgBouncer configuration
[databases]
app = host=127.0.0.1 port=5432 dbname=app
* = host=/run/postgresql

[pgbouncer]
listen_addr = 127.0.0.1
  listen_port=6432
pool_mode = transaction
"""


def codes(text: str) -> list[str]:
    return [d.code for d in parse_pgbouncer_ini(text, "p.ini").diagnostics]


def test_sections_entries_and_positions() -> None:
    parsed = parse_pgbouncer_ini(BASIC, "p.ini")
    assert parsed.diagnostics == ()
    sections = parsed.sections
    assert list(sections) == ["databases", "pgbouncer"]
    assert [(e.key, e.value) for e in sections["pgbouncer"]] == [
        ("listen_addr", "127.0.0.1"), ("listen_port", "6432"), ("pool_mode", "transaction"),
    ]
    port = sections["pgbouncer"][1]
    assert (port.path, port.line, port.column, port.value_column) == ("p.ini", 8, 3, 15)
    headers = [i for i in parsed.items if isinstance(i, SectionHeader)]
    assert [(h.name, h.line, h.column) for h in headers] == [("databases", 2, 1), ("pgbouncer", 6, 1)]


def test_database_entries_carry_parsed_connection_strings() -> None:
    parsed = parse_pgbouncer_ini(BASIC, "p.ini")
    app, star = parsed.databases
    assert app.conn is not None and app.conn.as_dict() == {"host": "127.0.0.1", "port": "5432", "dbname": "app"}
    assert star.key == "*" and star.conn is not None and star.conn.as_dict() == {"host": "/run/postgresql"}
    assert parsed.sections["pgbouncer"][0].conn is None


def test_comments_only_at_line_start_and_inline_markers_stay_in_the_value() -> None:
    parsed = parse_pgbouncer_ini("[pgbouncer]\n  # c1\n\t; c2\npool_mode = transaction ; note\nx = a#b\n", "p")
    pool, x = parsed.entries
    assert pool.value == "transaction ; note"
    assert x.value == "a#b"  # no blank before '#': not flagged
    (warning,) = parsed.diagnostics
    assert (warning.code, warning.severity, warning.line, warning.column) == ("pgb-inline-comment", "warning", 4, 25)


def test_keys_are_case_sensitive_and_kept_as_written() -> None:
    parsed = parse_pgbouncer_ini("[pgbouncer]\nListen_Port = 1\nlisten_port = 2\n", "p")
    assert [e.key for e in parsed.entries] == ["Listen_Port", "listen_port"]
    assert parsed.diagnostics == ()


def test_section_names_are_case_sensitive_and_checked() -> None:
    parsed = parse_pgbouncer_ini("[PgBouncer]\na=1\n[pgbouncer]\n[peers]\n", "p")
    (err,) = parsed.errors
    assert (err.code, err.line, err.column) == ("pgb-section", 1, 1)
    assert 'invalid section "PgBouncer"' in err.message


def test_scanner_continues_after_a_section_header_on_the_same_line() -> None:
    parsed = parse_pgbouncer_ini("[pgbouncer] listen_port = 6432\n[databases] # comment\n", "p")
    (entry,) = parsed.entries
    assert (entry.section, entry.key, entry.column) == ("pgbouncer", "listen_port", 13)
    assert parsed.diagnostics == ()


def test_quoted_key() -> None:
    (entry,) = parse_pgbouncer_ini("[pgbouncer]\n[databases]\n'my db' = dbname=x\n", "p").entries
    assert (entry.key, entry.key_quoted) == ("my db", True)


def test_empty_values_are_allowed_in_the_main_section() -> None:
    parsed = parse_pgbouncer_ini("[pgbouncer]\nunix_socket_dir =\nuser = \n", "p")
    assert [(e.key, e.value) for e in parsed.entries] == [("unix_socket_dir", ""), ("user", "")]
    assert parsed.diagnostics == ()


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("[pgbouncer]\n--/etc/pgbouncer/pgbouncer.ini\na = 1\n", (2, 3)),
        ("[pgbouncer]\n*SECTION* stuff\n", (2, 11)),
        ("[pgbouncer]\n${DB} = x\n", (2, 1)),
        ("[pgbouncer]\nlisten_port: 6432\n", (2, 12)),
        ("[pgbouncer\n", (1, 1)),
        ("[pgbouncer]\n'unterminated = 1\n", (2, 1)),
    ],
)
def test_junk_lines_are_syntax_errors_and_scanning_goes_on(text: str, position: tuple[int, int]) -> None:
    parsed = parse_pgbouncer_ini(text + "[pgbouncer]\nafter = 1\n", "p")
    err = parsed.errors[0]
    assert err.code == "pgb-syntax"
    assert (err.line, err.column) == position
    assert "PgBouncer stops loading here" in err.message
    assert parsed.entries[-1].key == "after"


def test_key_outside_any_section() -> None:
    parsed = parse_pgbouncer_ini("logfile = /tmp/x\n[pgbouncer]\n", "p")
    (err,) = parsed.errors
    assert (err.code, err.line, err.column) == ("pgb-no-section", 1, 1)
    assert parsed.entries[0].section is None


def test_duplicate_keys_are_a_warning_pointing_at_the_later_one() -> None:
    parsed = parse_pgbouncer_ini("[pgbouncer]\npool_mode = session\n\npool_mode = transaction\n", "p")
    (warning,) = parsed.diagnostics
    assert (warning.code, warning.severity, warning.line) == ("pgb-duplicate-key", "warning", 4)
    assert "line 2" in warning.message


def test_missing_main_section() -> None:
    assert codes("[databases]\na = host=x\n") == ["pgb-no-main"]
    assert codes("[databases]\n%include /etc/pgbouncer/main.ini\n") == []
    assert codes("a = host=x\n") == ["pgb-no-section", "pgb-no-main"]
    # the body of an included file is parsed with the section in force where it is included
    assert parse_pgbouncer_ini("a = host=x\n", "p", section="databases").diagnostics == ()


def test_include_directive_is_a_node_even_at_eof_without_newline() -> None:
    parsed = parse_pgbouncer_ini("[pgbouncer]\n%include /etc/pgbouncer/db.ini  ", "p")
    (inc,) = parsed.includes
    assert isinstance(inc, BouncerInclude)
    assert (inc.target, inc.line, inc.column, inc.target_column) == ("/etc/pgbouncer/db.ini", 2, 1, 10)


def test_percent_include_needs_a_blank_after_it() -> None:
    assert codes("[pgbouncer]\n%includex\n") == ["pgb-syntax"]


def test_connection_string_errors_point_into_the_value() -> None:
    parsed = parse_pgbouncer_ini("[pgbouncer]\n[databases]\nbad = host=x /tmp/sock\n", "p")
    (err,) = parsed.errors
    assert (err.code, err.line, err.column) == ("pgb-connstr", 3, 14)


def test_crlf_bom_and_unicode_comments() -> None:
    parsed = parse_pgbouncer_ini("\ufeff[pgbouncer]\r\n; ─── box ───\r\nlisten_port = 6432\r\n", "p")
    assert [d.code for d in parsed.diagnostics] == ["bom"]
    assert [(e.key, e.value) for e in parsed.entries] == [("listen_port", "6432")]


# --------------------------------------------------------------------------- connection strings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("host=localhost port=5432", {"host": "localhost", "port": "5432"}),
        ("host= localhost  dbname = app", {"host": "localhost", "dbname": "app"}),
        ("dbname='my db' user=bob", {"dbname": "my db", "user": "bob"}),
        ("password='it''s'", {"password": "it's"}),
        ("password='a\\b'", {"password": "a\\b"}),  # no backslash escapes in PgBouncer
        ("host=a host=b", {"host": "b"}),
        ("", {}),
        ("   ", {}),
        ("host=/run/postgresql pool_mode=transaction auth_user=pgb", {
            "host": "/run/postgresql", "pool_mode": "transaction", "auth_user": "pgb"}),
    ],
)
def test_parse_connstr_pgbouncer_dialect(value: str, expected: dict[str, str]) -> None:
    conn = scan_connstr(value)
    assert conn.error is None
    assert conn.as_dict() == expected == parse_connstr(value)


@pytest.mark.parametrize(
    ("value", "error", "offset", "kept"),
    [
        ("host=x port", 'missing "=" after "port"', 7, {"host": "x"}),
        ("host=", 'empty value for "host"', 5, {}),
        ("dbname='' x=1", 'empty value for "dbname"', 7, {}),
        ("dbname='open", "unterminated quoted value", 7, {}),
        ("=x", "empty parameter name", 0, {}),
        ("dbname='a'x=1", "empty parameter name", 11, {"dbname": "a"}),  # the char after a quote is swallowed
    ],
)
def test_scan_connstr_errors(value: str, error: str, offset: int, kept: dict[str, str]) -> None:
    conn = scan_connstr(value)
    assert (conn.error, conn.error_offset, conn.as_dict()) == (error, offset, kept)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("host=a\tport=5", {"host": "a", "port": "5"}),
        (r"password='it\'s' user=a\ b", {"password": "it's", "user": "a b"}),
        (r"password='a\\b'", {"password": "a\\b"}),
        ("host= port=5432", {"host": "port=5432"}),  # libpq skips blanks after '='
        ("sslmode=", {"sslmode": ""}),
    ],
)
def test_parse_connstr_libpq_dialect(value: str, expected: dict[str, str]) -> None:
    conn = scan_connstr(value, style="libpq")
    assert conn.error is None
    assert conn.as_dict() == expected


def test_libpq_errors_and_uris() -> None:
    assert scan_connstr("host", style="libpq").error == 'missing "=" after "host"'
    assert scan_connstr("password='x", style="libpq").error == "unterminated quoted string"
    assert scan_connstr("postgresql://u@h/db", style="libpq").error == "connection URIs are not parsed"


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "value"),
    [("20", 20), ("-1", -1), ("+5", 5), (" 7", 7), ("0x10", 16), ("010", 8), ("0", 0), ("08", None),
     ("", None), ("1.5", None), ("10s", None), ("0x", None)],
)
def test_parse_int_follows_strtol_base_zero(text: str, value: int | None) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5.0), ("5.0", 5.0), ("0.5", 0.5), (".5", 0.5), ("1e2", 100.0), ("-1", None), ("5s", None),
     ("", None), ("1min", None)],
)
def test_parse_seconds(text: str, value: float | None) -> None:
    assert parse_seconds(text) == value


# --------------------------------------------------------------------------- loader


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_loader_includes_relative_to_cwd_and_carries_the_section(tmp_path: Path) -> None:
    main = write(
        tmp_path / "etc" / "pgbouncer.ini",
        "[pgbouncer]\nlisten_port = 6432\n[databases]\n%include conf/dbs.ini\nafter = host=z\n",
    )
    write(tmp_path / "conf" / "dbs.ini", "app = host=x\n[users]\nalice = pool_mode=session\n")
    result = load_pgbouncer_ini(main, cwd=tmp_path)
    assert result.errors == ()
    sections = result.sections
    assert [e.key for e in sections["databases"]] == ["app"]
    # after the include the section is still the one the included file left open
    assert [e.key for e in sections["users"]] == ["alice", "after"]
    alice = sections["users"][0]
    assert (Path(alice.path).name, alice.line) == ("dbs.ini", 3)
    assert alice.conn is not None and alice.conn.as_dict() == {"pool_mode": "session"}
    assert result.effective["pgbouncer"]["listen_port"].value == "6432"


def test_loader_missing_include_depth_and_cycle(tmp_path: Path) -> None:
    main = write(tmp_path / "a.ini", "[pgbouncer]\n%include gone.ini\n%include b.ini\n")
    write(tmp_path / "b.ini", "%include a.ini\n")
    result = load_pgbouncer_ini(main, cwd=tmp_path)
    missing, cycle = result.errors
    assert (missing.line, missing.column, missing.code) == (2, 10, "include")
    assert "cycle" in cycle.message and cycle.path.endswith("b.ini")

    for i in range(12):
        write(tmp_path / f"n{i}.ini", f"%include n{i + 1}.ini\n")
    write(tmp_path / "n12.ini", "[pgbouncer]\n")
    deep = load_pgbouncer_ini(tmp_path / "n0.ini", cwd=tmp_path)
    assert any("nesting level too deep" in d.message for d in deep.errors)


def test_loader_recomputes_duplicates_and_main_section_across_files(tmp_path: Path) -> None:
    main = write(tmp_path / "main.ini", "[pgbouncer]\npool_mode = session\n%include more.ini\n")
    write(tmp_path / "more.ini", "pool_mode = transaction\n")
    result = load_pgbouncer_ini(main, cwd=tmp_path)
    assert [d.code for d in result.diagnostics] == ["pgb-duplicate-key"]
    assert result.effective["pgbouncer"]["pool_mode"].value == "transaction"

    no_main = write(tmp_path / "nomain.ini", "[databases]\n%include more.ini\n")
    assert "pgb-no-main" in [d.code for d in load_pgbouncer_ini(no_main, cwd=tmp_path).errors]


def test_loader_raises_only_for_the_top_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_pgbouncer_ini(tmp_path / "absent.ini")
