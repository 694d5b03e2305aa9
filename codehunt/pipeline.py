"""Search pipelines that wire an index to an optional reranker."""
from __future__ import annotations

from pathlib import Path

from codehunt.index.index import Index
from codehunt.index.types import Hit


def search_index(
    index_path: Path, query: str, k: int = 10, mode: str = "hybrid", rerank: Path | None = None, rerank_depth: int = 50,
    rerank_fusion: float = 0.0,
) -> list[Hit]:
    """Load ``index_path`` and answer one query, optionally rescoring the top candidates.

    ``rerank_fusion`` weights the first stage's order in an RRF with the reranker's (0: reranker alone).
    """
    index = Index.load(index_path)
    if rerank is None:
        return index.search(query, k, mode)  # type: ignore[arg-type]
    from codehunt.reranker.model import load_rescorer, rerank_head

    candidates = index.search(query, max(k, rerank_depth), mode)  # type: ignore[arg-type]
    rescorer = load_rescorer(rerank, first_stage_weight=rerank_fusion)
    return rerank_head(rescorer, query, candidates, rerank_depth, index.hit_texts)[:k]
