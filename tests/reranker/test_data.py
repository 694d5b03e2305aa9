"""Group construction: never the positive (or a whitespace copy of it) among the negatives; exact mix counts."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from codehunt.reranker.data import Candidate, TripleColumns, TripleDataError, build_group, load_triples, normalize_whitespace

POSITIVE = "def add(a, b):\n    return a + b"
COPIES = ["def add(a, b):\n    return a + b", "def  add(a, b):\n\treturn a + b\n", "  def add(a, b): return a + b  "]


def test_normalize_whitespace() -> None:
    assert {normalize_whitespace(text) for text in COPIES} == {"def add(a, b): return a + b"}
    assert normalize_whitespace("a\n\n b") != normalize_whitespace("ab")


@pytest.mark.parametrize("seed", range(50))
def test_positive_and_its_copies_never_become_negatives(seed: int) -> None:
    hard = [Candidate(text) for text in COPIES] + [Candidate("def sub(a, b):\n    return a - b"),
                                                    Candidate("def sub(a,  b):\n    return a - b"), Candidate("   "),
                                                    Candidate("def mul(a, b):\n    return a * b", doc_id="P")]
    pool = COPIES + [f"def f{i}():\n    return {i}" for i in range(6)] + ["def sub(a, b): return a - b"]
    group = build_group("add two numbers", POSITIVE, hard, pool, group_size=6, random_negative_ratio=0.5,
                        rng=random.Random(seed), positive_id="P")
    keys = [normalize_whitespace(text) for text in group.texts]
    assert group.texts[0] == POSITIVE
    assert normalize_whitespace(POSITIVE) not in keys[1:]
    assert len(set(keys)) == len(keys), "a group holds no duplicate texts"
    assert all(key for key in keys)
    assert "def mul(a, b):\n    return a * b" not in group.texts, "a negative carrying the positive's id is dropped"
    assert len(group) == 6


def test_mix_counts_and_teacher_scores() -> None:
    hard = [Candidate(f"def hard{i}(): pass", score=0.9 - i / 10) for i in range(5)]
    pool = [f"def rand{i}(): pass" for i in range(20)]
    group = build_group("q", "def pos(): pass", hard, pool, group_size=8, random_negative_ratio=0.25,
                        rng=random.Random(0), positive_score=0.95)
    # 7 negatives: round(7 * 0.25) = 2 random, 5 hard
    assert group.n_hard == 5
    assert all(text.startswith("def hard") for text in group.texts[1:6])
    assert all(text.startswith("def rand") for text in group.texts[6:])
    assert group.teacher[0] == 0.95
    assert group.teacher[1:6] == tuple(c.score for c in hard)  # the hard ones keep their order and scores
    assert group.teacher[6:] == (None, None)


def test_shortfalls_fill_from_the_other_kind() -> None:
    pool = [f"def rand{i}(): pass" for i in range(20)]
    few_hard = build_group("q", "def pos(): pass", [Candidate("def h(): pass")], pool, 5, 0.0, random.Random(1))
    assert few_hard.n_hard == 1 and len(few_hard) == 5  # 1 hard + 3 random
    no_pool = build_group("q", "def pos(): pass", [Candidate(f"def h{i}(): pass") for i in range(6)], ["def pos(): pass"],
                          5, 1.0, random.Random(1))
    assert no_pool.n_hard == 4 and len(no_pool) == 5  # the pool holds only the positive: all hard
    short = build_group("q", "def pos(): pass", [], ["def pos():  pass"], 5, 0.5, random.Random(1))
    assert short.texts == ("def pos(): pass",)  # nothing usable: a group of one, masked by the loss


def test_same_seed_same_group_and_seeds_differ() -> None:
    hard = [Candidate(f"def hard{i}(): pass") for i in range(10)]
    pool = [f"def rand{i}(): pass" for i in range(50)]
    a = build_group("q", "def pos(): pass", hard, pool, 6, 0.4, random.Random("s/1"))
    b = build_group("q", "def pos(): pass", hard, pool, 6, 0.4, random.Random("s/1"))
    c = build_group("q", "def pos(): pass", hard, pool, 6, 0.4, random.Random("s/2"))
    assert a == b
    assert a != c


def test_columns_by_name_and_by_position() -> None:
    named = TripleColumns.detect(["negative_2", "anchor", "negative_10", "positive", "negative_1", "negative_2_score",
                                  "positive_score", "positive_id"], "t.jsonl")
    assert named.negatives == ("negative_1", "negative_2", "negative_10")
    assert named.negative_scores == (None, "negative_2_score", None)
    assert named.positive_score == "positive_score" and named.positive_id == "positive_id"
    positional = TripleColumns.detect(["q", "pos", "n1", "n1_score", "n2"], "t.jsonl")
    assert (positional.anchor, positional.positive, positional.negatives) == ("q", "pos", ("n1", "n2"))
    assert positional.negative_scores == ("n1_score", None)
    with pytest.raises(TripleDataError, match="no query and positive"):
        TripleColumns.detect(["query_id", "query_score"], "t.jsonl")


def test_load_triples_reads_scores_and_builds_groups(tmp_path: Path) -> None:
    path = tmp_path / "triples.jsonl"
    rows = [
        {"anchor": f"query {i}", "positive": f"def pos{i}(): pass", "negative_1": f"def pos{i}():  pass",
         "negative_1_score": 0.99, "negative_2": f"def neg{i}(): pass", "negative_2_score": 0.5 + i / 100}
        for i in range(6)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = load_triples(path, cache_dir=str(tmp_path / "cache"))
    assert len(data) == 6 and len(data.pool) == 6
    group = data.group(3, group_size=3, random_negative_ratio=0.0, seed=1, epoch=0)
    # negative_1 is the positive with extra whitespace: dropped, so one hard + one random negative
    assert group.texts[:2] == ("def pos3(): pass", "def neg3(): pass")
    assert group.teacher[:2] == (None, pytest.approx(0.53))
    assert group.texts[2] in {f"def pos{i}(): pass" for i in range(6) if i != 3}
    assert data.group(3, 3, 0.0, seed=1, epoch=0) == group
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(TripleDataError, match="does not exist or is empty"):
        load_triples(empty)
