"""Reading triples, pairs and BEIR folders; stable ids; config validation (the batch order: tests/training)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codehunt.retriever.config import RetrieverConfigError, RetrieverTrainConfig
from codehunt.retriever.data import TrainingDataError, load_training_data, stable_id


def test_triples_keep_ids_and_negatives(triples_file: Path, tmp_path: Path) -> None:
    data = load_training_data(triples_file, hard_negatives=1, cache_dir=str(tmp_path))
    rows = [json.loads(line) for line in triples_file.read_text(encoding="utf-8").splitlines()]
    batch = data.batch([0, 3])
    assert batch.queries == [rows[0]["anchor"], rows[3]["anchor"]] and batch.codes == [rows[0]["positive"], rows[3]["positive"]]
    assert batch.code_doc_ids == [stable_id(rows[0]["positive_id"]), stable_id(rows[3]["positive_id"])]
    assert batch.negatives == [rows[0]["negative_1"], rows[3]["negative_1"]]  # hard_negatives=1 keeps negative_1 only
    assert batch.negative_doc_ids == [stable_id(rows[0]["negative_1_id"]), stable_id(rows[3]["negative_1_id"])]
    # negative_1 of row 0 is row 1's positive: the same document id, so the loss can mask it for row 1
    assert data.batch([1]).code_doc_ids[0] == batch.negative_doc_ids[0]
    assert len(load_training_data(triples_file, hard_negatives=7, cache_dir=str(tmp_path)).batch([0]).negatives) == 2


def test_pairs_use_corpus_id_or_text_hash(pairs_file: Path, tmp_path: Path) -> None:
    data = load_training_data(pairs_file, cache_dir=str(tmp_path))
    first = json.loads(pairs_file.read_text(encoding="utf-8").splitlines()[0])
    batch = data.batch([0])
    assert batch.code_doc_ids == [stable_id(first["corpus_id"])] and batch.negatives == []
    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps({"query": "q", "code": "x = 1"}) + "\n", encoding="utf-8")
    assert load_training_data(bare, cache_dir=str(tmp_path)).batch([0]).code_doc_ids == [stable_id("x = 1")]


def test_mined_pairs_train_as_they_are_written(tmp_path: Path) -> None:
    from codehunt.mining.pairs import Pair

    mined = tmp_path / "pairs.jsonl"
    pairs = [Pair("sum two numbers", "def add(a, b):\n    return a + b", "lib.py::add", "docstring"),
             Pair("read a file", "def read(p):\n    return open(p).read()", "lib.py::read", "docstring")]
    mined.write_text("".join(json.dumps(pair.to_json()) + "\n" for pair in pairs), encoding="utf-8")
    batch = load_training_data(mined, cache_dir=str(tmp_path)).batch([1, 0])
    assert batch.queries == ["read a file", "sum two numbers"]
    assert batch.codes == [pairs[1].positive, pairs[0].positive]
    assert batch.code_doc_ids == [stable_id("lib.py::read"), stable_id("lib.py::add")]


def test_beir_folder(tmp_path: Path) -> None:
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"def f{i}(): pass"}) + "\n" for i in range(3)), encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) + "\n" for i in range(3)), encoding="utf-8")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td2\t1\nq1\td0\t0\nq2\td1\t1\n", encoding="utf-8")
    batch = load_training_data(folder).batch([0, 1])
    assert batch.queries == ["query 0", "query 2"] and batch.codes == ["def f2(): pass", "def f1(): pass"]
    assert batch.code_doc_ids == [stable_id("d2"), stable_id("d1")]
    with pytest.raises(TrainingDataError, match="dev.tsv"):
        load_training_data(folder, beir_split="dev")


def test_real_conala_pairs(shared_data: Path, tmp_path: Path) -> None:
    data = load_training_data(shared_data / "conala" / "train_pairs.jsonl", cache_dir=str(tmp_path))
    assert len(data) > 1000 and data.code_id_column == "corpus_id"
    assert all(q.strip() and c.strip() for q, c in zip(*(lambda b: (b.queries, b.codes))(data.batch(range(50)))))


@pytest.mark.parametrize("content, message", [("", "empty"), ('{"text": "a"}\n', "no known layout")])
def test_bad_training_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingDataError, match=message):
        load_training_data(path, cache_dir=str(tmp_path))


def test_stable_id_is_fixed_across_processes() -> None:
    assert stable_id("textwrap.dedent") == stable_id("textwrap.dedent") != stable_id("textwrap.indent")
    # pinned: checkpoints store these ids, so the hash must never change (blake2b-64, little-endian, signed)
    assert stable_id("") == -5426141060434712860 and stable_id("textwrap.dedent") == 5557384443740109332
    assert -(2**63) <= stable_id("x") < 2**63


@pytest.mark.parametrize("overrides, message", [
    ({"loss": "triplet"}, "--loss"), ({"momentum": 1.0}, "--momentum"), ({"mochi": "4,2"}, "--mochi"),
    ({"mochi": "1,2,2"}, "--mochi"), ({"augment": "mask,shuffle"}, "shuffle"), ({"queue_size": 0, "mochi": "4,2,2"}, "queue-size"),
    ({"queue_size": 0, "intra_modal": True}, "queue-size"), ({"batch_size": 0}, "batch-size"), ({"precision": "fp16"}, "precision"),
])
def test_config_rejects_bad_options(overrides: dict, message: str) -> None:
    with pytest.raises(RetrieverConfigError, match=message):
        RetrieverTrainConfig(data="t.jsonl", output_dir="m", **overrides)


def test_config_parses_flags_and_round_trips() -> None:
    config = RetrieverTrainConfig(data="t.jsonl", output_dir="out/m", mochi="64,32,16", augment="all")
    assert (config.mochi_params.hardest, config.mochi_params.mixes, config.mochi_params.query_mixes) == (64, 32, 16)
    assert config.augment_operators == ("mask", "type", "delete")
    assert str(config.checkpoint_path) == "out/m.checkpoints"
    assert RetrieverTrainConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    assert "output_dir" not in config.learning_fields() and config.learning_fields()["queue_size"] == 4096
