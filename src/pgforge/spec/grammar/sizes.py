"""The data size of a spec (``data_size``): how much data the cluster holds, as bytes or as a
class relative to RAM.

Part of :mod:`pgforge.spec.grammar` (the spec's input grammars). Bytes are read by the one memory
parser, :func:`pgforge.units.parse_memory` (``2TB``, ``750GB``, ``1.5TiB`` or a plain number of
bytes), within bounds a PostgreSQL cluster can have; the classes are the three words PGTune's
newer form asks (pgforge spells them ``less_than_ram | about_ram | more_than_ram``). The value is
kept as a normalised string (``2TB``, ``1536MB``, ``more_than_ram``) so every output that shows it
shows the same text; the host spec turns it into bytes for the rules (spec/host.py).
"""

from __future__ import annotations

import re

from pgforge.spec.grammar.text import show
from pgforge.units import KB, MB, TB, UnitError, format_bytes_pg, parse_memory

#: The data-size classes, relative to the host's RAM.
DATA_SIZE_CLASSES = ("less_than_ram", "about_ram", "more_than_ram")
#: An initdb'd cluster alone is tens of megabytes: a data size under 1MB is a unit mistake.
MIN_DATA_SIZE = MB
#: 16 PB: far beyond any single PostgreSQL cluster pgforge's rules were written for.
MAX_DATA_SIZE = 16 * 1024 * TB


def check_data_size(value: object) -> str:
    """A data size: bytes (``2TB``, ``750GB``, ``1.5TiB``, a whole number of bytes) between 1MB
    and 16PB, or one of ``less_than_ram``, ``about_ram``, ``more_than_ram``. Returns the
    normalised text: the class word, or the bytes in the largest exact unit (``2TB``, ``1536MB``,
    ``123456789B``)."""
    if isinstance(value, str) and not re.fullmatch(r"[ 0-9A-Za-z._]{1,100}", value):
        raise ValueError(f"{show(value)} is not a data size: give bytes such as 2TB or 750GB, or one of "
                         f"{', '.join(DATA_SIZE_CLASSES)}")
    if isinstance(value, str) and value.strip() in DATA_SIZE_CLASSES:
        return value.strip()
    if isinstance(value, str) and value.strip().lower().replace("-", "_") in DATA_SIZE_CLASSES:
        raise ValueError(f"{show(value)}: write the class in lower case with underscores: "
                         f"{', '.join(DATA_SIZE_CLASSES)}")
    try:
        size = parse_memory(value)
    except UnitError as exc:
        text = str(exc).replace("memory size", "data size").replace("memory ", "data size ")
        raise ValueError(f"{text}; or give one of {', '.join(DATA_SIZE_CLASSES)}") from None
    if size < MIN_DATA_SIZE:
        raise ValueError(f"a data size of {size} bytes is smaller than an empty cluster: give at least 1MB (e.g. 2TB)")
    if size > MAX_DATA_SIZE:
        raise ValueError("a data size above 16PB is beyond what pgforge's rules were written for")
    return format_bytes_pg(size) if size % KB == 0 else f"{size}B"


def data_size_bytes(text: str) -> int | None:
    """The bytes of a normalised data size, or ``None`` for a class word."""
    if text in DATA_SIZE_CLASSES:
        return None
    return parse_memory(text)


__all__ = ["DATA_SIZE_CLASSES", "MAX_DATA_SIZE", "MIN_DATA_SIZE", "check_data_size", "data_size_bytes"]
