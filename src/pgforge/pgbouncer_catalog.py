"""PgBouncer's settings as one real binary accepts them: the catalogue and its value checker.

Built by ``scripts/build_pgbouncer_catalog.py`` from the real ``pgbouncer`` (``SHOW CONFIG`` for
keys and defaults, ``SET`` on the admin console for what each key accepts, and a start of the
binary with each value for the keys that cannot change online) and shipped as
``data/pgbouncer/<major.minor>.json``. The audit check PGF005 (audit/checks/validity.py) judges
pgbouncer.ini values with :meth:`BouncerCatalog.check_value`; the numbers are read with the same
C-library readers as postgresql.conf's (parsers/values.py), since PgBouncer reads ints with
strtol base 0 and times (bare seconds in 1.18) with strtod.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pgforge.parsers.values import c_strtod, c_strtol

_DIR = Path(__file__).resolve().parent / "data" / "pgbouncer"
DEFAULT_VERSION = "1.18"


@dataclass(frozen=True)
class BouncerCatalog:
    version: str
    version_output: str
    settings: dict[str, dict]

    def __contains__(self, key: str) -> bool:
        return key in self.settings

    def check_value(self, key: str, text: str) -> str | None:
        """Why PgBouncer of this version refuses ``text`` for ``key`` (or stops working with it); None if fine."""
        entry = self.settings.get(key)
        if entry is None:
            return None
        if text in entry.get("disrupts_on", ()):
            return f"PgBouncer {self.version} accepts {text!r} but stops answering or breaks sessions with it"
        kind = entry.get("type")
        if kind == "enum":
            values = entry.get("values", [])
            return None if text.lower() in values else f"invalid value; PgBouncer {self.version} accepts {', '.join(values)}"
        if kind == "int":
            value, end, overflow = c_strtol(text)
            if end == 0 or end != len(text):
                return "not an integer (PgBouncer reads it with strtol: decimal, 0x hex or 0 octal, nothing after)"
            wraps = entry.get("reads_2147483648_as") != "2147483648"
            if overflow or wraps and not -2**31 <= value <= 2**31 - 1:
                return f"{text} does not fit PgBouncer's C int (-2147483648..2147483647): it wraps around"
            low, high = entry.get("min", -2**31), entry.get("max", 2**31 - 1)
            if not low <= value <= high:  # listen_port: a C int that PgBouncer binds as a 16-bit port
                return (f"{text} is outside {low}..{high}; PgBouncer {self.version} reads it but does not listen "
                        "on that port")
            return None
        if kind == "time":
            value, end, overflow = c_strtod(text)
            if end == 0 or end != len(text) or overflow:
                return (f"not a time PgBouncer {self.version} reads: bare seconds such as 30 or 0.5, "
                        "without a unit")
            if not math.isfinite(value):
                return f"{text!r} is not a finite number of seconds"
            if value < 0:
                return f"{text} is negative; PgBouncer {self.version} refuses negative times"
            return None
        return None


def available_versions() -> list[str]:
    return sorted(p.stem for p in _DIR.glob("*.json"))


@cache
def load_bouncer_catalog(version: str = DEFAULT_VERSION) -> BouncerCatalog:
    """The catalogue of PgBouncer ``version`` (``major.minor``); FileNotFoundError names the ones shipped."""
    path = _DIR / f"{version}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no PgBouncer catalogue for {version} (shipped: {', '.join(available_versions())})") from None
    return BouncerCatalog(".".join(str(raw["pgbouncer_version"]).split(".")[:2]), raw.get("version_output", ""),
                          raw["settings"])
