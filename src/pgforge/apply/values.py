"""Setting values compared by meaning, not text.

A plan compares *values* against what the server's configuration files say today, and the catalog
normalises them first: ``4GB`` and ``524288`` on an 8kB setting are the same thing, ``on`` and
``true`` too, and a list setting is its elements (:func:`canonical`). So running apply twice
changes nothing the second time. :func:`default_display` gives the compiled-in default in the
form a person writes it, for settings no file sets; its unit arithmetic is gucvalues.boot_value,
the same conversion the rules (rules/context.py) and the audit (gucvalues.rule_value) use.
"""

from __future__ import annotations

from typing import Any

from pgforge.catalog import LIST_SETTINGS, Catalog
from pgforge.gucvalues import boot_value
from pgforge.units import format_bytes_pg


def split_list(text: str) -> list[str]:
    """``'a, "b"'`` -> ``['a', 'b']``: the elements of a list setting as the server splits them
    (parsers/guclist.py); a value the server would refuse is split plainly at commas, so that
    apply still shows it and the server's own check reports it."""
    from pgforge.parsers.guclist import split_list as server_split

    items = server_split(text)
    if items is None:
        return [part.strip().strip('"') for part in text.split(",") if part.strip().strip('"')]
    return items


def canonical(catalog: Catalog, name: str, text: str) -> Any:
    """A form of a setting's value in which equal values compare equal (``4GB`` == ``524288``)."""
    from pgforge.parsers.values import parse_bool as parse_pg_bool
    from pgforge.units import UnitError

    text = text.strip()
    if name in LIST_SETTINGS:
        return tuple(split_list(text))
    guc = catalog.get(name)
    if guc is None:
        return text
    if guc.vartype == "bool":
        parsed = parse_pg_bool(text)
        return parsed if parsed is not None else text
    if guc.vartype == "enum":
        return text.lower()
    if guc.vartype in ("integer", "real"):
        try:
            value = guc.to_base(text)
        except UnitError:
            return text
        return round(value) if guc.vartype == "integer" else round(value, 9)
    return text


def default_display(catalog: Catalog, name: str) -> str | None:
    """The compiled-in default of ``name`` as a person reads it (``128MB`` rather than ``16384``)."""
    guc = catalog.get(name)
    if guc is None:
        return None
    if guc.is_memory and guc.boot_val.lstrip("-").isdigit() and int(guc.boot_val) > 0:
        nbytes = boot_value(guc)
        if nbytes % 1024 == 0:
            return format_bytes_pg(nbytes)
    if guc.unit and guc.boot_val and not guc.is_memory and guc.boot_val.lstrip("-").isdigit():
        return f"{guc.boot_val}{guc.unit}"
    return guc.boot_val
