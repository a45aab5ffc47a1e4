"""File text to the values rules work with (bytes, milliseconds, booleans), via the catalog.

The tuning rules hold memory in bytes and time in milliseconds; a file holds ``4GB`` or
``524288`` (8kB pages). Converting here, once, is what lets the audit call ``Rule.judge`` on an
existing value, the other direction of the same rule.
"""

from __future__ import annotations

from typing import Any

from pgforge.catalog import Guc
from pgforge.rules.base import Kind
from pgforge.parsers.values import parse_bool
from pgforge.units import CATALOG_MEMORY_UNITS, UnitError


class BadValue(ValueError):
    """The text is not a valid value for the setting (unit, type)."""


def rule_value(guc: Guc | None, kind: Kind, text: str) -> Any:
    """``text`` as the rule of this kind holds values. Raises BadValue."""
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
        base = guc.to_base(text)
    except UnitError as exc:
        raise BadValue(str(exc)) from None
    if kind is Kind.memory:
        if base < 0:  # -1 means "use another setting" / "disabled": keep it as is
            return int(base)
        return int(base * CATALOG_MEMORY_UNITS[guc.unit or "B"]) if guc.unit else int(base)
    if kind is Kind.time:
        if base < 0:
            return int(base)
        return int(base * guc.unit_ms()) if guc.unit else int(base)
    return int(round(base)) if guc.vartype == "integer" else base


# -- reading effective settings in checks ------------------------------------------------------
# Checks ask "is fsync off?", "how many WAL senders?": the effective value (the winning line, or
# the major's built-in default when no line sets it), read the way the server reads it.


def effective_bool(t, name: str) -> bool | None:
    """The effective Boolean value of ``name`` on target ``t``; None when unknown or invalid."""
    text = t.text(name)
    return None if text is None else parse_bool(text)


def effective_int(t, name: str) -> int | None:
    """The effective integer value of ``name`` in its base unit; None when unknown or invalid."""
    text = t.text(name)
    if text is None:
        return None
    guc = t.catalog.get(name) if t.catalog else None
    try:
        return int(guc.to_base(text)) if guc is not None else int(text.strip())
    except (UnitError, ValueError, OverflowError):
        return None


def effective_enum(t, name: str) -> str | None:
    """The effective value of an enum (or string) setting, lower-cased as the server compares enums."""
    text = t.text(name)
    return None if text is None else text.strip().lower()


def at_value(setting):
    """Where a finding about a setting's value points: the value token on its line."""
    from pgforge.audit.model import Where

    return Where(setting.path, setting.line, getattr(setting, "value_column", 0) or setting.column)
