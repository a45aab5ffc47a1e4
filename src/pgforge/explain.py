"""``pgforge explain``: a rule's value, reasoning, source and inputs; every rule; the memory budget."""

from __future__ import annotations

from pgforge.budget import BUDGET_PERCENT, Budget
from pgforge.rules import REGISTRY
from pgforge.spec import HostSpec
from pgforge.units import format_bytes_human as h


def _first_line(doc: str) -> str:
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def explain_rule(name: str, spec: HostSpec | None) -> str:
    """Full explanation of one rule; with a spec, also its value for that host."""
    from pgforge.errors import UserError

    rule = REGISTRY.get(name.lower())
    if rule is None:
        close = sorted(n for n in REGISTRY if name.lower()[:4] in n)
        hint = f"; did you mean {', '.join(close[:5])}?" if close else "; `pgforge explain --all` lists them"
        raise UserError(f"pgforge has no rule for {name!r}{hint}", "PARAM")
    lines = [f"{rule.name}  ({rule.category} rule, kind {rule.kind.value})", ""]
    if spec is None:
        lines.append("Give a host (--memory/--cpus/..., --spec or --profile) to see the value for it.")
    else:
        from pgforge.gucvalues import display
        from pgforge.rules.context import Context

        ctx = Context(spec)
        rec = ctx.rec(rule.name)
        guc = ctx.catalog.get(rule.name)
        if rec is None:
            if guc is None and "." not in rule.name:
                lines.append(f"PostgreSQL {spec.pg_version} has no {rule.name}: pgforge does not emit it.")
            else:
                default = display(rule.kind, ctx.default(rule.name)) if guc else "-"
                lines.append(f"Not set for this host: the server default ({default}) applies.")
        else:
            action = "restart" if guc and guc.needs_restart else "reload"
            context = guc.context if guc else "extension"
            lines += [
                f"value:      {rule.name} = {display(rule.kind, rec.value)}",
                f"rationale:  {rec.rationale}",
                f"source:     {rec.source}",
                "inputs:     " + (", ".join(f"{k}={_fmt_input(k, v)}" for k, v in rec.inputs.items()) or "-"),
                f"applies:    on {action} (context {context})",
            ]
            if guc is not None:
                lines.append(f"default:    {display(rule.kind, ctx.default(rule.name))} on PostgreSQL {spec.pg_version}")
            for note in rec.notes:
                lines.append(f"warning:    {note}")
    lines += ["", rule.doc]
    return "\n".join(lines) + "\n"


def _fmt_input(key: str, value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and key in ("memory", "available", "shared_buffers", "work_mem", "wal_disk", "max_wal_size"):
        return h(value)
    return str(value)


def explain_all(spec: HostSpec | None) -> str:
    """Every rule: name, category, value for the host when given, first line of its doc."""
    values: dict[str, str] = {}
    if spec is not None:
        from pgforge.tuning import tune

        values = {s.name: s.display for s in tune(spec).settings}
    from pgforge.rules import CATEGORY_ORDER

    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    width = max(len(n) for n in REGISTRY)
    out = []
    for name, rule in sorted(REGISTRY.items(), key=lambda kv: order.get(kv[1].category, 99)):
        value = values.get(name, "(default)" if spec else "")
        summary = _first_line(rule.doc)
        out.append(f"{name:<{width}}  {rule.category:<11} {value:<14} {summary}" if spec else
                   f"{name:<{width}}  {rule.category:<11} {summary}")
    return "\n".join(out) + "\n"


def budget_chart(b: Budget, width: int = 50) -> str:
    """The worst-case memory budget as horizontal bars, scaled to RAM, with the budget's limit line (BUDGET_PERCENT)."""
    rows = [
        ("shared_buffers", b.shared_buffers, "#"),
        (f"connections ({b.max_connections} x {h(b.work_mem)})", b.connections_total, "="),
        (f"autovacuum ({b.autovacuum_workers} x {h(b.autovacuum_mem_each)})", b.autovacuum_total, "~"),
        ("maintenance_work_mem", b.maintenance_work_mem, "+"),
        ("left for the OS cache", b.os_cache, "."),
    ]
    label_w = max(len(r[0]) for r in rows)
    scale = width / b.ram
    limit_col = int(b.limit * scale)
    lines = [f"Memory budget, worst case, for {h(b.ram)} of RAM (limit {BUDGET_PERCENT} = {h(b.limit)})", ""]
    offset = 0.0
    for label, size, char in rows:
        start = int(round(offset * scale))
        end = int(round((offset + size) * scale))
        bar = " " * start + char * max(1 if size else 0, end - start)
        lines.append(f"{label:<{label_w}}  {h(size):>9}  {size / b.ram:4.0%}  |{bar:<{width}}|")
        if char != ".":
            offset += size
    lines.append(f"{'':<{label_w}}  {'':>9}  {'':>4}   {' ' * limit_col}^ {BUDGET_PERCENT}")
    status = "fits" if b.fits else "OVERCOMMITTED"
    lines.append("")
    lines.append(f"PostgreSQL at worst: {h(b.total)} ({b.total / b.ram:.0%} of RAM), {status}.")
    return "\n".join(lines) + "\n"
