"""Run the three parsers over the shared corpus of real-world config files.

Every file must parse with every parser without raising, with every position inside
the file.  Where a real PostgreSQL 15 judged a file (PG15_CHECK.tsv, PG15_HBA_CHECK.tsv,
see the corpus README), we must agree: the server's syntax errors are exactly ours
(line and token), accepted files give no errors, and pg_hba line counts match
``pg_hba_file_rules``.

The corpus lives in shared/ beside the repository (never copied into it).  When it is
absent the whole module is skipped with that reason; that is the one honest skip.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from pgforge.parsers.hba import HbaRule, parse_hba
from pgforge.parsers.pgbouncer_ini import parse_connstr, parse_pgbouncer_ini, parse_seconds
from pgforge.parsers.pgconf import load_pgconf, parse_pgconf
from pgforge.parsers.source import Diagnostic, decode


def _find_corpus() -> Path | None:
    candidates = []
    if os.environ.get("PGFORGE_CORPUS"):
        candidates.append(Path(os.environ["PGFORGE_CORPUS"]))
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "corpus")
    candidates.append(Path("/work/shared/corpus"))
    for c in candidates:
        if (c / "postgresql_conf").is_dir():
            return c
    return None


CORPUS = _find_corpus()
pytestmark = pytest.mark.skipif(
    CORPUS is None, reason="shared/corpus not found beside the repository (set PGFORGE_CORPUS to point at it)"
)
KINDS = ("postgresql_conf", "pg_hba", "pgbouncer_ini", "other")


def corpus_files() -> list[Path]:
    if CORPUS is None:
        return []
    return sorted(p for kind in KINDS if (CORPUS / kind).is_dir() for p in (CORPUS / kind).iterdir() if p.is_file())


def read(path: Path) -> str:
    text, _ = decode(path.read_bytes(), str(path))
    return text


def by_number(kind: str, number: str) -> Path:
    assert CORPUS is not None
    (match,) = (CORPUS / kind).glob(f"{number}_*")
    return match


def check_position(text: str, line: int, column: int, what: Any) -> None:
    """A position must name a line of the file and a column within it (or just past
    its end, where 'end of line' errors point)."""
    body = text[1:] if text.startswith("\ufeff") else text
    lines = body.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    assert 1 <= line <= len(lines), (what, line, len(lines))
    assert 1 <= column <= len(lines[line - 1]) + 1, (what, line, column, lines[line - 1])


def positions(node: Any) -> Iterator[tuple[int, int, Any]]:
    """Every (line, column) a parsed node carries, including nested nodes."""
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


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: f"{p.parent.name}/{p.name[:40]}")
def test_every_parser_accepts_every_file_with_positions_in_range(path: Path) -> None:
    text = read(path)
    results = [
        parse_pgconf(text, str(path)),
        parse_hba(text, str(path)),
        parse_hba(text, str(path), before_pg16=True),
        parse_pgbouncer_ini(text, str(path)),
    ]
    for result in results:
        for diag in result.diagnostics:
            assert isinstance(diag, Diagnostic) and diag.path == str(path)
            check_position(text, diag.line, diag.column, diag)
    conf, hba, hba15, bouncer = results
    for node in conf.entries + hba.entries + hba15.entries + bouncer.items:
        for line, column, what in positions(node):
            check_position(text, line, column, what)


# --------------------------------------------------------------------------- postgresql.conf vs PG15


def pg15_rows() -> list[dict[str, str]]:
    if CORPUS is None or not (CORPUS / "PG15_CHECK.tsv").is_file():
        return []
    with open(CORPUS / "PG15_CHECK.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


_PG_SYNTAX = re.compile(r'syntax error in file "[^"]*" line (\d+), near (end of line|token "[^"]*")')


@pytest.mark.parametrize("row", pg15_rows(), ids=lambda r: r["file"].split("/")[-1][:40])
def test_pgconf_syntax_errors_are_exactly_the_servers(row: dict[str, str]) -> None:
    assert CORPUS is not None
    path = CORPUS / row["file"]
    parsed = parse_pgconf(read(path), row["file"])
    server = [(int(m.group(1)), f"syntax error near {m.group(2)}") for m in _PG_SYNTAX.finditer(row["all_error_lines"])]
    ours = [(d.line, d.message) for d in parsed.diagnostics if d.code == "syntax"]
    assert ours == server
    if row["exit_code"] == "0":
        assert parsed.errors == ()
        assert parsed.settings, "an accepted file with settings should yield Setting nodes"


def test_pg15_table_covers_accepted_and_rejected_files() -> None:
    rows = pg15_rows()
    if not rows:
        pytest.skip("PG15_CHECK.tsv not in the corpus")
    assert {r["exit_code"] for r in rows} >= {"0", "1"}
    assert any(_PG_SYNTAX.search(r["all_error_lines"]) for r in rows)


def test_missing_include_dir_is_reported_where_the_server_reported_it() -> None:
    rows = [r for r in pg15_rows() if "could not open configuration directory" in r["all_error_lines"]]
    if not rows:
        pytest.skip("no include_dir failure in PG15_CHECK.tsv")
    assert CORPUS is not None
    for row in rows:
        result = load_pgconf(CORPUS / row["file"], auto_conf=False)
        (err,) = [d for d in result.errors if d.code == "include"]
        assert "could not open configuration directory" in err.message
        include = next(i for i in parse_pgconf(read(CORPUS / row["file"])).includes if i.kind == "include_dir")
        assert (err.line, err.column) == (include.line, include.value_column)


# --------------------------------------------------------------------------- pg_hba.conf vs PG15


def hba_rows() -> list[dict[str, str]]:
    if CORPUS is None or not (CORPUS / "PG15_HBA_CHECK.tsv").is_file():
        return []
    with open(CORPUS / "PG15_HBA_CHECK.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.mark.parametrize("row", hba_rows(), ids=lambda r: r["file"].split("/")[-1][:40])
def test_hba_agrees_with_pg_hba_file_rules(row: dict[str, str]) -> None:
    assert CORPUS is not None
    parsed = parse_hba(read(CORPUS / row["file"]), row["file"], before_pg16=True)
    error_lines = sorted({d.line for d in parsed.errors})
    # pg_hba_file_rules has one row per non-comment line, valid or not
    assert len(parsed.rules) + len(error_lines) == int(row["rules_parsed"])
    first = row["first_error"]
    if "SSL is disabled" in first:
        # Depends on the test server's ssl=off, not on the file: we accept those lines,
        # and they are the hostssl ones.
        assert parsed.errors == ()
        n = int(first.split(":")[0].removeprefix("line "))
        assert next(r for r in parsed.rules if r.line == n).type == "hostssl"
        return
    assert len(error_lines) == int(row["rules_with_error"])
    if first:
        line = int(first.split(":")[0].removeprefix("line "))
        assert error_lines[0] == line
        message = first.split(": ", 1)[1]
        assert parsed.errors[0].message.startswith(message)
    # the PG16+ reading differs only where PG16 syntax appears; the corpus has none
    modern = parse_hba(read(CORPUS / row["file"]), row["file"])
    assert [d.line for d in modern.errors] == [d.line for d in parsed.errors]


# --------------------------------------------------------------------------- pgbouncer.ini facts


def bouncer(number: str):
    path = by_number("pgbouncer_ini", number)
    return parse_pgbouncer_ini(read(path), str(path))


def test_pgbouncer_corpus_facts() -> None:
    # 015: %include as the very last line, without a final newline
    (inc,) = bouncer("015").includes
    assert inc.target == "/data/pgbouncer.database.ini"
    # 073: %include inside [databases]
    assert bouncer("073").includes[0].target.endswith(".ini")
    # 008: junk first line (CRLF file) is a syntax error at line 1, the rest still reads
    b008 = bouncer("008")
    assert b008.errors[0].line == 1 and b008.errors[0].code == "pgb-syntax"
    assert "pgbouncer" in b008.sections
    # 016: *SECTION* pseudo-headers are syntax errors
    assert {d.code for d in bouncer("016").errors} == {"pgb-syntax"}
    # 071: no [pgbouncer] section, an inline '#' after a value
    b071 = bouncer("071")
    assert "pgb-no-main" in {d.code for d in b071.errors}
    assert "pgb-inline-comment" in {d.code for d in b071.diagnostics}
    # 064: "host= localhost" in [databases]
    (star,) = bouncer("064").databases
    assert star.conn is not None and star.conn.as_dict() == {"host": "localhost"}
    # 074: float seconds
    timeout = next(e for e in bouncer("074").entries if e.key == "reserve_pool_timeout")
    assert parse_seconds(timeout.value) == 5.0
    # 018: space-separated admin_users stays one raw value
    admins = next(e for e in bouncer("018").entries if e.key == "admin_users")
    assert admins.value.split() == ["cciw_learnscripture", "cciw_learnscripture_staging"]
    # 067: empty values
    b067 = {e.key: e.value for e in bouncer("067").entries}
    assert b067["unix_socket_dir"] == "" and b067["user"] == ""
    # 019: an empty [users] section (its only line is commented out)
    assert bouncer("019").sections["users"] == ()


def test_every_clean_pgbouncer_file_has_connection_strings_that_scan() -> None:
    assert CORPUS is not None
    clean = 0
    for path in sorted((CORPUS / "pgbouncer_ini").iterdir()):
        parsed = parse_pgbouncer_ini(read(path), str(path))
        if parsed.errors:
            continue
        clean += 1
        for entry in parsed.databases:
            assert entry.conn is not None and entry.conn.error is None, (path.name, entry)
            assert parse_connstr(entry.value) == entry.conn.as_dict()
    assert clean >= 20
