"""Setting values as the server reads them, kept apart from the lexers so that the generator
can validate Booleans without paying for the parsers' regular expressions at start-up."""

from __future__ import annotations

_BOOL_WORDS = (("true", True), ("false", False), ("yes", True), ("no", False))


def parse_bool(value: str) -> bool | None:
    """A boolean setting's value as the server reads it, or None if it is not one.

    Accepts on/off/true/false/yes/no/1/0 in any case, and any unambiguous prefix
    (``t``, ``fa``, ``of``); ``o`` alone is ambiguous.  No surrounding spaces.
    """
    if not value:
        return None
    low = value.lower()
    first = low[0]
    if first == "o":
        if len(low) >= 2:
            if "on".startswith(low):
                return True
            if "off".startswith(low):
                return False
        return None
    if value in ("1", "0"):
        return value == "1"
    for word, result in _BOOL_WORDS:
        if first == word[0] and word.startswith(low):
            return result
    return None


# -- numbers, as guc.c's parse_int / parse_real read them ------------------------------------------
# The server reads an integer setting with strtol(value, &end, 0) (a leading 0 is octal, 0x hex) and
# re-reads it with strtod when strtol stops at '.', 'e' or 'E' or overflows; a real setting with
# strtod alone. Blanks may precede the number and surround the unit; a unit is at most three
# characters, case-sensitive, taken from the table of the setting's base unit, and a fractional value
# with a unit is rounded to a whole number of the next smaller unit (30.1GB -> whole MB). Integers are
# then rounded half to even (rint) and must fit a C int. These functions do exactly that, with the C
# library's rules for strtol and strtod (glibc, C locale) written out, so that every consumer of a
# postgresql.conf number (catalog.Guc.to_base, hence the audit, apply and the rules) agrees with the
# server. tests/test_server_values.py holds them to a real server's verdict.

import math as _math
import re as _re
from fractions import Fraction as _Fraction

_C_SPACE = " \t\n\v\f\r"
_STRTOL_RE = _re.compile(r"[ \t\n\v\f\r]*([+-]?)(?:0([xX])([0-9A-Fa-f]+)|(0[0-7]*)|([1-9][0-9]*))")
_STRTOD_RE = _re.compile(
    r"[ \t\n\v\f\r]*[+-]?(?:"
    r"(?P<hex>0[xX](?:[0-9A-Fa-f]+\.?[0-9A-Fa-f]*|\.[0-9A-Fa-f]+)(?:[pP][+-]?[0-9]+)?)"
    r"|(?P<dec>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<inf>[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"
    r"|(?P<nan>[nN][aA][nN](?:\([0-9A-Za-z_]*\))?))"
)
_LONG_MAX = 2**63 - 1
_DBL_MIN = 2.2250738585072014e-308  # smallest normal double: below it glibc's strtod reports an inexact result
_INT_MAX = 2**31 - 1

# guc.c's unit tables: (unit, multiplier to the base unit), largest first, per base unit as
# pg_settings.unit spells it. The order matters: a fractional value is rounded to the next entry.
_MEMORY_ORDER = ("TB", "GB", "MB", "kB", "B")
_MEMORY_BYTES = {"TB": 1024.0**4, "GB": 1024.0**3, "MB": 1024.0**2, "kB": 1024.0, "B": 1.0}
_BASE_BYTES = {"B": 1.0, "kB": 1024.0, "MB": 1024.0**2, "8kB": 8192.0, "16kB": 16384.0, "32kB": 32768.0}
_TIME_ORDER = ("d", "h", "min", "s", "ms", "us")
_TIME_MS = {"d": 1000.0 * 60 * 60 * 24, "h": 1000.0 * 60 * 60, "min": 1000.0 * 60, "s": 1000.0, "ms": 1.0,
            "us": 1.0 / 1000}
_BASE_MS = {"ms": 1.0, "s": 1000.0, "min": 60_000.0}
_MAX_UNIT_LEN = 3


class PgNumberError(ValueError):
    """Text the server would not read as a number of this setting; the message says why."""


def _conversion(base_unit: str) -> list[tuple[str, float]] | None:
    """guc.c's conversion rows for settings whose pg_settings.unit is ``base_unit``."""
    if base_unit in _BASE_BYTES:
        # The server divides its own way per base (e.g. 1.0 / BLCKSZ for B on 8kB pages); dividing
        # bytes by the base's bytes gives the same doubles, since all of them are powers of two.
        return [(u, _MEMORY_BYTES[u] / _BASE_BYTES[base_unit]) for u in _MEMORY_ORDER]
    if base_unit in _BASE_MS:
        if base_unit == "ms":
            return [(u, _TIME_MS[u]) for u in _TIME_ORDER]
        # guc.c writes these rows as exact fractions of seconds or minutes (1.0 / 1000 ...).
        table = {"s": {"d": 60.0 * 60 * 24, "h": 60.0 * 60, "min": 60.0, "s": 1.0, "ms": 1.0 / 1000,
                       "us": 1.0 / (1000 * 1000)},
                 "min": {"d": 60.0 * 24, "h": 60.0, "min": 1.0, "s": 1.0 / 60, "ms": 1.0 / (1000 * 60),
                         "us": 1.0 / (1000 * 1000 * 60)}}[base_unit]
        return [(u, table[u]) for u in _TIME_ORDER]
    return None


def c_strtol(text: str) -> tuple[int, int, bool]:
    """glibc ``strtol(text, &end, 0)``: (value, end offset, overflowed). End 0: nothing read."""
    m = _STRTOL_RE.match(text)
    if m is None:
        return 0, 0, False
    sign, x, hexdigits, octal, decimal = m.groups()
    if x:
        digits, base = hexdigits.lstrip("0"), 16
        too_long = len(digits) > 16
    elif octal is not None:
        digits, base = octal.lstrip("0"), 8
        too_long = len(digits) > 22
    else:
        digits, base = decimal, 10
        too_long = len(digits) > 19
    if too_long:
        return (-_LONG_MAX - 1 if sign == "-" else _LONG_MAX), m.end(), True
    value = int(digits or "0", base)
    value = -value if sign == "-" else value
    if not -_LONG_MAX - 1 <= value <= _LONG_MAX:
        return (-_LONG_MAX - 1 if sign == "-" else _LONG_MAX), m.end(), True
    return value, m.end(), False


def _exact(m: "_re.Match[str]") -> _Fraction | None:
    """The exact rational a decimal or hex literal denotes (None when too long to bother: inexact)."""
    body = m.group(0).lstrip(_C_SPACE)
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    mantissa = _re.split("[eEpP]", body[2:] if m.group("hex") else body)[0]
    if not mantissa.strip("0."):
        return _Fraction(0)  # zero is exact whatever the exponent
    if m.group("dec"):
        mant, _, exp = body.lower().partition("e")
        if abs(int(exp or 0)) > 2000 or len(mant) > 1000:
            return None
        return sign * _Fraction(mant) * _Fraction(10) ** int(exp or 0)
    mant, _, exp = body[2:].lower().partition("p")
    whole, _, frac = mant.partition(".")
    e = int(exp or 0) - 4 * len(frac)
    if abs(e) > 8000 or len(mant) > 1000:
        return None
    return sign * _Fraction(int(whole + frac or "0", 16)) * _Fraction(2) ** e


def c_strtod(text: str) -> tuple[float, int, bool]:
    """glibc ``strtod(text, &end)`` in the C locale: (value, end offset, ERANGE).

    Hex floats, ``inf``/``infinity`` and ``nan(...)`` are read as C reads them; overflow to infinity
    and an inexact result below the smallest normal double set ERANGE, as glibc does.
    """
    m = _STRTOD_RE.match(text)
    if m is None:
        return 0.0, 0, False
    body = m.group(0).lstrip(_C_SPACE)
    negative = body.startswith("-")
    if m.group("inf"):
        return (-_math.inf if negative else _math.inf), m.end(), False
    if m.group("nan"):
        return _math.nan, m.end(), False
    if m.group("hex"):
        literal = body.lstrip("+-")
        mant, _, exp = literal[2:].partition("p") if "p" in literal else literal[2:].partition("P")
        try:
            value = float.fromhex("0x" + mant + "p" + str(max(min(int(exp or 0), 100_000), -100_000)))
        except OverflowError:
            return (-_math.inf if negative else _math.inf), m.end(), True
        value = -value if negative else value
    else:
        value = float(body)
    if _math.isinf(value):
        return value, m.end(), True
    if abs(value) < _DBL_MIN:
        exact = _exact(m)
        if exact is None or exact != _Fraction(value):
            return value, m.end(), True
    return value, m.end(), False


def _with_unit(value: float, rest: str, base_unit: str | None, text: str) -> float:
    """guc.c's convert_to_base_unit on what follows the number (blanks already skipped)."""
    octal = rest[0] in "89" and _STRTOL_RE.match(text) is not None and text.lstrip(_C_SPACE + "+-")[:1] == "0"
    if octal:
        raise PgNumberError(f"invalid value {text!r}: a leading 0 makes the number octal, where 8 and 9 are not digits")
    if base_unit is None:
        raise PgNumberError(f"invalid value {text!r}: this setting takes a plain number, without a unit")
    table = _conversion(base_unit)
    if table is None:
        raise PgNumberError(f"invalid value {text!r}: unknown base unit {base_unit!r}")
    memory = base_unit in _BASE_BYTES
    valid = "B, kB, MB, GB, TB" if memory else "us, ms, s, min, h, d"
    unit = rest
    end = 0
    while end < len(unit) and unit[end] not in _C_SPACE and end < _MAX_UNIT_LEN:
        end += 1
    word, tail = unit[:end], unit[end:]
    if tail.strip(_C_SPACE) or not word:
        raise PgNumberError(f"invalid {'memory' if memory else 'time'} unit in {text!r}: valid units are {valid}")
    for i, (name, multiplier) in enumerate(table):
        if name == word:
            converted = value * multiplier
            if i + 1 < len(table):
                smaller = table[i + 1][1]
                converted = round(converted / smaller) * smaller if _math.isfinite(converted) else converted
            return converted
    raise PgNumberError(f"invalid {'memory' if memory else 'time'} unit {word!r} in {text!r}: valid units are {valid}")


def parse_pg_number(text: str, vartype: str, base_unit: str | None) -> float:
    """A postgresql.conf integer or real value in the setting's base unit, read exactly as the server reads it.

    ``vartype`` is ``integer`` or ``real`` (pg_settings.vartype), ``base_unit`` pg_settings.unit.
    ``0600`` is 384 on an integer setting (octal) and 600 on a real one; ``0x1F`` is 31; ``1e3`` is 1000;
    ``.5`` is 0 on an integer, `` .5`` is refused there (strtol's quirk); ``inf`` passes the reading
    of a real (its bounds refuse it), ``nan`` never does. Integers come back rounded half to even.
    Raises PgNumberError with the reason.
    """
    if vartype == "integer":
        ival, end, overflow = c_strtol(text)
        value = float(ival)
        if overflow or text[end:end + 1] in (".", "e", "E") and end < len(text):
            value, end, overflow = c_strtod(text)
    else:
        value, end, overflow = c_strtod(text)
    if end == 0 or overflow:
        raise PgNumberError(f"invalid numeric value {text!r}" + (": out of range" if overflow and end else ""))
    if _math.isnan(value):
        raise PgNumberError(f"invalid numeric value {text!r}")
    rest = text[end:].lstrip(_C_SPACE)
    if rest:
        value = _with_unit(value, rest, base_unit, text)
    if vartype == "integer":
        if _math.isinf(value):
            raise PgNumberError(f"{text!r} exceeds the integer range")
        rounded = round(value)
        if not -_INT_MAX - 1 <= rounded <= _INT_MAX:
            raise PgNumberError(f"{text!r} exceeds the integer range")
        return float(rounded)
    return value
