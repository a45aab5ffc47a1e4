"""Reading an Ansible inventory for ``pgforge generate --inventory``: groups, vars, host ranges.

The inventory is Ansible's YAML (or ``ansible-inventory --list`` JSON) form: groups with
``hosts``, ``vars`` and ``children``, ``all.vars`` for everyone, host ranges such as
``db[01:20].example.com`` (at most MAX_RANGE_HOSTS names per pattern). Only pgforge's own
variables are read, so an inventory shared with playbooks works as is: a ``pgforge:`` mapping of
spec keys, and ``pgforge_<key>`` variables (``pgforge_memory: 64GB``, ``pgforge_profile:
oltp-64``). Precedence is Ansible's: ``all``, then groups from the outermost to the innermost
(alphabetically among equals), then the host itself.

This module only parses: :func:`load_inventory` returns each host's merged pgforge variables.
Tuning and writing the hosts is :mod:`pgforge.fleet.generate`; the file size and tree-size bounds
are :mod:`pgforge.inputs`; a host's variables become a spec through :mod:`pgforge.spec.load`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pgforge.errors import UserError

PREFIX = "pgforge_"
_RANGE = re.compile(r"\[([^\]:]*):([^\]:]*)(?::(\d+))?\]", re.ASCII)
#: The most host names one pattern may expand to: ``db[0:99999999]`` is a typo, not a fleet
#: (the largest fleets pgforge is measured on have 10,000 hosts; bench/fleet.py).
MAX_RANGE_HOSTS = 100_000


def _range_items(start: str, end: str, stride: int, pattern: str) -> list[str]:
    if stride < 1:
        raise UserError(f"invalid host range [{start}:{end}:{stride}]: the stride must be at least 1", pattern)
    if start.isascii() and end.isascii() and start.isdigit() and end.isdigit() and len(start) <= 9 and len(end) <= 9:
        numbers = range(int(start), int(end) + 1, stride)
        if len(numbers) > MAX_RANGE_HOSTS:
            raise UserError(f"host range [{start}:{end}] has {len(numbers):,} hosts; pgforge expands at most"
                            f" {MAX_RANGE_HOSTS:,} per pattern", pattern)
        width = len(start) if start.startswith("0") and len(start) > 1 else 0
        return [str(i).zfill(width) for i in numbers]
    if len(start) == 1 and len(end) == 1 and start.isascii() and end.isascii() and start.isalpha() and end.isalpha():
        return [chr(c) for c in range(ord(start), ord(end) + 1, stride)]
    raise UserError(f"invalid host range [{start[:20]}:{end[:20]}]", pattern[:200])


def expand_range(pattern: str) -> list[str]:
    """``db[01:03].x`` -> ``db01.x db02.x db03.x``; ``[a:c]`` letters; ``[1:9:4]`` a stride (Ansible's forms).

    At most MAX_RANGE_HOSTS names per pattern, counted before any is made.
    """
    names = [""]
    rest = pattern
    while (m := _RANGE.search(rest)) is not None:
        start, end, stride = m.group(1), m.group(2), m.group(3)
        if stride is not None and len(stride) > 9:
            raise UserError(f"invalid host range [{start[:20]}:{end[:20]}:{stride[:20]}]", pattern[:200])
        items = _range_items(start, end, int(stride or 1), pattern)
        if not items:
            raise UserError(f"empty host range [{start}:{end}]", pattern)
        if len(names) * len(items) > MAX_RANGE_HOSTS:
            raise UserError(f"the host ranges expand to more than {MAX_RANGE_HOSTS:,} hosts", pattern)
        head = rest[: m.start()]
        names = [name + head + item for name in names for item in items]
        rest = rest[m.end():]
    return [name + rest for name in names]


@dataclass
class _Group:
    name: str
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)


def _load_text(text: str, origin: str) -> Any:
    """Parse YAML 1.1 as Ansible does (``yes`` is true); libyaml's C loader when present, else ruamel."""
    try:
        import yaml  # type: ignore[import-untyped]

        loader = getattr(yaml, "CSafeLoader", None)
    except ImportError:
        loader = None
    if loader is not None:
        try:
            return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{origin}:{mark.line + 1}" if mark else origin
            raise UserError(f"invalid YAML: {getattr(exc, 'problem', exc)}", where) from None
        except RecursionError:
            raise UserError("invalid YAML: nested too deeply", origin) from None
        except ValueError as exc:  # an integer of more than 4300 digits
            raise UserError(f"invalid YAML: a value cannot be read ({str(exc)[:120]})", origin) from None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    parser = YAML(typ="safe", pure=True)
    parser.version = (1, 1)
    try:
        return parser.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise UserError(f"invalid YAML: {exc.problem}", f"{origin}:{mark.line + 1}" if mark else origin) from None
    except RecursionError:
        raise UserError("invalid YAML: nested too deeply", origin) from None
    except Exception as exc:  # noqa: BLE001 - ruamel raises several unrelated types
        raise UserError(f"invalid YAML: {str(exc)[:200]}", origin) from None


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"expected a mapping, got {type(value).__name__}", where)
    return value


def _groups_from_yaml(data: dict[str, Any], origin: str) -> dict[str, _Group]:
    groups: dict[str, _Group] = {}

    def visit(name: str, body: Any, where: str) -> None:
        group = groups.setdefault(name, _Group(name))
        body = _mapping(body, where)
        unknown = set(body) - {"hosts", "vars", "children"}
        if unknown:
            raise UserError(f"group {name!r} has {sorted(unknown)[0]!r}; a group holds hosts, vars and children", origin)
        for pattern, hvars in _mapping(body.get("hosts"), f"{where}.hosts").items():
            for host in expand_range(str(pattern)):
                merged = group.hosts.setdefault(host, {})
                merged.update(_mapping(hvars, f"{where}.hosts.{pattern}"))
        group.vars.update(_mapping(body.get("vars"), f"{where}.vars"))
        for child, child_body in _mapping(body.get("children"), f"{where}.children").items():
            if child not in group.children:
                group.children.append(str(child))
            visit(str(child), child_body, f"{where}.children.{child}")

    for name, body in data.items():
        visit(str(name), body, f"{origin}: {name}")
    return groups


def _groups_from_list_json(data: dict[str, Any]) -> dict[str, _Group]:
    """``ansible-inventory --list`` output: lists of hosts and children, host vars under ``_meta``."""
    hostvars = _mapping(data.get("_meta", {}).get("hostvars"), "_meta.hostvars")
    groups: dict[str, _Group] = {}
    for name, body in data.items():
        if name == "_meta":
            continue
        body = _mapping(body, name)
        group = groups.setdefault(name, _Group(name))
        for host in body.get("hosts") or []:
            group.hosts[str(host)] = dict(_mapping(hostvars.get(host), f"_meta.hostvars.{host}"))
        group.vars.update(_mapping(body.get("vars"), f"{name}.vars"))
        group.children.extend(str(c) for c in body.get("children") or [])
    return groups


def _depths(groups: dict[str, _Group]) -> dict[str, int]:
    """Distance of each group from ``all`` (the longest path, as Ansible counts it)."""
    depth = {name: 0 if name == "all" else 1 for name in groups}
    for _ in range(len(groups)):
        changed = False
        for g in groups.values():
            for child in g.children:
                if child in depth and depth[child] < depth[g.name] + 1:
                    depth[child] = depth[g.name] + 1
                    changed = True
        if not changed:
            break
    return depth


def pgforge_vars(variables: dict[str, Any]) -> dict[str, Any]:
    """The pgforge part of one vars mapping: the ``pgforge:`` mapping, then ``pgforge_*`` variables."""
    from pgforge.spec.load import deep_merge

    out: dict[str, Any] = {}
    nested = variables.get("pgforge")
    if isinstance(nested, dict):
        out = deep_merge(out, nested)
    prefixed = {k[len(PREFIX):]: v for k, v in variables.items() if k.startswith(PREFIX) and len(k) > len(PREFIX)}
    return deep_merge(out, prefixed)


def load_inventory(path: Path) -> dict[str, dict[str, Any]]:
    """Each host with its merged pgforge variables, in inventory order."""
    from pgforge.spec.load import deep_merge

    from pgforge.inputs import MAX_FLEET_FILE_BYTES, MAX_INVENTORY_NODES, check_tree_size, read_text

    text = read_text(path, limit=MAX_FLEET_FILE_BYTES)  # a regular UTF-8 file of at most 64 MiB
    data = _load_text(text, str(path))
    if data is None:
        data = {}
    # Anchors and aliases are Ansible's way to share vars, so they are followed, but a "billion
    # laughs" of aliases inside aliases is refused before anything walks it.
    check_tree_size(data, MAX_INVENTORY_NODES, str(path))
    if not isinstance(data, dict):
        raise UserError("an inventory is a mapping of groups (all: {hosts: ..., children: ...})", str(path))
    groups = _groups_from_list_json(data) if "_meta" in data else _groups_from_yaml(data, str(path))
    depth = _depths(groups)
    parents: dict[str, list[str]] = {name: [] for name in groups}
    for g in groups.values():
        for child in g.children:
            parents.setdefault(child, []).append(g.name)

    @cache
    def ancestry(name: str) -> frozenset[str]:
        seen = {name}
        stack = [name]
        while stack:
            for parent in parents.get(stack.pop(), []):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return frozenset(seen | ({"all"} if "all" in groups else set()))

    group_vars = {name: pgforge_vars(g.vars) for name, g in groups.items()}
    member_of: dict[str, set[str]] = {}
    host_vars: dict[str, dict[str, Any]] = {}
    for g in groups.values():
        for host, hvars in g.hosts.items():
            member_of.setdefault(host, set()).update(ancestry(g.name))
            host_vars.setdefault(host, {}).update(hvars)
    out: dict[str, dict[str, Any]] = {}
    for host in host_vars:
        merged: dict[str, Any] = {}
        for name in sorted(member_of[host], key=lambda n: (depth.get(n, 1), n)):
            if group_vars.get(name):
                merged = deep_merge(merged, group_vars[name])
        merged = deep_merge(merged, pgforge_vars(host_vars[host]))
        out[host] = merged
    return out
