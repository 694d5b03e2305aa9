"""Loss values on hand-made unit vectors, checked against numbers worked out by hand."""
from __future__ import annotations

import math

import pytest
import torch

from codehunt.retriever.config import MochiParams
from codehunt.retriever.loss import BatchIds, ContrastiveObjective, blocked_negatives, contrastive_loss, mochi_negatives

E = math.e


def t(*rows: float | tuple[float, ...], dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype)


def ids(code_doc, code_text, query_text, negative_doc=(), negative_text=()) -> BatchIds:
    as_long = lambda values: torch.tensor(list(values), dtype=torch.int64)  # noqa: E731
    return BatchIds(as_long(code_doc), as_long(code_text), as_long(query_text), as_long(negative_doc), as_long(negative_text))


QUERIES = t((1.0, 0.0), (0.0, 1.0))
CODES = t((1.0, 0.0), (0.0, 1.0))
NO_NEGATIVES = torch.zeros(0, 2)


@pytest.mark.parametrize("temperature, expected", [(1.0, math.log(1 + 1 / E)), (0.5, math.log(1 + E**-2))])
def test_in_batch_infonce_exact(temperature: float, expected: float) -> None:
    # q1.c1 = 1, q1.c2 = 0: -log(e^(1/t) / (e^(1/t) + e^0)) = log(1 + e^(-1/t)) for both rows
    objective = ContrastiveObjective(temperature=temperature)
    loss, _ = objective(QUERIES, CODES, NO_NEGATIVES, ids([1, 2], [11, 12], [21, 22]))
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_dcl_leaves_positive_out_of_denominator() -> None:
    # DCL row loss: -s+/t + log(sum_neg e^(s-/t)) = -1 + log(e^0) = -1 at t = 1
    loss, _ = ContrastiveObjective(temperature=1.0, decoupled=True)(QUERIES, CODES, NO_NEGATIVES, ids([1, 2], [11, 12], [21, 22]))
    assert loss.item() == pytest.approx(-1.0, abs=1e-6)
    infonce, _ = ContrastiveObjective(temperature=1.0)(QUERIES, CODES, NO_NEGATIVES, ids([1, 2], [11, 12], [21, 22]))
    assert infonce.item() > loss.item() + 1.0


def test_hard_negatives_join_the_query_to_code_candidates() -> None:
    negatives = t((0.6, 0.8))  # scores: q1 0.6, q2 0.8
    loss, stats = ContrastiveObjective(temperature=1.0)(QUERIES, CODES, negatives, ids([1, 2], [11, 12], [21, 22], [3], [13]))
    expected = (math.log(E + 1 + E**0.6) - 1 + math.log(1 + E + E**0.8) - 1) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert stats["negatives"] == 2.0


def test_queues_and_masking_exact() -> None:
    """q->c with the code queue and c->q with the query queue; same-document entries are masked out."""
    code_queue = (t((1.0, 0.0), (0.6, 0.8)), torch.tensor([1, 9]), torch.tensor([31, 32]))  # entry 0 is document 1 again
    query_queue = (t((0.0, 1.0), (0.8, 0.6)), torch.tensor([2, 9]), torch.tensor([41, 42]))  # entry 0 belongs to document 2
    objective = ContrastiveObjective(temperature=1.0)
    loss, stats = objective(QUERIES, CODES, NO_NEGATIVES, ids([1, 2], [11, 12], [21, 22]),
                            code_queue=code_queue, query_queue=query_queue)
    query_code = (math.log(E + 1 + E**0.6) - 1 + math.log(1 + E + 1 + E**0.8) - 1) / 2
    code_query = (math.log(E + 1 + 1 + E**0.8) - 1 + math.log(1 + E + E**0.6) - 1) / 2
    assert stats["loss_query_code"] == pytest.approx(query_code, abs=1e-6)
    assert stats["loss_code_query"] == pytest.approx(code_query, abs=1e-6)
    assert loss.item() == pytest.approx(query_code + code_query, abs=1e-6)
    unmasked_row_1 = math.log(E + 1 + E + E**0.6) - 1  # what the released CoCoSoDa code computes for q1
    assert stats["loss_query_code"] < (unmasked_row_1 + math.log(1 + E + 1 + E**0.8) - 1) / 2 - 0.1


def test_blocked_negatives_rule() -> None:
    # candidates: the two in-batch codes, then a queued copy of doc 1, a queued duplicate text of code 2, a stranger
    blocked = blocked_negatives(torch.tensor([1, 2]), torch.tensor([11, 12]), torch.tensor([1, 2, 1, 7, 8]),
                                torch.tensor([11, 12, 99, 12, 98]), positive_index=torch.tensor([0, 1]))
    assert blocked.tolist() == [[False, False, True, False, False], [False, False, False, True, False]]


def test_duplicate_text_in_batch_is_not_a_negative() -> None:
    # code 2 has another document id but the same text as code 1: neither row may use the other
    codes = t((1.0, 0.0), (0.0, 1.0))
    loss, stats = ContrastiveObjective(temperature=1.0)(QUERIES, codes, NO_NEGATIVES, ids([1, 2], [11, 11], [21, 22]))
    assert loss.item() == pytest.approx(0.0, abs=1e-7)  # no negative left in either row
    assert stats["negatives"] == 0.0


def test_baseline_matches_reference_cross_entropy() -> None:
    """Without queues the loss is MultipleNegativesRankingLoss: CE over scale * cos(q, [codes; negatives])."""
    generator = torch.Generator().manual_seed(0)
    queries = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    codes = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    negatives = torch.nn.functional.normalize(torch.randn(3, 8, generator=generator), dim=-1)
    loss, _ = ContrastiveObjective(temperature=0.05)(queries, codes, negatives,
                                                      ids([1, 2, 3, 4], [11, 12, 13, 14], [21, 22, 23, 24], [5, 6, 7], [15, 16, 17]))
    reference = torch.nn.functional.cross_entropy(20.0 * queries @ torch.cat([codes, negatives]).T, torch.arange(4))
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)


def test_dcl_row_without_negatives_is_zero_with_finite_gradient() -> None:
    scores = torch.tensor([[0.3, 0.9]], requires_grad=True)
    loss = contrastive_loss(scores, torch.tensor([0]), torch.tensor([[False, True]]), 0.1, decoupled=True)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(scores.grad).all()


def test_learned_temperature_gets_a_gradient_and_fixed_does_not_train() -> None:
    learned = ContrastiveObjective(temperature=0.5, learn_temperature=True)
    loss, stats = learned(QUERIES.clone().requires_grad_(), CODES, NO_NEGATIVES, ids([1, 2], [11, 12], [21, 22]))
    loss.backward()
    assert stats["temperature"] == pytest.approx(0.5, rel=1e-6)
    assert learned.log_inv_temperature.grad is not None and learned.log_inv_temperature.grad.abs().item() > 0
    assert list(ContrastiveObjective(temperature=0.5).parameters()) == []


def test_intra_modal_term_uses_code_keys_as_positives() -> None:
    keys = t((0.6, 0.8), (0.8, 0.6))  # row i's positive is key i; the other key is a negative
    code_queue = (torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))
    _, stats = ContrastiveObjective(temperature=1.0)(QUERIES, CODES, NO_NEGATIVES, ids([1, 2], [11, 12], [21, 22]),
                                                     code_queue=code_queue, code_keys=keys)
    # c1: pos 0.6, neg 0.8 ; c2: pos 0.6, neg 0.8 -> log(e^.6 + e^.8) - .6 each
    assert stats["loss_intra"] == pytest.approx(math.log(E**0.6 + E**0.8) - 0.6, abs=1e-6)


# -- MoCHi --------------------------------------------------------------------------------
ANCHOR = t((1.0, 0.0, 0.0, 0.0))
BANK = t((0.8, 0.0, 0.0, 0.6), (0.6, 0.8, 0.0, 0.0), (0.5, 0.0, math.sqrt(0.75), 0.0), (-1.0, 0.0, 0.0, 0.0))


def test_mochi_mixes_only_the_hardest_unmasked_entries() -> None:
    scores = ANCHOR @ BANK.T  # (1, 4): 0.8, 0.6, 0.5, -1
    blocked = torch.tensor([[True, False, False, False]])  # the hardest entry is the positive's document
    synthetic, valid = mochi_negatives(ANCHOR, BANK, scores, blocked, MochiParams(hardest=2, mixes=20, query_mixes=20),
                                       torch.Generator().manual_seed(0))
    assert synthetic.shape == (1, 40, 4) and valid.all() and not synthetic.requires_grad
    assert torch.allclose(synthetic.norm(dim=-1), torch.ones(1, 40), atol=1e-6)
    assert synthetic[..., 3].abs().max().item() == 0.0  # nothing from the masked entry (applied after masking)
    assert synthetic[..., 0].min().item() > 0.0  # nothing from the easy entry (-1, 0, 0, 0)
    assert synthetic[0, :20, 1].gt(0).any() and synthetic[0, :20, 2].gt(0).any()  # both hardest entries used


def test_mochi_query_mixes_keep_beta_below_half() -> None:
    bank, scores = BANK[1:2], ANCHOR @ BANK[1:2].T  # one entry n = (0.6, 0.8, 0, 0)
    synthetic, _ = mochi_negatives(ANCHOR, bank, scores, torch.zeros(1, 1, dtype=torch.bool),
                                   MochiParams(hardest=2, mixes=0, query_mixes=200), torch.Generator().manual_seed(1))
    x, y = synthetic[0, :, 0], synthetic[0, :, 1]  # direction of b*q + (1-b)*n: x/y = (b + 0.6(1-b)) / (0.8(1-b))
    ratio = x / y
    beta = (0.8 * ratio - 0.6) / (0.4 + 0.8 * ratio)
    assert beta.min().item() >= -1e-5 and beta.max().item() < 0.5
    assert beta.max().item() > 0.4  # the draw spans (0, 0.5), it is not stuck near 0


def test_mochi_rows_with_everything_masked_get_no_synthetic_negatives() -> None:
    synthetic, valid = mochi_negatives(ANCHOR, BANK, ANCHOR @ BANK.T, torch.ones(1, 4, dtype=torch.bool),
                                       MochiParams(4, 2, 2), torch.Generator().manual_seed(0))
    assert not valid.any()


def test_mochi_adds_negatives_that_raise_the_loss() -> None:
    code_queue = (BANK, torch.tensor([1, 5, 6, 7]), torch.tensor([31, 35, 36, 37]))
    queries = t((1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
    codes = t((1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
    batch_ids = ids([1, 2], [11, 12], [21, 22])
    plain, plain_stats = ContrastiveObjective(temperature=0.1)(queries, codes, torch.zeros(0, 4), batch_ids, code_queue=code_queue)
    mixed, stats = ContrastiveObjective(temperature=0.1, mochi=MochiParams(2, 3, 2))(
        queries, codes, torch.zeros(0, 4), batch_ids, code_queue=code_queue, generator=torch.Generator().manual_seed(0))
    assert stats["negatives"] == plain_stats["negatives"] + 5
    assert mixed.item() > plain.item()
