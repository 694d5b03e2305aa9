"""IR metrics over a run and qrels, numerically equal to trec_eval / pytrec_eval.

Names follow MTEB (``ndcg_at_10``, ``mrr_at_10``, ``recall_at_10``, ``precision_at_10``,
``map_at_10``, ``map``) and every metric is averaged over **every query in the qrels**: a qrels
query the run does not answer scores 0 (unlike pytrec_eval, which only sees run queries), and
run queries absent from the qrels are ignored.

Definitions are trec_eval's (Buckley & Voorhees; ``ndcg_cut``, ``P``, ``recall``, ``map``,
``map_cut``, ``recip_rank``):

- ranking: score descending, ties by doc id descending (plain string comparison), so a run
  with tied scores gives the same numbers here and in trec_eval;
- relevant: grade > 0 (trec_eval's default relevance level 1 on integer grades);
- nDCG@k (Järvelin & Kekäläinen 2002): gain = grade (negative grades count 0), discount
  log2(rank + 1), ideal = all judged gains sorted descending, cut at k;
- P@k divides by k even when fewer than k docs were retrieved; Recall@k and MAP divide by
  the number of relevant docs in the qrels (``map_at_k`` too, as trec_eval's ``map_cut``);
- MRR@k is 1 / rank of the first relevant doc within the top k, else 0.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from codehunt.index.errors import BadInputError

DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10, 20, 100)


@dataclass(frozen=True)
class MetricReport:
    """Metrics averaged over all qrels queries, and the same metrics for each query."""

    aggregate: dict[str, float] = field(metadata={"help": "metric name -> mean over qrels queries"})
    per_query: dict[str, dict[str, float]] = field(
        metadata={"help": "query id -> metric name -> value (every qrels query)"}
    )


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Doc ids in trec_eval order: score descending, then doc id descending."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (float(item[1]), item[0]), reverse=True)]


def metric_names(ks: Sequence[int]) -> list[str]:
    """The metric names :func:`evaluate_run` reports for these cutoffs, in report order."""
    names = ["map"]
    for stem in ("ndcg_at", "map_at", "recall_at", "precision_at", "mrr_at"):
        names += [f"{stem}_{k}" for k in ks]
    return names


def _query_metrics(judged: Mapping[str, int], ranking: Sequence[str], ks: Sequence[int]) -> dict[str, float]:
    num_rel = sum(1 for grade in judged.values() if grade > 0)
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)
    out = dict.fromkeys(metric_names(ks), 0.0)
    if num_rel == 0:
        return out  # trec_eval scores such a query 0 on every measure
    # prefix sums over rank positions 1..n of the run
    dcg, hits, ap_sum, first_hit = [0.0], [0], [0.0], 0
    for i, doc in enumerate(ranking):
        grade = judged.get(doc, 0)
        rel = grade > 0
        dcg.append(dcg[-1] + (grade / math.log2(i + 2) if rel else 0.0))
        hits.append(hits[-1] + rel)
        ap_sum.append(ap_sum[-1] + (hits[-1] / (i + 1) if rel else 0.0))
        if rel and not first_hit:
            first_hit = i + 1
    n = len(hits) - 1
    out["map"] = ap_sum[n] / num_rel
    for k in ks:
        cut = min(k, n)
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal[:k]))
        out[f"ndcg_at_{k}"] = dcg[cut] / idcg
        out[f"map_at_{k}"] = ap_sum[cut] / num_rel
        out[f"recall_at_{k}"] = hits[cut] / num_rel
        out[f"precision_at_{k}"] = hits[cut] / k
        out[f"mrr_at_{k}"] = 1.0 / first_hit if first_hit and first_hit <= k else 0.0
    return out


def evaluate_run(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    ks: Sequence[int] = DEFAULT_KS,
) -> MetricReport:
    """Score ``run`` (query -> doc -> score) against ``qrels`` (query -> doc -> grade).

    Raises :class:`BadInputError` when the qrels are empty or a cutoff is not a positive int.
    """
    if not qrels:
        raise BadInputError("qrels are empty: nothing to evaluate; check the qrels file and split")
    ks = tuple(dict.fromkeys(ks))
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise BadInputError(f"cutoffs must be positive ints, got {list(ks)}")
    per_query = {
        qid: _query_metrics(judged, rank_documents(run.get(qid, {})), ks) for qid, judged in qrels.items()
    }
    aggregate = {name: math.fsum(m[name] for m in per_query.values()) / len(per_query) for name in metric_names(ks)}
    return MetricReport(aggregate=aggregate, per_query=per_query)


@dataclass(frozen=True)
class PairedDifference:
    """Mean per-query difference of one metric between two systems, with a bootstrap interval."""

    delta: float
    low: float
    high: float
    wins: int  # queries where the new system scores higher
    losses: int  # queries where it scores lower


def paired_bootstrap(
    baseline: MetricReport, system: MetricReport, metric: str = "ndcg_at_10",
    samples: int = 2000, confidence: float = 0.95, seed: int = 0,
) -> PairedDifference:
    """``system`` minus ``baseline`` on ``metric``, resampling queries (Sakai, 2006; Efron & Tibshirani, 1993).

    Why: on a 500-query dev split a 0.005 nDCG change is well inside sampling noise; an interval
    that excludes zero is the honest way to say one model beats another. Both reports must score
    the same queries.
    """
    import numpy as np

    if set(baseline.per_query) != set(system.per_query):
        raise BadInputError("paired comparison needs both runs scored on the same queries")
    queries = sorted(baseline.per_query)
    differences = np.array([system.per_query[q][metric] - baseline.per_query[q][metric] for q in queries])
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), size=(samples, len(differences)))].mean(axis=1)
    tail = (1.0 - confidence) / 2
    return PairedDifference(
        delta=float(differences.mean()),
        low=float(np.quantile(means, tail)),
        high=float(np.quantile(means, 1.0 - tail)),
        wins=int((differences > 0).sum()),
        losses=int((differences < 0).sum()),
    )


def first_match_ndcg(ranked_paths: Sequence[str], targets: Sequence[str] | set[str], k: int = 10) -> float:
    """nDCG@k with binary gain where each target counts once, at the rank of the first result that matches it.

    The code-search-files benchmark's metric (MinishLab/semble): results are file paths (a chunk-level list may
    name one file several times, and the repeats earn nothing); the ideal DCG is that of min(k, |targets|) hits at
    the top, so targets never found still count against the score.
    """
    wanted = set(targets)
    if not wanted:
        return 0.0
    found: set[str] = set()
    dcg = 0.0
    for rank, path in enumerate(ranked_paths[:k], start=1):
        if path in wanted and path not in found:
            found.add(path)
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(wanted)) + 1))
    return dcg / ideal
