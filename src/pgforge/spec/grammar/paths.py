"""Absolute paths that are safe unquoted in a shell command and inside a configuration value.

Part of :mod:`pgforge.spec.grammar` (the spec's input grammars; escaping where values leave is
:mod:`pgforge.render.escape`). Paths leave through :func:`pgforge.render.escape.shell_word` and
:func:`pgforge.render.escape.conf_string`.
"""

from __future__ import annotations

from pgforge.spec.grammar.text import _full, show


_SAFE_PATH = _full(r"/[A-Za-z0-9._/+=@-]{0,1023}")


def check_safe_path(value: str) -> str:
    """An absolute path usable unquoted in a shell command and inside a postgresql.conf, pgbouncer.ini
    or pgbackrest.conf value: ``/`` then letters, digits and ``. _ / + = @ -``, no ``//``, ``.`` or
    ``..`` components, at most 1024 characters. A trailing slash is dropped."""
    if not value.startswith("/"):
        raise ValueError(f"{show(value)}: give an absolute path (starting with /); relative paths depend on "
                         "the working directory of whoever runs the program")
    if not _SAFE_PATH.fullmatch(value):
        raise ValueError(f"{show(value)}: a path here may hold only letters, digits and . _ / + = @ - "
                         "(no spaces, quotes, line breaks or shell characters)")
    if "//" in value or "/../" in value + "/" or "/./" in value + "/":
        raise ValueError("must be a plain absolute path (no //, . or .. components)")
    return value.rstrip("/") or "/"
