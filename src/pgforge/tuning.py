"""Run every rule for a spec and check the result against the target major's catalog.

This is the pure core between the spec and the templates: no I/O besides reading the packaged
catalog. Everything emitted is known to the target major, inside its bounds, and uses only enum
values every build accepts unless the spec says the target build has the optional feature.

Besides the settings, a :class:`Tuning` carries the facts the rules computed that other files need:
the memory budget (budget.py) and the PgBouncer pool plan (``pools``, computed once by
rules/connections.py ``pool_sizing``), which the bundle's file families (bundle/) write instead of
computing again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgforge.budget import Budget, budget_for
from pgforge.catalog import Catalog, Guc
from pgforge.gucvalues import conf_text, display
from pgforge.pooling import PoolSizing
from pgforge.rules import CATEGORY_ORDER, REGISTRY, Kind
from pgforge.rules.base import Recommendation
from pgforge.rules.connections import pool_sizing
from pgforge.rules.context import Context
from pgforge.rules.extensions import EXTENSION_CONTEXTS
from pgforge.spec import HostSpec


@dataclass(frozen=True)
class Setting:
    """One tuned parameter, ready for any output format."""

    name: str
    value: Any  # rule form: bytes, ms, bool, number, str
    kind: Kind
    category: str
    rationale: str
    source: str
    inputs: dict[str, Any]
    context: str  # pg_settings.context; for extension settings, the context the extension declares
    unit: str | None  # pg_settings.unit

    @property
    def text(self) -> str:
        """The value as written in postgresql.conf."""
        return conf_text(self.kind, self.value)

    @property
    def display(self) -> str:
        return display(self.kind, self.value)

    @property
    def apply_action(self) -> str:
        """``restart`` for postmaster-context settings, else ``reload``."""
        return "restart" if self.context == "postmaster" else "reload"


@dataclass
class Tuning:
    spec: HostSpec
    catalog: Catalog
    settings: list[Setting]
    budget: Budget
    warnings: list[str] = field(default_factory=list)
    #: The PgBouncer pools max_connections was sized from (None without PgBouncer): the one plan
    #: pgbouncer.ini, max_connections and ``explain`` share.
    pools: PoolSizing | None = None

    def get(self, name: str) -> Setting | None:
        return next((s for s in self.settings if s.name == name), None)

    def as_dict(self) -> dict[str, str]:
        return {s.name: s.display for s in self.settings}


class CatalogViolation(AssertionError):
    """A rule produced something the target major would reject: a bug in pgforge, not user input."""


def _check(rec: Recommendation, kind: Kind, guc: Guc | None, catalog: Catalog, spec: HostSpec) -> None:
    if guc is None:
        return
    text = display(kind, rec.value)
    problem = catalog.check_value(rec.name, text)
    if problem:
        raise CatalogViolation(f"rule {rec.name} produced {text!r} for PostgreSQL {catalog.major}: {problem}")
    if guc.vartype == "enum":
        optional = set(catalog.build_dependent.get(rec.name, ()))
        if text in optional and not getattr(spec.pg_build, _FEATURE.get(text, text), False):
            raise CatalogViolation(f"rule {rec.name} chose build-dependent {text!r} without pg_build saying the target has it")


_FEATURE = {"lz4": "lz4", "zstd": "zstd", "io_uring": "io_uring"}


def tune(spec: HostSpec, catalog: Catalog | None = None) -> Tuning:
    """All recommendations for ``spec``, ordered by category, validated against the catalog."""
    ctx = Context(spec, catalog)
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    settings: list[Setting] = []
    warnings: list[str] = []
    # Category order first, then the order rules are defined in their module (most important first).
    for name, rule in sorted(REGISTRY.items(), key=lambda kv: order.get(kv[1].category, 99)):
        rec = ctx.rec(name)
        if rec is None:
            continue
        guc = ctx.catalog.get(name)
        _check(rec, rule.kind, guc, ctx.catalog, spec)
        warnings.extend(rec.notes)
        settings.append(Setting(
            name=name, value=rec.value, kind=rule.kind, category=rule.category, rationale=rec.rationale,
            source=str(rec.source), inputs=rec.inputs, context=guc.context if guc else EXTENSION_CONTEXTS.get(name, "sighup"),
            unit=guc.unit if guc else None))
    budget = budget_for(ctx)
    if not budget.fits:  # pragma: no cover - guarded by the max_connections rule; a bug if reached
        raise CatalogViolation(f"memory budget overcommitted: {budget.total} > {budget.limit}")
    return Tuning(spec, ctx.catalog, settings, budget, warnings, pool_sizing(ctx))
