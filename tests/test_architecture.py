"""The rules the code keeps, checked on its source: imports flow one way between the packages, no module imports
itself back through others (function-level imports included), and modules and functions stay small enough to read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("index", "retrieval", "eval", "app")
# What each package may import from the project: index stores vectors and knows nothing of models; retrieval uses
# index; eval and app sit on top, and eval never needs the command line, UI or service.
MAY_IMPORT = {
    "index": {"index"},
    "retrieval": {"index", "retrieval"},
    "eval": {"index", "retrieval", "eval"},
    "app": {"index", "retrieval", "eval", "app"},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # lines of a function's body, docstring included


def module_files() -> dict[str, Path]:
    """Every module of the project's packages by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_modules(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports anywhere in its body, ``from a import b`` counted as ``a.b`` where that
    is a module."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] in PACKAGES and t in modules)
    found.discard(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(path, name, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each a set of modules importing each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_import_cycles_counting_function_level_imports(graph):
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_only_flow_down_the_layers(graph):
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if target.split(".")[0] not in MAY_IMPORT[module.split(".")[0]]
    )
    assert upward == []


def test_modules_and_functions_stay_small():
    too_long = []
    for name, path in module_files().items():
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.body[0].lineno + 1  # the body: a command's options are its signature
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []


def test_the_public_imports_are_the_lazy_exports():
    import retrieval

    assert sorted(retrieval.__all__) == sorted(retrieval._EXPORTS)
    assert all(getattr(retrieval, name) is not None for name in retrieval.__all__)


def test_the_architecture_page_describes_the_built_in_components_as_registered():
    """docs/architecture.md's table of the built-in components says, row by row, what the registry derives."""
    from index.component import Explaining, Rescoring, SearchingInParts, abilities, component_type
    from retrieval import registry

    words = {Rescoring: "rescoring", Explaining: "explaining", SearchingInParts: "searching in parts"}

    def row(name: str) -> list[str]:
        role = registry.recipe_for(name).role
        return [
            name,
            ", ".join(mode for mode in registry.build_modes() if name in registry.mode_components(mode)),
            name if name in registry.search_modes() else "-",
            role.fusion or "-",
            ", ".join(words[ability] for ability in abilities(component_type(name))) or "-",
        ]

    lines = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| built-in | build modes | search mode | hybrid fusion | abilities |") + 2
    table = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[start : start + 3]]
    assert table == [row(name) for name in (registry.DENSE, registry.MULTIVECTOR, registry.BM25)]
