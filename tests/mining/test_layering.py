"""mining/ imports only from its layer or below, and nothing heavy at module import time."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

MINING = Path(__file__).resolve().parents[2] / "mining"
HEAVY = {"torch", "faiss", "transformers", "sentence_transformers", "datasets", "rank_bm25"}


def module_level_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def all_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_mining_imports_only_its_layer_or_below() -> None:
    files = sorted(MINING.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        for name in all_imports(path):
            assert not (name.startswith("codehunt.") and name.split(".")[1] not in ("index", "training", "retriever", "reranker", "mining")), f"{path.name} imports {name} (the CLI layer is above mining)"
        heavy = [name for name in module_level_imports(path) if name.split(".")[0] in HEAVY]
        assert not heavy, f"{path.name} imports {heavy} at module level"


def test_importing_mining_modules_loads_no_heavy_library() -> None:
    modules = ", ".join(f"codehunt.mining.{p.stem}" for p in sorted(MINING.glob("*.py")) if p.stem != "__init__")
    code = f"import sys, {modules}; print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=MINING.parent, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def mining_import_graph(folder: Path, package: str = "codehunt.mining") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, at module level or inside functions (lazy imports count:
    they only postpone a circle to the first call)."""
    modules = {f"{package}.{path.stem}": path for path in sorted(folder.glob("*.py")) if path.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module in modules:
                    edges.add(node.module)
                elif node.module == package:  # from codehunt.mining import pairs
                    edges.update(f"{package}.{alias.name}" for alias in node.names if f"{package}.{alias.name}" in modules)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] when the graph has none (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def test_mining_has_no_import_cycle() -> None:
    graph = mining_import_graph(MINING)
    assert "codehunt.mining.records" in graph["codehunt.mining.docstring_pairs"]  # the graph sees real edges
    assert "codehunt.mining.docstring_pairs" in graph["codehunt.mining.pairs"]  # lazy imports included
    assert find_cycle(graph) == []


def test_the_cycle_finder_sees_a_lazy_circle(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from codehunt.mining.b import f\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("def f():\n    from codehunt.mining import c\n", encoding="utf-8")
    (tmp_path / "c.py").write_text("import codehunt.mining.a\n", encoding="utf-8")
    (tmp_path / "d.py").write_text("from codehunt.mining.a import x\n", encoding="utf-8")
    graph = mining_import_graph(tmp_path)
    assert find_cycle(graph) == ["codehunt.mining.a", "codehunt.mining.b", "codehunt.mining.c", "codehunt.mining.a"]
    (tmp_path / "c.py").write_text("import os\n", encoding="utf-8")
    assert find_cycle(mining_import_graph(tmp_path)) == []
