"""Layering (STYLE.md): index <- training <- retriever, reranker <- mining <- codehunt.

Every package installs under the one import name ``codehunt`` (``codehunt.index``, ...); a module imports only
its own layer or below, retriever/ and reranker/ never import each other (what both need lives in training/),
and nothing imports a bare ``index``/``mining``/``retriever``/``reranker``/``training``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEVEL = {"index": 0, "training": 1, "retriever": 2, "reranker": 2, "mining": 3, "codehunt": 4}
SUBPACKAGES = set(LEVEL) - {"codehunt"}
SOURCE_FOLDERS = ("codehunt", "index", "training", "retriever", "reranker", "mining", "tests", "benchmarks")


def imported_modules(path: Path) -> set[str]:
    """Absolute module names ``path`` imports (relative imports are not used in codehunt)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def layer_of(module: str) -> str | None:
    """``codehunt.index.bm25`` -> ``index``; ``codehunt.cli`` -> ``codehunt``; other libraries -> None."""
    parts = module.split(".")
    if parts[0] != "codehunt":
        return None
    if len(parts) > 1 and parts[1] in SUBPACKAGES:
        return parts[1]
    return "codehunt"


def imported_packages(path: Path) -> set[str]:
    return {layer for layer in map(layer_of, imported_modules(path)) if layer is not None}


@pytest.mark.parametrize("package", sorted(LEVEL))
def test_no_module_imports_from_a_higher_layer(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for imported in imported_packages(path):
            if LEVEL[imported] > LEVEL[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert offenders == []


@pytest.mark.parametrize("package, sibling", [("retriever", "reranker"), ("reranker", "retriever")])
def test_retriever_and_reranker_do_not_import_each_other(package, sibling):
    offenders = [
        str(path.relative_to(ROOT)) for path in sorted((ROOT / package).rglob("*.py")) if sibling in imported_packages(path)
    ]
    assert offenders == []


def test_no_bare_top_level_import_of_a_subpackage():
    offenders = []
    for folder in SOURCE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in imported_modules(path):
                if module.split(".")[0] in SUBPACKAGES:
                    offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from codehunt.cli import app\nimport codehunt.mining.filter\nimport index.bm25\n", encoding="utf-8")
    assert imported_packages(bad) == {"codehunt", "mining"}
    assert "index.bm25" in imported_modules(bad)


def test_cli_help_imports_no_heavy_library():
    import subprocess
    import sys

    code = "import sys, codehunt.cli; print(sorted(m for m in ('torch', 'transformers', 'faiss', 'sentence_transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_search_does_not_import_the_generated_commands(tmp_path):
    """mine, train and localize commands are generated from ~100 config dataclasses (codehunt.cli_lazy): a
    search must not import them, while `--help` and the commands themselves still find them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from codehunt.cli import app\n"
        "result = CliRunner().invoke(app, ['search', 'x', '-i', sys.argv[1], '--mode', 'bm25'])\n"
        "print(result.exit_code, sorted(m for m in ('codehunt.cli_mine', 'codehunt.cli_train', 'codehunt.cli_localize',"
        " 'codehunt.mining.filter', 'codehunt.localize') if m in sys.modules))\n"
        "help_text = CliRunner().invoke(app, ['--help']).output\n"
        "print(all(name in help_text for name in ('mine', 'train', 'localize')), 'codehunt.cli_mine' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing.idx")], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "1 []"  # the missing index is a bad-input error, and nothing generated was imported
    assert out[1] == "True True"
