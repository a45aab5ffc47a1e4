"""Drift checks: the files against what ``pgforge generate`` would write for a given spec.

PGF5xx. Run with ``--against SPEC``, ``--profile NAME`` or ``--auto``. Every tuned setting is
judged by its own rule, within that rule's tolerance, and a drifted one says what pgforge
recommends and why.
"""

from __future__ import annotations

from typing import Iterable

from pgforge.audit.checks.performance import judgements
from pgforge.audit.model import Hit, check
from pgforge.audit.target import Target


@check("PGF501", "drift-from-spec", "warning", "drift")
def drift_from_spec(t: Target) -> Iterable[Hit]:
    """A setting differs from what pgforge generates for the desired spec, beyond tolerance.

    ## What it does
    With ``--against host.yaml`` (or ``--profile``/``--auto``), computes what ``pgforge
    generate`` would write for that spec and compares each tuned setting with the files, using
    each rule's own tolerance (25% for most memory settings, exact for enums). Settings that are
    absent are reported too: the server default applies where pgforge would set a value.

    ## Why is this bad?
    Hand edits and old templates drift from the reviewed configuration; drift found in CI is
    cheaper than drift found in an incident.

    ## Example
    ```
    work_mem = 256MB    # the spec's host gets 8MB
    ```

    ## Fix
    Regenerate with ``pgforge generate --spec host.yaml``, or update the spec if the change
    was intended.
    """
    if t.spec is None or not t.desired or (t.conf is None and t.live is None):
        return  # a pg_hba.conf or pgbouncer.ini alone has no settings to drift
    from pgforge.gucvalues import display

    for rule, setting, judgement, rec in judgements(t, None):
        wanted = display(rule.kind, rec.value)
        if setting is None:
            yield Hit(t.anchor(), f"{rule.name} is not set (server default applies); pgforge sets {wanted}: {rec.rationale}",
                      f"add {rule.name} = {wanted}")
        elif judgement is not None and not judgement.ok:
            yield Hit(setting, f"{judgement.message}: {rec.rationale}", f"set {rule.name} = {wanted}")
