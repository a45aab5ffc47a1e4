"""Setting values as the server reads them, kept apart from the lexers so that the generator
can validate Booleans without paying for the parsers' regular expressions at start-up."""

from __future__ import annotations

_BOOL_WORDS = (("true", True), ("false", False), ("yes", True), ("no", False))


def parse_bool(value: str) -> bool | None:
    """A boolean setting's value as the server reads it, or None if it is not one.

    Accepts on/off/true/false/yes/no/1/0 in any case, and any unambiguous prefix
    (``t``, ``fa``, ``of``); ``o`` alone is ambiguous.  No surrounding spaces.
    """
    if not value:
        return None
    low = value.lower()
    first = low[0]
    if first == "o":
        if len(low) >= 2:
            if "on".startswith(low):
                return True
            if "off".startswith(low):
                return False
        return None
    if value in ("1", "0"):
        return value == "1"
    for word, result in _BOOL_WORDS:
        if first == word[0] and word.startswith(low):
            return result
    return None
