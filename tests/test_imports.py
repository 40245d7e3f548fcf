"""The package's import graph, read from the source (an AST walk, nothing imported): no cycles, no arrow up the
layers of docs/design.md, and the pure modules free of torch and Optuna. Imports inside functions count (they run
too); imports under `if TYPE_CHECKING:` do not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dse"
PURE = ("dse.errors", "dse.space", "dse.plan", "dse.stats")  # sizes and statistics without torch (docs/design.md)
HEAVY = ("torch", "torchvision", "optuna", "pandas", "matplotlib", "sqlalchemy")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(path: Path) -> set[str]:
    """Every module name `path` imports, at any depth, outside `if TYPE_CHECKING:` blocks."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # a submodule, if it is one
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return names


def _edges() -> dict[str, set[str]]:
    """dse module -> the dse modules it imports (a package import counts as its __init__)."""
    edges = {}
    for name, path in MODULES.items():
        edges[name] = {n for n in _imported(path) if n in MODULES and n != name}
    return edges


EDGES = _edges()


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_the_graph():
    assert len(MODULES) > 30
    assert "dse.space" in EDGES["dse.plan"] and "dse.study.layout" in EDGES["dse.study.handle"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(EDGES) == []


def _layer(name: str) -> int:
    """0: the domain (space, plan, model, data, train, weights, ...), 1: the study layer (Optuna), 2: the report,
    3: the command line."""
    for prefix, layer in (("dse.cli", 3), ("dse.__main__", 3), ("dse.report", 2), ("dse.study", 1)):
        if name == prefix or name.startswith(prefix + "."):
            return layer
    return 0


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_arrow_points_up_the_layers(name):
    up = sorted(n for n in EDGES[name] if _layer(n) > _layer(name))
    assert not up, f"{name} imports {up} from a higher layer"


@pytest.mark.parametrize("name", PURE)
def test_the_pure_modules_need_neither_torch_nor_optuna(name):
    heavy = sorted(n for n in _imported(MODULES[name]) if n.split(".")[0] in HEAVY)
    assert not heavy, f"{name} imports {heavy}"
