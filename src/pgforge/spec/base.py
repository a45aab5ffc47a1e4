"""Shared pieces of the spec models: the strict base class and lenient scalar types.

Part of the spec layer (:mod:`pgforge.spec`, whose docstring names the counterparts in rules/,
bundle/ and the audit); every section module and the host spec build on it.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from pgforge.units import UnitError, parse_memory


class Section(BaseModel):
    """Strict model: unknown keys are errors, values are frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _memory(value: object) -> int:
    try:
        return parse_memory(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from None


def _int_from_str(value: object) -> object:
    """Terraform's external data source sends every value as a string: accept "4" for 4 (ASCII
    digits, spaces around them dropped). A Boolean is not a count (``cpus: true`` must not mean one
    CPU), and no count pgforge takes has more than 18 digits, so longer ones are refused before
    Python is asked to convert them."""
    if isinstance(value, bool):
        raise ValueError("expected a whole number, not a Boolean")
    if isinstance(value, str):
        text = value.strip(" ")
        if re.fullmatch(r"[+-]?[0-9]+", text):
            if len(text.lstrip("+-")) > 18:
                raise ValueError(f"{text[:20]}... is far too large a number")
            return int(text)
    if isinstance(value, int) and abs(value) >= 10**18:
        raise ValueError("is far too large a number")
    return value


Memory = Annotated[int, BeforeValidator(_memory)]
IntLike = Annotated[int, BeforeValidator(_int_from_str)]
