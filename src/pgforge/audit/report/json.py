"""Findings as one JSON document, for pipelines."""

from __future__ import annotations

import json
from dataclasses import fields

from pgforge.audit.model import Finding

_FIELDS = tuple(f.name for f in fields(Finding))


def render(outcome, checks) -> str:
    # A flat dict per finding; dataclasses.asdict deep-copies and is several times slower on a fleet.
    return json.dumps({
        "findings": [{k: getattr(f, k) for k in _FIELDS} for f in outcome.findings],
        "summary": {"targets": outcome.targets, "findings": len(outcome.findings),
                    "suppressed": outcome.suppressed, "baselined": outcome.baselined},
    }, indent=2) + "\n"
