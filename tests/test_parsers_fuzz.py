"""Property tests: no parser raises on any text, every position is inside the input,
and values written in each format's quoting come back unchanged."""

from __future__ import annotations

from typing import Any, Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgforge.parsers.hba import HbaRule, parse_hba
from pgforge.parsers.pgbouncer_ini import parse_connstr, parse_pgbouncer_ini, scan_connstr
from pgforge.parsers.pgconf import parse_bool, parse_pgconf, split_list

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that mean something to at least one of the three grammars, plus plain
# letters, digits and a few non-ASCII ones (incl. a BOM and box drawing).
SPECIAL = list("'\"\\#;=,[]%@+/.:-*_ \t\r\n\f\v\x00") + ["\ufeff", "é", "─", "日"]
ALPHABET = st.sampled_from(SPECIAL) | st.characters(min_codepoint=32, max_codepoint=126) | st.characters()
TEXT = st.text(ALPHABET, max_size=300)

LINE_PIECES = st.sampled_from(
    [
        "work_mem", "include", "include_dir", "'x'", "'a''b'", "'\\''", "=", " ", "\t", "#", "\n", "\r\n",
        "128MB", "1.5", "0x1F", "local", "host", "all", '"all"', "10.0.0.0/8", "::1/128", "10.0.0.0",
        "255.0.0.0", "md5", "trust", "peer", "map=x", ",", "\\\n", "@f", "+g", "/re", "[pgbouncer]",
        "[databases]", "%include ", "key", "host=a", "dbname='x y'", ";", "'", '"', "\\",
    ]
)
STRUCTURED = st.lists(LINE_PIECES, max_size=60).map("".join)


def check_position(text: str, line: int, column: int, what: Any) -> None:
    body = text[1:] if text.startswith("\ufeff") else text
    lines = body.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    assert 1 <= line <= len(lines), (what, line, len(lines))
    assert 1 <= column <= len(lines[line - 1]) + 1, (what, line, column)


def positions(node: Any) -> Iterator[tuple[int, int, Any]]:
    if isinstance(node, HbaRule):
        yield node.line, node.column, node
        yield node.method_line, node.method_column, node
        for name in node.databases + node.users:
            yield name.line, name.column, name
        if node.address is not None:
            yield node.address.line, node.address.column, node.address
            if node.address.mask_line is not None:
                yield node.address.mask_line, node.address.mask_column, node.address
        for opt in node.options:
            yield opt.line, opt.column, opt
        return
    yield node.line, node.column, node
    for extra in ("value_column", "target_column"):
        if hasattr(node, extra):
            yield node.line, getattr(node, extra), node
    if hasattr(node, "target_line"):
        yield node.target_line, node.target_column, node


def run_all(text: str) -> None:
    results = [
        parse_pgconf(text, "f"),
        parse_hba(text, "f"),
        parse_hba(text, "f", before_pg16=True),
        parse_pgbouncer_ini(text, "f"),
        parse_pgbouncer_ini(text, "f", section="databases"),
    ]
    for result in results:
        for diag in result.diagnostics:
            check_position(text, diag.line, diag.column, diag)
            assert diag.severity in ("error", "warning", "note")
    nodes = results[0].entries + results[1].entries + results[2].entries + results[3].items + results[4].items
    for node in nodes:
        for line, column, what in positions(node):
            check_position(text, line, column, what)


@FUZZ
@given(TEXT)
def test_no_parser_raises_on_any_text(text: str) -> None:
    run_all(text)


@FUZZ
@given(STRUCTURED)
def test_no_parser_raises_on_near_valid_text(text: str) -> None:
    run_all(text)


@FUZZ
@given(TEXT)
def test_value_helpers_never_raise(text: str) -> None:
    parse_bool(text)
    split_list(text)
    split_list(text, identifiers=True)
    scan_connstr(text)
    scan_connstr(text, style="libpq")


# --------------------------------------------------------------------------- round trips

NAME = st.from_regex(r"[a-z_][a-z0-9_]{0,20}(\.[a-z_][a-z0-9_]{0,10})?", fullmatch=True)
# Anything but NUL (the server truncates at an escaped NUL); newlines are escaped.
VALUE = st.text(st.characters(blacklist_characters="\x00"), max_size=80)


def pg_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n")
    return f"'{escaped}'"


@ROUND_TRIP
@given(NAME, VALUE, st.sampled_from([" = ", "=", " ", "\t=\t"]), st.booleans())
def test_pgconf_quoted_value_round_trip(name: str, value: str, sep: str, comment: bool) -> None:
    line = f"{name}{sep}{pg_quote(value)}" + ("  # note" if comment else "")
    parsed = parse_pgconf(line + "\n", "f")
    assert parsed.diagnostics == ()
    (entry,) = parsed.entries
    assert entry.value == value
    assert entry.was_quoted
    assert entry.value_column == len(name) + len(sep) + 1


@ROUND_TRIP
@given(st.lists(VALUE.filter(lambda v: "\n" not in v), max_size=6), st.sampled_from([",", ", ", " , "]))
def test_split_list_round_trip_of_quoted_items(items: list[str], sep: str) -> None:
    text = sep.join('"' + i.replace('"', '""') + '"' for i in items)
    assert split_list(text) == items


HBA_NAME = st.text(st.characters(blacklist_characters="\n\x00"), max_size=30)


@ROUND_TRIP
@given(HBA_NAME, HBA_NAME)
def test_hba_double_quoted_names_round_trip(database: str, user: str) -> None:
    def q(s: str) -> str:
        return '"' + s.replace('"', '""') + '"'

    parsed = parse_hba(f"host {q(database)} {q(user)} 10.0.0.0/8 md5\n", "f")
    assert parsed.errors == ()
    (rule,) = parsed.rules
    assert [(n.text, n.quoted) for n in rule.databases] == [(database, True)]
    assert [(n.text, n.quoted) for n in rule.users] == [(user, True)]


CONN_KEY = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
CONN_VALUE = st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=40)


@ROUND_TRIP
@given(st.dictionaries(CONN_KEY, CONN_VALUE, max_size=6))
def test_pgbouncer_connstr_round_trip(params: dict[str, str]) -> None:
    text = " ".join(f"{k}='{v.replace(chr(39), chr(39) * 2)}'" for k, v in params.items())
    assert scan_connstr(text).error is None
    assert parse_connstr(text) == params


@ROUND_TRIP
@given(st.dictionaries(CONN_KEY, st.text(st.characters(blacklist_characters="\x00"), max_size=40), max_size=6))
def test_libpq_connstr_round_trip(params: dict[str, str]) -> None:
    def q(v: str) -> str:
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

    text = " ".join(f"{k}={q(v)}" for k, v in params.items())
    assert parse_connstr(text, style="libpq") == params


INI_VALUE = st.text(st.characters(blacklist_characters="\n\x00"), max_size=60).map(lambda s: s.strip(" \t\r\f\v"))


@ROUND_TRIP
@given(st.from_regex(r"[A-Za-z0-9_.*-]{1,20}", fullmatch=True), INI_VALUE)
def test_pgbouncer_value_round_trip(key: str, value: str) -> None:
    parsed = parse_pgbouncer_ini(f"[pgbouncer]\n{key} = {value}\n", "f")
    (entry,) = parsed.entries
    assert (entry.key, entry.value, entry.line, entry.value_column) == (key, value, 2, len(key) + 4)
    assert parsed.errors == ()


@given(st.sampled_from(["on", "off", "true", "false", "yes", "no"]), st.data())
def test_parse_bool_prefixes(word: str, data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=len(word)))
    prefix = data.draw(st.sampled_from([word[:n], word[:n].upper()]))
    expected = word in ("on", "true", "yes")
    if prefix.lower() == "o":
        assert parse_bool(prefix) is None
    else:
        assert parse_bool(prefix) is expected
