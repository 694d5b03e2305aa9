"""Reranker losses on hand-made logits, against values derived by hand."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from codehunt.reranker.loss import (  # noqa: E402
    ListwiseDistillationLoss, ListwiseSoftmaxLoss, MarginMSELoss, PointwiseBCELoss, make_distillation_loss, make_loss,
)


def test_listwise_single_group_exact() -> None:
    # -log(e^2 / (e^2 + e^1 + e^0)) = log(1 + e^-1 + e^-2)
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    mask = torch.ones_like(logits, dtype=torch.bool)
    expected = math.log(1 + math.exp(-1) + math.exp(-2))
    assert ListwiseSoftmaxLoss()(logits, mask).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.4076059644, abs=1e-9)


def test_listwise_masks_missing_negatives_and_averages_groups() -> None:
    # group 1: positive 0 vs one real negative 0 (the masked 50 must not count): log 2
    # group 2: positive 1 vs 0 and 0: log(1 + 2 e^-1)
    logits = torch.tensor([[0.0, 0.0, 50.0], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    expected = (math.log(2) + math.log(1 + 2 * math.exp(-1))) / 2
    assert ListwiseSoftmaxLoss()(logits, mask).item() == pytest.approx(expected, abs=1e-6)


def test_listwise_is_positive_column_sensitive() -> None:
    mask = torch.ones(1, 2, dtype=torch.bool)
    good = ListwiseSoftmaxLoss()(torch.tensor([[3.0, 0.0]]), mask).item()
    bad = ListwiseSoftmaxLoss()(torch.tensor([[0.0, 3.0]]), mask).item()
    assert good == pytest.approx(math.log(1 + math.exp(-3)), abs=1e-6)
    assert bad == pytest.approx(math.log(1 + math.exp(3)), abs=1e-6)


def test_pointwise_bce_exact() -> None:
    # BCE(2, label 1) = log(1 + e^-2); BCE(-1, label 0) = log(1 + e^-1); the masked 9 is ignored
    logits = torch.tensor([[2.0, -1.0, 9.0]])
    mask = torch.tensor([[True, True, False]])
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2
    assert PointwiseBCELoss()(logits, mask).item() == pytest.approx(expected, abs=1e-6)
    zeros = torch.zeros(2, 3)
    assert PointwiseBCELoss()(zeros, torch.ones(2, 3, dtype=torch.bool)).item() == pytest.approx(math.log(2), abs=1e-6)


def test_distillation_kl_exact_and_skips_unscored() -> None:
    # teacher cosines (1, 0) at T = 1 -> p = (e, 1)/(e + 1); student (0, 0) -> q = (1/2, 1/2);
    # the third member has no teacher score (NaN) and is left out of both distributions.
    logits = torch.tensor([[0.0, 0.0, 7.0]])
    teacher = torch.tensor([[1.0, 0.0, float("nan")]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    p = [math.e / (math.e + 1), 1 / (math.e + 1)]
    expected = sum(pi * math.log(pi / 0.5) for pi in p)
    loss = ListwiseDistillationLoss(temperature=1.0)(logits, teacher, mask)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.1109441, abs=1e-6)


def test_distillation_zero_when_student_matches_and_when_nothing_is_scored() -> None:
    teacher = torch.tensor([[0.3, 0.1, 0.2]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    matched = ListwiseDistillationLoss(temperature=0.1)(teacher / 0.1, teacher, mask)
    assert matched.item() == pytest.approx(0.0, abs=1e-6)
    logits = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    one_scored = torch.tensor([[0.5, float("nan"), float("nan")]])
    loss = ListwiseDistillationLoss()(logits, one_scored, mask)
    assert loss.item() == 0.0
    loss.backward()  # still attached to the graph
    assert logits.grad is not None and torch.all(logits.grad == 0)


def test_margin_mse_exact_skips_unscored_and_scales_by_temperature() -> None:
    # student margins 2 - 0 = 2 and 2 - 1 = 1; teacher margins (0.5 - 0.3) / 0.1 = 2 and
    # (0.5 - 0.45) / 0.1 = 0.5; the third negative is unscored, the fourth masked out.
    logits = torch.tensor([[2.0, 0.0, 1.0, 5.0, 9.0]])
    teacher = torch.tensor([[0.5, 0.3, 0.45, float("nan"), 0.0]])
    mask = torch.tensor([[True, True, True, True, False]])
    expected = ((2 - 2.0) ** 2 + (1 - 0.5) ** 2) / 2
    assert MarginMSELoss(temperature=0.1)(logits, teacher, mask).item() == pytest.approx(expected, abs=1e-5)
    # shifting every student logit by a constant changes nothing: only margins count
    assert MarginMSELoss(temperature=0.1)(logits + 3.0, teacher, mask).item() == pytest.approx(expected, abs=1e-5)


def test_margin_mse_zero_without_a_scored_positive() -> None:
    logits = torch.tensor([[1.0, 2.0]], requires_grad=True)
    teacher = torch.tensor([[float("nan"), 0.4]])
    loss = MarginMSELoss()(logits, teacher, torch.ones(1, 2, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad == 0)


def test_make_distillation_loss_names() -> None:
    assert isinstance(make_distillation_loss("kl", 0.05), ListwiseDistillationLoss)
    margin = make_distillation_loss("margin-mse", 0.2)
    assert isinstance(margin, MarginMSELoss) and margin.temperature == 0.2
    with pytest.raises(ValueError, match="kl or margin-mse"):
        make_distillation_loss("mse", 0.05)


def test_make_loss_names() -> None:
    assert isinstance(make_loss("listwise"), ListwiseSoftmaxLoss)
    assert isinstance(make_loss("pointwise"), PointwiseBCELoss)
    with pytest.raises(ValueError, match="listwise or pointwise"):
        make_loss("pairwise")
