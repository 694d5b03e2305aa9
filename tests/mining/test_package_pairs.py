"""benchmarks/package_pairs.py: its helpers on local files (wheels, sdists, unpacked Debian trees); nothing is
downloaded."""
from __future__ import annotations

import importlib.util
import io
import json
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from codehunt.mining.exclusions import Exclusions, normalise_name

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "package_pairs.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("package_pairs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as handle:
        handle.writestr("toy/__init__.py", '"""Toy."""\n')
        handle.writestr("toy/core.py", "def f():\n    return 1\n")
        handle.writestr("toy-1.2.dist-info/METADATA", "Name: toy\n")
    return path


def make_sdist(path: Path, members: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as handle:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("filename, expected", [
    ("SQLAlchemy-2.0.23-cp311-cp311-manylinux_2_17_x86_64.whl", ("SQLAlchemy", "2.0.23")),
    ("ruamel.yaml-0.18.5-py3-none-any.whl", ("ruamel.yaml", "0.18.5")),
    ("toy-1.2-1-py3-none-any.whl", ("toy", "1.2")),  # a build tag
    ("python-dateutil-2.8.2.tar.gz", ("python-dateutil", "2.8.2")),
    ("pdfminer.six-20231228.zip", ("pdfminer.six", "20231228")),
    ("toy-1.2.whl", None),  # too few parts for a wheel
    ("README.md", None),
])
def test_distribution_name(script, filename, expected):
    assert script.distribution_name(filename) == expected


def test_a_wheel_unpacks_as_it_is(script, tmp_path):
    target = script.unpack_distribution(make_wheel(tmp_path / "toy-1.2-py3-none-any.whl"), tmp_path / "out" / "toy-1.2")
    assert sorted(str(path.relative_to(target)) for path in target.rglob("*") if path.is_file()) == [
        "toy-1.2.dist-info/METADATA", "toy/__init__.py", "toy/core.py"]
    assert not (tmp_path / "out" / "toy-1.2.partial").exists()


def test_an_sdist_loses_its_top_folder_and_a_stale_staging_folder(script, tmp_path):
    archive = make_sdist(tmp_path / "toy-1.2.tar.gz", {"toy-1.2/setup.py": "", "toy-1.2/src/toy/core.py": "x = 1\n"})
    (tmp_path / "toy-1.2.partial").mkdir()
    (tmp_path / "toy-1.2.partial" / "half.py").write_text("", encoding="utf-8")  # left by a killed run
    target = script.unpack_distribution(archive, tmp_path / "toy-1.2")
    assert sorted(str(path.relative_to(target)) for path in target.rglob("*") if path.is_file()) == [
        "setup.py", "src/toy/core.py"]
    assert not (tmp_path / "toy-1.2.partial").exists()


def test_an_sdist_member_outside_the_target_is_refused(script, tmp_path):
    archive = make_sdist(tmp_path / "evil-1.0.tar.gz", {"evil-1.0/ok.py": "", "../outside.py": ""})
    with pytest.raises(tarfile.TarError):
        script.unpack_distribution(archive, tmp_path / "out" / "evil-1.0")
    assert not (tmp_path / "outside.py").exists() and not (tmp_path / "out" / "evil-1.0").exists()


def test_downloaded_matches_names_as_pep_503_does(script, tmp_path):
    make_wheel(tmp_path / "ruamel.yaml-0.18.5-py3-none-any.whl")
    make_wheel(tmp_path / "ruamel.yaml.clib-0.2.8-cp311-cp311-manylinux_2_17_x86_64.whl")
    make_sdist(tmp_path / "python_dateutil-2.8.2.tar.gz", {"python_dateutil-2.8.2/setup.py": ""})
    assert script.downloaded(tmp_path, "Ruamel_YAML").name == "ruamel.yaml-0.18.5-py3-none-any.whl"
    assert script.downloaded(tmp_path, "python-dateutil").name == "python_dateutil-2.8.2.tar.gz"
    assert script.downloaded(tmp_path, "ruamel") is None


def test_prune_folders_removes_nested_testdata(script, tmp_path):
    for path in ("src/a/testdata/x.go", "src/a/testdata/deep/testdata/y.go", "src/b/testdata/z.go", "src/b/b.go"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("package x\n", encoding="utf-8")
    assert script.prune_folders(tmp_path, "testdata") == 3
    assert [str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.go")] == ["src/b/b.go"]


def test_installed_packages(script):
    site = Path(sysconfig.get_paths()["purelib"])
    assert {"pytest", "_pytest"} <= set(script.installed_packages("pytest", site))
    assert script.installed_packages("no-such-distribution-anywhere", site) is None


def test_concatenate_and_pairs_per_language(script, tmp_path):
    rows = {"py-a.jsonl": ["a/x.py", "a/y.py", "a/include/a.h"], "rb-b.jsonl": ["lib/b.rb"],
            "go-c.jsonl": ["c/c.go", "c/README"]}
    parts = []
    for name, paths in rows.items():
        parts.append(tmp_path / name)
        parts[-1].write_text("".join(json.dumps({"path": path}) + "\n" for path in paths), encoding="utf-8")
    script.concatenate(parts, tmp_path / "all.jsonl")
    assert [json.loads(line)["path"] for line in (tmp_path / "all.jsonl").open(encoding="utf-8")] == [
        "a/x.py", "a/y.py", "a/include/a.h", "lib/b.rb", "c/c.go", "c/README"]
    assert script.pairs_per_language(tmp_path / "all.jsonl") == {"c": 1, "go": 1, "other": 1, "python": 2, "ruby": 1}


def test_every_language_has_a_part_prefix(script):
    assert script.PREFIX == {"python": "py", "ruby": "rb", "go": "go"}


def test_the_default_lists_name_no_excluded_project(script, shared_data):
    names = Exclusions.read(shared_data / "training_exclusions.txt").names
    assert [name for name in script.PYPI if normalise_name(name) in names] == []
    # Debian names a package after its repository: golang-github-<owner>-<name>-dev, ruby-<name>
    named = [package for package in (*script.GO, *script.RUBY)
             if any(f"-{name}-dev" in package or package == f"ruby-{name}" for name in names)]
    assert named == []


def test_localization_dev_repositories_are_never_mined(script, tmp_path):
    (tmp_path / "swebench").mkdir()
    rows = [{"repo": "sqlfluff/sqlfluff"}, {"repo": "pyvista/pyvista"}, {"repo": "pydata/xarray"},
            {"repo": "pvlib/pvlib-python"}, {"repo": "scikit-learn/scikit-learn"}]
    (tmp_path / "swebench" / "lite_dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "swebench" / "lite_dev_gold.jsonl").write_text(json.dumps({"repo": "gold/only"}) + "\n", encoding="utf-8")
    names = script.localization_dev_names(tmp_path)
    assert names == {"sqlfluff", "pyvista", "xarray", "pvlib-python", "pvlib", "scikit-learn", "sklearn"}
    pairs = tmp_path / "pairs.jsonl"
    kept_row = {"query": "q", "positive": "def f(): pass", "positive_id": "a", "source": "docstring",
                "repo": "numpy", "path": "numpy/core/f.py"}
    rows = [kept_row,
            {**kept_row, "positive_id": "b", "repo": "sqlfluff-2.3.5", "path": "sqlfluff/core/parser.py"},
            {**kept_row, "positive_id": "c", "repo": "vtk-tools", "path": "src/_pyvista/plot.py"}]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    dropped = script.drop_projects(pairs, names)
    assert [json.loads(line)["positive_id"] for line in pairs.open(encoding="utf-8")] == ["a"]
    assert sum(dropped.values()) == 2 and not (tmp_path / "pairs.jsonl.partial").exists()
