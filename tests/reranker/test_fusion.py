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
