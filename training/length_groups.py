"""Length-grouped sub-batches: which rows go through the encoder together, and putting the results back.

Both trainers run a batch's texts (the retriever's queries and code, the reranker's query-code pairs) a few at a
time, sorted by length, so that a short text is padded only to the longest of its own group rather than of the
whole batch; the outputs are then put back in input order. Attention masks hide padding, so the outputs equal
one padded pass (only dropout draws differ); measured in ``benchmarks/training_throughput.py``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import torch


def length_groups(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Row numbers in groups of ``size``, shortest rows first; one group in input order when ``size`` <= 0 or all fit."""
    if size <= 0 or len(lengths) <= size:
        return [list(range(len(lengths)))]
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[start:start + size] for start in range(0, len(order), size)]


def in_input_order(parts: "Sequence[torch.Tensor]", groups: list[list[int]]) -> "torch.Tensor":
    """The rows of ``parts`` (one tensor per group of :func:`length_groups`) concatenated back in input order."""
    import torch

    joined = torch.cat(list(parts))
    rows = [row for group in groups for row in group]
    if rows == list(range(len(rows))):
        return joined
    inverse = torch.empty(len(rows), dtype=torch.int64, device=joined.device)
    inverse[torch.tensor(rows, dtype=torch.int64, device=joined.device)] = torch.arange(len(rows), device=joined.device)
    return joined[inverse]
