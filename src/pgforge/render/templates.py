"""The Jinja2 environment. Templates hold layout and comments; every value comes from the rules.

Every value a template writes goes through one of the escape filters of render/escape.py (one per
output grammar); the ``finalize`` hook refuses any other expression that would span lines."""

from __future__ import annotations

from functools import cache
from typing import Any


def _sql_value(setting: Any) -> str:
    from pgforge.catalog import LIST_SETTINGS
    from pgforge.render.escape import Escaped, sql_literal

    if setting.name in LIST_SETTINGS:
        return Escaped(", ".join(sql_literal(part.strip()) for part in setting.display.split(",")))
    return sql_literal(setting.display)


def _finalize(value: Any) -> Any:
    """Belt and braces for render/escape.py: an expression whose text holds a line break or a NUL
    and did not go through an escape filter is refused, so a value can never start a line."""
    if isinstance(value, str):
        from pgforge.render.escape import Escaped, EscapeError, has_line_break

        if not isinstance(value, Escaped) and has_line_break(value):
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise EscapeError(f"{shown!r} would span lines in a generated file", "output")
    return value


def _bytecode_cache(jinja2):
    """Compiled templates kept in the user's cache dir: compiling them is most of a render's cost.
    Any problem with the directory just means no cache."""
    import os
    from pathlib import Path

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pgforge" / "jinja"
    try:
        base.mkdir(parents=True, exist_ok=True)
        return jinja2.FileSystemBytecodeCache(str(base))
    except OSError:
        return None


@cache
def environment():
    import jinja2

    from pgforge.resources import templates_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_bytecode_cache(jinja2),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, never an empty string in a config
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
        finalize=_finalize,
    )
    from pgforge.render.escape import FILTERS

    env.filters.update(FILTERS)
    env.filters["sql_value"] = _sql_value
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
