"""The wheel installs exactly one top-level import name, ``codehunt`` (index/, retriever/, ... become subpackages).

Common names such as ``index`` or ``retriever`` installed at the top level would shadow a user's own modules (or
be shadowed by them) and collide with other distributions' files.
"""
from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = "import pkgutil, sys; print('\\n'.join(sorted(m.name for m in pkgutil.iter_modules() if m.name != '__main__')))"


def top_level_names(python: Path) -> set[str]:
    return set(subprocess.run([str(python), "-c", CODE], capture_output=True, text=True, check=True, cwd=python.parents[2]).stdout.split())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True,
    )
    (built,) = out.glob("codehunt-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}
        names = archive.namelist()
    assert tops == {"codehunt"}
    # every package of the source tree is in the wheel (a package missing from pyproject's list would not be)
    for folder in ("codehunt", "index", "training", "retriever", "reranker", "mining"):
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            relative = init.relative_to(ROOT).as_posix()
            inside = relative if folder == "codehunt" else f"codehunt/{relative}"
            assert inside in names, f"{relative} is not in the wheel: add its package to pyproject.toml"


@pytest.mark.slow
def test_installing_the_wheel_adds_only_codehunt(wheel, tmp_path):
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    before = top_level_names(python)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    after = top_level_names(python)
    assert after - before == {"codehunt"}
    assert (env / "bin" / "codehunt").is_file()  # the console script
    found = subprocess.run([str(python), "-c", "import codehunt.index.fusion as m; print(m.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert str(env) in found  # from the installed wheel, not the checkout
