"""Setting values: their kinds, file text to rule form, rule form to file text, catalog units.

The one home of what a postgresql.conf value *is* in pgforge. A tuning rule holds memory in
bytes, time in milliseconds, Booleans as ``bool``; a file holds ``4GB``, ``524288`` (8kB pages) or
``on``. This module converts in both directions, once, for every layer:

- :class:`Kind`: how a rule holds a value (the rule registry, rules/base.py, declares rules with it);
- :func:`from_base` / :func:`unit_scale`: a number in a setting's catalog unit to rule form, the
  one "catalog unit -> bytes/ms" conversion (rules/context.py for defaults and bounds,
  audit/values.py for values read from files, apply/values.py for defaults shown in a plan);
- :func:`rule_value`: file text to rule form, so the audit can call ``Rule.judge`` on it;
- :func:`conf_text` / :func:`display`: rule form back to the text written after ``name =`` in
  postgresql.conf (tuning.py) and shown to a person (explain.py, rules/base.py, audit checks).

It is a leaf: it imports only other leaves (units.py, parsers/values.py, render/escape.py), never
the rules, the renderers or the audit, so all of them can import it. The per-setting unit data
stay in the catalog (catalog.Guc): functions here take any object with the catalog's ``unit``,
``vartype``, ``boot_val`` and ``to_base`` (:class:`UnitOf`). The server-exact reading of a number is
parsers/values.parse_pg_number, reached through ``Guc.to_base``.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Protocol

from pgforge.parsers.values import parse_bool
from pgforge.render.escape import conf_string
from pgforge.units import CATALOG_MEMORY_UNITS, CATALOG_TIME_UNITS_MS, UnitError, format_bytes_pg, format_ms_pg


class Kind(str, Enum):
    """How a value is held in Python and written in a file."""

    memory = "memory"  # int bytes
    time = "time"  # int milliseconds
    integer = "integer"
    real = "real"
    bool = "bool"
    enum = "enum"
    string = "string"


class UnitOf(Protocol):
    """What this module needs of a setting: catalog.Guc has it (pg_settings' unit and vartype)."""

    unit: str | None
    vartype: str
    boot_val: str

    def to_base(self, text: str) -> float: ...


class BadValue(ValueError):
    """The text is not a valid value for the setting (unit, type)."""


# -- catalog unit -> rule form ------------------------------------------------------------------

def unit_scale(unit: str | None) -> float:
    """What one of ``unit`` (``pg_settings.unit``) is in rule form: bytes for a memory unit
    (``8kB`` -> 8192), milliseconds for a time unit (``s`` -> 1000), 1 for none or another unit."""
    if unit in CATALOG_MEMORY_UNITS:
        return CATALOG_MEMORY_UNITS[unit]
    if unit in CATALOG_TIME_UNITS_MS:
        return CATALOG_TIME_UNITS_MS[unit]
    return 1


def from_base(guc: UnitOf, number: float) -> Any:
    """``number``, in the setting's catalog unit, in rule form: whole bytes for memory, whole
    milliseconds for time (a negative value, -1 = "disabled" / "use another setting", is kept as
    is), a rounded int for other integers, a float for reals."""
    if guc.vartype == "real":
        return float(number) * unit_scale(guc.unit)
    if guc.unit in CATALOG_MEMORY_UNITS or guc.unit in CATALOG_TIME_UNITS_MS:
        return int(number) if number < 0 else int(number * unit_scale(guc.unit))
    return int(round(number))


def boot_value(guc: UnitOf) -> Any:
    """A setting's built-in default (``pg_settings.boot_val``) in rule form."""
    boot_val = guc.boot_val
    if guc.vartype == "bool":
        return boot_val == "on"
    if guc.vartype == "integer":
        return from_base(guc, int(boot_val))
    if guc.vartype == "real":
        return from_base(guc, float(boot_val))
    return boot_val


# -- file text -> rule form ---------------------------------------------------------------------

def rule_value(guc: UnitOf | None, kind: Kind, text: str) -> Any:
    """``text``, as a file or server writes it, in the form a rule of ``kind`` holds. Raises BadValue.

    ``guc`` is the setting's catalog entry (None when the target major's catalog lacks it: a number
    is then read as a plain float)."""
    if kind is Kind.bool:
        value = parse_bool(text)
        if value is None:
            raise BadValue(f"{text!r} is not a Boolean")
        return value
    if kind in (Kind.enum, Kind.string):
        return text
    if guc is None:
        try:
            return float(text)
        except ValueError:
            raise BadValue(f"{text!r} is not a number") from None
    try:
        return from_base(guc, guc.to_base(text))
    except UnitError as exc:
        raise BadValue(str(exc)) from None


# -- rule form -> file text -------------------------------------------------------------------

def conf_text(kind: Kind, value: Any) -> str:
    """The value as written after ``name =`` in postgresql.conf (strings quoted, units exact)."""
    if kind is Kind.string:
        return conf_string(value)
    text = display(kind, value)
    if re.fullmatch(r"[A-Za-z0-9_.+-]+", text):
        return text
    return conf_string(text)  # not a bare number or word: quoted, so it cannot end the line early


def display(kind: Kind, value: Any) -> str:
    """The value as a person reads it, and as ALTER SYSTEM / JSON carry it (no quotes)."""
    if kind is Kind.memory:
        if isinstance(value, (int, float)) and value > 0 and int(value) % 1024 == 0:
            return format_bytes_pg(int(value))
        return str(value)
    if kind is Kind.time:
        if isinstance(value, (int, float)) and value > 0 and float(value).is_integer():
            return format_ms_pg(int(value))
        return str(value)
    if kind is Kind.bool:
        return "on" if value else "off"
    if kind is Kind.real:
        return f"{float(value):g}"
    return str(value)
