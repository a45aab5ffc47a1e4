"""What a tuning rule is: one function that recommends a value, and the same rule judging a value.

A rule is a plain function ``f(ctx) -> Recommendation | None`` registered with :func:`rule`. Its
docstring is its documentation (``pgforge explain``); the Recommendation carries the value, a
one-line rationale, the source the rationale rests on, and the inputs that drove it. The audit
calls :meth:`Rule.judge` on an existing value, which asks the very same function for its
recommendation and compares within the rule's tolerance, so no formula is written twice.
How a rule holds its value (:class:`Kind`) and how values are read and written live in the leaf
module gucvalues.py, which every layer imports without importing the rules.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pgforge.gucvalues import Kind, display

if TYPE_CHECKING:
    from pgforge.rules.context import Context


@dataclass(frozen=True)
class Source:
    """Where a rationale comes from, so a reader can check it."""

    title: str
    url: str | None = None

    def __str__(self) -> str:
        return f"{self.title} <{self.url}>" if self.url else self.title


# Sources the rules cite. Measurements point at the bench and the figures in docs/benchmarks.md.
PG_DOCS_RESOURCES = Source("PostgreSQL docs, 20.4 Resource Consumption", "https://www.postgresql.org/docs/current/runtime-config-resource.html")
PG_DOCS_WAL = Source("PostgreSQL docs, 20.5 Write Ahead Log", "https://www.postgresql.org/docs/current/runtime-config-wal.html")
PG_DOCS_WAL_CONFIG = Source("PostgreSQL docs, 28.5 WAL Configuration", "https://www.postgresql.org/docs/current/wal-configuration.html")
PG_DOCS_QUERY = Source("PostgreSQL docs, 20.7 Query Planning", "https://www.postgresql.org/docs/current/runtime-config-query.html")
PG_DOCS_CONNECTIONS = Source("PostgreSQL docs, 20.3 Connections and Authentication", "https://www.postgresql.org/docs/current/runtime-config-connection.html")
PG_DOCS_AUTOVACUUM = Source("PostgreSQL docs, 20.10 Automatic Vacuuming", "https://www.postgresql.org/docs/current/runtime-config-autovacuum.html")
PG_DOCS_LOGGING = Source("PostgreSQL docs, 20.8 Error Reporting and Logging", "https://www.postgresql.org/docs/current/runtime-config-logging.html")
PG_DOCS_KERNEL = Source("PostgreSQL docs, 18.4.5 Linux Huge Pages", "https://www.postgresql.org/docs/current/kernel-resources.html#LINUX-HUGE-PAGES")
PG_DOCS_JIT = Source("PostgreSQL docs, 30.2 When to JIT?", "https://www.postgresql.org/docs/current/jit-decision.html")
PG_DOCS_PARALLEL = Source("PostgreSQL docs, 15.1 How Parallel Query Works", "https://www.postgresql.org/docs/current/how-parallel-query-works.html")
PGTUNE = Source("PGTune formulas (le0pard/pgtune), restated in shared/research/tuning-anchors.md §1")
SEED = Source("pgforge seed guide, postgres-mastery.txt")
MEASURED = Source("measured on this project's bench host, bench/tuning.py; figures in docs/benchmarks.md")


@dataclass(frozen=True)
class Recommendation:
    """A rule's answer for one host: the value and why."""

    name: str
    value: Any
    rationale: str
    source: Source
    inputs: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Judgement:
    """The audit's view of an existing value, from the same rule that recommends it."""

    name: str
    actual: Any
    recommended: Any
    ok: bool
    message: str
    rationale: str


def _close(actual: float, wanted: float, tolerance: float) -> bool:
    if wanted == 0:
        return actual == 0
    return abs(actual - wanted) <= tolerance * abs(wanted)


@dataclass(frozen=True)
class Rule:
    """A registered tuning rule for one GUC."""

    name: str
    kind: Kind
    category: str
    func: Callable[[Context], Recommendation | None]
    tolerance: float = 0.25
    doc: str = ""

    def recommend(self, ctx: Context) -> Recommendation | None:
        return self.func(ctx)

    def judge(self, ctx: Context, actual: Any) -> Judgement | None:
        """Compare an existing value (already in this rule's Python form) with the recommendation.

        Numbers pass within ``tolerance`` (relative); other kinds must match. Returns None when the
        rule makes no recommendation for this host (the audit then has nothing to say).
        """
        rec = ctx.rec(self.name)
        if rec is None:
            return None
        wanted = rec.value
        if self.kind in (Kind.memory, Kind.time, Kind.integer, Kind.real):
            try:
                ok = _close(float(actual), float(wanted), self.tolerance) and math.isfinite(float(actual))
            except (TypeError, ValueError):
                ok = False
        elif self.kind in (Kind.enum, Kind.string):
            ok = str(actual).lower() == str(wanted).lower()
        else:
            ok = bool(actual) == bool(wanted)
        message = (
            f"{self.name} = {display(self.kind, actual)} matches the recommendation"
            if ok
            else f"{self.name} = {display(self.kind, actual)}; pgforge recommends {display(self.kind, wanted)} for this host"
        )
        return Judgement(self.name, actual, wanted, ok, message, rec.rationale)


REGISTRY: dict[str, Rule] = {}


def rule(name: str, kind: Kind, category: str, *, tolerance: float = 0.25):
    """Register ``func`` as the rule for GUC ``name``. The docstring becomes its documentation."""

    def wrap(func: Callable[[Context], Recommendation | None]) -> Callable[[Context], Recommendation | None]:
        if name in REGISTRY:
            raise RuntimeError(f"two rules for {name}")
        REGISTRY[name] = Rule(name, kind, category, func, tolerance, inspect.cleandoc(func.__doc__ or ""))
        return func

    return wrap
