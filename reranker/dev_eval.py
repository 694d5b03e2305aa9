"""Dev-set evaluation while a reranker trains: the reranked first stage's nDCG@10 every N steps, the best kept.

Why: a reranker is judged by what it does to the candidates it is given (the README's reranker table), and the
last step is not always the best one. ``--dev`` names BEIR folders (e.g. ``../shared/data/cosqa``); each set
keeps a seeded sample of ``--dev-queries`` judged queries and a corpus sample (``training.dev_sets``). Their
first stage is BM25 over that sample, built once: its top ``--dev-depth`` per query is what the reranker
reorders at every evaluation, and the BM25 order's own nDCG@10 is reported beside it. BM25 needs no model, so
the candidates do not move while the reranker trains. The cost is queries x depth cross-encoder pairs, without
gradients (200 x 20 pairs take about a minute on a 2-core CPU at 128 tokens). Figures on the sample choose
between steps of one run; report with ``benchmarks/rerank_quality.py``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from codehunt.index.bm25 import BM25Index
from codehunt.index.metrics import evaluate_run
from codehunt.index.tokenize import tokenize_code
from codehunt.training.dev_sets import load_dev_sets

Scorer = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""(queries, texts) -> one relevance score per pair: the model being trained, in eval mode."""


@dataclass(frozen=True)
class RerankDevSet:
    """One dev split with its fixed BM25 candidates: per query, the doc ids in BM25 order and their texts."""

    name: str
    queries: dict[str, str]  # sampled query id -> text
    qrels: dict[str, dict[str, int]]
    candidates: dict[str, list[str]]  # query id -> doc ids, BM25 order
    texts: dict[str, str]  # doc id -> text, every candidate
    first_stage_ndcg: float


def load_rerank_dev_sets(
    folders: tuple[str, ...], split: str, corpus_size: int, queries: int, depth: int, seed: int
) -> list[RerankDevSet]:
    """Each folder's ``split``: up to ``queries`` judged queries (seeded) and BM25's top ``depth`` for each over
    the corpus sample."""
    sets = []
    for dev in load_dev_sets(folders, split, corpus_size, seed):
        judged = sorted(q for q in dev.queries if dev.qrels.get(q))
        chosen = sorted(random.Random(seed).sample(judged, min(queries, len(judged))))
        bm25 = BM25Index.build([tokenize_code(text) for text in dev.doc_texts])
        candidates, first_stage = {}, {}
        for qid in chosen:
            docs, scores = bm25.top_k(tokenize_code(dev.queries[qid]), min(depth, len(dev.doc_ids)))
            candidates[qid] = [dev.doc_ids[int(d)] for d in docs]
            first_stage[qid] = {dev.doc_ids[int(d)]: float(s) for d, s in zip(docs, scores)}
        text_of = dict(zip(dev.doc_ids, dev.doc_texts))
        texts = {doc: text_of[doc] for docs in candidates.values() for doc in docs}
        qrels = {qid: dev.qrels[qid] for qid in chosen}
        ndcg = evaluate_run(qrels, first_stage, ks=(10,)).aggregate["ndcg_at_10"] if chosen else 0.0
        sets.append(RerankDevSet(dev.name, {q: dev.queries[q] for q in chosen}, qrels, candidates, texts, ndcg))
    return sets


def rerank_ndcg(score: Scorer, sets: list[RerankDevSet]) -> dict[str, float]:
    """nDCG@10 of each set's BM25 candidates in ``score``'s order (all of a set's pairs in one call)."""
    results = {}
    for dev in sets:
        pairs = [(qid, doc) for qid, docs in dev.candidates.items() for doc in docs]
        if not pairs:
            results[dev.name] = 0.0
            continue
        values = np.asarray(score([dev.queries[q] for q, _ in pairs], [dev.texts[d] for _, d in pairs]), dtype=np.float64)
        run: dict[str, dict[str, float]] = {}
        for (qid, doc), value in zip(pairs, values.tolist()):
            run.setdefault(qid, {})[doc] = value
        results[dev.name] = evaluate_run(dev.qrels, run, ks=(10,)).aggregate["ndcg_at_10"]
    return results
