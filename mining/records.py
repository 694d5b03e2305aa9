"""The record mining passes between its steps: ``Pair``, read from and written to ``pairs.jsonl``.

A pair is a natural-language query and the code that answers it, with its provenance
(which source mined it, from which repo, revision, file and function) so a user can trace
any training example back to the code it came from (the file's extension tells its
language). The text keys here (whitespace-normalised text and its sha1) are how every
mining step recognises duplicates.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from codehunt.index.errors import BadInputError
from codehunt.index.storage import read_jsonl_objects

PAIR_FIELDS = ("query", "positive", "positive_id", "source", "repo", "rev", "path", "qualname")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Pair:
    """One training pair: a query and its positive code, with provenance."""

    query: str
    positive: str
    positive_id: str
    source: str  # docstring | commit | issue | file
    repo: str = ""
    rev: str = ""
    path: str = ""
    qualname: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Pair":
        return cls(**{name: "" if record.get(name) is None else str(record[name]) for name in PAIR_FIELDS})


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space: the key for exact-duplicate checks."""
    return _WHITESPACE.sub(" ", text).strip()


def text_key(text: str) -> str:
    """sha1 of the whitespace-normalised text (duplicate detection without holding texts twice)."""
    return hashlib.sha1(normalize_whitespace(text).encode("utf-8")).hexdigest()


def source_name(path: Path) -> str:
    """The ``repo`` that pairs mined from ``path`` record: the folder as the user named it, without ``.git``.

    A link keeps its own name, not its target's: mirrors are often stored as ``.../owner+name/repo`` and linked
    as ``owner__name``, and the leakage rules (``mining.exclusions``) match on this name. ``..`` and ``.`` are
    normalised away as text, without following links.
    """
    name = Path(os.path.abspath(path)).name
    return name[: -len(".git")] if name.endswith(".git") else name


def make_positive_id(doc_id: str, repo: str = "", rev: str = "") -> str:
    """``repo:path::qualname@rev12``: unique across repos and revisions, no whitespace."""
    pid = doc_id
    if repo:
        pid = f"{repo}:{pid}"
    if rev:
        pid = f"{pid}@{rev[:12]}"
    return _WHITESPACE.sub("_", pid)


def read_pairs(path: Path) -> list[Pair]:
    """Read a ``pairs.jsonl``; every line needs at least ``query`` and ``positive``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist: pass a pairs.jsonl written by `codehunt mine pairs`")
    pairs: list[Pair] = []
    for number, record in read_jsonl_objects(path, "a pair record (string fields query and positive)"):
        if not isinstance(record.get("query"), str) or not isinstance(record.get("positive"), str):
            raise BadInputError(f"{path}:{number}: not a pair record (expected an object with string fields query and positive)")
        pair = Pair.from_json(record)
        if not pair.positive_id:
            pair = replace(pair, positive_id=f"pair-{number}")
        pairs.append(pair)
    if not pairs:
        raise BadInputError(f"{path} holds no pairs")
    return pairs
