"""Build a HostSpec from its sources: a profile, a spec file, flags (lowest to highest precedence).

Errors name the field and, for files, the line the field is on, so ``host.yaml:3: memory: ...``
leads straight to the typo. Nothing here writes anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pgforge.errors import UserError
from pgforge.resources import profiles_dir


class _Doc:
    """A loaded mapping plus the line of each key path, for error messages."""

    def __init__(self, data: dict[str, Any], origin: str, lines: dict[tuple, int] | None = None) -> None:
        self.data = data
        self.origin = origin
        self.lines = lines or {}


def _yaml_lines(node: Any, prefix: tuple = ()) -> dict[tuple, int]:
    """Map key paths of a ruamel round-trip document to 1-based line numbers."""
    out: dict[tuple, int] = {}
    lc = getattr(node, "lc", None)
    if isinstance(node, dict):
        for key in node:
            try:
                out[prefix + (key,)] = lc.key(key)[0] + 1  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - position info is a nicety, never a failure
                pass
            out.update(_yaml_lines(node[key], prefix + (key,)))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            try:
                out[prefix + (i,)] = lc.item(i)[0] + 1  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001
                pass
            out.update(_yaml_lines(item, prefix + (i,)))
    return out


def _plain(node: Any) -> Any:
    """ruamel's CommentedMap/Seq to plain dicts and lists."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def parse_text(text: str, origin: str) -> _Doc:
    """Parse YAML or JSON (YAML 1.2 reads JSON too) into a mapping with the line of every key."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    yaml = YAML(typ="rt")
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        if text.lstrip().startswith("{"):
            return _json_doc(text, origin)  # e.g. tabs, which JSON allows and YAML does not
        mark = exc.problem_mark
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        raise UserError(f"invalid YAML: {exc.problem}", where) from None
    except Exception as exc:  # noqa: BLE001 - ruamel raises several unrelated types
        raise UserError(f"invalid YAML: {exc}", origin) from None
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise UserError("a spec must be a mapping of keys to values", origin)
    return _Doc(_plain(node), origin, _yaml_lines(node))


def _json_doc(text: str, origin: str) -> _Doc:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON: {exc.msg}", f"{origin}:{exc.lineno}:{exc.colno}") from None
    if not isinstance(data, dict):
        raise UserError("a spec must be a mapping of keys to values", origin)
    return _Doc(data, origin)


def read_source(path: str) -> _Doc:
    """Read a spec file (``-`` for stdin)."""
    if path == "-":
        return parse_text(sys.stdin.read(), "<stdin>")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("no such file", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read: {exc}", path) from None
    return parse_text(text, path)


def list_profiles() -> list[tuple[str, str]]:
    """(name, description) of every bundled profile, sorted by name."""
    out = []
    for p in sorted(profiles_dir().glob("*.yaml")):
        doc = read_source(str(p))
        out.append((p.stem, str(doc.data.get("description", "")).strip()))
    return out


def profile_path(name_or_path: str) -> Path:
    """A bundled profile by name, or a profile file by path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml", ".json") and p.exists():
        return p
    candidate = profiles_dir() / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    names = ", ".join(n for n, _ in list_profiles())
    raise UserError(f"unknown profile {name_or_path!r}: bundled profiles are {names}", "--profile")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Later sources win; nested sections merge key by key, lists are replaced whole."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _where(loc: tuple, docs: list[_Doc], flags: dict[str, Any]) -> str:
    """The source that set the failing field: a flag, else the last file that has it."""
    field = ".".join(str(p) for p in loc) or "spec"
    if loc and loc[0] in flags:
        return f"--{str(loc[0]).replace('_', '-')}"
    for doc in reversed(docs):
        for depth in range(len(loc), 0, -1):
            line = doc.lines.get(tuple(loc[:depth]))
            if line is not None:
                return f"{doc.origin}:{line}: {field}"
        if loc and loc[0] in doc.data:
            return f"{doc.origin}: {field}"
    return field


def build_spec(*, profile: str | None = None, spec_file: str | None = None, flags: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None):
    """Merge profile < spec file < extra (e.g. detection) < flags and validate into a HostSpec."""
    from pydantic import ValidationError

    from pgforge.spec import HostSpec

    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    docs: list[_Doc] = []
    merged: dict[str, Any] = {}
    if profile:
        doc = read_source(str(profile_path(profile)))
        docs.append(doc)
        merged = deep_merge(merged, doc.data)
    if spec_file:
        doc = read_source(spec_file)
        docs.append(doc)
        merged = deep_merge(merged, doc.data)
    if extra:
        merged = deep_merge(merged, extra)
    merged = deep_merge(merged, flags)
    try:
        return HostSpec.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see `pgforge profiles show` for an example spec)"
        elif err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "enum":
            msg = f"{err['input']!r} is not one of {err['ctx']['expected']}"
        more = len(exc.errors()) - 1
        if more:
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise UserError(msg, _where(loc, docs, flags)) from None
