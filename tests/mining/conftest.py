"""Fixtures for mining tests: real git repositories built with real ``git`` commands in tmp_path."""
from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


class Repo:
    """A git work tree in tmp_path driven by real git commands."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        result = subprocess.run(["git", *args], cwd=self.root, env=env, capture_output=True, text=True, check=True)
        return result.stdout.strip()

    def write(self, path: str, text: str) -> None:
        full = self.root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    def commit(self, message: str, files: dict[str, str] | None = None, remove: tuple[str, ...] = ()) -> str:
        for path, text in (files or {}).items():
            self.write(path, text)
        for path in remove:
            self.git("rm", "-q", path)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path: Path):
    def make(name: str = "repo") -> Repo:
        return Repo(tmp_path / name)

    return make
