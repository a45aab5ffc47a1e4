"""The import graph of pgforge has no circle, and gucvalues.py (setting values) is a leaf.

Issue 13: render/values.py imported ``Kind`` from rules/base.py while ``Rule.judge`` imported
render/values.py to format a value, a circle hidden by a function-level import. The graph here is
read from the source with ``ast``, so it counts imports inside functions too (they run as soon as
the function does); only ``if TYPE_CHECKING:`` imports, which never run, are left out, and so is
a package's lazy re-export of its own submodules (detect/__init__.py's PEP 562 ``__getattr__``),
which is the package exposing a child, not a dependency of the package on it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

# What the leaf module may import (transitively): modules that import nothing from pgforge but
# each other. Anything else (the rules, the renderers, the audit, the catalog) must import it.
LEAVES = {"pgforge", "pgforge.errors", "pgforge.units", "pgforge.parsers", "pgforge.parsers.values",
          "pgforge.render", "pgforge.render.escape"}


def _modules(src: Path) -> dict[str, Path]:
    mods = {}
    for path in (src / "pgforge").rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the pgforge modules it imports anywhere in its body (functions included)."""
    mods = _modules(src)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                if _is_type_checking(child):
                    continue
                if isinstance(child, ast.Import):
                    found.update(a.name for a in child.names)
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:
                        parts = package.split(".")
                        base = ".".join(parts[:len(parts) - child.level + 1] + ([base] if base else []))
                    for alias in child.names:
                        sub = f"{base}.{alias.name}"
                        found.add(sub if sub in mods else base)
                stack.append(child)
        is_package = path.name == "__init__.py"
        graph[name] = {m for m in found if m in mods and m != name
                       and not (is_package and m.startswith(name + "."))}  # a package exposing its child
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        v = todo.pop()
        for w in graph.get(v, ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_cycle_finder_finds_the_circle_issue_13_named() -> None:
    # The graph as it was: render.values -> rules.base (Kind), rules.base -> render.values (judge).
    graph = {"pgforge.render.values": {"pgforge.rules.base", "pgforge.units"},
             "pgforge.rules.base": {"pgforge.render.values"}, "pgforge.units": set()}
    assert cycles(graph) == [["pgforge.render.values", "pgforge.rules.base"]]


def test_import_graph_reads_function_level_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pgforge"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pgforge.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from .. import a\nfrom typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from pgforge.sub import c\n")
    (pkg / "sub" / "c.py").write_text("")
    graph = import_graph(tmp_path)
    assert graph["pgforge.a"] == {"pgforge.sub.b"}
    assert graph["pgforge.sub.b"] == {"pgforge.a"}  # the TYPE_CHECKING import is not counted
    assert cycles(graph) == [["pgforge.a", "pgforge.sub.b"]]


def test_no_import_circle_among_pgforge_modules() -> None:
    assert cycles(import_graph()) == []


def test_setting_values_module_imports_only_leaves() -> None:
    graph = import_graph()
    assert reachable(graph, "pgforge.gucvalues") <= LEAVES, reachable(graph, "pgforge.gucvalues") - LEAVES
    for leaf in LEAVES - {"pgforge", "pgforge.parsers", "pgforge.render"}:  # packages' __init__ import nothing
        assert reachable(graph, leaf) <= LEAVES, (leaf, reachable(graph, leaf) - LEAVES)
    # Kind has one home, and the rule registry takes it from there.
    assert "pgforge.gucvalues" in graph["pgforge.rules.base"]
    assert "pgforge.render.values" not in graph


def test_importing_the_setting_values_module_loads_no_rule_render_or_audit_module() -> None:
    code = "import sys, pgforge.gucvalues; print(' '.join(sorted(m for m in sys.modules if m.startswith('pgforge'))))"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert set(out.split()) <= LEAVES | {"pgforge.gucvalues"}, out


@pytest.mark.parametrize("major", [13, 18])
def test_one_unit_conversion_for_defaults_file_values_and_apply(major: int) -> None:
    """A setting's default, read as file text by the audit, is what the rules take as its default,
    and what apply shows for it means the same: one catalog unit -> bytes/ms conversion."""
    from pgforge.apply.values import canonical, default_display
    from pgforge.catalog import load_catalog
    from pgforge.gucvalues import Kind, boot_value, rule_value
    from pgforge.rules.context import Context
    from pgforge.spec import HostSpec

    catalog = load_catalog(major)
    ctx = Context(HostSpec(memory="16GB", cpus=4, pg_version=major), catalog)
    checked = 0
    for guc in catalog.settings.values():
        if guc.vartype not in ("integer", "real") or not guc.boot_val:
            continue
        kind = (Kind.memory if guc.is_memory else Kind.time if guc.is_time and guc.vartype == "integer"
                else Kind.integer if guc.vartype == "integer" else Kind.real)
        assert rule_value(guc, kind, guc.boot_val) == ctx.default(guc.name) == boot_value(guc), guc.name
        shown = default_display(catalog, guc.name)
        assert canonical(catalog, guc.name, shown) == canonical(catalog, guc.name, guc.boot_val), (guc.name, shown)
        checked += 1
    assert checked > 100
    shared = catalog.get("shared_buffers")
    pages = int(shared.boot_val)  # 8kB pages: 1024 (8MB) on 13, 16384 (128MB) on 18
    assert ctx.default("shared_buffers") == pages * 8192
    assert default_display(catalog, "shared_buffers") == f"{pages * 8 // 1024}MB"
    assert rule_value(shared, Kind.memory, "16384") == rule_value(shared, Kind.memory, "128MB") == 128 * 1024 * 1024
    assert rule_value(catalog.get("checkpoint_timeout"), Kind.time, "5min") == 300_000
