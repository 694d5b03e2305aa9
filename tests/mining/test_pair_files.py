"""Existing pair files through Hugging Face datasets: JSONL with various column names, BEIR folders, CoNaLa."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codehunt.index.errors import BadInputError
from codehunt.mining.pairs import PairsConfig, mine_pairs, read_pairs
from tests.conftest import shared_data_dir


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_jsonl_with_query_and_code_columns(tmp_path: Path) -> None:
    source = tmp_path / "snippets.jsonl"
    write_jsonl(
        source,
        [
            {"id": "s-0", "query": "reverse a list", "code": "x[::-1]", "corpus_id": "c-0"},
            {"id": "s-1", "query": "sort a dict by value", "code": "sorted(d.items(), key=lambda kv: kv[1])", "corpus_id": "c-1"},
            {"id": "s-2", "query": "  ", "code": "pass", "corpus_id": "c-2"},
            {"id": "s-3", "query": "reverse a list", "code": "x[::-1]", "corpus_id": "c-0"},
        ],
    )
    output = tmp_path / "pairs.jsonl"
    result = mine_pairs(PairsConfig(source=source, output=output))
    assert result.kind == "file"
    pairs = read_pairs(output)
    assert [(p.query, p.positive, p.positive_id, p.source, p.repo) for p in pairs] == [
        ("reverse a list", "x[::-1]", "c-0", "file", "snippets"),
        ("sort a dict by value", "sorted(d.items(), key=lambda kv: kv[1])", "c-1", "file", "snippets"),
    ]
    assert result.dropped == {"duplicate": 1, "empty-field": 1}


def test_jsonl_with_named_columns(tmp_path: Path) -> None:
    source = tmp_path / "csn.jsonl"
    write_jsonl(source, [{"docstring": "Add two numbers.", "function": "def add(a, b):\n    return a + b", "func_name": "add"}])
    output = tmp_path / "pairs.jsonl"
    mine_pairs(PairsConfig(source=source, output=output, kind="file"))
    (pair,) = read_pairs(output)
    assert (pair.query, pair.positive, pair.qualname, pair.positive_id) == (
        "Add two numbers.", "def add(a, b):\n    return a + b", "add", "csn:0"
    )
    with pytest.raises(BadInputError, match="no column 'nl'"):
        mine_pairs(PairsConfig(source=source, output=output, kind="file", query_field="nl"))


def test_beir_folder(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    write_jsonl(folder / "corpus.jsonl", [
        {"_id": "d1", "title": "add", "text": "def add(a, b):\n    return a + b"},
        {"_id": "d2", "title": "sub", "text": "def sub(a, b):\n    return a - b"},
    ])
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "sum two numbers"}, {"_id": "q2", "text": "difference"}])
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t0\nq2\td9\t1\n", encoding="utf-8")
    output = tmp_path / "pairs.jsonl"
    result = mine_pairs(PairsConfig(source=folder, output=output))
    pairs = read_pairs(output)
    assert [(p.query, p.positive_id, p.qualname, p.repo) for p in pairs] == [("sum two numbers", "d1", "add", "toy")]
    assert result.dropped == {"unknown-id": 1}


def test_conala_train_pairs(tmp_path: Path) -> None:
    source = shared_data_dir() / "conala" / "train_pairs.jsonl"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    rows = [json.loads(line) for line in source.open(encoding="utf-8")]
    output = tmp_path / "conala.jsonl"
    result = mine_pairs(PairsConfig(source=source, output=output, dedupe=False))
    pairs = read_pairs(output)
    usable = [r for r in rows if r["query"].strip() and r["code"].strip()]
    assert result.pairs == len(pairs) == len(usable)
    assert pairs[0].query == rows[0]["query"] and pairs[0].positive == rows[0]["code"]
    assert pairs[0].positive_id == rows[0]["corpus_id"]
    assert {p.source for p in pairs} == {"file"} and {p.repo for p in pairs} == {"train_pairs"}


def test_real_beir_folder_cosqa(tmp_path: Path) -> None:
    folder = shared_data_dir() / "cosqa"
    if not (folder / "qrels" / "dev.tsv").is_file():
        pytest.skip(f"{folder} not found")
    output = tmp_path / "cosqa.jsonl"
    result = mine_pairs(PairsConfig(source=folder, output=output, dedupe=False))
    lines = (folder / "qrels" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    relevant = [line.split("\t") for line in lines if line.strip() and float(line.split("\t")[2]) > 0]
    assert result.pairs == len(relevant)
    first = read_pairs(output)[0]
    assert first.positive_id == relevant[0][1]
