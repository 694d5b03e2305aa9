"""Reading git history without a checkout: streamed ``git log -p`` and one long-lived ``cat-file``.

Mining commit pairs touches two revisions of a few files per commit; starting a ``git``
process per file would dominate the run time, so blobs are read through a single
``git cat-file --batch`` process that answers ``rev:path`` requests one by one.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from codehunt.index.errors import BadInputError
from codehunt.index.git import git  # noqa: F401 - re-exported: one git runner for every layer

_RECORD = re.compile(rb"\x1e(?=[0-9a-f]{40}(?:[0-9a-f]{24})?\x00)")
"""A commit record starts with the record separator, the commit's sha and a NUL. Diffs can hold the separator
(a text file with control characters: rich's tests do) but never a NUL, since git shows such files as binary."""
_FIELD = b"\x00"
_END_OF_MESSAGE = b"\x1f"


def is_git_repository(path: Path) -> bool:
    """True for a work tree or a bare repository."""
    if not path.is_dir():
        return False
    result = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=path, capture_output=True, check=False)
    return result.returncode == 0


@dataclass(frozen=True)
class Commit:
    """A non-merge commit: its sha, first parent (None for a root commit), message and ``-U0`` diff."""

    sha: str
    parent: str | None
    message: str
    diff: str


def iter_commits(repo: Path, rev: str = "HEAD", max_commits: int | None = None) -> Iterator[Commit]:
    """Stream the non-merge commits reachable from ``rev`` (a rev or range), newest first, with
    zero-context diffs (renames detected), one commit in memory at a time."""
    args = ["git", "-c", "core.quotepath=off", "log", "--no-merges", "--no-color", "--no-ext-diff", "-p", "-U0", "-M"]
    args += ["--format=%x1e%H%x00%P%x00%B%x1f"]
    if max_commits is not None:
        args.append(f"--max-count={max_commits}")
    args += [rev, "--"]
    try:
        process = subprocess.Popen(args, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise BadInputError("git is not installed: it is needed to mine a repository's history") from exc
    assert process.stdout is not None and process.stderr is not None
    try:
        for record in _records(process.stdout):
            head, _, diff = record.partition(_END_OF_MESSAGE)
            sha, parents, message = head.split(_FIELD, 2)
            parent_list = parents.decode("ascii").split()
            yield Commit(
                sha=sha.decode("ascii"),
                parent=parent_list[0] if parent_list else None,
                message=message.decode("utf-8", "replace").strip(),
                diff=diff.decode("utf-8", "replace"),
            )
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        error = process.stderr.read().decode("utf-8", "replace").strip()
        process.stderr.close()
        returncode = process.wait()
    if returncode not in (0, -9) and error:
        raise BadInputError(f"git log {rev} failed in {repo}: {error.splitlines()[0]}")


def _records(stream: IO[bytes]) -> Iterator[bytes]:
    buffer = b""
    for block in iter(lambda: stream.read(1 << 16), b""):
        buffer += block
        parts = _RECORD.split(buffer)
        buffer = parts.pop()
        for part in parts:
            if part:
                yield part
    if buffer:
        yield buffer


class BlobReader:
    """``rev:path`` -> bytes through one ``git cat-file --batch`` process (use as a context manager)."""

    def __init__(self, repo: Path):
        self.repo = repo
        try:
            self._process = subprocess.Popen(
                ["git", "cat-file", "--batch"], cwd=repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
        except FileNotFoundError as exc:
            raise BadInputError("git is not installed: it is needed to read a repository revision") from exc

    def read(self, rev: str, path: str) -> bytes | None:
        """The blob at ``rev:path``, or None when it does not exist there (or is not a file)."""
        if "\n" in path:
            return None
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(f"{rev}:{path}\n".encode("utf-8"))
        stdin.flush()
        header = stdout.readline()
        if not header:
            raise BadInputError(f"git cat-file stopped answering in {self.repo}")
        if header.rstrip().endswith((b" missing", b" ambiguous")):
            return None
        parts = header.split()
        size = int(parts[2])
        data = stdout.read(size)
        stdout.read(1)  # the newline after the contents
        return data if parts[1] == b"blob" else None

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process.wait()

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
