"""Leakage rules: projects never to mine training pairs from, and corpora never to train on.

The evaluation uses real repositories and packages (some held out); a model trained on their code or history
would be judged on what it memorised. The rules come from a plain file (``training_exclusions.txt`` in the shared
data): one ``github owner/name`` or ``pypi name`` per line, ``#`` comments, and the evaluation corpora named as
``data/<set>/corpus.jsonl`` paths relative to the folder above the file's own. A pair is dropped when its
repository or any folder of its path (leading underscores aside: ``_pytest``, a vendored ``_click``) is one of
those projects; mining from an evaluation corpus is
refused outright.

A pair is also dropped when its positive is a copy of a document of those corpora (the same code once
docstrings, comments and whitespace are removed, :func:`code_key`): popular packages are vendored and copied
across repositories, and the corpora were drawn from public code, so a mined function can be the very function
a held-out query is judged against.

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
_DOCSTRING = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'')
_LINE_COMMENT = re.compile(r"(?m)^\s*(#|//).*$")
IMPORT_NAMES = {"scikit-learn": ("sklearn",), "pytest": ("_pytest",), "pyyaml": ("yaml",), "beautifulsoup4": ("bs4",)}
"""Projects whose package folder is not spelled like their ``pypi`` name: the folder names are excluded too."""


def code_key(code: str) -> str:
    """The code with docstrings, whole-line comments and all whitespace removed: equal keys mean a copy."""
    return "".join(_LINE_COMMENT.sub("", _DOCSTRING.sub("", code)).split())


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
    corpus_keys: frozenset[str] = frozenset()
    """:func:`code_key` of every document of the evaluation corpora that exist on this machine."""

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
                names.update(normalise_name(alias) for alias in IMPORT_NAMES.get(normalise_name(value), ()))
            else:
                raise BadInputError(f"{path}:{number}: expected 'github owner/name' or 'pypi name', got {line!r}")
        return cls(frozenset(repositories), frozenset(names), tuple(corpora), str(path), _corpus_keys(corpora))

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
        """Why ``pair`` may not be trained on: its repository, or the package its path lies in, is excluded,
        or its positive is a copy of an evaluation-corpus document (the reason then starts with ``copy``)."""
        reason = self.repo_reason(pair.repo)
        for folder in pair.path.split("/")[:-1] if reason is None else ():  # vendored copies sit deeper: pip/_vendor/requests
            package = normalise_name(folder.lstrip("_"))  # _pytest, ray's _click
            if package in self.names:
                reason = f"excluded package {package}"
                break
        if reason is None and self.corpus_keys and code_key(pair.positive) in self.corpus_keys:
            reason = "copy of an evaluation-corpus document"
        return reason

    def check_source(self, source: Path) -> None:
        """Refuse to mine from an evaluation corpus (the file itself or its BEIR folder)."""
        resolved = Path(source).resolve()
        for corpus in self.corpora:
            if resolved == corpus.resolve() or resolved == corpus.resolve().parent:
                raise BadInputError(
                    f"{source} is an evaluation corpus ({self.source} says never to train on it): mine another source"
                )


def _corpus_keys(corpora: "tuple[Path, ...] | list[Path]") -> frozenset[str]:
    """:func:`code_key` of every ``text`` in the corpora that exist (a missing one has nothing to copy from)."""
    import json

    keys: set[str] = set()
    for corpus in corpora:
        if corpus.is_file():
            with corpus.open(encoding="utf-8") as handle:
                keys.update(code_key(json.loads(line).get("text", "")) for line in handle if line.strip())
    keys.discard("")
    return frozenset(keys)
