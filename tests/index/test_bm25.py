from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from codehunt.index.bm25 import ARRAY_FILES, META_FILE, BM25Config, BM25Index
from codehunt.index.errors import BadInputError, ConfigError, CorruptIndexError
from codehunt.index.tokenize import tokenize_code

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("CODEHUNT_SHARED", REPO.parent / "shared"))

# "def" is in 4 of 5 documents, so its raw idf log(1.5) - log(4.5) is negative and
# rank_bm25 replaces it with epsilon * average_idf.
TOY = [
    ["def", "parse", "http", "response", "http"],
    ["def", "parse", "json"],
    ["def", "write", "file", "file", "file"],
    ["class", "http", "server"],
    ["def", "return"],
]

TOY_QUERIES = [
    ["http"],
    ["def"],
    ["parse", "http"],
    ["http", "http"],  # duplicated term counts twice
    ["http", "nosuchterm"],  # unknown term adds 0
    ["nosuchterm"],
    [],
    ["file", "def", "server", "json", "return", "class", "write", "response", "parse"],
]


def assert_bit_identical(docs: list[list[str]], queries: list[list[str]], config: BM25Config = BM25Config()) -> None:
    reference = BM25Okapi(docs, k1=config.k1, b=config.b, epsilon=config.epsilon)
    index = BM25Index.build(docs, config)
    for query in queries:
        expected = reference.get_scores(query)
        got = index.scores(query)
        assert got.dtype == np.float64 and got.shape == (len(docs),)
        assert np.array_equal(got, expected), f"query {query}: max diff {np.abs(got - expected).max()}"


def test_toy_idf_and_score_match_hand_computation() -> None:
    index = BM25Index.build(TOY)
    n = 5
    raw = {
        term: math.log(n - df + 0.5) - math.log(df + 0.5)
        for term, df in [("def", 4), ("parse", 2), ("http", 2), ("response", 1), ("json", 1),
                         ("write", 1), ("file", 1), ("class", 1), ("server", 1), ("return", 1)]
    }  # fmt: skip
    assert raw["def"] < 0
    floor = 0.25 * sum(raw.values()) / len(raw)
    assert index.vocabulary == ["def", "parse", "http", "response", "json", "write", "file", "class", "server", "return"]
    assert index.idf[index.term_ids["def"]] == pytest.approx(floor, rel=1e-12)
    assert index.idf[index.term_ids["json"]] == pytest.approx(math.log(3.0), rel=1e-12)

    avgdl = 18 / 5
    # Document 0 holds "http" twice in 5 tokens; document 3 once in 3 tokens.
    http_idf = math.log(3.5 / 2.5)
    doc0 = http_idf * 2 * 2.5 / (2 + 1.5 * (0.25 + 0.75 * 5 / avgdl))
    doc3 = http_idf * 1 * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 3 / avgdl))
    scores = index.scores(["http"])
    assert scores == pytest.approx([doc0, 0.0, 0.0, doc3, 0.0], rel=1e-12)
    assert index.scores(["http", "http"]) == pytest.approx(2 * scores, rel=1e-12)


def test_toy_bit_identical_to_rank_bm25() -> None:
    assert_bit_identical(TOY, TOY_QUERIES)


@pytest.mark.parametrize(
    "config", [BM25Config(k1=1.2, b=0.3, epsilon=0.5), BM25Config(b=0.0), BM25Config(b=1.0), BM25Config(k1=3.0)]
)
def test_toy_bit_identical_with_other_parameters(config: BM25Config) -> None:
    assert_bit_identical(TOY, TOY_QUERIES, config)


def test_negative_idf_floor_when_most_terms_are_common() -> None:
    # Mean idf is negative here, so the floor is negative and so are the matching scores.
    docs = [["a", "b"], ["a", "b"], ["a", "c"], [], ["a", "b", "b"]]
    index = BM25Index.build(docs)
    assert index.idf[index.term_ids["a"]] < 0
    assert_bit_identical(docs, [["a"], ["b"], ["c"], ["a", "c"], ["c", "a", "c"]])
    ids, scores = index.top_k(["a"], 10)
    assert ids.tolist() == [4, 0, 1, 2]  # the longest doc is penalised least; equal lengths tie, by id
    assert np.all(scores < 0)
    assert np.array_equal(scores, index.scores(["a"])[ids])


def test_bit_identical_on_seeded_zipf_corpus() -> None:
    # Always runs (no shared data needed): enough documents and varied lengths that a change
    # in floating-point operation order or idf summation order shows up in the last bits.
    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(400)]
    docs = [
        [vocabulary[min(int(r), 399)] for r in rng.zipf(1.3, size=int(rng.integers(0, 60)))]
        for _ in range(600)
    ]
    queries = [[vocabulary[int(i)] for i in rng.integers(0, 60, size=int(rng.integers(1, 9)))] for _ in range(40)]
    assert_bit_identical(docs, queries + [["w0", "w0", "unknown"], []])


def load_jsonl_texts(path: Path, limit: int) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            texts.append(json.loads(line)["text"])
            if len(texts) == limit:
                break
    return texts


def test_bit_identical_on_real_code() -> None:
    corpus = SHARED / "data" / "cosqa" / "corpus.jsonl"
    queries = SHARED / "data" / "cosqa" / "queries.jsonl"
    if not corpus.exists() or not queries.exists():
        pytest.skip(f"real data not found under {SHARED / 'data' / 'cosqa'}")
    docs = [tokenize_code(text) for text in load_jsonl_texts(corpus, 2000)]
    query_tokens = [tokenize_code(text) for text in load_jsonl_texts(queries, 150)]
    query_tokens += [query_tokens[0] * 2, ["def", "self", "return"], ["zzzunknownzzz"]]
    index = BM25Index.build(docs)
    reference = BM25Okapi(docs)
    # The real corpus exercises the floor too: "def"/"self" are in most functions.
    floored = [term for term, idf in reference.idf.items() if idf == reference.epsilon * reference.average_idf]
    assert floored
    assert index.idf[index.term_ids[floored[0]]] == reference.idf[floored[0]]
    for query in query_tokens:
        assert np.array_equal(index.scores(query), reference.get_scores(query)), query


def test_top_k_order_ties_and_matches_only() -> None:
    docs = [["x", "y"], ["y"], ["x", "y"], ["z"], ["x", "y"], ["x"]]
    index = BM25Index.build(docs)
    scores = index.scores(["x"])
    assert scores[0] == scores[2] == scores[4] and scores[5] > scores[0]
    ids, top = index.top_k(["x"], 10)
    assert ids.tolist() == [5, 0, 2, 4]  # docs 1 and 3 hold no "x" and are not returned
    assert np.array_equal(top, scores[ids])
    # k cuts inside a tie group: the lower ids win.
    assert index.top_k(["x"], 2)[0].tolist() == [5, 0]
    assert index.top_k(["x"], 3)[0].tolist() == [5, 0, 2]
    assert index.top_k(["x"], 0)[0].size == 0
    assert index.top_k(["unknown"], 5)[0].size == 0
    assert index.top_k([], 5)[0].size == 0


def test_top_k_agrees_with_full_sort_on_toy() -> None:
    index = BM25Index.build(TOY)
    for query in TOY_QUERIES:
        scores = index.scores(query)
        matching = [d for d, doc in enumerate(TOY) if set(doc) & set(query)]
        expected = sorted(matching, key=lambda d: (-scores[d], d))
        for k in (1, 2, 3, 10):
            ids, top = index.top_k(query, k)
            assert ids.tolist() == expected[:k], (query, k)
            assert np.array_equal(top, scores[ids])


def test_save_load_round_trip(tmp_path: Path) -> None:
    config = BM25Config(k1=1.2, b=0.6, epsilon=0.1)
    index = BM25Index.build(TOY, config)
    index.save(tmp_path / "bm25")
    meta = json.loads((tmp_path / "bm25" / META_FILE).read_text(encoding="utf-8"))
    assert meta["format_version"] == 1
    assert meta["config"] == {"k1": 1.2, "b": 0.6, "epsilon": 0.1}
    assert sorted(p.name for p in (tmp_path / "bm25").iterdir()) == sorted([META_FILE, *ARRAY_FILES])
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.config == config
    assert loaded.vocabulary == index.vocabulary
    for query in TOY_QUERIES:
        assert np.array_equal(loaded.scores(query), index.scores(query))
        assert np.array_equal(loaded.top_k(query, 3)[0], index.top_k(query, 3)[0])
    # Saving again over an existing index replaces it.
    BM25Index.build([["only"]]).save(tmp_path / "bm25")
    assert BM25Index.load(tmp_path / "bm25").vocabulary == ["only"]


@pytest.mark.parametrize("name", sorted(ARRAY_FILES))
def test_truncated_array_file_is_corrupt(tmp_path: Path, name: str) -> None:
    BM25Index.build(TOY).save(tmp_path)
    path = tmp_path / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3])
    with pytest.raises(CorruptIndexError, match=name):
        BM25Index.load(tmp_path)


@pytest.mark.parametrize("name", [META_FILE, *sorted(ARRAY_FILES)])
def test_missing_file_is_corrupt(tmp_path: Path, name: str) -> None:
    BM25Index.build(TOY).save(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(CorruptIndexError, match=name):
        BM25Index.load(tmp_path)


def test_shape_mismatch_and_bad_metadata_are_corrupt(tmp_path: Path) -> None:
    BM25Index.build(TOY).save(tmp_path)
    np.save(tmp_path / "idf.npy", np.zeros(3))
    with pytest.raises(CorruptIndexError, match="idf.npy"):
        BM25Index.load(tmp_path)

    BM25Index.build(TOY).save(tmp_path)
    np.save(tmp_path / "doc_ids.npy", np.zeros(1, dtype=np.int32))
    with pytest.raises(CorruptIndexError, match="doc_ids.npy"):
        BM25Index.load(tmp_path)

    BM25Index.build(TOY).save(tmp_path)
    meta_path = tmp_path / META_FILE
    meta_path.write_text(meta_path.read_text(encoding="utf-8")[:-20], encoding="utf-8")
    with pytest.raises(CorruptIndexError, match=META_FILE):
        BM25Index.load(tmp_path)

    BM25Index.build(TOY).save(tmp_path)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(CorruptIndexError, match="format_version"):
        BM25Index.load(tmp_path)


def test_invalid_input_raises_typed_errors() -> None:
    with pytest.raises(BadInputError):
        BM25Index.build([])
    with pytest.raises(BadInputError):
        BM25Index.build([[], []])
    with pytest.raises(ConfigError, match="b must be between 0 and 1"):
        BM25Config(b=1.5)
    with pytest.raises(ConfigError, match="k1"):
        BM25Config(k1=-1.0)
