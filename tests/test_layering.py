"""Layering (STYLE.md): index <- retriever, reranker <- mining <- codehunt. A module imports only its layer or below."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEVEL = {"index": 0, "retriever": 1, "reranker": 1, "mining": 2, "codehunt": 3}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LEVEL)


@pytest.mark.parametrize("package", sorted(LEVEL))
def test_no_module_imports_from_a_higher_layer(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for imported in imported_packages(path):
            if LEVEL[imported] > LEVEL[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert offenders == []


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from codehunt.cli import app\nimport mining.filter\n", encoding="utf-8")
    assert imported_packages(bad) == {"codehunt", "mining"}


def test_cli_help_imports_no_heavy_library():
    import subprocess
    import sys

    code = "import sys, codehunt.cli; print(sorted(m for m in ('torch', 'transformers', 'faiss', 'sentence_transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
