"""Dev evaluation while a reranker trains: fixed BM25 candidates from real CoSQA dev, scored every N steps, the
best step published and carried through a checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from codehunt.reranker.config import RerankerConfigError
from codehunt.reranker.dev_eval import load_rerank_dev_sets, rerank_ndcg
from codehunt.training.checkpoint import read_tensors
from tests.reranker.test_train import config, triples  # noqa: F401  (the module's triples fixture)


def test_candidates_are_bm25s_and_the_score_order_is_what_is_measured(shared_data: Path) -> None:
    (dev,) = load_rerank_dev_sets((str(shared_data / "cosqa"),), "dev", corpus_size=300, queries=12, depth=6, seed=0)
    assert dev.name == "cosqa" and len(dev.queries) == 12 and set(dev.qrels) == set(dev.queries)
    assert all(1 <= len(docs) <= 6 for docs in dev.candidates.values())
    assert {doc for docs in dev.candidates.values() for doc in docs} == set(dev.texts)
    position = {(q, d): i for q, docs in dev.candidates.items() for i, d in enumerate(docs)}
    pairs = [(q, d) for q, docs in dev.candidates.items() for d in docs]
    text_to_doc = {dev.texts[d]: d for _, d in pairs}
    query_to_id = {text: q for q, text in dev.queries.items()}

    def keeps_bm25_order(queries, texts):  # noqa: ANN001, ANN202
        return np.array([-position[(query_to_id[q], text_to_doc[t])] for q, t in zip(queries, texts)], dtype=float)

    def oracle(queries, texts):  # noqa: ANN001, ANN202
        return np.array([dev.qrels[query_to_id[q]].get(text_to_doc[t], 0) for q, t in zip(queries, texts)], dtype=float)

    assert rerank_ndcg(keeps_bm25_order, [dev])["cosqa"] == pytest.approx(dev.first_stage_ndcg)
    best = rerank_ndcg(oracle, [dev])["cosqa"]
    assert best >= dev.first_stage_ndcg and best > 0  # a perfect reranker of the same candidates can only gain
    again = load_rerank_dev_sets((str(shared_data / "cosqa"),), "dev", corpus_size=300, queries=12, depth=6, seed=0)[0]
    assert again.candidates == dev.candidates  # seeded: every evaluation of a run reorders the same lists


def test_training_publishes_the_best_dev_step(triples: Path, shared_data: Path, tmp_path: Path) -> None:  # noqa: F811
    from codehunt.reranker.model import load_cross_encoder
    from codehunt.reranker.train import train_reranker

    options = dict(steps=4, dev=(str(shared_data / "cosqa"),), eval_every=2, checkpoint_every=2, dev_queries=8,
                   dev_depth=4, dev_corpus_size=100)
    published = train_reranker(config(triples, tmp_path / "model", **options))
    info = json.loads((published / "codehunt_training.json").read_text(encoding="utf-8"))
    assert [record["step"] for record in info["dev_history"]] == [0, 2, 4]  # the starting model is scored too
    assert info["best_dev"]["mean"] == max(record["mean"] for record in info["dev_history"])
    assert 0.0 < info["dev_first_stage"]["cosqa"] <= 1.0
    kept = read_tensors(tmp_path / "model.checkpoints" / "step-00000004" / "best_model.safetensors")[0]
    weights = load_cross_encoder(str(published), max_length=64).state_dict()
    assert all(torch.equal(weights[name], kept[name]) for name in weights)
    assert weights.keys() == kept.keys()  # the comparison covers the whole network


def test_eval_every_needs_a_dev_set(triples: Path, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(RerankerConfigError, match="--eval-every needs"):
        config(triples, tmp_path / "m", eval_every=5)
    with pytest.raises(RerankerConfigError, match="--dev-queries"):
        config(triples, tmp_path / "m", dev=("x",), dev_queries=0)
