"""index.file_ranking: file aggregation on a hand-made unit list, and the benchmark's first-match nDCG."""
from __future__ import annotations

import math

import pytest

from codehunt.index.errors import ConfigError
from codehunt.index.file_ranking import rank_files
from codehunt.index.metrics import first_match_ndcg
from codehunt.index.types import Hit


def hit(path: str, name: str, score: float, rank: int = 0) -> Hit:
    return Hit(rank=rank, score=score, doc_id=f"{path}::{name}", path=path, start_line=1, end_line=2,
               qualname=name, language="python", snippet="")


HITS = [hit("a.py", "f", 1.0), hit("b.py", "g", 0.9), hit("b.py", "h", 0.8), hit("b.py", "i", 0.7), hit("c.py", "j", 0.1)]


def test_max_ranks_files_by_their_best_unit():
    files = rank_files(HITS, "max")
    assert [f.path for f in files] == ["a.py", "b.py", "c.py"]
    assert [f.score for f in files] == pytest.approx([0.9, 0.8, 0.0])  # shifted so the lowest candidate is 0
    assert files[1].best.qualname == "g" and files[1].units == 3


def test_top3_and_decay_reward_several_good_units():
    top3 = rank_files(HITS, "top3")
    assert [f.path for f in top3] == ["b.py", "a.py", "c.py"]
    assert top3[0].score == pytest.approx(0.8 + 0.7 + 0.6)
    decay = rank_files(HITS, "decay")
    assert decay[0].path == "b.py" and decay[0].score == pytest.approx(0.8 + 0.7 / 2 + 0.6 / 4)


def test_ties_keep_first_appearance_and_k_cuts():
    tied = [hit("x.py", "f", 0.5), hit("y.py", "g", 0.5), hit("z.py", "h", 0.0)]
    assert [f.path for f in rank_files(tied, "max")] == ["x.py", "y.py", "z.py"]
    assert [f.rank for f in rank_files(tied, "max", k=2)] == [1, 2]
    assert rank_files([], "max") == []
    with pytest.raises(ConfigError):
        rank_files(tied, "mean")


def test_first_match_ndcg_by_hand():
    # targets a, b; a found at rank 2 (rank 1's repeat of z earns nothing), b never found
    value = first_match_ndcg(["z", "a", "a", "z"], {"a", "b"}, k=10)
    assert value == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert first_match_ndcg(["a", "b"], {"a", "b"}) == pytest.approx(1.0)
    assert first_match_ndcg(["x"] * 10 + ["a"], {"a"}) == 0.0  # beyond k
    assert first_match_ndcg([], {"a"}) == 0.0
