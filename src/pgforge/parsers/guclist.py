"""List-valued settings (``shared_preload_libraries``, ``search_path`` ...) split as the server does.

PostgreSQL splits these in varlena.c (SplitDirectoriesString, SplitIdentifierString), not in
the configuration file lexer, so this lives apart from :mod:`pgforge.parsers.pgconf` (which
re-exports :func:`split_list`). It takes the value a setting already has, from a file or from
the server, and never raises. Counterparts: the generator writes list values through
:mod:`pgforge.render.escape`; the apply planner compares them in :mod:`pgforge.apply.values`.
"""

from __future__ import annotations

from .values import _C_SPACE

__all__ = ["split_list"]

#: Unquoted identifiers are folded to lower case in ASCII only (downcase_identifier).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def split_list(value: str, *, identifiers: bool = False) -> list[str] | None:
    """Split a comma-separated list setting; None when the server would reject it.

    With the default, items are handled as the server handles
    ``shared_preload_libraries`` and the other library/directory lists
    (SplitDirectoriesString): an unquoted item runs to the next comma and may contain
    inner spaces; surrounding spaces are dropped.  With ``identifiers=True`` the rules
    of SplitIdentifierString apply (``search_path``, ``log_destination`` ...): an
    unquoted item ends at a space and is folded to lower case.  In both modes a
    double-quoted item keeps its case and commas, ``""`` stands for one quote, and an
    empty unquoted item is an error.  An empty (or all-space) value is an empty list.
    """
    n = len(value)
    i = 0
    items: list[str] = []
    while i < n and value[i] in _C_SPACE:
        i += 1
    if i == n:
        return items
    while True:
        if value[i] == '"':
            parts: list[str] = []
            j = i + 1
            while True:
                k = value.find('"', j)
                if k < 0:
                    return None
                parts.append(value[j:k])
                if k + 1 < n and value[k + 1] == '"':
                    parts.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            items.append("".join(parts))
        else:
            start = i
            if identifiers:
                while i < n and value[i] != "," and value[i] not in _C_SPACE:
                    i += 1
                if i == start:
                    return None
                items.append(value[start:i].translate(_ASCII_LOWER))
            else:
                while i < n and value[i] != ",":
                    i += 1
                item = value[start:i].rstrip(_C_SPACE)
                if not item:
                    return None
                items.append(item)
        while i < n and value[i] in _C_SPACE:
            i += 1
        if i == n:
            return items
        if value[i] != ",":
            return None
        i += 1
        while i < n and value[i] in _C_SPACE:
            i += 1
        if i == n:
            # A trailing comma asks for another item that never comes.
            return None
