"""The embedding cache: real model vectors come back bit-identical from .npy shards, no pickle anywhere."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.errors import CorruptIndexError
from codehunt.index.embedding_cache import CachedEncoder, EmbeddingStore, text_hash

TEXTS = ["def add(a, b):\n    return a + b", "sort a list", "def sub(a, b):\n    return a - b", "sort a list"]


class CountingEncoder:
    """Wraps the real encoder and records which texts reach it."""

    def __init__(self, encoder):
        self.inner = encoder
        self.name, self.dimension = encoder.name, encoder.dimension
        self.seen: list[str] = []

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def encode(self, texts, kind, show_progress=False):
        self.seen.extend(texts)
        return self.inner.encode(texts, kind, show_progress)


def test_cached_vectors_equal_fresh_ones_and_skip_encoding(tmp_path: Path, default_encoder) -> None:
    counting = CountingEncoder(default_encoder)
    cached = CachedEncoder(counting, tmp_path / "cache")
    first = cached.encode(TEXTS, "document")
    assert counting.seen == TEXTS[:3]  # the repeated text is encoded once
    assert np.array_equal(first, default_encoder.encode(TEXTS, "document"))
    assert (cached.hits, cached.misses) == (0, 4)
    # A new process (a new CachedEncoder over the same folder) reads everything back.
    again = CachedEncoder(counting, tmp_path / "cache")
    second = again.encode(list(reversed(TEXTS)) + ["def mul(a, b):\n    return a * b"], "document")
    assert counting.seen == TEXTS[:3] + ["def mul(a, b):\n    return a * b"]
    assert np.array_equal(second[:4], first[::-1])
    assert (again.hits, again.misses) == (4, 1)
    # The kind is part of the key: the same text as a query is a different vector and is encoded.
    again.encode(["sort a list"], "query")
    assert counting.seen[-1] == "sort a list"
    folder = tmp_path / "cache" / again.namespace
    assert again.namespace.startswith(default_encoder.fingerprint())
    for shard in folder.glob("*.npy"):
        np.load(shard, allow_pickle=False)  # raises if anything was pickled
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    assert index["format_version"] == 1 and sum(s["count"] for s in index["shards"]) == 5


def test_store_round_trip_and_corruption(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path / "ns", dimension=3)
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    store.put([text_hash("a", "document"), text_hash("b", "document")], vectors)
    found, got = EmbeddingStore(tmp_path / "ns", dimension=3).get([text_hash("b", "document"), text_hash("c", "document")])
    assert found.tolist() == [True, False] and got.tolist() == [[3.0, 4.0, 5.0]]
    with pytest.raises(CorruptIndexError, match="dimension"):
        EmbeddingStore(tmp_path / "ns", dimension=4)
    shard = next((tmp_path / "ns").glob("shard-*.npy"))
    shard.write_bytes(b"not an npy file")
    with pytest.raises(CorruptIndexError, match="delete"):
        EmbeddingStore(tmp_path / "ns", dimension=3)
