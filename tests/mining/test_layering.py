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
