"""postgresql.conf numbers read exactly as the server reads them (issue 12, item 11).

guc.c reads an integer setting with strtol base 0 (``0600`` is octal 384, ``0x1F`` hex 31) and
falls back to strtod at '.', 'e' or an overflow; a real setting with strtod alone; units after
optional blanks, fractional values rounded to the next smaller unit. parsers.values.parse_pg_number
is pgforge's one copy of those rules (catalog.Guc.to_base, hence check, apply and the rules, reads
through it). The last test asks a real PostgreSQL for its verdict on a table of tricky values and
holds pgforge to it, accept/reject and parsed value alike.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import random
from pathlib import Path

import pytest

from pgforge.catalog import load_catalog
from pgforge.parsers.values import PgNumberError, c_strtod, c_strtol, parse_pg_number


# -- the false error -----------------------------------------------------------------------

def test_octal_modes_are_not_reported_above_the_maximum(audit) -> None:
    """Before: PGF003 "0600 is above the maximum 511" (read as decimal 600)."""
    conf = "log_file_mode = 0600\nunix_socket_permissions = 0770\n"
    assert audit({"postgresql.conf": conf}, "PGF003") == []


def test_a_bad_octal_digit_is_reported_with_the_reason(audit) -> None:
    found = audit({"postgresql.conf": "log_file_mode = 0680\n"}, "PGF003")
    assert [(f.line, f.column) for f in found] == [(1, 17)]
    assert "octal" in found[0].message


def test_octal_and_hex_values_convert_for_every_consumer() -> None:
    cat = load_catalog(17)
    assert cat.get("log_file_mode").to_base("0600") == 384
    assert cat.get("unix_socket_permissions").to_base("0770") == 0o770
    assert cat.get("work_mem").to_base("010MB") == 8 * 1024  # octal 8, then the unit
    assert cat.get("max_connections").to_base("0x64") == 100
    assert cat.get("random_page_cost").to_base("0600") == 600  # a real: strtod is decimal
    from pgforge.apply.values import canonical

    assert canonical(cat, "log_file_mode", "0600") == canonical(cat, "log_file_mode", "384")


# -- the C library's readers, written out --------------------------------------------------------

def _libc():
    name = ctypes.util.find_library("c")
    if name is None:
        pytest.skip("no C library to compare with")
    libc = ctypes.CDLL(name, use_errno=True)
    libc.strtod.restype = ctypes.c_double
    libc.strtod.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    libc.strtol.restype = ctypes.c_long
    libc.strtol.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
    return libc


def _call(fn, text: str, *args):
    buf = ctypes.create_string_buffer(text.encode("ascii"))
    end = ctypes.c_char_p()
    ctypes.set_errno(0)
    value = fn(ctypes.cast(buf, ctypes.c_char_p), ctypes.byref(end), *args)
    return value, ctypes.cast(end, ctypes.c_void_p).value - ctypes.addressof(buf), ctypes.get_errno() != 0


def test_strtol_and_strtod_agree_with_the_c_library() -> None:
    """Random strings over the characters that matter, plus the edges (glibc is what the server uses)."""
    libc = _libc()
    rng = random.Random(12)
    alphabet = list("0123456789" * 3) + list("xXeEpP.+- \t\vabcdfinINFtyAnu()_kMGB")
    cases = ["0600", "0x", "0x1p3", "0x.8", "1e-310", "4.9e-324", "0x1p-1074", "1e400", "infinity", "nan(12)",
             "0e-99999", ".5", " .5", "99999999999999999999", "0x8000000000000000", "-0x8000000000000000",
             "01777777777777777777777", "02000000000000000000000", "1e", "1e+", "2.225073858507201e-308"]
    cases += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10))) for _ in range(5000)]
    for text in cases:
        value, end, erange = _call(libc.strtod, text)
        mine = c_strtod(text)
        assert (mine[1], mine[2]) == (end, erange), text
        assert mine[0] == value or (math.isnan(mine[0]) and math.isnan(value)), text
        assert c_strtol(text) == _call(libc.strtol, text, 0), text


def test_huge_digit_strings_are_bounded() -> None:
    """Overflow and underflow are the server's ERANGE refusals, read in linear time."""
    digits = "9" * 200_000
    for text, vartype in ((digits, "integer"), ("1e" + digits, "real"), ("0." + "0" * 100_000 + "1", "real"),
                          ("0x" + "f" * 100_000, "integer")):
        with pytest.raises(PgNumberError):
            parse_pg_number(text, vartype, None)
    assert parse_pg_number("0." + "0" * 100_000, "real", None) == 0.0  # zero is exact, no underflow


# -- the real server's verdict --------------------------------------------------------------------

#: Settings of each shape: (name, settable with SET so that its parsed value can be read back).
SERVER_GUCS = (
    ("log_file_mode", False),            # integer, no unit, 0..511 (sighup)
    ("unix_socket_permissions", False),  # integer, no unit, 0..511 (postmaster)
    ("extra_float_digits", True),        # integer, no unit, -15..3
    ("geqo_threshold", True),            # integer, no unit, 2..INT_MAX
    ("work_mem", True),                  # integer kB
    ("effective_cache_size", True),      # integer 8kB pages
    ("log_parameter_max_length", True),  # integer B
    ("lock_timeout", True),              # integer ms (not statement_timeout: a 1ms value left by a
                                         # probe cancels the SELECT that reads a value back)
    ("tcp_keepalives_idle", False),      # integer s (SHOW says 0 over a Unix socket)
    ("log_rotation_age", False),         # integer min
    ("random_page_cost", True),          # real, no unit
    ("vacuum_cost_delay", True),         # real ms, 0..100
)

TRICKY_VALUES = (
    "0600", "0770", "0777", "0x1F", "0X1f", "0x1e3", "0x10MB", "0xAkB", "0x1B", "010MB", "010", "017s", "08", "0680",
    "08.5", "010.5", "010e1", "0600.0", "0x", "0x1p3", "0x1.8p1", "1e3", "1E3", "1e", "1e3kB", "1e-3s", "3e-1",
    "1.5GB", "1.0001MB", "0.5kB", "1.5B", "0.0000001kB", "500us", "1.5ms", "1.25min", "0.5h", "1d", "5min", "5m",
    " 8MB", "8MB ", "8 MB", "\t8\tMB\t", "\v8\f", " 8", "-0", "+5", "- 5", "--5", "5-", "-1", "-16", "2", "3", "4",
    ".5", " .5", "-.5", "1.5", "2.5", "0.5", "inf", "-inf", "infinity", "nan", "NaN", "nan(1)", "1e400", "1e-400",
    "1e-310", "99999999999999999999", "2147483647", "2147483648", "-2147483648", "0x7fffffff", "0x80000000",
    "1mb", "1MBx", "1 MB x", "8kBB", "0b101", "1_000", "", " ", "100", "1000", "1e2ms", "1.9999999999999999",
)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.mark.realpg
def test_pgforge_reads_numbers_as_the_real_server_does() -> None:
    """One server, every (setting, value) pair: ALTER SYSTEM for the verdict, SET + pg_settings for the value."""
    from tests.pgharness import PgCluster

    major = 17
    cat = load_catalog(major)
    script: list[str] = []
    probes: list[tuple[str, str, bool]] = []
    for name, settable in SERVER_GUCS:
        for value in TRICKY_VALUES:
            probes.append((name, value, settable))
            script.append(f"ALTER SYSTEM SET {name} = {_sql_literal(value)};")
            script.append("\\echo V :ERROR")
            if settable:
                script.append(f"RESET {name};")
                script.append(f"SET {name} = {_sql_literal(value)};")
                script.append(f"SELECT 'S ' || setting FROM pg_settings WHERE name = '{name}';")
                script.append(f"RESET {name};")
    script.append("ALTER SYSTEM RESET ALL;")
    with PgCluster(major, conf_extra="fsync = off\n") as pg:
        out = _psql_lenient(pg, "\n".join(script))
    lines = [line for line in out.splitlines() if line.startswith(("V ", "S "))]
    disagreements = []
    for name, value, settable in probes:
        verdict = lines.pop(0)
        accepted = verdict == "V false"
        setting = lines.pop(0)[2:] if settable else None
        problem = cat.check_value(name, value)
        if accepted != (problem is None):
            disagreements.append(f"{name} = {value!r}: server {'accepts' if accepted else 'rejects'}, pgforge: {problem}")
            continue
        if accepted and setting is not None:
            guc = cat.get(name)
            mine = guc.to_base(value)
            if guc.vartype == "integer":
                ok = int(setting) == mine
            else:
                ok = math.isclose(float(setting), mine, rel_tol=1e-5, abs_tol=1e-9)
            if not ok:
                disagreements.append(f"{name} = {value!r}: server reads {setting}, pgforge {mine}")
    assert not lines, lines[:5]
    assert disagreements == []


def _psql_lenient(pg, sql: str) -> str:
    """psql with ON_ERROR_STOP off: each statement's success is echoed (:ERROR), errors go to stderr."""
    import subprocess

    from tests.pgharness import _clean_env, client_bindir

    proc = subprocess.run(
        [str(client_bindir() / "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=0", "-h", str(pg.sockdir),
         "-p", str(pg.port), "-U", "postgres", "-d", "postgres", "-f", "-"],
        input=sql, capture_output=True, text=True, env=_clean_env(), timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_unit_rounding_follows_the_next_smaller_unit() -> None:
    assert parse_pg_number("1.0001MB", "integer", "kB") == 1024  # rounded to whole kB first
    assert parse_pg_number("1.5555ms", "real", "ms") == pytest.approx(1.556)  # to whole us
    assert parse_pg_number("500us", "real", "ms") == 0.5  # no smaller unit than us


def test_whitespace_is_the_c_locale_s(tmp_path: Path) -> None:
    assert parse_pg_number("\v8\f", "integer", None) == 8
    with pytest.raises(PgNumberError):
        parse_pg_number("\u00a08", "integer", None)  # no-break space is not isspace() in C
    with pytest.raises(PgNumberError):
        parse_pg_number("\u0661\u0662", "real", None)  # Python's float() reads Arabic digits; strtod does not


def test_checks_that_read_numbers_read_them_as_the_server_does(audit) -> None:
    """PGF303 read max_connections with float(): 0x7D0 (2000) was skipped as unreadable."""
    found = audit({"postgresql.conf": "max_connections = 0x7D0\n"}, "PGF303")
    assert len(found) == 1 and "2000" in found[0].message
