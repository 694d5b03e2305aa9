"""``retriever.model.embed``: length-grouped sub-batches give the vectors and gradients of one padded pass."""
from __future__ import annotations

import pytest
import torch

from codehunt.retriever.model import embed, load_bi_encoder
from tests.retriever.conftest import stdlib_rows


@pytest.fixture(scope="module")
def model():
    model = load_bi_encoder("default", 128)
    model.eval()  # no dropout: the two ways of running must then agree to float rounding
    return model


def texts() -> list[str]:
    """Real functions of very different lengths, in a shuffled (not length) order."""
    rows = stdlib_rows()
    return [row["code"] for row in rows][::-1] + [row["query"] for row in rows[:5]]


def test_sub_batches_return_the_vectors_of_one_pass_in_input_order(model) -> None:
    batch = texts()
    assert len({len(text) for text in batch}) > 10  # lengths differ, so the grouping reorders them
    with torch.no_grad():
        whole = embed(model, batch, "", sub_batch=0)
        grouped = embed(model, batch, "", sub_batch=4)
    assert grouped.shape == whole.shape == (len(batch), 384)
    assert torch.allclose(grouped, whole, atol=2e-5)
    one = embed(model, [batch[7]], "").detach()
    assert torch.allclose(grouped[7], one[0], atol=2e-5)  # row 7 is text 7, not another text of the group


def test_sub_batches_give_the_gradients_of_one_pass(model) -> None:
    batch = texts()
    direction = torch.randn(384, generator=torch.Generator().manual_seed(0))
    weight = model[0].auto_model.encoder.layer[0].attention.self.query.weight

    def gradient(sub_batch: int) -> torch.Tensor:
        model.zero_grad()
        (embed(model, batch, "", sub_batch=sub_batch) @ direction).square().sum().backward()
        return weight.grad.detach().clone()

    whole, grouped = gradient(0), gradient(5)
    assert whole.abs().sum() > 0
    assert torch.allclose(grouped, whole, atol=1e-4 * float(whole.abs().max()))
