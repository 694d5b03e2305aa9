"""Running ``git``: the one helper every layer calls (reading revisions, mining history, localizing issues).

Streaming readers (``git log -p``, a long-lived ``cat-file --batch``) live where they are used
(:mod:`codehunt.mining.gitio`); this runs one command to completion and returns its stdout.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

from codehunt.index.errors import BadInputError


def git(args: Sequence[str], cwd: Path, input_bytes: bytes | None = None) -> bytes:
    """Run ``git args`` in ``cwd`` (paths printed unquoted) and return its stdout.

    ``input_bytes`` is fed to stdin (``cat-file --batch``). A missing ``git`` or a non-zero exit
    is a :class:`BadInputError` naming the command, the folder and git's first error line.
    """
    try:
        result = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args], cwd=cwd, input=input_bytes, capture_output=True, check=False
        )
    except FileNotFoundError as exc:  # no git on PATH, or no folder ``cwd``
        if not Path(cwd).is_dir():
            raise BadInputError(f"{cwd} is not a directory: pass a git repository (work tree or bare)") from exc
        raise BadInputError("git is not installed: it is needed to read a repository's files and history") from exc
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BadInputError(f"git {' '.join(args[:2])} failed in {cwd}: {message[0] if message else 'unknown error'}")
    return result.stdout
