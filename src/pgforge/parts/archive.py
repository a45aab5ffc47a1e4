"""Bundle part: archive files (see parts/__init__.py for the contract)."""

from __future__ import annotations

from pgforge.tuning import Tuning
from pgforge.writer import OutFile


def files(t: Tuning) -> list[OutFile]:
    return []
