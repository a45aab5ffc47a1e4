"""Quantities as users write them in specs and as PostgreSQL reads them in postgresql.conf.

Both directions matter: a spec says ``7.5GB`` and means binary gigabytes; a generated file must
use the server's case-sensitive units (``1mb`` is rejected by the server), and the catalog's
bounds are in the GUC's base unit (``8kB`` pages for shared_buffers, ``s`` for
checkpoint_timeout), so every conversion below is one the generator or the audit relies on.
"""

from __future__ import annotations

import pytest

from pgforge.parsers.pgconf import parse_bool
from pgforge.units import (
    GB,
    KB,
    MB,
    TB,
    UnitError,
    clean_bytes,
    format_bytes_pg,
    format_ms_pg,
    parse_memory,
    parse_pg_quantity,
)

# --------------------------------------------------------------------------- parse_memory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16GB", 16 * GB),
        ("16GiB", 16 * GB),  # binary either way: a "16GB" VM has 16 GiB
        ("16gb", 16 * GB),
        ("16 GiB", 16 * GB),
        ("512MB", 512 * MB),
        ("512MiB", 512 * MB),
        ("7.5GB", 7 * GB + 512 * MB),
        ("0.5TB", 512 * GB),
        ("1TB", TB),
        ("64kB", 64 * KB),
        ("1073741824", GB),  # plain bytes
        ("100B", 100),
        (" 2GB ", 2 * GB),
        (4 * GB, 4 * GB),  # an int from YAML is bytes
        (float(2 * GB), 2 * GB),
    ],
)
def test_parse_memory_accepts_human_forms(text: object, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize(
    "text",
    ["-1GB", "-512", "abc", "", "GB", "1.5.5GB", "1PB", "16 G B", "0", "0GB", "0.1", 0, -4096, True, None, [4], float("nan"),
     float("inf"), -1.5],
)
def test_parse_memory_rejects_bad_or_non_positive(text: object) -> None:
    with pytest.raises(UnitError):
        parse_memory(text)


def test_parse_memory_messages_say_what_is_expected() -> None:
    with pytest.raises(UnitError, match="16GB"):
        parse_memory("lots")
    with pytest.raises(UnitError, match="unknown memory unit 'PB'"):
        parse_memory("2PB")
    with pytest.raises(UnitError, match="positive"):
        parse_memory(-1)


def test_parse_memory_rejects_sub_byte_float() -> None:
    # The float branch checks value > 0 and then truncates, so 0.5 becomes 0 bytes, while the
    # string "0.5" is rightly refused: the two forms of the same number disagree.
    with pytest.raises(UnitError):
        parse_memory(0.5)


# --------------------------------------------------------------------------- format_bytes_pg


@pytest.mark.parametrize(
    ("nbytes", "expected"),
    [
        (4 * GB, "4GB"),
        (1536 * MB, "1536MB"),  # not 1.5GB: the server takes integers only
        (GB + KB, "1048577kB"),
        (7864 * KB, "7864kB"),
        (64 * KB, "64kB"),
        (TB, "1TB"),
        (3 * TB, "3TB"),
        (1024 * TB, "1024TB"),
        (TB + GB, "1025GB"),
        (16 * MB, "16MB"),
        (0, "0kB"),
    ],
)
def test_format_bytes_pg_is_exact(nbytes: int, expected: str) -> None:
    text = format_bytes_pg(nbytes)
    assert text == expected
    # The round trip through the server's parser is lossless: SHOW returns what the file says.
    assert parse_pg_quantity(text, "kB") * KB == nbytes


@pytest.mark.parametrize("nbytes", [1, 1000, GB + 1, 1023])
def test_format_bytes_pg_refuses_fractional_kilobytes(nbytes: int) -> None:
    with pytest.raises(ValueError):
        format_bytes_pg(nbytes)


@pytest.mark.parametrize(
    ("ms", "expected"),
    [(15 * 60_000, "15min"), (30_000, "30s"), (250, "250ms"), (3_600_000, "1h"), (86_400_000, "1d"), (90_000, "90s"), (0, "0ms")],
)
def test_format_ms_pg(ms: int, expected: str) -> None:
    assert format_ms_pg(ms) == expected
    assert parse_pg_quantity(expected, "ms") == ms


@pytest.mark.parametrize(
    ("nbytes", "expected"),
    [
        (10 * GB + 300 * MB, 10 * GB),  # >= 8GB: whole GB
        (3 * GB + 100 * MB, 3 * GB),  # >= 1GB: 256MB steps
        (1000 * MB, 992 * MB),  # >= 64MB: 16MB steps
        (5 * MB + 3 * KB, 5 * MB),
        (100 * KB, 64 * KB),
        (10, KB),  # never below the minimum
    ],
)
def test_clean_bytes_rounds_down_to_tidy_units(nbytes: int, expected: int) -> None:
    assert clean_bytes(nbytes) == expected
    assert clean_bytes(nbytes) <= max(nbytes, KB)


# --------------------------------------------------------------------------- parse_pg_quantity


@pytest.mark.parametrize(
    ("text", "base", "expected"),
    [
        ("1GB", "8kB", 131072),  # shared_buffers in pages
        ("128MB", "8kB", 16384),
        ("8kB", "8kB", 1),
        ("16384", "8kB", 16384),  # a bare number is already in the base unit
        ("4MB", "kB", 4096),
        ("1TB", "kB", 1024**3),
        ("1024B", "kB", 1),
        ("2GB", "MB", 2048),  # max_wal_size
        ("1.5GB", "MB", 1536),
        ("0x10", "MB", 16),
        ("15min", "s", 900),  # checkpoint_timeout
        ("30s", "s", 30),
        ("1h", "min", 60),
        ("1d", "s", 86400),
        ("250ms", "ms", 250),
        ("1s", "ms", 1000),
        ("500us", "ms", 0.5),
        ("-1", "kB", -1),
        ("1.1", None, 1.1),  # random_page_cost: unitless real
        ("200", None, 200),
        (" 4 MB ", "kB", 4096),
    ],
)
def test_parse_pg_quantity_converts_to_base_unit(text: str, base: str | None, expected: float) -> None:
    assert parse_pg_quantity(text, base) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "base"),
    [
        ("1mb", "kB"),  # units are case-sensitive on the server
        ("1gb", "8kB"),
        ("1Gb", "MB"),
        ("1KB", "kB"),
        ("1GiB", "kB"),
        ("5m", "s"),  # minutes are "min"
        ("5MIN", "s"),
        ("1MB", "ms"),  # memory unit on a time setting
        ("10s", "kB"),  # time unit on a memory setting
        ("5s", None),  # a unit on a unitless setting
        ("abc", "kB"),
        ("", "kB"),
        ("1 2MB", "kB"),
    ],
)
def test_parse_pg_quantity_rejects_what_the_server_rejects(text: str, base: str | None) -> None:
    with pytest.raises(UnitError):
        parse_pg_quantity(text, base)


# --------------------------------------------------------------------------- booleans
# The core reads booleans with parsers.pgconf.parse_bool (the catalog's check_value uses it);
# it must agree with the server's parse_bool(): prefixes allowed, "o" ambiguous, 1/0 exact.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on", True), ("off", False), ("ON", True), ("Off", False), ("true", True), ("false", False),
        ("t", True), ("f", False), ("tr", True), ("fa", False), ("yes", True), ("no", False), ("y", True), ("n", False),
        ("1", True), ("0", False), ("of", False), ("TRUE", True),
    ],
)
def test_parse_pg_bool_accepts_server_spellings(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected


@pytest.mark.parametrize("text", ["o", "", "2", "01", "10", "onn", "offf", "enable", "truee", " on", "-1", "yesno"])
def test_parse_pg_bool_rejects_what_the_server_rejects(text: str) -> None:
    assert parse_bool(text) is None


# --------------------------------------------------------------------------- bounds in messages


def test_catalog_bounds_are_checked_in_base_units() -> None:
    from pgforge.catalog import load_catalog

    c = load_catalog(17)
    assert c.check_value("shared_buffers", "128kB") is None  # 16 pages, the minimum
    assert "below the minimum" in (c.check_value("shared_buffers", "64kB") or "")
    assert "above the maximum 86400s" in (c.check_value("checkpoint_timeout", "2d") or "")
    assert "below the minimum 64kB" in (c.check_value("work_mem", "1kB") or "")
    assert c.check_value("work_mem", "1mb") is not None  # case matters
    assert c.check_value("jit", "of") is None and c.check_value("jit", "o") is not None
    assert c.check_value("wal_compression", "PGLZ") is None and c.check_value("wal_compression", "gzip") is not None
    assert c.check_value("no_such_setting", "1") is not None
    assert c.check_value("myext.anything", "1") is None  # placeholders are the server's business


def test_catalog_bound_in_8kb_pages_reads_right() -> None:
    from pgforge.catalog import load_catalog

    message = load_catalog(17).check_value("shared_buffers", "16TB") or ""
    assert "10737418238kB" not in message and "maximum" in message
