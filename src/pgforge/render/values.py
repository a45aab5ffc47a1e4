"""Rule values (bytes, milliseconds, Python bools) to the text PostgreSQL reads, and back for display."""

from __future__ import annotations

import re
from typing import Any

from pgforge.rules.base import Kind
from pgforge.units import format_bytes_pg, format_ms_pg


def conf_text(kind: Kind, value: Any) -> str:
    """The value as written after ``name =`` in postgresql.conf (strings quoted, units exact)."""
    from pgforge.render.escape import conf_string

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
