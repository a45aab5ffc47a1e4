"""Human-readable findings: ``file:line:col: CODE [severity] message``, then a summary."""

from __future__ import annotations


def render(outcome, checks) -> str:
    lines = []
    for f in outcome.findings:
        lines.append(f"{f.location}: {f.code} [{f.severity}] {f.message}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
    counts = {s: sum(1 for f in outcome.findings if f.severity == s) for s in ("error", "warning", "info")}
    summary = (f"{len(outcome.findings)} finding(s) in {outcome.targets} target(s): "
               f"{counts['error']} error, {counts['warning']} warning, {counts['info']} info")
    if outcome.suppressed:
        summary += f"; {outcome.suppressed} suppressed inline"
    if outcome.baselined:
        summary += f"; {outcome.baselined} in the baseline"
    lines.append(summary)
    return "\n".join(lines) + "\n"
