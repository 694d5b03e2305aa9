"""index.trec: run files round-trip, agree with pytrec_eval's parser, and reject malformed lines."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from codehunt.index.errors import BadInputError
from codehunt.index.metrics import evaluate_run, metric_names
from codehunt.index.trec import read_qrels_tsv, read_trec_run, write_trec_run

RUN = {"q2": {"b": 0.5, "a": 0.5, "c": 1.25}, "q1": {"x": 0.1 + 0.2}}


def test_write_exact_lines_in_trec_eval_order(tmp_path: Path) -> None:
    path = write_trec_run(tmp_path / "run.trec", RUN, tag="bm25")
    # Queries sorted; in q2 c wins on score, then the 0.5 tie goes to the larger id: b before a.
    # Scores use repr, so 0.1 + 0.2 keeps all its digits.
    assert path.read_text(encoding="utf-8") == (
        "q1 Q0 x 1 0.30000000000000004 bm25\n"
        "q2 Q0 c 1 1.25 bm25\n"
        "q2 Q0 b 2 0.5 bm25\n"
        "q2 Q0 a 3 0.5 bm25\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["run.trec"]  # no temp file left behind


def test_round_trip_and_max_rank(tmp_path: Path) -> None:
    path = write_trec_run(tmp_path / "sub" / "run.trec", RUN, tag="t")
    assert read_trec_run(path) == RUN
    cut = read_trec_run(write_trec_run(tmp_path / "cut.trec", RUN, tag="t", max_rank=2))
    assert cut == {"q1": RUN["q1"], "q2": {"c": 1.25, "b": 0.5}}


def test_overwrite_is_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "run.trec"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(BadInputError):
        write_trec_run(path, {"q 1": {"a": 1.0}}, tag="t")  # whitespace in a query id
    assert path.read_text(encoding="utf-8") == "old\n"  # a failed write leaves the old file
    write_trec_run(path, {"q": {"a": 1.0}}, tag="t")
    assert read_trec_run(path) == {"q": {"a": 1.0}}
    assert sorted(os.listdir(tmp_path)) == ["run.trec"]


def test_pytrec_eval_on_our_file_equals_our_metrics(tmp_path: Path) -> None:
    """Our file, parsed by pytrec_eval's own reader and scored by trec_eval, gives our numbers."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(3)
    pool = [f"d{i}" for i in range(30)]
    # 40 judged queries, 35 of them run; scores from 4 values so ties abound.
    qrels = {f"q{q}": {d: rng.choice([0, 1, 2]) for d in rng.sample(pool, 6)} for q in range(40)}
    run = {f"q{q}": {d: rng.choice([0.5, 1.0, 1.5, 2.0]) for d in rng.sample(pool, 20)} for q in range(35)}
    path = write_trec_run(tmp_path / "run.trec", run, tag="rand")
    with open(path, encoding="utf-8") as handle:
        parsed = pytrec_eval.parse_run(handle)
    ks = (1, 5, 10)
    got = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.1,5,10", "P.1,5,10", "recall.1,5,10", "map"}).evaluate(parsed)
    ours = evaluate_run(qrels, read_trec_run(path), ks=ks)
    assert ours == evaluate_run(qrels, run, ks=ks)
    assert len(got) == 35
    assert ours.aggregate["ndcg_at_10"] > 0  # guards against an all-zero comparison
    for qid, measures in got.items():
        assert ours.per_query[qid]["map"] == pytest.approx(measures["map"], abs=1e-9)
        for k in ks:
            assert ours.per_query[qid][f"ndcg_at_{k}"] == pytest.approx(measures[f"ndcg_cut_{k}"], abs=1e-9)
            assert ours.per_query[qid][f"precision_at_{k}"] == pytest.approx(measures[f"P_{k}"], abs=1e-9)
            assert ours.per_query[qid][f"recall_at_{k}"] == pytest.approx(measures[f"recall_{k}"], abs=1e-9)


def test_read_qrels_beir_and_trec_formats(tmp_path: Path) -> None:
    beir = tmp_path / "dev.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td3\t2\n", encoding="utf-8")
    trec = tmp_path / "qrels.txt"
    trec.write_text("q1 0 d1 1\nq1 0 d2 0\n\nq2 0 d3 2\n", encoding="utf-8")
    expected = {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}
    assert read_qrels_tsv(beir) == expected
    assert read_qrels_tsv(trec) == expected


@pytest.mark.parametrize(
    "reader, text, bad_line",
    [
        (read_trec_run, "q Q0 a 1 0.5 t\nq Q0 b 2 0.4\n", 2),  # 5 fields
        (read_trec_run, "q Q0 a 1 high t\n", 1),  # score not a number
        (read_trec_run, "q Q0 a 1 nan t\n", 1),
        (read_trec_run, "q Q0 a 1 0.5 t\nq Q0 a 2 0.4 t\n", 2),  # duplicate doc
        (read_qrels_tsv, "query-id\tcorpus-id\tscore\nq1\td1\tyes\n", 2),  # grade not an int
        (read_qrels_tsv, "q1\td1\n", 1),  # 2 fields
        (read_qrels_tsv, "q1\td1\t1\nq1\td1\t2\n", 2),  # conflicting judgments
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, reader, text: str, bad_line: int) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError, match=f"bad.txt:{bad_line}:"):
        reader(path)


def test_missing_empty_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        read_trec_run(tmp_path / "nope.trec")
    (tmp_path / "empty.tsv").write_text("query-id\tcorpus-id\tscore\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="no judgments"):
        read_qrels_tsv(tmp_path / "empty.tsv")
    (tmp_path / "bin.trec").write_bytes(b"\xff\xfe\x00q Q0")
    with pytest.raises(BadInputError, match="UTF-8"):
        read_trec_run(tmp_path / "bin.trec")


def _shared_dir() -> Path:
    return Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[3] / "shared"))


def test_real_cosqa_dev_qrels() -> None:
    path = _shared_dir() / "data" / "cosqa" / "qrels" / "dev.tsv"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    qrels = read_qrels_tsv(path)
    # 500 judgment lines after the header, one relevant doc (grade 1) per query.
    assert len(qrels) == 500
    assert all(list(judged.values()) == [1] for judged in qrels.values())
    assert qrels["cosqa-train-8333"] == {"cosqa-code-1640": 1}
    # A run that returns each query's relevant doc first scores 1 everywhere.
    run = {q: {next(iter(j)): 1.0, "not-a-doc": 0.5} for q, j in qrels.items()}
    report = evaluate_run(qrels, run, ks=(1, 10))
    assert report.aggregate["ndcg_at_10"] == 1.0 and report.aggregate["precision_at_1"] == 1.0
    assert set(report.aggregate) == set(metric_names((1, 10)))
