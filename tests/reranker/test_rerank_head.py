"""Rerank the head, keep the tail: one function for search, evaluation and localization (a toy rescorer, exact numbers)."""
from __future__ import annotations

import dataclasses
from typing import Sequence

from codehunt.index.types import Hit
from codehunt.reranker.model import Rescorer, rerank_head


def hit(rank: int) -> Hit:
    return Hit(rank=rank, score=10.0 - rank, doc_id=f"d{rank}", path="a.py", start_line=rank, end_line=rank,
               qualname=f"f{rank}", language="python", snippet=f"def f{rank}():")


class ByTextLength:
    """Scores each hit by the length of its text: a rescorer whose order is known by hand."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], list[str] | None]] = []

    def rescore(self, query: str, hits: list[Hit], texts: Sequence[str] | None = None) -> list[Hit]:
        self.calls.append((query, [h.doc_id for h in hits], None if texts is None else list(texts)))
        read = list(texts) if texts is not None else [h.snippet for h in hits]
        order = sorted(range(len(hits)), key=lambda i: (-len(read[i]), i))
        return [dataclasses.replace(hits[i], score=float(len(read[i])), rank=r) for r, i in enumerate(order, start=1)]


def test_head_is_reordered_and_the_tail_kept() -> None:
    hits = [hit(r) for r in range(1, 6)]
    rescorer = ByTextLength()
    assert isinstance(rescorer, Rescorer)
    texts = {"d1": "a", "d2": "abc", "d3": "ab"}
    out = rerank_head(rescorer, "q", hits, 3, lambda head: [texts[h.doc_id] for h in head])
    assert rescorer.calls == [("q", ["d1", "d2", "d3"], ["a", "abc", "ab"])]  # only the head is read, with its texts
    assert [(h.doc_id, h.rank, h.score) for h in out] == [
        ("d2", 1, 3.0), ("d3", 2, 2.0), ("d1", 3, 1.0), ("d4", 4, 6.0), ("d5", 5, 5.0)]


def test_tail_below_head_and_edge_depths() -> None:
    hits = [hit(r) for r in range(1, 5)]
    out = rerank_head(ByTextLength(), "q", hits, 2, tail_below_head=True)  # snippets "def f1():" and "def f2():", 9 chars
    assert [(h.doc_id, h.score) for h in out] == [("d1", 9.0), ("d2", 9.0), ("d3", 7.0), ("d4", 6.0)]  # floor 9: 9-1-1, 9-1-2
    rescorer = ByTextLength()
    assert [h.doc_id for h in rerank_head(rescorer, "q", hits, 0, lambda head: ["x"] * len(head))] == ["d1", "d2", "d3", "d4"]
    assert rescorer.calls == [("q", [], None)]  # an empty head asks for no texts
    assert [h.rank for h in rerank_head(ByTextLength(), "q", hits, 10)] == [1, 2, 3, 4]
    assert rerank_head(ByTextLength(), "q", [], 5) == []
