"""A FIFO queue of key embeddings, each tagged with the document it came from (MoCo, He et al., 2020).

CoCoSoDa keeps one queue of code keys and one of query keys. Each entry also carries two
int64 ids, the document id and a hash of the exact text, so that the loss can refuse to use
an entry as a negative when it is really a positive (same document) or a duplicate
(same text): the released CoCoSoDa code has no such mask.

Only the filled part is ever read: an empty slot never becomes a negative.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class KeyQueue:
    """Ring buffer of ``size`` keys; ``enqueue`` overwrites the oldest entries first."""

    def __init__(self, size: int, dim: int, device: "torch.device | str" = "cpu"):
        import torch

        if size < 1:
            raise ValueError(f"queue size must be >= 1, got {size}")
        self.size = size
        self.embeddings = torch.zeros(size, dim, device=device)  # (size, dim)
        self.doc_ids = torch.zeros(size, dtype=torch.int64, device=device)  # (size,)
        self.text_ids = torch.zeros(size, dtype=torch.int64, device=device)  # (size,)
        self.ptr = 0
        self.filled = 0

    def __len__(self) -> int:
        return self.filled

    def enqueue(self, keys: "torch.Tensor", doc_ids: "torch.Tensor", text_ids: "torch.Tensor") -> None:
        """Append ``keys`` (n, dim) with their ids; when full, the oldest entries go first."""
        import torch

        keys, doc_ids, text_ids = keys[-self.size :], doc_ids[-self.size :], text_ids[-self.size :]
        n = keys.shape[0]
        slots = (self.ptr + torch.arange(n, device=self.embeddings.device)) % self.size  # (n,)
        self.embeddings[slots] = keys.detach().to(self.embeddings.dtype)
        self.doc_ids[slots] = doc_ids.to(torch.int64)
        self.text_ids[slots] = text_ids.to(torch.int64)
        self.ptr = (self.ptr + n) % self.size
        self.filled = min(self.size, self.filled + n)

    def entries(self) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
        """(embeddings, doc_ids, text_ids) of the filled slots, in slot order (not age order)."""
        return self.embeddings[: self.filled], self.doc_ids[: self.filled], self.text_ids[: self.filled]

    def oldest_first(self) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
        """The filled entries from oldest to newest (the order they will be dequeued in)."""
        start = self.ptr if self.filled == self.size else 0
        order = [(start + i) % self.size for i in range(self.filled)]
        return self.embeddings[order], self.doc_ids[order], self.text_ids[order]

    def state(self, prefix: str) -> tuple[dict[str, "torch.Tensor"], dict[str, int]]:
        """Tensors (for safetensors) and pointers (for JSON) that :meth:`load_state` restores exactly."""
        tensors = {f"{prefix}.embeddings": self.embeddings, f"{prefix}.doc_ids": self.doc_ids,
                   f"{prefix}.text_ids": self.text_ids}
        return tensors, {"ptr": self.ptr, "filled": self.filled, "size": self.size}

    def load_state(self, prefix: str, tensors: dict[str, "torch.Tensor"], pointers: dict[str, int]) -> None:
        if pointers["size"] != self.size or tensors[f"{prefix}.embeddings"].shape != self.embeddings.shape:
            raise ValueError(f"checkpoint queue has shape {tuple(tensors[f'{prefix}.embeddings'].shape)}, "
                             f"this run's has {tuple(self.embeddings.shape)}")
        self.embeddings.copy_(tensors[f"{prefix}.embeddings"])
        self.doc_ids.copy_(tensors[f"{prefix}.doc_ids"])
        self.text_ids.copy_(tensors[f"{prefix}.text_ids"])
        self.ptr, self.filled = int(pointers["ptr"]), int(pointers["filled"])
