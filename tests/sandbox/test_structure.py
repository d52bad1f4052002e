"""The sandbox's shape: no module imports another that (directly or not) imports it back.

Every module under ``sandbox/`` is parsed with `ast`; an edge is any import of a ``sandbox``
module, relative or absolute, at any depth of the file (a function body, an ``if TYPE_CHECKING:``
block). ``from package import name`` is an edge to ``package.name`` when that is a module, else
to ``package``; the implicit import of a submodule's parent packages is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sandbox

ROOT = Path(sandbox.__file__).parent
PACKAGE = "sandbox"


def module_names(root: Path = ROOT) -> dict[str, Path]:
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join([PACKAGE, *parts])] = path
    return names


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The sandbox module `name` denotes (itself, or the package holding an attribute)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                target = _target(name, modules)
                if target and target != module:
                    found.add(target)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = module_names(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_graph_sees_relative_absolute_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "sandbox"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import A\n")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n")
    (pkg / "b.py").write_text("import sandbox.sub.c\n")
    (pkg / "sub" / "__init__.py").write_text("from . import c\n")
    (pkg / "sub" / "c.py").write_text("def f():\n    from ..a import A\n")
    graph = import_graph(pkg)
    assert graph == {
        "sandbox": {"sandbox.a"},
        "sandbox.a": {"sandbox.b"},
        "sandbox.b": {"sandbox.sub.c"},
        "sandbox.sub": {"sandbox.sub.c"},
        "sandbox.sub.c": {"sandbox.a"},
    }
    assert find_cycle(graph) == ["sandbox.a", "sandbox.b", "sandbox.sub.c", "sandbox.a"]


def test_no_import_cycle_in_the_sandbox():
    graph = import_graph()
    assert len(graph) > 10, "the sandbox's modules were not found"
    cycle = find_cycle(graph)
    if cycle:
        pytest.fail("import cycle in the sandbox: " + " -> ".join(cycle))


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_shared_state_depends_on_no_product():
    graph = import_graph()
    products = (
        "sandbox.taskrouter",
        "sandbox.conversations",
        "sandbox.flex",
        "sandbox.events",
        "sandbox.app",
        "sandbox.sandbox",
    )
    for base in ("sandbox.core", "sandbox.rest"):
        assert not {m for m in reachable(graph, base) if any(_in(m, p) for p in products)}, base


def test_taskrouter_and_conversations_meet_only_on_the_bus():
    """Neither imports the other (nor Flex, built on both): what one does that another reacts to
    is a message on the shared state's bus."""
    graph = import_graph()
    for product, others in (
        ("sandbox.taskrouter", ("sandbox.conversations", "sandbox.flex")),
        ("sandbox.conversations", ("sandbox.taskrouter", "sandbox.flex")),
    ):
        for module in (m for m in graph if _in(m, product)):
            reached = {m for m in reachable(graph, module) if any(_in(m, o) for o in others)}
            assert not reached, f"{module} reaches {sorted(reached)}"
