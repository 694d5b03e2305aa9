"""The unit table of an index: its units (one per function, class, module remainder or window), by file and name.

An index holds chunks; a unit longer than the encoder window has several chunks (parts ``~2``, ``~3``...) that
share its unit id, and search reports units. Callers that reason about units (file rankings, evidence that
names a function, gold matching) look them up here instead of walking the chunks.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable, Sequence

from codehunt.index.types import Chunk

UNNAMED_KINDS = ("window", "document")
"""Chunk kinds whose qualname is not a definition's name (line windows, BEIR documents)."""


class UnitTable:
    """Per-unit lookups over the chunks of one index, built in one pass.

    ``first``: unit id -> position of its first chunk (the part that starts with its signature);
    ``by_path``: file -> its unit ids, in chunk order; ``paths``: every file, sorted;
    ``by_qualname`` and ``by_name`` (the last dotted part, ``Cart.total`` -> ``total``): unit ids of named
    definitions only (not windows, documents or ``<module>``-style placeholders).
    """

    def __init__(self, chunks: Sequence[Chunk]):
        self.chunks = chunks
        self.first: dict[str, int] = {}
        for position, chunk in enumerate(chunks):
            self.first.setdefault(chunk.unit, position)
        self.by_path: dict[str, list[str]] = defaultdict(list)
        self.by_name: dict[str, list[str]] = defaultdict(list)
        self.by_qualname: dict[str, list[str]] = defaultdict(list)
        for unit, position in self.first.items():
            chunk = chunks[position]
            self.by_path[chunk.path].append(unit)
            if chunk.qualname and not chunk.qualname.startswith("<") and chunk.kind not in UNNAMED_KINDS:
                self.by_name[chunk.qualname.rsplit(".", 1)[-1]].append(unit)
                self.by_qualname[chunk.qualname].append(unit)
        self.paths: list[str] = sorted(self.by_path)

    def __len__(self) -> int:
        return len(self.first)

    def chunk(self, unit: str) -> Chunk:
        """The first chunk of ``unit`` (KeyError for an id the index does not hold)."""
        return self.chunks[self.first[unit]]


def best_per_unit(
    chunks: Sequence[Chunk], pairs: Iterable[tuple[int, float]], depth: int, keep: Callable[[Chunk], bool] | None = None
) -> list[tuple[int, float]]:
    """Chunk ``(position, score)`` pairs from several ranked lists -> each unit's best, as ``(position, score)``.

    The pooling of MaxP (Dai & Callan, 2019): a unit scores its best chunk over every list (one list per query
    passage). Positions below 0 (FAISS's padding) and chunks ``keep`` rejects are dropped; the ``depth`` best
    units come back by score, ties by unit id, each with the position of the chunk that gave its score.
    """
    best: dict[str, tuple[float, int]] = {}
    for position, score in pairs:
        if position < 0:
            continue
        chunk = chunks[position]
        if keep is not None and not keep(chunk):
            continue
        if chunk.unit not in best or score > best[chunk.unit][0]:
            best[chunk.unit] = (float(score), position)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:depth]
    return [(position, score) for _, (score, position) in ranked]
