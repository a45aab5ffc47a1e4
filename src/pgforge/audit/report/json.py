"""Findings as one JSON document, for pipelines."""

from __future__ import annotations

import json
from dataclasses import asdict


def render(outcome, checks) -> str:
    return json.dumps({
        "findings": [asdict(f) for f in outcome.findings],
        "summary": {"targets": outcome.targets, "findings": len(outcome.findings),
                    "suppressed": outcome.suppressed, "baselined": outcome.baselined},
    }, indent=2) + "\n"
