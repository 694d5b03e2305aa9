"""The key queue's FIFO order and wrap-around, and MoCo's EMA update of the key encoder."""
from __future__ import annotations

import pytest
import torch

from codehunt.retriever.model import make_key_encoder, momentum_update
from codehunt.retriever.queue import KeyQueue


def push(queue: KeyQueue, values: list[float]) -> None:
    keys = torch.tensor(values)[:, None]  # (n, 1): the value is the key, so order is visible
    ids = torch.tensor([int(v) for v in values])
    queue.enqueue(keys, ids, ids + 100)


def ages(queue: KeyQueue) -> list[float]:
    return queue.oldest_first()[0][:, 0].tolist()


def test_empty_queue_offers_no_negatives() -> None:
    queue = KeyQueue(4, 3)
    embeddings, doc_ids, text_ids = queue.entries()
    assert embeddings.shape == (0, 3) and doc_ids.shape == (0,) and len(queue) == 0


def test_enqueue_order_and_wrap_around() -> None:
    queue = KeyQueue(4, 1)
    push(queue, [1, 2, 3])
    assert ages(queue) == [1, 2, 3] and queue.ptr == 3 and len(queue) == 3
    assert queue.entries()[0].shape == (3, 1)  # only filled slots are read
    push(queue, [4, 5])  # 4 fills the last slot, 5 overwrites the oldest (1)
    assert ages(queue) == [2, 3, 4, 5] and queue.ptr == 1 and len(queue) == 4
    assert queue.embeddings[:, 0].tolist() == [5, 2, 3, 4]
    push(queue, [6])
    assert ages(queue) == [3, 4, 5, 6]
    assert queue.oldest_first()[1].tolist() == [3, 4, 5, 6] and queue.oldest_first()[2].tolist() == [103, 104, 105, 106]


def test_batch_larger_than_queue_keeps_the_newest() -> None:
    queue = KeyQueue(4, 1)
    push(queue, [1])
    push(queue, [6, 7, 8, 9, 10, 11])
    assert ages(queue) == [8, 9, 10, 11] and len(queue) == 4


def test_queue_state_round_trip() -> None:
    queue = KeyQueue(4, 1)
    push(queue, [1, 2, 3])
    push(queue, [4, 5])
    tensors, pointers = queue.state("code")
    copy = KeyQueue(4, 1)
    copy.load_state("code", {k: v.clone() for k, v in tensors.items()}, pointers)
    assert ages(copy) == ages(queue) == [2, 3, 4, 5] and copy.ptr == queue.ptr == 1
    push(copy, [6]); push(queue, [6])  # noqa: E702
    assert ages(copy) == ages(queue)
    with pytest.raises(ValueError, match="shape"):
        KeyQueue(8, 1).load_state("code", tensors, {**pointers, "size": 8})


def test_momentum_update_is_exact_ema() -> None:
    query, key = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        query.weight.fill_(1.0); query.bias.fill_(-2.0); key.weight.zero_(); key.bias.zero_()  # noqa: E702
    momentum_update(key, query, 0.9)  # k = 0.9 * 0 + 0.1 * q
    assert key.weight.tolist() == [[pytest.approx(0.1), pytest.approx(0.1)]] and key.bias.item() == pytest.approx(-0.2)
    momentum_update(key, query, 0.9)  # 0.9 * 0.1 + 0.1 = 0.19
    assert key.weight[0, 0].item() == pytest.approx(0.19) and key.bias.item() == pytest.approx(-0.38)
    momentum_update(key, query, 0.0)
    assert torch.equal(key.weight, query.weight)


def test_key_encoder_of_the_real_model_is_frozen_and_tracks_the_query_encoder(default_encoder) -> None:
    model = default_encoder.model
    key = make_key_encoder(model)
    assert not key.training and all(not p.requires_grad for p in key.parameters())
    assert any(p.requires_grad for p in model.parameters())  # the copy did not freeze the original
    first_key = next(key.parameters())
    with torch.no_grad():
        first_key.add_(1.0)
    momentum_update(key, model, 0.5)
    first_query = next(model.parameters())
    assert torch.allclose(first_key, first_query + 0.5, atol=1e-6)  # 0.5 (q + 1) + 0.5 q
    assert first_key.data_ptr() != first_query.data_ptr()
