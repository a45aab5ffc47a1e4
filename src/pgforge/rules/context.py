"""The evaluation context of the rules: one host spec, its major's catalog, memoised answers.

Rules ask each other for values through :meth:`Context.value`, which evaluates on demand and
caches, so a rule states what it depends on simply by asking, and there is no ordering to keep in
sync by hand. A dependency cycle is a programming error and is reported as such.
"""

from __future__ import annotations

from typing import Any

from pgforge.catalog import Catalog, load_catalog
from pgforge.gucvalues import boot_value, unit_scale
from pgforge.rules.base import REGISTRY, Kind, Recommendation, Source
from pgforge.spec import HostSpec
from pgforge.units import KB, clean_bytes

_PENDING = object()


class Context:
    def __init__(self, spec: HostSpec, catalog: Catalog | None = None) -> None:
        self.spec = spec
        self.catalog = catalog or load_catalog(spec.pg_version)
        self._cache: dict[str, Any] = {}

    # -- asking for values -------------------------------------------------------------------
    def rec(self, name: str) -> Recommendation | None:
        """The rule's recommendation for ``name``, or None if it leaves the default or the major lacks it."""
        cached = self._cache.get(name)
        if cached is _PENDING:
            raise RuntimeError(f"rule dependency cycle through {name}")
        if name in self._cache:
            return cached
        rule = REGISTRY.get(name)
        # Dotted names are extension settings: the server accepts them as placeholders on any major.
        if rule is None or ("." not in name and name not in self.catalog):
            self._cache[name] = None
            return None
        self._cache[name] = _PENDING
        try:
            result = rule.func(self)
        except BaseException:
            del self._cache[name]
            raise
        self._cache[name] = result
        return result

    def value(self, name: str) -> Any:
        """The recommended value, else the server's default for this major (in rule form)."""
        rec = self.rec(name)
        if rec is not None:
            return rec.value
        return self.default(name)

    def default(self, name: str) -> Any:
        """The built-in default of ``name`` on the target major, in rule form (bytes, ms, ...)."""
        guc = self.catalog.get(name)
        return None if guc is None else boot_value(guc)

    def has(self, name: str) -> bool:
        return name in self.catalog

    # -- building answers ----------------------------------------------------------------------
    def make(self, name: str, value: Any, rationale: str, source: Source, *, notes: tuple[str, ...] = (),
             **inputs: Any) -> Recommendation:
        """A Recommendation; ``notes`` are warnings the user must see, ``inputs`` what drove the value.

        Numbers are held within the target major's min/max here, once for every rule, so a formula
        that scales with RAM or CPUs cannot emit what the server refuses (shared_buffers on 32TB).
        """
        value, rationale = self._within_bounds(name, value, rationale)
        return Recommendation(name, value, rationale, source, inputs, notes)

    def _within_bounds(self, name: str, value: Any, rationale: str) -> tuple[Any, str]:
        guc = self.catalog.get(name)
        if guc is None or guc.vartype not in ("integer", "real") or isinstance(value, bool):
            return value, rationale
        if not isinstance(value, (int, float)):
            return value, rationale
        scale = unit_scale(guc.unit)
        low = None if guc.min is None else guc.min * scale
        high = None if guc.max is None else guc.max * scale
        if high is not None and value > high:
            capped = clean_bytes(high) if guc.is_memory else type(value)(high) if isinstance(value, int) else high
            return capped, f"{rationale}; capped at PostgreSQL {self.major}'s maximum"
        if low is not None and value < low and value != -1:
            raised = int(low) if isinstance(value, int) else low
            return raised, f"{rationale}; raised to PostgreSQL {self.major}'s minimum"
        return value, rationale

    # -- conveniences used by many rules --------------------------------------------------------
    @property
    def ram(self) -> int:
        return self.spec.memory

    @property
    def cpus(self) -> int:
        return self.spec.cpus

    @property
    def workload(self) -> str:
        return self.spec.workload.value

    @property
    def storage(self) -> str:
        return self.spec.storage.value

    @property
    def major(self) -> int:
        return self.spec.pg_version

    def kind_of(self, name: str) -> Kind:
        return REGISTRY[name].kind


def kb_floor(nbytes: float) -> int:
    """Bytes rounded down to whole kB, the finest unit a memory GUC takes."""
    return int(nbytes) // KB * KB
