"""Where the shipped templates, profiles and catalog live, installed or in a checkout.

In a wheel, ``templates/`` and ``profiles/`` are package data beside this module (pyproject's
force-include). In a source checkout they sit at the top of the repository. Looking in both keeps
``pip install -e .`` and ``pip install .`` equivalent.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def _find(name: str) -> Path:
    for candidate in (_PKG / name, _PKG.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"pgforge installation is missing its {name}/ directory (looked beside {_PKG})")


def templates_dir() -> Path:
    return _find("templates")


def profiles_dir() -> Path:
    return _find("profiles")


def catalog_dir() -> Path:
    return _PKG / "data" / "catalog"
