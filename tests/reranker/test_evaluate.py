"""Pointwise metrics: hand-computed AUC and best-threshold accuracy, sklearn as a reference, real CoSQA pairs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.errors import BadInputError
from codehunt.reranker.evaluate import (
    best_threshold_accuracy, evaluate_bi_encoder_pointwise, evaluate_pointwise, pointwise_metrics, read_labelled_pairs,
    roc_auc,
)

SCORES, LABELS = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]


def test_auc_by_hand() -> None:
    # positive pairs (0.35, 0.8) vs negatives (0.1, 0.4): 3 of 4 orderings right
    assert roc_auc(SCORES, LABELS) == 0.75
    assert roc_auc([1.0, 1.0], [1, 0]) == 0.5  # a tie counts one half
    assert roc_auc([0.0, 1.0], [1, 0]) == 0.0
    assert np.isnan(roc_auc([0.3, 0.2], [1, 1]))


def test_best_threshold_accuracy_by_hand() -> None:
    # threshold 0.1 -> 1111 (2/4); 0.35 -> 0111 (3/4); 0.4 -> 0101 (2/4); 0.8 -> 0001 (3/4): lowest best = 0.35
    assert best_threshold_accuracy(SCORES, LABELS) == (0.75, 0.35)
    assert best_threshold_accuracy([0.5, 0.6], [0, 0]) == (1.0, float("inf"))  # predict all 0
    assert pointwise_metrics(SCORES, LABELS) == {"pairs": 4, "positives": 2, "auc": 0.75, "best_accuracy": 0.75,
                                                 "threshold": 0.35}


def test_auc_matches_sklearn_with_ties() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, size=300).astype(float)  # many ties
    labels = rng.integers(0, 2, size=300)
    assert roc_auc(scores, labels) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)


def test_read_labelled_pairs_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        read_labelled_pairs(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"query": "q", "code": "c", "label": 1}) + "\n" + json.dumps({"query": "q"}) + "\n",
                   encoding="utf-8")
    with pytest.raises(BadInputError, match="bad.jsonl:2"):
        read_labelled_pairs(bad)


def test_real_cosqa_pairs_cross_encoder_and_bi_encoder(shared_data: Path, untrained_rescorer, default_encoder) -> None:
    path = shared_data / "cosqa" / "extra" / "qa_dev_pairs.jsonl"
    queries, codes, labels = read_labelled_pairs(path, limit=64)
    assert len(labels) == 64 and set(labels.tolist()) == {0, 1}
    cross = evaluate_pointwise(untrained_rescorer, path, limit=64)
    assert cross["pairs"] == 64 and cross["positives"] == int(labels.sum())
    direct = untrained_rescorer.score_pairs(queries, codes)
    assert cross["auc"] == pytest.approx(roc_auc(direct, labels))
    bi = evaluate_bi_encoder_pointwise(default_encoder, path, limit=64)
    # the bi-encoder's cosine separates CoSQA labels (0.743 AUC on all 604 pairs); a random head does not
    assert bi["auc"] > 0.6 and bi["best_accuracy"] > 0.6, bi
