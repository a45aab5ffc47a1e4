"""postgresql.conf parser: each syntax form, positions, and the include-following loader.

Expected values for the lexer corner cases were checked against PostgreSQL 15's
``postgres -C`` (see the module docstring of pgforge.parsers.pgconf).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pgforge.parsers.pgconf import (
    Include,
    Setting,
    load_pgconf,
    parse_bool,
    parse_pgconf,
    split_list,
)


def one(text: str) -> Setting:
    conf = parse_pgconf(text, "t.conf")
    assert conf.diagnostics == (), [str(d) for d in conf.diagnostics]
    (entry,) = conf.entries
    assert isinstance(entry, Setting)
    return entry


def error_of(text: str) -> tuple[int, int, str]:
    conf = parse_pgconf(text, "t.conf")
    assert conf.entries == ()
    (diag,) = conf.errors
    return diag.line, diag.column, diag.message


# --------------------------------------------------------------------------- line forms


@pytest.mark.parametrize(
    "text",
    ["work_mem = 64MB", "work_mem=64MB", "work_mem 64MB", "work_mem\t=\t64MB", "  work_mem =64MB  "],
)
def test_equals_sign_and_spacing_are_optional(text: str) -> None:
    s = one(text)
    assert (s.name, s.value, s.was_quoted) == ("work_mem", "64MB", False)


def test_names_fold_to_lower_case_and_keep_spelling() -> None:
    s = one("Shared_Buffers = '1GB'")
    assert s.name == "shared_buffers"
    assert s.raw_name == "Shared_Buffers"


def test_positions_of_name_and_value() -> None:
    conf = parse_pgconf("# header\n\n\tmax_connections =  200  # more\n", "p.conf")
    (s,) = conf.settings
    assert (s.path, s.line, s.column, s.value_column) == ("p.conf", 3, 2, 21)
    assert s.comment == "more"


def test_trailing_comment_is_kept_and_hash_inside_quotes_is_not_a_comment() -> None:
    s = one("log_line_prefix = '%m #%p ' # with pid")
    assert s.value == "%m #%p "
    assert s.comment == "with pid"
    assert one("a = b").comment is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("'it''s'", "it's"),
        (r"'it\'s'", "it's"),
        (r"'a\\b'", "a\\b"),
        (r"'x\ny\tz'", "x\ny\tz"),
        (r"'\b\f\r'", "\b\f\r"),
        (r"'x\101y'", "xAy"),
        (r"'abc\0def'", "abc"),  # the server keeps C strings: an escaped NUL ends the value
        (r"'\q'", "q"),
        ("''", ""),
        ("'2 GB'", "2 GB"),
        ("'it''s \\'x\\''", "it's 'x'"),
        ("'\"$user\", public'", '"$user", public'),
    ],
)
def test_quoted_values_are_unescaped_like_the_server(raw: str, value: str) -> None:
    s = one(f"application_name = {raw}")
    assert s.value == value
    assert s.raw_value == raw
    assert s.was_quoted


@pytest.mark.parametrize(
    "raw",
    [
        "on", "pg_stat_statements", "128MB", "13981kB", "1000ms", "0x1F", "-5", "+7", ".5", "5.",
        "1.5e3", "12abc", "a-b:c/d.e", "café", "0.9",
    ],
)
def test_unquoted_values_the_lexer_accepts(raw: str) -> None:
    s = one(f"application_name = {raw}")
    assert (s.value, s.raw_value, s.was_quoted) == (raw, raw, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shared_buffers = 128 MB", (1, 22, 'syntax error near token "MB"')),
        ("work_mem = 1.5MB", (1, 15, 'syntax error near token "MB"')),
        ("seq_page_cost = 1e5", (1, 19, 'syntax error near token "5"')),
        ("default_text_search_config = pg_catalog.english",
         (1, 30, 'syntax error near token "pg_catalog.english"')),
        ("a.b.c = 1", (1, 1, 'syntax error near token "a.b.c"')),
        # one dot makes a qualified name, which is not a value (checked: PG15 rejects it)
        ("include_dir conf.d", (1, 13, 'syntax error near token "conf.d"')),
        ("application_name = 'unterminated", (1, 20, "syntax error near token \"'\"")),
        ("application_name = 'x' 'y'", (1, 24, "syntax error near token \"'y'\"")),
        ("application_name", (1, 17, "syntax error near end of line")),
        ("application_name =   # nothing", (1, 19, "syntax error near end of line")),
        ("= 5", (1, 1, 'syntax error near token "="')),
        ("[section]", (1, 1, 'syntax error near token "["')),
        ("*HEADER*", (1, 1, 'syntax error near token "*"')),
        ("application_name = /tmp", (1, 20, 'syntax error near token "/"')),
        ("application_name = foo\fbar", (1, 23, 'syntax error near token "\f"')),
        ("application_name = foo\rbar", (1, 24, 'syntax error near token "bar"')),
    ],
)
def test_syntax_errors_match_the_server(text: str, expected: tuple[int, int, str]) -> None:
    assert error_of(text) == expected


def test_a_bad_line_is_skipped_and_the_rest_still_parses() -> None:
    conf = parse_pgconf("a = 1\nb = 2 3\nc = 4\n", "t.conf")
    assert [s.name for s in conf.settings] == ["a", "c"]
    assert [(d.line, d.code) for d in conf.diagnostics] == [(2, "syntax")]


def test_custom_dotted_names() -> None:
    s = one("auto_explain.log_min_duration = '3s'")
    assert s.name == "auto_explain.log_min_duration"


def test_include_directives_become_nodes() -> None:
    conf = parse_pgconf(
        "include 'a.conf'\nINCLUDE_IF_EXISTS = 'b.conf' # opt\ninclude_dir conf.d/x\n", "main.conf"
    )
    assert conf.settings == ()
    kinds = [(i.kind, i.target, i.was_quoted, i.line, i.value_column) for i in conf.includes]
    assert kinds == [
        ("include", "a.conf", True, 1, 9),
        ("include_if_exists", "b.conf", True, 2, 21),
        ("include_dir", "conf.d/x", False, 3, 13),
    ]
    assert isinstance(conf.entries[0], Include)
    assert conf.includes[1].comment == "opt"


def test_crlf_and_missing_final_newline() -> None:
    conf = parse_pgconf("a = 1\r\nb = 'x y'\r\nc = 3", "t.conf")
    assert conf.diagnostics == ()
    assert [(s.name, s.value, s.line) for s in conf.settings] == [("a", "1", 1), ("b", "x y", 2), ("c", "3", 3)]
    assert conf.line_count == 3


def test_byte_order_mark_is_an_error_but_the_file_still_parses() -> None:
    conf = parse_pgconf("\ufeffwork_mem = 4MB\n", "t.conf")
    assert [s.name for s in conf.settings] == ["work_mem"]
    (diag,) = conf.diagnostics
    assert (diag.line, diag.column, diag.severity, diag.code) == (1, 1, "error", "bom")


def test_empty_and_comment_only_files() -> None:
    assert parse_pgconf("", "t").entries == ()
    assert parse_pgconf("# only\n   # comments\n\n", "t").diagnostics == ()


# --------------------------------------------------------------------------- loader


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_loader_follows_includes_relative_to_the_including_file(tmp_path: Path) -> None:
    main = write(tmp_path / "etc" / "postgresql.conf", "work_mem = 1MB\ninclude 'sub/extra.conf'\nport = 5432\n")
    write(tmp_path / "etc" / "sub" / "extra.conf", "work_mem = 2MB\ninclude 'deeper.conf'\n")
    write(tmp_path / "etc" / "sub" / "deeper.conf", "WORK_MEM = 3MB\n")
    result = load_pgconf(main, auto_conf=False)
    assert result.errors == ()
    winner = result.effective["work_mem"]
    assert (winner.value, Path(winner.path).name, winner.line) == ("3MB", "deeper.conf", 1)
    assert [(lo.value, wi.value) for lo, wi in result.overridden] == [("1MB", "3MB"), ("2MB", "3MB")]
    assert [Path(f.path).name for f in result.files] == ["postgresql.conf", "extra.conf", "deeper.conf"]
    assert [s.name for s in result.settings] == ["work_mem", "work_mem", "work_mem", "port"]


def test_missing_include_is_an_error_at_the_directive_and_if_exists_a_note(tmp_path: Path) -> None:
    main = write(tmp_path / "postgresql.conf", "a = 1\ninclude_if_exists 'opt.conf'\n  include 'gone.conf'\n")
    result = load_pgconf(main, auto_conf=False)
    note, error = result.diagnostics
    assert (note.severity, note.line, note.column) == ("note", 2, 19)
    assert "skipping missing configuration file" in note.message
    assert (error.severity, error.line, error.column, error.path) == ("error", 3, 11, str(main))
    assert "gone.conf" in error.message


def test_include_dir_reads_conf_files_in_bytewise_order(tmp_path: Path) -> None:
    main = write(tmp_path / "postgresql.conf", "include_dir 'conf.d'\n")
    d = tmp_path / "conf.d"
    for name in ["a.conf", "B.conf", "10-x.conf", "2-y.conf", ".hidden.conf", "notes.txt", ".conf"]:
        write(d / name, f"application_name = '{name}'\n")
    (d / "sub.conf").mkdir()
    result = load_pgconf(main, auto_conf=False)
    assert result.errors == ()
    read = [s.value for s in result.settings]
    assert read == ["10-x.conf", "2-y.conf", "B.conf", "a.conf"]
    assert result.effective["application_name"].value == "a.conf"


def test_missing_include_dir_is_an_error(tmp_path: Path) -> None:
    main = write(tmp_path / "postgresql.conf", "x = 1\ninclude_dir = 'conf.d'\n")
    (err,) = load_pgconf(main, auto_conf=False).errors
    assert (err.line, err.column) == (2, 15)
    assert "could not open configuration directory" in err.message


def test_include_cycle_is_reported_not_followed_forever(tmp_path: Path) -> None:
    main = write(tmp_path / "postgresql.conf", "include 'b.conf'\n")
    write(tmp_path / "b.conf", "x = 1\ninclude 'postgresql.conf'\n")
    result = load_pgconf(main, auto_conf=False)
    (err,) = result.errors
    assert "cycle" in err.message and err.path.endswith("b.conf") and err.line == 2
    assert result.effective["x"].value == "1"


def test_nesting_deeper_than_ten_is_an_error(tmp_path: Path) -> None:
    for i in range(12):
        write(tmp_path / f"f{i}.conf", f"level{i} = {i}\ninclude 'f{i + 1}.conf'\n")
    write(tmp_path / "f12.conf", "level12 = 12\n")
    result = load_pgconf(tmp_path / "f0.conf", auto_conf=False)
    (err,) = result.errors
    assert "maximum nesting depth exceeded" in err.message
    assert err.path.endswith("f10.conf")
    assert "level10" in result.effective and "level11" not in result.effective


def test_auto_conf_is_read_last_and_wins(tmp_path: Path) -> None:
    main = write(tmp_path / "postgresql.conf", "max_wal_size = 2GB\n")
    write(tmp_path / "postgresql.auto.conf", "# Do not edit this file manually!\nmax_wal_size = '3GB'\n")
    result = load_pgconf(main)
    assert Path(result.effective["max_wal_size"].path).name == "postgresql.auto.conf"
    assert result.effective["max_wal_size"].value == "3GB"
    assert load_pgconf(main, auto_conf=False).effective["max_wal_size"].value == "2GB"


def test_auto_conf_from_a_separate_data_directory(tmp_path: Path) -> None:
    main = write(tmp_path / "etc" / "postgresql.conf", "port = 5432\n")
    write(tmp_path / "data" / "postgresql.auto.conf", "port = 5433\n")
    assert load_pgconf(main).effective["port"].value == "5432"
    assert load_pgconf(main, data_dir=tmp_path / "data").effective["port"].value == "5433"


def test_unreadable_top_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_pgconf(tmp_path / "nope.conf")


def test_non_utf8_bytes_are_a_note_and_do_not_break_parsing(tmp_path: Path) -> None:
    main = write(tmp_path / "postgresql.conf", b"# commentaire \xe9t\xe9\nwork_mem = '4MB'\n")
    result = load_pgconf(main, auto_conf=False)
    (note,) = result.diagnostics
    assert (note.severity, note.code, note.line, note.column) == ("note", "encoding", 1, 15)
    assert result.effective["work_mem"].value == "4MB"


def test_relative_path_given_to_loader_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "postgresql.conf", "include 'x.conf'\n")
    write(tmp_path / "x.conf", "a = 1\n")
    monkeypatch.chdir(tmp_path)
    result = load_pgconf("postgresql.conf", auto_conf=False)
    assert os.path.isabs(result.root)
    assert result.effective["a"].value == "1"


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("on", True), ("ON", True), ("off", False), ("of", False), ("true", True), ("t", True),
        ("TrUe", True), ("fa", False), ("yes", True), ("y", True), ("no", False), ("n", False),
        ("1", True), ("0", False), ("o", None), ("", None), ("tru e", None), ("truex", None),
        ("10", None), ("onn", None), (" on", None), ("2", None),
    ],
)
def test_parse_bool(text: str, value: bool | None) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("pg_stat_statements", ["pg_stat_statements"]),
        ("pg_stat_statements, auto_explain ,timescaledb", ["pg_stat_statements", "auto_explain", "timescaledb"]),
        ('"My Lib", other', ["My Lib", "other"]),
        ('"a,b"', ["a,b"]),
        ('"say ""hi"""', ['say "hi"']),
        ("$libdir/x y", ["$libdir/x y"]),
        ("", []),
        ("   ", []),
        ("a,,b", None),
        ("a,", None),
        ('"open', None),
        ('"a" b', None),
    ],
)
def test_split_list_directories(text: str, items: list[str] | None) -> None:
    assert split_list(text) == items


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ('"$user", Public', ["$user", "public"]),
        ("a b", None),
        ("csvlog,stderr", ["csvlog", "stderr"]),
    ],
)
def test_split_list_identifiers(text: str, items: list[str] | None) -> None:
    assert split_list(text, identifiers=True) == items
