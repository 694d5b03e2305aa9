"""The one BEIR reader: corpus, queries, qrels of a split, and the default split rule."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from codehunt.index.beir import beir_positives, load_beir, qrels_path, read_corpus, read_queries
from codehunt.index.errors import BadInputError
from tests.conftest import shared_data_dir

HEADER = "query-id\tcorpus-id\tscore\n"


def make_folder(root: Path, splits: dict[str, str]) -> Path:
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": "d1", "title": "add", "text": "def add(a, b): return a + b", "path": "m.py"},
            {"id": "d2", "text": "def sub(a, b): return a - b"}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    queries = [{"_id": "q1", "text": "sum two numbers"}, {"_id": "q2", "text": "difference"}]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    for split, body in splits.items():
        (root / "qrels" / f"{split}.tsv").write_text(HEADER + body, encoding="utf-8")
    return root


def test_the_default_split_is_test_else_the_only_one(tmp_path: Path) -> None:
    both = make_folder(tmp_path / "both", {"dev": "q1\td1\t1\n", "test": "q2\td2\t1\n"})
    assert qrels_path(both).name == "test.tsv" and qrels_path(both, "dev").name == "dev.tsv"
    only = make_folder(tmp_path / "only", {"dev": "q1\td1\t1\n"})
    assert qrels_path(only).name == "dev.tsv"
    several = make_folder(tmp_path / "several", {"dev": "q1\td1\t1\n", "train": "q2\td2\t1\n"})
    with pytest.raises(BadInputError, match=r"holds 2 qrels files \(dev, train\): choose one with --split"):
        qrels_path(several)
    with pytest.raises(BadInputError, match=r"test.tsv does not exist: choose a split .* \(dev, train\)"):
        qrels_path(several, "test")


def test_load_beir_reads_the_judged_queries_and_checks_them(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "toy", {"dev": "q1\td1\t1\nq1\td2\t0\n"})
    data = load_beir(folder, "dev")
    assert (data.split, data.queries, data.qrels) == ("dev", {"q1": "sum two numbers"}, {"q1": {"d1": 1, "d2": 0}})
    assert data.corpus_path == folder / "corpus.jsonl"
    (folder / "qrels" / "dev.tsv").write_text(HEADER + "q9\td1\t1\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="names 1 queries absent"):
        load_beir(folder)
    assert load_beir(folder, require_queries=False).queries == {}
    with pytest.raises(BadInputError, match="not a BEIR folder"):
        load_beir(tmp_path)


def test_positives_keep_grade_above_zero_and_count_unknown_ids(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "toy", {"test": "q2\td2\t1\nq1\td1\t2\nq1\td2\t0\nq1\td9\t1\nq7\td1\t1\n"})
    dropped: Counter[str] = Counter()
    positives = beir_positives(folder, dropped=dropped)
    assert [(p.query_id, p.doc_id, p.title, p.path) for p in positives] == [("q2", "d2", "", ""), ("q1", "d1", "add", "m.py")]
    assert positives[1].query == "sum two numbers" and positives[1].text.startswith("def add")
    assert dropped == {"unknown-id": 2}  # d9 is not in the corpus, q7 not in the queries


def test_readers_keep_only_the_wanted_ids_and_reject_bad_records(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "toy", {"test": "q1\td1\t1\n"})
    assert list(read_corpus(folder / "corpus.jsonl", wanted={"d2"})) == ["d2"]
    assert read_queries(folder / "queries.jsonl") == {"q1": "sum two numbers", "q2": "difference"}
    (folder / "queries.jsonl").write_text('{"_id": "q1"}\n', encoding="utf-8")
    with pytest.raises(BadInputError, match="queries.jsonl:1: not a BEIR query record"):
        read_queries(folder / "queries.jsonl")


def test_real_cosqa_dev_split() -> None:
    folder = shared_data_dir() / "cosqa"
    if not (folder / "qrels" / "dev.tsv").is_file():
        pytest.skip(f"{folder} not found")
    data = load_beir(folder)  # the folder's only qrels file
    assert data.split == "dev" and len(data.queries) == len(data.qrels) == 500
    assert len(beir_positives(folder)) == sum(len(j) for j in data.qrels.values())
