"""Fusing the reranker's order with the first stage's (RRF on ranks, first stage weighted)."""
from __future__ import annotations

import numpy as np
import pytest

from codehunt.reranker.config import RerankConfig, RerankerConfigError
from codehunt.reranker.model import FUSION_RRF_K, fuse_with_first_stage


def test_fused_scores_are_the_weighted_reciprocal_ranks():
    # first-stage order: candidates 0, 1, 2; the reranker prefers 2, then 0, then 1
    fused = fuse_with_first_stage(np.array([0.5, -1.0, 3.0]), first_stage_weight=0.5)
    k = FUSION_RRF_K
    expected = [1 / (k + 2) + 0.5 / (k + 1), 1 / (k + 3) + 0.5 / (k + 2), 1 / (k + 1) + 0.5 / (k + 3)]
    assert fused == pytest.approx(expected, abs=1e-12)


def test_a_heavy_first_stage_weight_keeps_the_first_stage_order_and_a_light_one_the_rerankers():
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    heavy = fuse_with_first_stage(scores, first_stage_weight=100.0)
    light = fuse_with_first_stage(scores, first_stage_weight=0.01)
    assert list(np.argsort(-heavy, kind="stable")) == [0, 1, 2, 3]
    assert list(np.argsort(-light, kind="stable")) == [1, 3, 2, 0]


def test_reranker_ties_keep_the_first_stage_order():
    fused = fuse_with_first_stage(np.array([1.0, 1.0, 1.0]), first_stage_weight=0.0)
    assert fused[0] > fused[1] > fused[2]


def test_a_negative_weight_is_refused():
    with pytest.raises(RerankerConfigError, match="first_stage_weight"):
        RerankConfig(first_stage_weight=-1.0)


# Score-level interpolation and the combination stored in a reranker directory.
from codehunt.index.errors import ModelLoadError  # noqa: E402
from codehunt.reranker.model import COMBINATION_FILE, interpolate_with_first_stage, read_combination  # noqa: E402


def test_interpolation_by_hand():
    # logits minmax: (0.5 - -1) / 4 = 0.375, 0, 1; first stage minmax: 1, 0.5, 0
    scores = interpolate_with_first_stage(np.array([0.5, -1.0, 3.0]), [0.9, 0.7, 0.5], weight=0.25)
    assert scores == pytest.approx([0.75 * 0.375 + 0.25 * 1.0, 0.25 * 0.5, 0.75 * 1.0])
    assert list(np.argsort(-interpolate_with_first_stage(np.array([0.0, 2.0]), [0.9, 0.1], 1.0), kind="stable")) == [0, 1]
    assert list(np.argsort(-interpolate_with_first_stage(np.array([0.0, 2.0]), [0.9, 0.1], 0.0), kind="stable")) == [1, 0]
    assert interpolate_with_first_stage(np.array([]), [], 0.5).shape == (0,)


def test_an_interpolation_weight_above_one_is_refused():
    with pytest.raises(RerankerConfigError, match="interpolation weight"):
        RerankConfig(combination="interpolate", first_stage_weight=1.5)
    with pytest.raises(RerankerConfigError, match="combination"):
        RerankConfig(combination="mean")


def test_a_stored_combination_is_read_and_a_broken_one_is_a_clear_error(tmp_path):
    assert read_combination(tmp_path) == {}
    (tmp_path / COMBINATION_FILE).write_text('{"combination": "interpolate", "first_stage_weight": 0.7}', encoding="utf-8")
    assert read_combination(tmp_path) == {"combination": "interpolate", "first_stage_weight": 0.7}
    (tmp_path / COMBINATION_FILE).write_text("{", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="rerank-weight"):
        read_combination(tmp_path)


def test_load_rescorer_applies_the_stored_combination_unless_told_otherwise(tmp_path):
    from sentence_transformers import CrossEncoder

    from codehunt.reranker.model import load_cross_encoder, load_rescorer

    model_dir = tmp_path / "ce"
    load_cross_encoder("default", max_length=64).save(str(model_dir))
    CrossEncoder(str(model_dir))  # a real cross-encoder directory
    (model_dir / COMBINATION_FILE).write_text('{"combination": "interpolate", "first_stage_weight": 0.7}', encoding="utf-8")
    stored = load_rescorer(model_dir)
    assert (stored.config.combination, stored.config.first_stage_weight) == ("interpolate", 0.7)
    explicit = load_rescorer(model_dir, first_stage_weight=0.0)
    assert (explicit.config.combination, explicit.config.first_stage_weight) == ("rrf", 0.0)
