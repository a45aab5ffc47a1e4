"""The Jinja2 environment. Templates hold layout and comments; every value comes from the rules."""

from __future__ import annotations

from functools import cache
from typing import Any


def _sql_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _sql_value(setting: Any) -> str:
    from pgforge.catalog import LIST_SETTINGS

    if setting.name in LIST_SETTINGS:
        return ", ".join(_sql_literal(part.strip()) for part in setting.display.split(","))
    return _sql_literal(setting.display)


def _sql_ident(name: str) -> str:
    # Dotted extension settings are two identifiers; plain names are already safe identifiers.
    return ".".join(part if part.isidentifier() and part.islower() else '"' + part.replace('"', '""') + '"'
                    for part in name.split("."))


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
    )
    env.filters["sql_literal"] = _sql_literal
    env.filters["sql_ident"] = _sql_ident
    env.filters["sql_value"] = _sql_value
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
