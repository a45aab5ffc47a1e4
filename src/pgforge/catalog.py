"""The per-major GUC catalog: what each PostgreSQL major knows, its units, bounds and contexts.

Built from ``pg_settings`` of a throwaway cluster of each major by ``scripts/build_catalog.py``
and shipped as package data. The generator consults it so that nothing it emits is unknown to the
target major or outside its min/max, and the audit uses it to judge values in existing files.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pgforge.resources import catalog_dir
from pgforge.parsers.values import parse_bool
from pgforge.units import CATALOG_MEMORY_UNITS, CATALOG_TIME_UNITS_MS, UnitError, parse_pg_quantity

# Settings the server parses as lists (GUC_LIST_INPUT): ALTER SYSTEM needs one literal per element,
# and two values compare element by element.
LIST_SETTINGS = frozenset({"shared_preload_libraries", "session_preload_libraries", "local_preload_libraries",
                           "listen_addresses", "unix_socket_directories", "search_path", "temp_tablespaces"})

# Contexts, from the server's point of view: what it takes for a new value to apply.
RESTART_CONTEXTS = {"postmaster"}
RELOAD_CONTEXTS = {"sighup", "superuser-backend", "backend", "superuser", "user"}


@dataclass(frozen=True, slots=True)
class Guc:
    name: str
    vartype: str  # bool | integer | real | string | enum
    unit: str | None
    context: str
    category: str
    boot_val: str
    min: float | None
    max: float | None
    enumvals: tuple[str, ...] | None
    short_desc: str

    @property
    def needs_restart(self) -> bool:
        return self.context in RESTART_CONTEXTS

    @property
    def apply_action(self) -> str:
        """What a changed value needs: ``restart``, ``reload``, or ``none`` (read-only/internal)."""
        if self.context in RESTART_CONTEXTS:
            return "restart"
        if self.context in RELOAD_CONTEXTS:
            return "reload"
        return "none"

    @property
    def is_memory(self) -> bool:
        return self.unit in CATALOG_MEMORY_UNITS

    @property
    def is_time(self) -> bool:
        return self.unit in CATALOG_TIME_UNITS_MS

    def to_base(self, text: str) -> float:
        """A postgresql.conf numeric value in this GUC's base unit (raises UnitError).

        From there to the form the rules hold (bytes, milliseconds) is gucvalues.from_base."""
        return parse_pg_quantity(text, self.unit, self.vartype)


@dataclass(frozen=True)
class Catalog:
    major: int
    server_version: str
    build: str
    settings: dict[str, Guc]
    build_dependent: dict[str, tuple[str, ...]]

    def get(self, name: str) -> Guc | None:
        return self.settings.get(name.lower())

    def __contains__(self, name: str) -> bool:
        return name.lower() in self.settings

    def portable_enumvals(self, name: str) -> tuple[str, ...]:
        """Enum values every build of this major accepts (optional build features removed)."""
        guc = self.settings[name]
        optional = set(self.build_dependent.get(name, ()))
        return tuple(v for v in guc.enumvals or () if v not in optional)

    def check_value(self, name: str, text: str) -> str | None:
        """Why ``text`` is not a valid value for ``name`` on this major, or None if it is.

        Mirrors the server's checks: unit spelling, integer-ness, bounds, booleans, enum members.
        """
        guc = self.get(name)
        if guc is None:
            return None if "." in name else f"unknown parameter for PostgreSQL {self.major}"
        if guc.vartype == "bool":
            return None if parse_bool(text) is not None else "requires a Boolean value (on/off)"
        if guc.vartype == "enum":
            # The server matches enum names case-insensitively (TLSv1.2 == tlsv1.2). Values of optional
            # build features (io_uring, lz4) are valid for the major even where this catalog's build
            # lacks them; whether the target has them is the pg_build question, asked by the generator.
            allowed = tuple(guc.enumvals or ()) + tuple(v for v in self.build_dependent.get(name.lower(), ())
                                                        if v not in (guc.enumvals or ()))
            return None if text.lower() in {a.lower() for a in allowed} else f"invalid value; allowed: {', '.join(allowed)}"
        if guc.vartype in ("integer", "real"):
            try:
                value = guc.to_base(text)
            except UnitError as exc:
                if "integer range" in str(exc) and guc.max is not None and guc.min is not None:  # name the bound
                    low = text.lstrip(" \t\n\v\f\r").startswith("-")
                    return f"{exc}: {'below the minimum' if low else 'above the maximum'} " \
                           f"{_fmt_bound(guc, guc.min if low else guc.max)}"
                return str(exc)
            if guc.vartype == "integer":
                value = float(round(value))
            if not math.isfinite(value):
                return "not a finite number"
            if guc.min is not None and value < guc.min:
                return f"{text} is below the minimum {_fmt_bound(guc, guc.min)}"
            if guc.max is not None and value > guc.max:
                return f"{text} is above the maximum {_fmt_bound(guc, guc.max)}"
        return None


def _fmt_bound(guc: Guc, bound: float) -> str:
    number = int(bound) if float(bound).is_integer() else bound
    if guc.is_memory and guc.unit not in ("B", "kB", "MB"):
        from pgforge.gucvalues import unit_scale
        from pgforge.units import format_bytes_human

        return f"{number} x {guc.unit} ({format_bytes_human(number * unit_scale(guc.unit))})"
    return f"{number}{guc.unit}" if guc.unit else str(number)


def _to_guc(name: str, raw: dict) -> Guc:
    return Guc(
        name=name,
        vartype=raw["vartype"],
        unit=raw.get("unit") or None,
        context=raw["context"],
        category=raw.get("category", ""),
        boot_val=str(raw.get("boot_val") or ""),
        min=raw.get("min"),
        max=raw.get("max"),
        enumvals=tuple(raw["enumvals"]) if raw.get("enumvals") else None,
        short_desc=raw.get("short_desc", ""),
    )


def _dir() -> Path:
    override = os.environ.get("PGFORGE_CATALOG_DIR")
    return Path(override) if override else catalog_dir()


@cache
def load_catalog(major: int) -> Catalog:
    """The pg_settings catalog of ``major``; a UserError (exit 2) for a major without one (``--pg-version 99``)."""
    from pgforge.errors import UserError

    ok = isinstance(major, int) and not isinstance(major, bool) and 0 < major < 1000
    path = _dir() / f"{major if ok else 0}.json"
    if not ok or not path.is_file():
        known = sorted(int(p.stem) for p in _dir().glob("*.json") if p.stem.isdigit())
        majors = ", ".join(map(str, known))
        shown = major if ok or (isinstance(major, int) and abs(major) < 10**12) else "of that number"
        raise UserError(f"PostgreSQL {shown} is not supported: pgforge has the settings of {majors}; give --pg-version"
                        " with one of them", "--pg-version")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no GUC catalog for PostgreSQL {major} at {path}; run scripts/build_catalog.py") from None
    settings = {name.lower(): _to_guc(name.lower(), item) for name, item in raw["settings"].items()}
    dependent = {k: tuple(v) for k, v in (raw.get("build_dependent_enumvals") or {}).items()}
    return Catalog(int(raw["major"]), str(raw.get("server_version", "")), str(raw.get("build", "")), settings, dependent)
