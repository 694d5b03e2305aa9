"""index.metrics: hand-computed toys and a differential test against pytrec_eval (trec_eval)."""
from __future__ import annotations

import functools
import math
import random

import pytest

from codehunt.index.errors import BadInputError
from codehunt.index.metrics import evaluate_run, metric_names, rank_documents

L3 = math.log2(3)  # discount at rank 2
L5 = math.log2(5)  # discount at rank 4

# q1: judged d1=2, d2=1, d3=0 (judged non-relevant). d1 and d4 tie at 0.8 -> doc id descending puts
# d4 first, so the ranking is d3, d4, d1, d2 (relevant at ranks 3 and 4; num_rel = 2).
# q2 is judged but missing from the run; q3 is in the run but not judged (ignored).
QRELS = {"q1": {"d1": 2, "d2": 1, "d3": 0}, "q2": {"d5": 1}}
RUN = {"q1": {"d3": 0.9, "d1": 0.8, "d4": 0.8, "d2": 0.5}, "q3": {"d1": 1.0}}
IDCG = 2 + 1 / L3  # ideal d1 (2) at rank 1, d2 (1) at rank 2; the same for k = 3 and 5

Q1 = {
    "ndcg_at_1": 0.0,
    "ndcg_at_3": (2 / 2) / IDCG,  # gain 2 at rank 3: 2 / log2(4)
    "ndcg_at_5": (1 + 1 / L5) / IDCG,  # plus gain 1 at rank 4: 1 / log2(5)
    "precision_at_1": 0.0,
    "precision_at_3": 1 / 3,
    "precision_at_5": 2 / 5,  # P@k divides by k though only 4 docs were retrieved
    "recall_at_1": 0.0,
    "recall_at_3": 1 / 2,
    "recall_at_5": 2 / 2,
    "mrr_at_1": 0.0,
    "mrr_at_3": 1 / 3,
    "mrr_at_5": 1 / 3,
    "map_at_1": 0.0,
    "map_at_3": (1 / 3) / 2,  # precision 1/3 at rank 3, over num_rel 2
    "map_at_5": (1 / 3 + 2 / 4) / 2,  # plus precision 2/4 at rank 4 = 5/12
    "map": 5 / 12,
}


def test_toy_per_query_and_mean_over_every_qrels_query() -> None:
    report = evaluate_run(QRELS, RUN, ks=(1, 3, 5))
    assert set(report.per_query) == {"q1", "q2"}
    assert set(report.aggregate) == set(Q1) == set(metric_names((1, 3, 5)))
    for name, expected in Q1.items():
        assert report.per_query["q1"][name] == pytest.approx(expected, abs=1e-12), name
        assert report.per_query["q2"][name] == 0.0, name
        assert report.aggregate[name] == pytest.approx(expected / 2, abs=1e-12), name  # q2 counts 0
    assert report.aggregate["ndcg_at_3"] == pytest.approx(0.19004688, abs=1e-8)  # 1 / 2.63093 / 2


def test_ties_break_by_doc_id_descending_as_strings() -> None:
    # "d10" > "d1" and "d9" > "d10" as strings: order d9, d10, d1 (numeric order would differ).
    assert rank_documents({"d1": 1.0, "d10": 1.0, "d9": 1.0, "x": 2.0}) == ["x", "d9", "d10", "d1"]
    # Only d1 is relevant; among the three tied docs it ranks third.
    report = evaluate_run({"q": {"d1": 1}}, {"q": {"d1": 1.0, "d10": 1.0, "d9": 1.0}}, ks=(1, 3))
    assert report.per_query["q"]["mrr_at_3"] == pytest.approx(1 / 3)
    assert report.per_query["q"]["ndcg_at_3"] == pytest.approx(1 / 2)  # 1/log2(4) over ideal 1
    assert report.per_query["q"]["recall_at_1"] == 0.0


def test_graded_gains_and_negative_grades() -> None:
    # Ranking a (grade 3), b (grade -1: not relevant, gain 0), c (grade 1).
    # DCG@3 = 3/1 + 0 + 1/log2(4) = 3.5; ideal = 3/1 + 1/log2(3).
    report = evaluate_run({"q": {"a": 3, "b": -1, "c": 1}}, {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}, ks=(3,))
    assert report.per_query["q"]["ndcg_at_3"] == pytest.approx(3.5 / (3 + 1 / L3), abs=1e-12)
    assert report.per_query["q"]["precision_at_3"] == pytest.approx(2 / 3)
    assert report.per_query["q"]["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_query_without_relevant_docs_scores_zero_and_counts() -> None:
    qrels = {"q": {"a": 1}, "z": {"a": 0}}
    report = evaluate_run(qrels, {"q": {"a": 1.0}, "z": {"a": 1.0}}, ks=(1,))
    assert report.per_query["z"] == dict.fromkeys(metric_names((1,)), 0.0)
    assert report.aggregate["ndcg_at_1"] == 0.5 and report.aggregate["mrr_at_1"] == 0.5


@pytest.mark.parametrize("qrels, ks", [({}, (1,)), ({"q": {"a": 1}}, (0,)), ({"q": {"a": 1}}, ()), ({"q": {"a": 1}}, (2.5,))])
def test_bad_input(qrels: dict, ks: tuple) -> None:
    with pytest.raises(BadInputError):
        evaluate_run(qrels, {}, ks=ks)


def test_module_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, index.metrics, index.trec; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


# ---------------------------------------------------------------- differential vs pytrec_eval

KS = (1, 3, 5, 10, 20)


def random_qrels_and_run(seed: int, n_queries: int = 50) -> tuple[dict, dict]:
    """Graded qrels and a run with many tied scores (scores drawn from 6 values).

    Doc ids mix lengths ("d7", "d12", "doc3") so string order differs from numeric order.
    q0..q44 are judged; q0..q39 and q45..q49 are run: so 5 judged queries are missing from
    the run, and 5 run queries are unjudged. A few judged queries have only grade-0 docs.
    """
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(40)] + [f"doc{i}" for i in range(10)]
    qrels, run = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        if q < 45:
            judged = rng.sample(pool, rng.randint(1, 8))
            qrels[qid] = {d: (0 if q % 11 == 0 else rng.choice([0, 1, 1, 2, 3])) for d in judged}
        if q < 40 or q >= 45:
            docs = rng.sample(pool, rng.randint(0, 30))
            run[qid] = {d: rng.choice([0.1, 0.25, 0.5, 0.75, 1.0, 2.0]) for d in docs}
    return qrels, run


def trec_eval_order(scores: dict[str, float]) -> list[str]:
    """trec_eval's comparator (form_res_rels.c, comp_sim_docno), written independently of index.metrics."""

    def cmp(a: tuple[str, float], b: tuple[str, float]) -> int:
        if a[1] != b[1]:
            return -1 if a[1] > b[1] else 1
        return -1 if a[0] > b[0] else (1 if a[0] < b[0] else 0)

    return [doc for doc, _ in sorted(scores.items(), key=functools.cmp_to_key(cmp))]


def pytrec_reference(qrels: dict, run: dict, ks: tuple[int, ...]) -> dict[str, dict[str, float]]:
    """pytrec_eval per query in our names, for every qrels query (0 where pytrec_eval has none).

    trec_eval's ``recip_rank`` has no cutoff, so MRR@k is ``recip_rank`` on the run cut to its
    top k docs in trec_eval order: the first relevant doc within the top k keeps its rank,
    and a query with none there gets 0.
    """
    pytrec_eval = pytest.importorskip("pytrec_eval")
    cuts = ",".join(map(str, ks))
    measures = {f"ndcg_cut.{cuts}", f"P.{cuts}", f"recall.{cuts}", f"map_cut.{cuts}", "map"}
    full = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
    out: dict[str, dict[str, float]] = {}
    for qid in qrels:
        row = dict.fromkeys(metric_names(ks), 0.0)
        if qid in full:
            got = full[qid]
            row["map"] = got["map"]
            for k in ks:
                row[f"ndcg_at_{k}"] = got[f"ndcg_cut_{k}"]
                row[f"precision_at_{k}"] = got[f"P_{k}"]
                row[f"recall_at_{k}"] = got[f"recall_{k}"]
                row[f"map_at_{k}"] = got[f"map_cut_{k}"]
        out[qid] = row
    for k in ks:
        cut_run = {q: {d: run[q][d] for d in trec_eval_order(run[q])[:k]} for q in run}
        for qid, got in rr.evaluate(cut_run).items():
            out[qid][f"mrr_at_{k}"] = got["recip_rank"]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pytrec_eval_on_random_tied_runs(seed: int) -> None:
    qrels, run = random_qrels_and_run(seed)
    ours = evaluate_run(qrels, run, ks=KS)
    ref = pytrec_reference(qrels, run, KS)
    assert set(ours.per_query) == set(qrels)
    for qid in qrels:
        for name in metric_names(KS):
            assert ours.per_query[qid][name] == pytest.approx(ref[qid][name], abs=1e-9), (qid, name)
    for name in metric_names(KS):
        expected = sum(ref[q][name] for q in qrels) / len(qrels)
        assert ours.aggregate[name] == pytest.approx(expected, abs=1e-9), name
    # The data must exercise what it claims to: many queries with a relevant doc in the top 10.
    assert sum(m["ndcg_at_10"] > 0 for m in ours.per_query.values()) >= 5


def test_tie_order_matters_in_the_differential_data() -> None:
    # Guard against a vacuous differential test: the random runs must have ties that cross
    # relevance, so that breaking them by doc id ascending vs descending changes the numbers.
    qrels, run = random_qrels_and_run(0)

    def strict(ascending: bool) -> dict[str, dict[str, float]]:
        out = {}
        for q, s in run.items():
            order = sorted(s, key=lambda d: (-s[d], d))
            if not ascending:
                order = sorted(s, key=lambda d: (s[d], d), reverse=True)
            out[q] = {d: float(len(order) - i) for i, d in enumerate(order)}
        return out

    assert evaluate_run(qrels, strict(True), ks=KS).aggregate != evaluate_run(qrels, strict(False), ks=KS).aggregate


def test_paired_bootstrap_interval_brackets_the_mean_difference_and_counts_wins() -> None:
    from codehunt.index.metrics import paired_bootstrap

    qrels = {f"q{i}": {"good": 1} for i in range(40)}
    first = {q: {"good": 1.0, "bad": 0.0} for q in qrels}  # rank 1 everywhere: nDCG@10 = 1
    # the second system puts the answer at rank 2 (nDCG 1/log2(3)) on 10 of the 40 queries
    second = {q: ({"good": 0.0, "bad": 1.0} if i < 10 else {"good": 1.0, "bad": 0.0}) for i, q in enumerate(qrels)}
    baseline, system = evaluate_run(qrels, second), evaluate_run(qrels, first)
    result = paired_bootstrap(baseline, system)
    expected = 10 * (1 - 1 / math.log2(3)) / 40
    assert result.delta == pytest.approx(expected)
    assert 0 < result.low < expected < result.high < 2 * expected
    assert (result.wins, result.losses) == (10, 0)
    same = paired_bootstrap(baseline, baseline)
    assert (same.delta, same.low, same.high, same.wins, same.losses) == (0.0, 0.0, 0.0, 0, 0)
    with pytest.raises(BadInputError, match="same queries"):
        paired_bootstrap(baseline, evaluate_run({"q0": {"good": 1}}, first))
