"""Build a HostSpec from its sources: a profile, a spec file, flags (lowest to highest precedence).

Errors name the field and, for files, the line the field is on, so ``host.yaml:3: memory: ...``
leads straight to the typo. Nothing here writes anything.

Part of the spec layer (:mod:`pgforge.spec`): the model it validates into is spec/host.py; file
reading is pgforge.inputs (bounded, one place for every input); the result goes to the rules
(pgforge.tuning) and then to the bundle (pgforge.bundle).
"""

from __future__ import annotations

import json
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


def _yaml_lines(node: Any, budget: int, prefix: tuple = ()) -> dict[tuple, int]:
    """Map key paths of a composed YAML node tree to 1-based line numbers.

    Aliases share nodes, so a walk can revisit a node many times: ``budget`` bounds the walk (the
    data itself is bounded by :func:`pgforge.inputs.check_tree_size` before this runs).
    """
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    out: dict[tuple, int] = {}
    stack: list[tuple[Any, tuple]] = [(node, prefix)]
    while stack and budget > 0:
        current, path = stack.pop()
        budget -= 1
        if isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key = path + (key_node.value,)
                out.setdefault(key, key_node.start_mark.line + 1)
                stack.append((value_node, key))
        elif isinstance(current, SequenceNode):
            for i, item in enumerate(current.value):
                out.setdefault(path + (i,), item.start_mark.line + 1)
                stack.append((item, path + (i,)))
    return out


def _plain(node: Any) -> Any:
    """Loaded YAML to plain dicts (string keys) and lists; run after check_tree_size bounded it."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def parse_text(text: str, origin: str) -> _Doc:
    """Parse YAML or JSON (YAML 1.2 reads JSON too) into a mapping with the line of every key.

    The safe loader, not ruamel's round-trip one: round-trip mode keeps comments, and gathering a
    run of comment lines is quadratic in their number (a 4 MB file of comments took 13 s). The
    node tree it composes still has every key's line. Aliases are followed but bounded
    (:data:`pgforge.inputs.MAX_SPEC_NODES`), so a "billion laughs" is refused, not expanded.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    from pgforge.inputs import MAX_SPEC_NODES, check_tree_size

    yaml = YAML(typ="safe", pure=True)
    try:
        node = yaml.compose(text)
        data = yaml.constructor.construct_document(node) if node is not None else None
    except MarkedYAMLError as exc:
        if text.lstrip().startswith("{"):
            return _json_doc(text, origin)  # e.g. tabs, which JSON allows and YAML does not
        mark = exc.problem_mark or exc.context_mark
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        raise UserError(f"invalid YAML: {exc.problem or exc.context}", where) from None
    except RecursionError:
        raise UserError("invalid YAML: nested too deeply", origin) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise UserError(f"invalid YAML: a value cannot be read ({_short(exc)})", origin) from None
    except Exception as exc:  # noqa: BLE001 - ruamel raises several unrelated types
        raise UserError(f"invalid YAML: {_short(exc)}", origin) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError("a spec must be a mapping of keys to values", origin)
    check_tree_size(data, MAX_SPEC_NODES, origin)
    return _Doc(_plain(data), origin, _yaml_lines(node, MAX_SPEC_NODES) if node is not None else {})


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "integer string conversion" in text:
        return "an integer of more than 4300 digits"
    return text if len(text) <= 200 else text[:200] + "..."


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _duplicate_line(text: str, key: str) -> int | None:
    """Line of the second ``"key":`` in the innermost object that repeats it (only on the error path)."""
    import re

    spans: list[tuple[int, int]] = []
    decoder = json.JSONDecoder()
    inner = json.decoder.JSONObject

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None, _w=None):
        start = s_and_end[1]
        result, end = inner(s_and_end, strict, scan_once, object_hook, lambda pairs: pairs, memo)
        if not spans and len({k for k, _ in result}) != len(result):
            spans.append((start, end))
        return dict(result), end

    decoder.parse_object = parse_object  # type: ignore[assignment]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    try:
        decoder.decode(text)
    except (ValueError, RecursionError):
        return None
    if not spans:
        return None
    start, end = spans[0]
    hits = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text[start:end])]
    if len(hits) < 2:
        return None
    return text.count("\n", 0, start + hits[1]) + 1


def _json_doc(text: str, origin: str) -> _Doc:
    from pgforge.inputs import MAX_SPEC_NODES, check_tree_size

    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON: {exc.msg}", f"{origin}:{exc.lineno}:{exc.colno}") from None
    except _DuplicateKey as exc:
        line = _duplicate_line(text, exc.key)
        raise UserError(f"invalid JSON: duplicate key {exc.key!r}", f"{origin}:{line}" if line else origin) from None
    except RecursionError:
        raise UserError("invalid JSON: nested too deeply", origin) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise UserError(f"invalid JSON: a value cannot be read ({_short(exc)})", origin) from None
    if not isinstance(data, dict):
        raise UserError("a spec must be a mapping of keys to values", origin)
    check_tree_size(data, MAX_SPEC_NODES, origin)
    return _Doc(data, origin)


def read_source(path: str) -> _Doc:
    """Read a spec file (``-`` for stdin): a regular file of at most 16 MiB, UTF-8 (see pgforge.inputs)."""
    from pgforge.inputs import read_stdin, read_text

    if path == "-":
        return parse_text(read_stdin("<stdin>"), "<stdin>")
    return parse_text(read_text(path), path)


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

    from pgforge.spec.host import HostSpec

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
