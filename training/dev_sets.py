"""Dev sets for training-time evaluation: a BEIR split's queries and qrels with a fixed sample of its corpus.

Both trainers score a dev set every N steps (``retriever.dev_eval``: dense nDCG@10; ``reranker.dev_eval``: the
reranked first stage's nDCG@10) and publish the best step. Evaluating against the whole corpus would take
minutes on a CPU, so a set keeps every judged document plus seeded random others up to a size: the figures are
higher than the full corpus gives (fewer distractors), fine for choosing between checkpoints of one run and
wrong for reporting (report with ``codehunt eval``).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from codehunt.index.beir import load_beir, read_corpus


@dataclass(frozen=True)
class DevSet:
    """One dev split, ready to score: its queries, qrels and the sampled documents (ids and texts in one order)."""

    name: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    doc_ids: list[str]
    doc_texts: list[str]


def load_dev_sets(folders: tuple[str, ...], split: str, corpus_size: int, seed: int) -> list[DevSet]:
    """Each BEIR folder's ``split``: its queries and qrels, all judged documents and random others up to ``corpus_size``."""
    sets = []
    for folder in folders:
        data = load_beir(Path(folder), split)
        corpus = read_corpus(data.corpus_path)
        judged = sorted({doc for grades in data.qrels.values() for doc in grades if doc in corpus})
        others = sorted(set(corpus) - set(judged))
        extra = random.Random(seed).sample(others, max(0, min(len(others), corpus_size - len(judged))))
        doc_ids = judged + sorted(extra)
        sets.append(DevSet(Path(folder).name, dict(data.queries), data.qrels, doc_ids,
                           [str(corpus[doc].get("text", "")) for doc in doc_ids]))
    return sets
