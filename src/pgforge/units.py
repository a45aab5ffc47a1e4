"""Byte and time quantities as PostgreSQL and humans write them.

PostgreSQL memory units are binary (kB = 1024 B) and case-sensitive (``1mb`` is rejected by the
server); users, on the other hand, write ``16GB``, ``16GiB``, ``7.5GB`` or plain bytes in a spec.
This module parses the lenient human form for specs and formats the strict server form for
generated files, so neither direction is written twice.
"""

from __future__ import annotations

import math
import re

KB = 1024
MB = 1024 * KB
GB = 1024 * MB
TB = 1024 * GB

# Human input: units are case-insensitive, "i" optional (16GB == 16GiB == 16 gib).
_HUMAN_UNITS = {
    "": 1, "b": 1,
    "k": KB, "kb": KB, "kib": KB,
    "m": MB, "mb": MB, "mib": MB,
    "g": GB, "gb": GB, "gib": GB,
    "t": TB, "tb": TB, "tib": TB,
}
_HUMAN_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]*)\s*$")

# Units that appear in pg_settings.unit for memory GUCs, in bytes.
CATALOG_MEMORY_UNITS = {"B": 1, "kB": KB, "8kB": 8 * KB, "16kB": 16 * KB, "32kB": 32 * KB, "MB": MB}
CATALOG_TIME_UNITS_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000}


class UnitError(ValueError):
    """A quantity that cannot be read; the message says what was expected."""


def parse_memory(value: object) -> int:
    """Parse a human memory size into bytes: ``16GB``, ``16GiB``, ``512MB``, ``7.5GB``, ``1073741824``.

    Units are binary, as PostgreSQL and every tuner read them (a "16GB" VM has 16 GiB).
    """
    if isinstance(value, bool):
        raise UnitError(f"expected a memory size such as 16GB, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise UnitError(f"memory must be positive, got {_shown(value)}")
        if value > MAX_MEMORY_BYTES:
            raise UnitError(f"memory {_shown(value)} is too large: at most 1 EiB")
        return value
    if isinstance(value, float):
        if math.isnan(value) or value < 1:
            raise UnitError(f"memory must be at least one byte, got {value}")
        if value > MAX_MEMORY_BYTES:  # inf too
            raise UnitError(f"memory {value:g} is too large: at most 1 EiB")
        return int(value)
    if not isinstance(value, str):
        raise UnitError(f"expected a memory size such as 16GB, got {type(value).__name__}")
    if len(value) > 100:
        raise UnitError(f"memory size {_shown(value)} is too long: write a number and a unit, e.g. 16GB")
    m = _HUMAN_RE.match(value)
    if not m:
        raise UnitError(f"cannot read memory size {_shown(value)}: use a number with an optional unit, e.g. 16GB,"
                        " 512MB, 7.5GiB")
    number, unit = m.group(1), m.group(2).lower()
    if unit not in _HUMAN_UNITS:
        raise UnitError(f"unknown memory unit {m.group(2)!r} in {value!r}: use B, kB, MB, GB or TB")
    # float() of 400 digits is inf, and int(inf) raised OverflowError: bound the size first.
    size = float(number) * _HUMAN_UNITS[unit]
    if not math.isfinite(size) or size > MAX_MEMORY_BYTES:
        raise UnitError(f"memory {_shown(value)} is too large: at most 1 EiB")
    if size < 1:
        raise UnitError(f"memory must be positive, got {value!r}")
    return int(size)


#: Far above any machine (the spec's own limit is 64 TB), low enough that every size is an exact
#: float and an int64: a bound for parsing, not a judgement of the value.
MAX_MEMORY_BYTES = 1024**6


def _shown(value: object) -> str:
    """A value for a message, cut short: an error must stay one readable line."""
    text = repr(value) if not isinstance(value, int) else (str(value) if value.bit_length() < 200 else "(a number of"
                                                                  f" about {int(value.bit_length() * 0.30103)} digits)")
    return text if len(text) <= 40 else text[:37] + "..."


def format_bytes_pg(nbytes: int) -> str:
    """Format bytes for postgresql.conf in the largest unit that is exact (``4GB``, ``1536MB``, ``7864kB``).

    A lossless unit means ``SHOW`` returns what the file says and a reader need not do arithmetic.
    """
    if nbytes % KB:
        raise ValueError(f"{nbytes} bytes is not a whole number of kB")
    for unit, size in (("TB", TB), ("GB", GB), ("MB", MB)):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size}{unit}"
    return f"{nbytes // KB}kB"


def format_bytes_human(nbytes: float) -> str:
    """Short human form for messages: ``2.0 GiB``, ``512 MiB``."""
    for unit, size in (("TiB", TB), ("GiB", GB), ("MiB", MB), ("KiB", KB)):
        if abs(nbytes) >= size:
            value = nbytes / size
            return f"{value:.1f} {unit}" if value < 100 and value != int(value) else f"{value:.0f} {unit}"
    return f"{nbytes:.0f} B"


def format_ms_pg(ms: int) -> str:
    """Format milliseconds for postgresql.conf in the largest exact unit (``15min``, ``10s``, ``250ms``)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def round_down_to(nbytes: int, step: int) -> int:
    """Largest multiple of ``step`` not above ``nbytes``."""
    return (nbytes // step) * step


def clean_bytes(nbytes: float, *, minimum: int = KB) -> int:
    """Round a computed size down to a "clean" value that prints in a tidy unit.

    Values come out as a DBA would write them: multiples of 1 GiB from 8 GiB, of 256 MiB from
    1 GiB, of 16 MiB from 64 MiB, of 1 MiB from 1 MiB, of 64 kB below. Rounding is always down,
    so a value that fits a budget still fits after rounding.
    """
    n = int(nbytes)
    if n >= 8 * GB:
        step = GB
    elif n >= GB:
        step = 256 * MB
    elif n >= 64 * MB:
        step = 16 * MB
    elif n >= MB:
        step = MB
    else:
        step = 64 * KB
    return max(minimum, round_down_to(n, step))


def parse_pg_quantity(text: str, base_unit: str | None, vartype: str = "real") -> float:
    """Read a postgresql.conf integer/real value into the GUC's base unit, as the server would.

    ``base_unit`` is ``pg_settings.unit`` (``8kB``, ``kB``, ``MB``, ``ms``, ``s``, ``min``, or None) and
    ``vartype`` ``pg_settings.vartype``: an ``integer`` is read with strtol base 0 (``0600`` is octal
    384, ``0x1F`` is 31), a ``real`` with strtod. A bare number is already in the base unit. Raises
    UnitError for what the server rejects, such as ``1mb`` (case matters) or a memory unit on a time
    setting. The reading itself is parsers.values.parse_pg_number, the one copy of guc.c's rules.
    """
    from pgforge.parsers.values import PgNumberError, parse_pg_number

    try:
        return parse_pg_number(text, vartype, base_unit)
    except PgNumberError as exc:
        raise UnitError(str(exc)) from None
