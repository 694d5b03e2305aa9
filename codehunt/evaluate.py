"""Evaluate a system (dense, BM25, hybrid, optionally reranked) on a BEIR split.

The run is scored with :func:`index.metrics.evaluate_run`, whose numbers equal
pytrec_eval's on the TREC run file written alongside, so any figure can be re-checked
independently.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codehunt.index.beir import load_beir
from codehunt.index.encoder import EncoderConfig
from codehunt.index.errors import IncompatibleIndexError
from codehunt.index.paths import cache_root
from codehunt.index.index import Index, IndexConfig
from codehunt.index.metrics import MetricReport, evaluate_run
from codehunt.index.types import Hit

if TYPE_CHECKING:
    from codehunt.reranker.model import Rescorer

log = logging.getLogger(__name__)

RUN_DEPTH = 100


@dataclass(frozen=True)
class EvalResult:
    """Metrics plus the run they were computed from."""

    report: MetricReport
    run: dict[str, dict[str, float]]
    seconds: float
    index_path: Path


def default_index_path(corpus_path: Path, model: str) -> Path:
    """Where an evaluation index of ``corpus_path`` built with ``model`` is cached."""
    stat = corpus_path.stat()
    key = f"{corpus_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{model}"
    model_dir = Path(model)
    if model_dir.is_dir():  # a retrained model at the same path must not reuse the old index
        key += "|" + ",".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(model_dir.glob("*.safetensors")))
    return cache_root() / "eval-indexes" / f"{corpus_path.parent.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def open_or_build_index(corpus_path: Path, index_path: Path | None, model: str | None, show_progress: bool = False) -> Index:
    """Reuse a complete index at ``index_path`` (or the cache), else build it (``model`` None: the default model).

    A ``model`` that differs from the one an existing index was built with is an error.
    """
    path = index_path or default_index_path(corpus_path, model or "default")
    if (path / "manifest.json").is_file():
        index = Index.load(path)
        if model is not None and index.manifest.encoder.name != model:
            raise IncompatibleIndexError(
                f"{path} was built with model {index.manifest.encoder.name}, not {model}: drop --model or pass another --index"
            )
        return index
    log.info("building an index of %s at %s", corpus_path, path)
    return Index.build(corpus_path, path, IndexConfig(encoder=EncoderConfig(model=model or "default")), show_progress=show_progress)


def run_queries(
    index: Index,
    queries: dict[str, str],
    mode: str,
    depth: int = RUN_DEPTH,
    rescorer: "Rescorer | None" = None,
    rerank_depth: int = 50,
    show_progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Search every query; with a rescorer, its top ``rerank_depth`` are rescored and placed first."""
    qids = list(queries)
    hits_per_query: list[list[Hit]] = index.search_many([queries[q] for q in qids], depth, mode, show_progress)  # type: ignore[arg-type]
    run: dict[str, dict[str, float]] = {}
    for qid, hits in zip(qids, hits_per_query):
        if rescorer is not None:
            from codehunt.reranker.model import rerank_head

            hits = rerank_head(rescorer, queries[qid], hits, rerank_depth, index.hit_texts)
        # scores from rank keep the fused/reranked order exact under trec_eval's tie rule
        run[qid] = {hit.doc_id: float(len(hits) - position) for position, hit in enumerate(hits)}
    return run


def evaluate_beir(
    folder: Path,
    split: str | None = None,
    index_path: Path | None = None,
    model: str | None = None,
    mode: str = "hybrid",
    rescorer: object | None = None,
    rerank_depth: int = 50,
    show_progress: bool = False,
) -> EvalResult:
    """Search every query of ``split`` (None: the default split of :mod:`codehunt.index.beir`) and score the run."""
    data = load_beir(folder, split)
    index = open_or_build_index(data.corpus_path, index_path, model, show_progress)
    started = time.perf_counter()
    run = run_queries(index, data.queries, mode, RUN_DEPTH, rescorer, rerank_depth, show_progress)
    seconds = time.perf_counter() - started
    return EvalResult(evaluate_run(data.qrels, run), run, seconds, index.path)
