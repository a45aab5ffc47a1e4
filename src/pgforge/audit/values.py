"""Setting values as the audit's checks read them from a target's files.

The effective value of a setting (the winning line, else the major's built-in default), read the
way the server reads it. Converting file text to the form a rule holds (bytes, milliseconds,
Booleans), which lets the audit call ``Rule.judge`` on an existing value, is gucvalues.rule_value,
the one implementation generator, explain and audit share.
"""

from __future__ import annotations

from pgforge.parsers.values import parse_bool
from pgforge.units import UnitError


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
