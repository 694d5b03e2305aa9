"""Leakage rules: projects never to mine training pairs from, and corpora never to train on.

The evaluation uses real repositories and packages (some held out); a model trained on their code or history
would be judged on what it memorised. The rules come from a plain file (``training_exclusions.txt`` in the shared
data): one ``github owner/name`` or ``pypi name`` per line, ``#`` comments, and the evaluation corpora named as
``data/<set>/corpus.jsonl`` paths relative to the folder above the file's own. A pair is dropped when its
repository or the top-level package of its path is one of those projects; mining from an evaluation corpus is
refused outright.

Matching is by name, conservatively: a checkout called ``requests`` (or ``psf__requests``) counts as
``psf/requests`` even if it were another project of that name, because a leak costs more than a lost repository.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from codehunt.index.errors import BadInputError
from codehunt.mining.records import Pair

_CORPUS = re.compile(r"data/[\w.-]+/corpus\.jsonl")


def normalise_name(name: str) -> str:
    """``Flask`` / ``flask.git`` / ``zope_interface`` / ``zope-interface`` -> one spelling (PEP 503, lower case)."""
    name = name.strip().lower().removesuffix(".git")
    return re.sub(r"[-_.]+", "-", name)


@dataclass(frozen=True)
class Exclusions:
    """Excluded repositories (``owner/name``), their bare names, package names, and evaluation corpora."""

    repositories: frozenset[str]
    names: frozenset[str]
    corpora: tuple[Path, ...]
    source: str = ""

    @classmethod
    def read(cls, path: Path) -> "Exclusions":
        path = Path(path)
        if not path.is_file():
            raise BadInputError(f"{path} does not exist: pass the training_exclusions.txt of the shared data")
        repositories: set[str] = set()
        names: set[str] = set()
        corpora: list[Path] = []
        root = path.resolve().parent.parent
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            corpora += [root / match for match in _CORPUS.findall(line)]
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            kind, _, value = line.partition(" ")
            value = value.strip()
            if kind == "github" and "/" in value:
                repositories.add(value.lower())
                names.add(normalise_name(value.split("/", 1)[1]))
            elif kind == "pypi" and value:
                names.add(normalise_name(value))
            else:
                raise BadInputError(f"{path}:{number}: expected 'github owner/name' or 'pypi name', got {line!r}")
        return cls(frozenset(repositories), frozenset(names), tuple(corpora), str(path))

    def repo_reason(self, repo: str) -> str | None:
        """Why pairs from ``repo`` (``owner/name``, ``owner__name`` or a checkout's folder name) are excluded."""
        if not repo:
            return None
        spelled = repo.strip().lower().removesuffix(".git").replace("__", "/")
        if spelled in self.repositories:
            return f"excluded repository {spelled}"
        name = normalise_name(spelled.rsplit("/", 1)[-1])
        return f"excluded project {name}" if name in self.names else None

    def pair_reason(self, pair: Pair) -> str | None:
        """Why ``pair`` may not be trained on: its repository, or the package its path lies in, is excluded."""
        reason = self.repo_reason(pair.repo)
        if reason is None and pair.path and "/" in pair.path:
            package = normalise_name(pair.path.split("/", 1)[0])
            if package in self.names:
                reason = f"excluded package {package}"
        return reason

    def check_source(self, source: Path) -> None:
        """Refuse to mine from an evaluation corpus (the file itself or its BEIR folder)."""
        resolved = Path(source).resolve()
        for corpus in self.corpora:
            if resolved == corpus.resolve() or resolved == corpus.resolve().parent:
                raise BadInputError(
                    f"{source} is an evaluation corpus ({self.source} says never to train on it): mine another source"
                )
