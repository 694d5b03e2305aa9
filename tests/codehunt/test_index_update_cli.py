"""``codehunt index update`` and incremental ``index build``: one summary line, bad input is one line and exit code 1."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from typer.testing import CliRunner

from codehunt.cli import app

runner = CliRunner()
ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, env={**os.environ, **ENV}, check=True, capture_output=True,
                          text=True).stdout.strip()


def search_json(index: Path, query: str) -> list[dict]:
    result = runner.invoke(app, ["search", query, "-i", str(index), "--json", "--mode", "bm25", "--service", "off"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_update_a_directory_index_and_build_onto_it(tmp_path: Path) -> None:
    src, index = tmp_path / "src", tmp_path / "idx"
    src.mkdir()
    (src / "a.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    (src / "b.py").write_text("def sub(a, b):\n    return a - b\n", encoding="utf-8")
    built = runner.invoke(app, ["index", "build", str(src), "-o", str(index)])
    assert built.exit_code == 0, built.output
    assert "2 files read, 2 units chunked, 2 of 2 new unit texts embedded" in built.stderr
    (src / "b.py").write_text("def multiply(a, b):\n    return a * b\n", encoding="utf-8")
    updated = runner.invoke(app, ["index", "update", str(index)])
    assert updated.exit_code == 0, updated.output
    lines = updated.stderr.strip().splitlines()
    summary = "2 files read, 1 unchanged, 1 units chunked, 1 of 1 new unit texts embedded"
    assert lines == [f"updated {index}: {summary}; 2 units (2 chunks)"]  # one line: the bar is transient, the encoder draws none
    assert [hit["qualname"] for hit in search_json(index, "multiply")] == ["multiply"]
    rebuilt = runner.invoke(app, ["index", "build", str(src), "-o", str(index), "--fresh"])
    assert rebuilt.exit_code == 0 and "2 of 2 new unit texts embedded" in rebuilt.stderr


def test_update_a_git_index_follows_its_branch_and_moves_with_rev(tmp_path: Path) -> None:
    repo, index = tmp_path / "repo", tmp_path / "idx"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("def old_name():\n    return 1\n", encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD")
    assert runner.invoke(app, ["index", "build", str(repo), "--rev", "HEAD", "-o", str(index)]).exit_code == 0
    (repo / "a.py").write_text("def new_name():\n    return 2\n", encoding="utf-8")
    git(repo, "commit", "-qam", "two")
    assert runner.invoke(app, ["index", "update", str(index)]).exit_code == 0  # HEAD looked up again
    assert [hit["qualname"] for hit in search_json(index, "new name")] == ["new_name"]
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["source"] == {"kind": "git", "path": str(repo.resolve()), "rev": "HEAD", "commit": git(repo, "rev-parse", "HEAD")}
    moved = runner.invoke(app, ["index", "update", str(index), "--rev", first])
    assert moved.exit_code == 0 and "0 of 0 new unit texts embedded" in moved.stderr  # its vectors were stored
    assert [hit["qualname"] for hit in search_json(index, "old name")] == ["old_name"]


def test_bad_input_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    src, index = tmp_path / "src", tmp_path / "idx"
    src.mkdir()
    (src / "a.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    not_an_index = runner.invoke(app, ["index", "update", str(src)])
    assert not_an_index.exit_code == 1
    assert not_an_index.stderr.strip().splitlines() == [
        f"error: {src / 'manifest.json'} is missing: {src} is not a complete codehunt index; rebuild it"]
    assert runner.invoke(app, ["index", "build", str(src), "-o", str(index)]).exit_code == 0
    src.rename(tmp_path / "moved")
    gone = runner.invoke(app, ["index", "update", str(index)])
    assert gone.exit_code == 1
    assert gone.stderr.strip().splitlines() == [
        f"error: {index} was built from {src}, which no longer exists: rebuild it with `codehunt index build SOURCE -o {index}`"]


def test_an_update_with_nothing_changed_says_so(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text('def multiply(a, b):\n    """Multiply two numbers."""\n    return a * b\n', encoding="utf-8")
    then = time.time() - 3600
    os.utime(src / "m.py", (then, then))
    index = tmp_path / "idx"
    assert runner.invoke(app, ["index", "build", str(src), "-o", str(index)]).exit_code == 0
    result = runner.invoke(app, ["index", "update", str(index)])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines() == [f"{index} is up to date: no file, setting or model changed since "
                                                  f"{json.loads((index / 'manifest.json').read_text())['created_at']}"]
