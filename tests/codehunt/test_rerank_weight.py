"""`codehunt train rerank-weight`: fit the reranker/first-stage combination on a dev set, store it, apply it."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from codehunt.cli import app
from codehunt.rerank_weight import Combination, candidate_combinations, choose_combination, combined_order

runner = CliRunner()

DOCS = {
    "d1": "def parse_date(text):\n    return datetime.strptime(text, '%Y-%m-%d')",
    "d2": "def send_mail(to, body):\n    smtplib.SMTP('localhost').sendmail('me', [to], body)",
    "d3": "def read_json(path):\n    return json.load(open(path))",
    "d4": "def add(a, b):\n    return a + b",
    "d5": "def reverse(text):\n    return text[::-1]",
    "d6": "def sort_items(items):\n    return sorted(items)",
}
QUERIES = {"q1": ("parse a date string", "d1"), "q2": ("send an email", "d2"), "q3": ("load a json file", "d3")}


def write_beir(folder):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in DOCS.items()), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, (t, _) in QUERIES.items()), encoding="utf-8")
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, (_, d) in QUERIES.items()), encoding="utf-8")


def test_interpolation_at_weight_one_is_the_first_stage_order():
    import numpy as np

    logits = np.array([0.1, 3.0, -2.0, 0.5])
    assert combined_order(Combination("interpolate", 1.0), logits, [0.9, 0.8, 0.7, 0.6]) == [0, 1, 2, 3]
    assert combined_order(Combination("rrf", 0.0), logits, [0.9, 0.8, 0.7, 0.6]) == [1, 3, 0, 2]
    labels = [c.label for c in candidate_combinations()]
    assert labels[0] == "reranker alone" and "interpolate w=1" in labels and "rrf w=2" in labels


@pytest.mark.slow
def test_the_worst_set_objective_refuses_a_trade_the_mean_accepts():
    combinations = [Combination("interpolate", w) for w in (0.0, 0.5, 1.0)]
    first = {"cosqa": 0.60, "ruby": 0.70}
    scores = {  # reranker alone: a big ruby gain pays for a cosqa loss on the mean; w=0.5 gains a little on both
        "cosqa": {"interpolate w=0": 0.55, "interpolate w=0.5": 0.61, "interpolate w=1": 0.60},
        "ruby": {"interpolate w=0": 0.80, "interpolate w=0.5": 0.72, "interpolate w=1": 0.70},
    }
    assert choose_combination(combinations, scores, first, "mean").label == "interpolate w=0"
    assert choose_combination(combinations, scores, first, "worst").label == "interpolate w=0.5"
    assert choose_combination(combinations, scores, first, "worst", ["ruby"]).label == "interpolate w=0"
    # nothing gains on both: the first stage itself (w=1) is the maximin, ties go to it
    scores["cosqa"]["interpolate w=0.5"] = 0.59
    assert choose_combination(combinations, scores, first, "worst").label == "interpolate w=1"
    with pytest.raises(ValueError, match="objective"):
        choose_combination(combinations, scores, first, "median")


def test_fit_stores_a_combination_no_worse_than_the_first_stage(tmp_path, monkeypatch):
    from sentence_transformers import CrossEncoder

    from codehunt.reranker.model import COMBINATION_FILE, load_cross_encoder, load_rescorer

    monkeypatch.setenv("CODEHUNT_CACHE", str(tmp_path / "cache"))
    beir = tmp_path / "toy"
    write_beir(beir)
    reranker = tmp_path / "ce"
    load_cross_encoder("default", max_length=64).save(str(reranker))  # untrained head: a poor reranker
    result = runner.invoke(app, ["train", "rerank-weight", str(reranker), "--dev", str(beir), "--mode", "dense", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    fit = report["fit"]
    chosen = fit["ndcg_at_10"]["toy"][report["label"]]
    assert chosen >= fit["first_stage_ndcg_at_10"]["toy"] - 1e-12
    assert chosen == max(fit["ndcg_at_10"]["toy"].values())
    assert fit["ndcg_at_10"]["toy"]["interpolate w=1"] == pytest.approx(fit["first_stage_ndcg_at_10"]["toy"])
    stored = json.loads((reranker / COMBINATION_FILE).read_text(encoding="utf-8"))
    assert stored["combination"] == report["combination"] and stored["first_stage_weight"] == report["first_stage_weight"]
    rescorer = load_rescorer(reranker)
    assert (rescorer.config.combination, rescorer.config.first_stage_weight) == (report["combination"], report["first_stage_weight"])
    CrossEncoder(str(reranker))  # still loads without codehunt's extra file getting in the way


def test_a_fit_over_several_first_stages_stores_one_combination_per_mode(tmp_path, monkeypatch):
    from codehunt.reranker.model import COMBINATION_FILE, load_cross_encoder, load_rescorer, read_combination

    monkeypatch.setenv("CODEHUNT_CACHE", str(tmp_path / "cache"))
    beir = tmp_path / "toy"
    write_beir(beir)
    reranker = tmp_path / "ce"
    load_cross_encoder("default", max_length=64).save(str(reranker))
    result = runner.invoke(app, ["train", "rerank-weight", str(reranker), "--dev", str(beir), "--mode", "dense", "--mode", "bm25", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report["per_mode"]) == ["dense", "bm25"]
    assert report["label"] == report["per_mode"]["dense"]["label"], "the first mode is the fallback"
    for mode, fit in report["per_mode"].items():
        assert fit["fit"]["first_stage_mode"] == mode
        scores = fit["fit"]["ndcg_at_10"]["toy"]
        assert scores[fit["label"]] == max(scores.values()) >= fit["fit"]["first_stage_ndcg_at_10"]["toy"] - 1e-12

    # which entry a caller gets, on a file whose modes disagree
    stored = json.loads((reranker / COMBINATION_FILE).read_text(encoding="utf-8"))
    stored["per_mode"]["bm25"].update(combination="interpolate", first_stage_weight=0.3)
    stored.update(combination="rrf", first_stage_weight=2.0)
    (reranker / COMBINATION_FILE).write_text(json.dumps(stored), encoding="utf-8")
    assert read_combination(reranker, "bm25") == {"combination": "interpolate", "first_stage_weight": 0.3}
    assert read_combination(reranker) == read_combination(reranker, "hybrid") == {"combination": "rrf", "first_stage_weight": 2.0}
    assert load_rescorer(reranker, mode="bm25").config.first_stage_weight == 0.3
    assert load_rescorer(reranker, mode="dense").config.first_stage_weight == stored["per_mode"]["dense"]["first_stage_weight"]
