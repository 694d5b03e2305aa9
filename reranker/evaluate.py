"""Pointwise evaluation on labelled (query, code, label) pairs: best-threshold accuracy and ROC AUC.

The CoSQA dev pairs (``cosqa/extra/qa_dev_pairs.jsonl``: ``query, code, label``) ask whether
a code snippet answers a web query (Huang et al., 2021). A reranker only has to order, so the
threshold-free ROC AUC is the main figure; accuracy is reported at the threshold that
maximises it on the same pairs (an optimistic upper bound, labelled as such). The bi-encoder
baseline scores each pair by the cosine of its query and code embeddings.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from codehunt.index.errors import BadInputError
from codehunt.index.storage import read_jsonl_objects

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder
    from codehunt.reranker.model import CrossEncoderRescorer


def read_labelled_pairs(path: str | Path, limit: int | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """(queries, codes, labels as 0/1 int64) from a JSONL file with ``query``, ``code``, ``label``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"labelled pairs file {path} does not exist: pass a JSONL file with query, code, label")
    queries, codes, labels = [], [], []
    for number, record in read_jsonl_objects(path, "a JSON object with query, code, label"):
        try:
            label = 1 if int(record["label"]) > 0 else 0
            query, code = str(record["query"]), str(record["code"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInputError(f"{path}:{number}: expected a JSON object with query, code, label ({exc})") from exc
        queries.append(query)
        codes.append(code)
        labels.append(label)
        if limit is not None and len(labels) >= limit:
            break
    if not labels:
        raise BadInputError(f"labelled pairs file {path} is empty")
    return queries, codes, np.asarray(labels, dtype=np.int64)


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic; ties count one half."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n_pos, n_neg = int(labels.sum()), int((labels == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average ranks over runs of equal scores
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    u = ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def best_threshold_accuracy(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """(accuracy, threshold) maximising accuracy of ``score >= threshold`` -> 1; ties take the lowest threshold.

    Candidate thresholds are every distinct score plus +inf (everything predicted 0).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    best_accuracy, best_threshold = float((labels == 0).mean()), float("inf")
    for threshold in np.unique(scores):
        accuracy = float(((scores >= threshold).astype(np.int64) == labels).mean())
        if accuracy > best_accuracy or (accuracy == best_accuracy and threshold < best_threshold):
            best_accuracy, best_threshold = accuracy, float(threshold)
    return best_accuracy, best_threshold


def pointwise_metrics(scores: Sequence[float], labels: Sequence[int]) -> dict[str, Any]:
    """``pairs``, ``positives``, ``auc``, ``best_accuracy`` and its ``threshold`` for scored labelled pairs."""
    accuracy, threshold = best_threshold_accuracy(scores, labels)
    labels = np.asarray(labels)
    return {
        "pairs": int(len(labels)), "positives": int(labels.sum()), "auc": roc_auc(scores, labels),
        "best_accuracy": accuracy, "threshold": threshold,
    }


def evaluate_pointwise(rescorer: "CrossEncoderRescorer", pairs_path: str | Path, limit: int | None = None) -> dict[str, Any]:
    """Cross-encoder logits of every labelled pair, summarised by :func:`pointwise_metrics`."""
    queries, codes, labels = read_labelled_pairs(pairs_path, limit)
    return pointwise_metrics(rescorer.score_pairs(queries, codes), labels)


def evaluate_bi_encoder_pointwise(encoder: "Encoder", pairs_path: str | Path, limit: int | None = None) -> dict[str, Any]:
    """The baseline: cosine of query and code embeddings (``Encoder.encode`` returns unit vectors)."""
    queries, codes, labels = read_labelled_pairs(pairs_path, limit)
    query_vectors = encoder.encode(queries, "query")  # (n, dim)
    code_vectors = encoder.encode(codes, "document")  # (n, dim)
    return pointwise_metrics((query_vectors * code_vectors).sum(axis=1), labels)
