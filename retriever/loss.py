"""Contrastive objectives for code search: InfoNCE / DCL over in-batch, mined and queued negatives.

* InfoNCE (van den Oord et al., 2018) with temperature tau, fixed or learned as log(1/tau) (CLIP).
* DCL, decoupled contrastive learning (Yeh et al., 2022): the positive is left out of the
  denominator, ``-s+/tau + log sum_neg exp(s-/tau)``.
* MoCo / CoCoSoDa (He et al., 2020; Shi et al., 2023): query->code against in-batch codes, the
  triple's hard negatives and the code queue; code->query against in-batch queries and the
  query queue; optionally code->augmented-code (intra-modal) against the code queue.
* Masking: a candidate with the positive's document id or the positive's exact text is never
  a negative (the released CoCoSoDa code has no such mask, so a queued copy of the positive
  is pushed away).
* MoCHi (Kalantidis et al., 2020): synthetic hard negatives mixed from the N hardest
  *unmasked* queue entries, detached and never enqueued.

Scores are cosine similarities of L2-normalised vectors, computed in float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from codehunt.retriever.config import MochiParams

QueueEntries = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""(embeddings (n, dim), doc_ids (n,), text_ids (n,)), as returned by ``KeyQueue.entries``."""

MIN_TEMPERATURE = 0.01


@dataclass(frozen=True)
class BatchIds:
    """int64 identities of a micro-batch: what may and may not serve as a negative."""

    code_doc: torch.Tensor  # (batch,) document id of each positive
    code_text: torch.Tensor  # (batch,) hash of each positive's exact text
    query_text: torch.Tensor  # (batch,) hash of each query's exact text
    negative_doc: torch.Tensor  # (hard,) document id of each mined negative
    negative_text: torch.Tensor  # (hard,) hash of each mined negative's text


def blocked_negatives(
    positive_doc: torch.Tensor, positive_text: torch.Tensor, candidate_doc: torch.Tensor,
    candidate_text: torch.Tensor, positive_index: torch.Tensor | None = None,
) -> torch.Tensor:
    """(batch, n) True where candidate j may not be a negative for row i: same document or same text.

    The positive's own column (``positive_index``) is left unblocked, since it is the label.
    """
    blocked = (positive_doc[:, None] == candidate_doc[None, :]) | (positive_text[:, None] == candidate_text[None, :])
    if positive_index is not None:
        blocked[torch.arange(blocked.shape[0], device=blocked.device), positive_index] = False
    return blocked


def contrastive_loss(
    scores: torch.Tensor, positive_index: torch.Tensor, blocked: torch.Tensor, temperature: torch.Tensor | float,
    decoupled: bool = False, extra_scores: torch.Tensor | None = None, extra_valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over rows of InfoNCE (or DCL) on cosine ``scores`` (batch, n); blocked columns are dropped.

    ``extra_scores`` (batch, m) are further negatives (MoCHi), used where ``extra_valid`` is True.
    A row left with no negative at all contributes 0 to the mean.
    """
    logits = (scores.float() / temperature).masked_fill(blocked, float("-inf"))  # (batch, n)
    if extra_scores is not None:
        extra = extra_scores.float() / temperature
        if extra_valid is not None:
            extra = extra.masked_fill(~extra_valid, float("-inf"))
        logits = torch.cat([logits, extra], dim=1)  # (batch, n + m)
    rows = torch.arange(logits.shape[0], device=logits.device)
    positive = logits[rows, positive_index]  # (batch,)
    negatives = logits.clone()
    negatives[rows, positive_index] = float("-inf")
    has_negative = torch.isfinite(negatives).any(dim=1)  # (batch,)
    if decoupled:
        safe = torch.where(has_negative[:, None], negatives, torch.zeros_like(negatives))
        per_row = torch.logsumexp(safe, dim=1) - positive
    else:
        per_row = torch.logsumexp(logits, dim=1) - positive
    per_row = torch.where(has_negative, per_row, torch.zeros_like(per_row))
    return per_row.mean()


@torch.no_grad()
def mochi_negatives(
    anchors: torch.Tensor, bank: torch.Tensor, bank_scores: torch.Tensor, bank_blocked: torch.Tensor,
    params: "MochiParams", generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MoCHi: per anchor, ``mixes`` + ``query_mixes`` unit vectors synthesised from its hardest negatives.

    Among the ``params.hardest`` highest-scoring *unblocked* bank entries, ``mixes`` negatives
    are ``a*n_i + (1-a)*n_j`` (a ~ U(0,1)) and ``query_mixes`` are ``b*q + (1-b)*n_j`` with
    b ~ U(0, 0.5), so the anchor never dominates. Returns (negatives (batch, m, dim),
    valid (batch, m)); a row with no unblocked entry gets no valid synthetic negative.
    """
    batch, m_pairs, m_query = anchors.shape[0], params.mixes, params.query_mixes
    dim, device = anchors.shape[1], anchors.device
    out = torch.zeros(batch, m_pairs + m_query, dim, device=device)
    if bank.shape[0] == 0:
        return out, torch.zeros(batch, m_pairs + m_query, dtype=torch.bool, device=device)
    n = min(params.hardest, bank.shape[0])
    top_scores, top = bank_scores.float().masked_fill(bank_blocked, float("-inf")).topk(n, dim=1)  # (batch, n)
    count = torch.isfinite(top_scores).sum(dim=1)  # (batch,) unblocked entries come first in topk
    hardest = bank.float()[top]  # (batch, n, dim)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu" if generator is None else generator.device).to(device)

    def pick(k: int) -> torch.Tensor:  # (batch, k, dim) entries drawn uniformly among each row's unblocked ones
        index = (rand(batch, k) * count[:, None]).long().clamp(max=n - 1)
        return hardest.gather(1, index[:, :, None].expand(-1, -1, dim))

    alpha = rand(batch, m_pairs, 1)
    mixed = alpha * pick(m_pairs) + (1 - alpha) * pick(m_pairs)  # (batch, s, dim)
    beta = 0.5 * rand(batch, m_query, 1)
    query_mixed = beta * anchors.detach().float()[:, None, :] + (1 - beta) * pick(m_query)  # (batch, s2, dim)
    out = nn.functional.normalize(torch.cat([mixed, query_mixed], dim=1), dim=-1)
    valid = (count > 0)[:, None].expand(-1, m_pairs + m_query)
    return out, valid


class ContrastiveObjective(nn.Module):
    """The training loss: an ``nn.Module`` so that a learned temperature is a parameter.

    Without queues it is plain in-batch InfoNCE/DCL, query->code over in-batch codes and mined
    negatives (the baseline, as MultipleNegativesRankingLoss). With queues it adds the queued
    keys to query->code and the code->query term (and the intra-modal term when code keys of
    augmented code are given), summing the terms.
    """

    def __init__(self, temperature: float = 0.05, learn_temperature: bool = False, decoupled: bool = False,
                 mochi: "MochiParams | None" = None):
        super().__init__()
        value = torch.tensor(math.log(1.0 / temperature))
        if learn_temperature:
            self.log_inv_temperature = nn.Parameter(value)
        else:
            self.register_buffer("log_inv_temperature", value)
        self.decoupled, self.mochi = decoupled, mochi

    @property
    def temperature(self) -> torch.Tensor:
        return torch.exp(-self.log_inv_temperature).clamp(min=MIN_TEMPERATURE)

    def term(self, anchors: torch.Tensor, candidates: torch.Tensor, positive_doc: torch.Tensor,
             positive_text: torch.Tensor, candidate_doc: torch.Tensor, candidate_text: torch.Tensor,
             queue_start: int | None, generator: torch.Generator | None) -> tuple[torch.Tensor, float]:
        """One InfoNCE term whose positive for row i is candidate i; returns (loss, mean usable negatives)."""
        batch = anchors.shape[0]
        positive_index = torch.arange(batch, device=anchors.device)
        scores = anchors.float() @ candidates.float().T  # (batch, n)
        blocked = blocked_negatives(positive_doc, positive_text, candidate_doc, candidate_text, positive_index)
        extra = valid = None
        if self.mochi is not None and queue_start is not None:
            synthetic, valid = mochi_negatives(anchors, candidates[queue_start:], scores[:, queue_start:],
                                               blocked[:, queue_start:], self.mochi, generator)
            extra = torch.einsum("bd,bmd->bm", anchors.float(), synthetic)  # (batch, s + s2)
        loss = contrastive_loss(scores, positive_index, blocked, self.temperature, self.decoupled, extra, valid)
        usable = (~blocked).sum().item() - batch + (0 if valid is None else valid.sum().item())
        return loss, usable / batch

    def forward(
        self, queries: torch.Tensor, codes: torch.Tensor, negatives: torch.Tensor, ids: BatchIds,
        code_queue: QueueEntries | None = None, query_queue: QueueEntries | None = None,
        code_keys: torch.Tensor | None = None, generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """queries, codes (batch, dim), negatives (hard, dim): unit vectors with gradients; queues and keys detached."""
        batch = queries.shape[0]
        candidates, cand_doc, cand_text = [codes, negatives], [ids.code_doc, ids.negative_doc], [ids.code_text, ids.negative_text]
        if code_queue is not None:
            candidates.append(code_queue[0]); cand_doc.append(code_queue[1]); cand_text.append(code_queue[2])  # noqa: E702
        queue_start = batch + negatives.shape[0] if code_queue is not None else None
        loss, usable = self.term(queries, torch.cat(candidates), ids.code_doc, ids.code_text, torch.cat(cand_doc),
                                 torch.cat(cand_text), queue_start, generator)
        stats = {"loss_query_code": loss.item(), "negatives": usable}
        if query_queue is not None:
            reverse, _ = self.term(codes, torch.cat([queries, query_queue[0]]), ids.code_doc, ids.query_text,
                                   torch.cat([ids.code_doc, query_queue[1]]), torch.cat([ids.query_text, query_queue[2]]),
                                   batch, generator)
            loss = loss + reverse
            stats["loss_code_query"] = reverse.item()
        if code_keys is not None:
            bank = code_queue if code_queue is not None else (code_keys[:0], ids.code_doc[:0], ids.code_text[:0])
            intra, _ = self.term(codes, torch.cat([code_keys, bank[0]]), ids.code_doc, ids.code_text,
                                 torch.cat([ids.code_doc, bank[1]]), torch.cat([ids.code_text, bank[2]]), batch, generator)
            loss = loss + intra
            stats["loss_intra"] = intra.item()
        stats["temperature"] = float(self.temperature.item())
        return loss, stats
