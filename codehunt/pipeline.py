"""Search pipelines that wire an index to an optional reranker."""
from __future__ import annotations

from pathlib import Path

from codehunt.index.index import Index
from codehunt.index.types import Hit


def search_index(
    index_path: Path, query: str, k: int = 10, mode: str = "hybrid", rerank: Path | None = None, rerank_depth: int = 50,
    rerank_fusion: float | None = None, fusion: str | None = None, dense_weight: float | None = None,
) -> tuple[Index, list[Hit]]:
    """Load ``index_path`` and answer one query, optionally rescoring the top candidates.

    ``rerank_fusion`` weights the first stage's order in an RRF with the reranker's (0: reranker alone);
    ``fusion`` and ``dense_weight`` override the index's recorded hybrid fusion for this query. Returns the
    index with the hits, so a caller can rank files from them.
    """
    index = Index.load(index_path, load_dense=mode != "bm25")  # a BM25 query never reads dense.faiss
    index.search_config = index.search_config.with_fusion(fusion, dense_weight)
    return index, _search(index, query, k, mode, rerank, rerank_depth, rerank_fusion)


def _search(
    index: Index, query: str, k: int, mode: str, rerank: Path | None, rerank_depth: int, rerank_fusion: float | None
) -> list[Hit]:
    if rerank is None:
        return index.search(query, k, mode)  # type: ignore[arg-type]
    from codehunt.reranker.model import load_rescorer, rerank_head

    candidates = index.search(query, max(k, rerank_depth), mode)  # type: ignore[arg-type]
    rescorer = load_rescorer(rerank, first_stage_weight=rerank_fusion, mode=mode)
    return rerank_head(rescorer, query, candidates, rerank_depth, index.hit_texts)[:k]


def search_loaded(
    index: Index, query: str, k: int, mode: str, rescorer: object | None = None, rerank_depth: int = 50
) -> list[Hit]:
    """One query on an open index with an already-loaded rescorer (or none): what ``codehunt serve`` runs.

    The same steps as :func:`search_index` after loading, so a warm service and an in-process search
    give the same hits.
    """
    if rescorer is None:
        return index.search(query, k, mode)  # type: ignore[arg-type]
    from codehunt.reranker.model import rerank_head

    candidates = index.search(query, max(k, rerank_depth), mode)  # type: ignore[arg-type]
    return rerank_head(rescorer, query, candidates, rerank_depth, index.hit_texts)[:k]  # type: ignore[arg-type]
