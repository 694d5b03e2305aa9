"""Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009) of several ranked lists."""
from __future__ import annotations

from typing import Sequence


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(d) = sum over lists of 1 / (k + rank(d)), ranks 1-based.

    RRF needs no score calibration between dense cosine and BM25, which is why it is the
    default hybrid. Ties keep the order of first appearance (list 0 first).
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])
