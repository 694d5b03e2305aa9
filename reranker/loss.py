"""Cross-encoder losses over groups of 1 positive + n negatives, each an ``nn.Module``.

Every loss takes ``logits`` (groups, group_size) with the positive in column 0 and a boolean
``mask`` of the same shape (False where a group ran short of negatives), so ragged groups
need no special case. Losses are computed in float32 whatever the autocast dtype.

- :class:`ListwiseSoftmaxLoss`: softmax cross-entropy of the positive against its group, the
  "localised contrastive estimation" of Gao et al. (2021, *Rethink Training of BERT Rerankers
  in Multi-Stage Retrieval Pipeline*), as used for CoRNStack's code reranker.
- :class:`PointwiseBCELoss`: binary cross-entropy per pair (monoBERT, Nogueira & Cho, 2019).
- :class:`ListwiseDistillationLoss`: KL(teacher || student) over the group members that carry
  a teacher score (listwise distillation as in RocketQAv2, Ren et al., 2021); members without
  one (random negatives) are left out of both distributions.
- :class:`MarginMSELoss`: mean squared error between the student's positive-minus-negative
  logit margins and the teacher's score margins (Margin-MSE, Hofstätter et al., 2020,
  *Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation*):
  it matches how far apart the teacher puts the positive and each negative, not only their order.

This module imports torch at import time: only ``reranker.train`` imports it, lazily.
"""
from __future__ import annotations

import torch
from torch import nn

MASKED_LOGIT = -1e4
"""Stands for -inf on masked entries: finite, so softmax never sees a row of -inf (NaN)."""


class ListwiseSoftmaxLoss(nn.Module):
    """``-log softmax(logits)[:, 0]`` averaged over groups (the positive is column 0)."""

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = logits.float().masked_fill(~mask, MASKED_LOGIT)  # (groups, group_size)
        return -torch.log_softmax(logits, dim=-1)[:, 0].mean()


class PointwiseBCELoss(nn.Module):
    """Binary cross-entropy with logits, label 1 in column 0 and 0 elsewhere, averaged over real pairs."""

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        labels = torch.zeros_like(logits, dtype=torch.float32)  # (groups, group_size)
        labels[:, 0] = 1.0
        losses = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none")
        weights = mask.float()
        return (losses * weights).sum() / weights.sum().clamp_min(1.0)


class ListwiseDistillationLoss(nn.Module):
    """KL(softmax(teacher / T) || softmax(student)) over the members with a finite teacher score.

    Teacher scores are a bi-encoder's cosines (the mining output's ``negative_i_score``
    columns); ``temperature`` turns their narrow range into a peaked distribution. Groups
    with fewer than two scored members carry no ranking signal and are skipped; the loss is
    0 (still attached to the graph) when no group qualifies.
    """

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature

    def forward(self, logits: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scored = mask & torch.isfinite(teacher)  # (groups, group_size)
        usable = scored.sum(dim=-1) >= 2  # (groups,)
        if not bool(usable.any()):
            return logits.float().sum() * 0.0
        logits, teacher, scored = logits[usable].float(), teacher[usable].float(), scored[usable]
        teacher = torch.where(scored, teacher, torch.zeros_like(teacher))  # no NaN/inf into the softmax
        student_log = torch.log_softmax(logits.masked_fill(~scored, MASKED_LOGIT), dim=-1)
        teacher_log = torch.log_softmax((teacher / self.temperature).masked_fill(~scored, MASKED_LOGIT), dim=-1)
        terms = torch.where(scored, teacher_log.exp() * (teacher_log - student_log), torch.zeros_like(logits))
        return terms.sum(dim=-1).mean()


class MarginMSELoss(nn.Module):
    """``mean((s_pos - s_neg) - (t_pos - t_neg) / T)^2`` over the negatives that, like their positive, carry a teacher score.

    The teacher's cosines live in [-1, 1] and their margins are a few hundredths, while a
    cross-encoder's logits span several units; dividing the teacher margins by ``temperature``
    (the same knob as :class:`ListwiseDistillationLoss`) puts both on one scale. Groups whose
    positive is unscored carry no margin; the loss is 0 (still attached to the graph) when no
    pair qualifies.
    """

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature

    def forward(self, logits: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scored = mask & torch.isfinite(teacher)  # (groups, group_size)
        pairs = scored[:, 1:] & scored[:, :1]  # (groups, group_size - 1): negative and positive both scored
        if not bool(pairs.any()):
            return logits.float().sum() * 0.0
        logits = logits.float()
        teacher = torch.where(scored, teacher.float(), torch.zeros_like(logits))
        student_margin = logits[:, :1] - logits[:, 1:]
        teacher_margin = (teacher[:, :1] - teacher[:, 1:]) / self.temperature
        return (student_margin - teacher_margin)[pairs].pow(2).mean()


def make_distillation_loss(name: str, temperature: float) -> nn.Module:
    """``kl`` (listwise KL) or ``margin-mse``, the values of ``RerankerTrainConfig.distill_loss``."""
    if name == "kl":
        return ListwiseDistillationLoss(temperature)
    if name == "margin-mse":
        return MarginMSELoss(temperature)
    raise ValueError(f"unknown distillation loss {name!r}: choose kl or margin-mse")


def make_loss(name: str) -> nn.Module:
    """``listwise`` or ``pointwise``, the values of ``RerankerTrainConfig.loss``."""
    if name == "listwise":
        return ListwiseSoftmaxLoss()
    if name == "pointwise":
        return PointwiseBCELoss()
    raise ValueError(f"unknown reranker loss {name!r}: choose listwise or pointwise")
