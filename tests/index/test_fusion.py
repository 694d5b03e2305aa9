"""index.fusion: each fusion function on hand-made rankings with exact expected orders and scores."""
from __future__ import annotations

import math

import pytest

from codehunt.index.errors import ConfigError
from codehunt.index.fusion import (
    FusionConfig,
    code_likeness,
    convex_fusion,
    fuse,
    normalise,
    reciprocal_rank_fusion,
    weighted_rrf,
)

DENSE = [("a", 0.9), ("b", 0.8), ("c", 0.5)]
BM25 = [("c", 12.0), ("d", 6.0), ("a", 3.0)]


def test_rrf_scores_by_hand():
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["c", "d", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["d"] == pytest.approx(1 / 62)


def test_rrf_ties_keep_first_appearance():
    assert [key for key, _ in reciprocal_rank_fusion([["a", "b"], ["b", "a"]])] == ["a", "b"]


def test_weighted_rrf_leans_towards_the_heavier_list():
    fused = weighted_rrf([DENSE, BM25], [1.6, 0.4], k=1)
    assert fused[0] == ("a", pytest.approx(1.6 / 2 + 0.4 / 4))
    assert dict(fused) == pytest.approx({"a": 0.9, "c": 1.6 / 4 + 0.4 / 2, "b": 1.6 / 3, "d": 0.4 / 3})
    assert [key for key, _ in fused] == ["a", "c", "b", "d"]


def test_normalise_minmax_and_zscore():
    assert normalise([3.0, 1.0, 2.0], "minmax") == [1.0, 0.0, 0.5]
    z = normalise([3.0, 1.0, 2.0], "zscore")
    assert z == pytest.approx([math.sqrt(1.5), -math.sqrt(1.5), 0.0])
    assert normalise([2.0, 2.0], "minmax") == [1.0, 1.0]
    assert normalise([2.0, 2.0], "zscore") == [0.0, 0.0]
    assert normalise([], "zscore") == []
    with pytest.raises(ConfigError):
        normalise([1.0], "softmax")


def test_convex_minmax_by_hand():
    fused = convex_fusion(DENSE, BM25, 0.5, "minmax")
    # dense minmax: a 1, b 0.75, c 0; bm25: c 1, d 1/3, a 0; missing keys take the list's floor (0)
    expected = {"a": 0.5, "b": 0.375, "c": 0.5, "d": 1 / 6}
    assert dict(fused) == pytest.approx(expected)
    assert [key for key, _ in fused] == ["a", "c", "b", "d"]  # a and c tie: first appearance (dense first)


def test_convex_weight_one_is_the_dense_order():
    assert [key for key, _ in convex_fusion(DENSE, BM25, 1.0, "zscore")][:3] == ["a", "b", "c"]
    assert [key for key, _ in convex_fusion(DENSE, BM25, 0.0, "zscore")][:3] == ["c", "d", "a"]


def test_empty_lexical_ranking_keeps_the_dense_order():
    for method in ("rrf", "minmax", "zscore", "auto"):
        fused = fuse(DENSE, [], FusionConfig(method))
        assert [key for key, _ in fused] == ["a", "b", "c"], method
    assert fuse([], [], FusionConfig()) == []


def test_a_clear_lexical_margin_survives_zscore_fusion_but_not_rrf():
    """The json/dumps case: BM25 is sure (a large margin), dense is unsure (flat scores)."""
    dense = [(f"d{i}", 0.53 - 0.005 * i) for i in range(8)] + [("dumps", 0.49), ("dump", 0.485)]
    dense += [(f"e{i}", 0.40 - 0.01 * i) for i in range(10)]
    lexical = [("dumps", 10.8), ("dump", 10.4)] + [(f"d{i}", 7.6 - 0.1 * i) for i in range(8)]
    lexical += [(f"f{i}", 6.0 - 0.1 * i) for i in range(10)]
    zscore = [key for key, _ in convex_fusion(dense, lexical, 0.5, "zscore")]
    rrf = [key for key, _ in reciprocal_rank_fusion([[k for k, _ in dense], [k for k, _ in lexical]])]
    assert zscore[:2] == ["dumps", "dump"]
    assert rrf[:3] == ["d0", "d1", "d2"]  # RRF: middling on both sides outranks sure on one


@pytest.mark.parametrize(
    "query, expected",
    [
        ("serialize a Python object to a JSON formatted string", 0.0),
        ("how are routes registered", 0.0),
        ("APIRouter", 1.0),
        ("Command", 1.0),
        ("parse_args", 1.0),
        ("os.path.join", 1.0),
        ("where is `retry_after` computed", 0.25),
        ("KeyError in json.loads", 2 / 3),
    ],
)
def test_code_likeness(query, expected):
    assert code_likeness(query) == pytest.approx(expected)


def test_auto_weight_moves_from_prose_to_code():
    config = FusionConfig("auto", dense_weight=0.8, code_dense_weight=0.2)
    assert config.weight_for("how are routes registered") == pytest.approx(0.8)
    assert config.weight_for("APIRouter") == pytest.approx(0.2)
    assert FusionConfig("zscore", dense_weight=0.7).weight_for("APIRouter") == pytest.approx(0.7)


@pytest.mark.parametrize("kwargs", [{"method": "mean"}, {"dense_weight": 1.5}, {"code_dense_weight": -0.1}, {"rrf_k": 0}])
def test_bad_fusion_config_is_a_config_error(kwargs):
    with pytest.raises(ConfigError):
        FusionConfig(**kwargs)
