"""The one git runner (index/git.py): stdout as bytes, stdin for batch commands, failures that name the folder."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from codehunt.index.errors import BadInputError
from codehunt.index.git import git

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "café.py").write_text("x = 1\n", encoding="utf-8")
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "one"]):
        subprocess.run(["git", *args], cwd=root, env={**os.environ, **ENV}, check=True, capture_output=True)
    return root


def test_output_stdin_and_unquoted_paths(repo: Path) -> None:
    assert git(["ls-tree", "--name-only", "HEAD"], repo) == "café.py\n".encode("utf-8")  # not "caf\303\251.py"
    sha = git(["rev-parse", "HEAD:café.py"], repo).strip()
    assert git(["cat-file", "--batch"], repo, input_bytes=sha + b"\n") == sha + b" blob 6\nx = 1\n\n"


def test_failures_name_the_command_and_the_folder(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=rf"git rev-parse --verify failed in {repo}: fatal: "):
        git(["rev-parse", "--verify", "no-such-rev^{commit}"], repo)
    with pytest.raises(BadInputError, match="is not a directory: pass a git repository"):
        git(["status"], tmp_path / "missing")
