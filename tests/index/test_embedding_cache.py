"""The embedding cache: real model vectors come back bit-identical from .npy shards, no pickle anywhere."""
from __future__ import annotations

import json
import os
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
    assert sorted(counting.seen) == sorted(TEXTS[:3])  # the repeated text is encoded once (shortest first)
    assert np.array_equal(first, default_encoder.encode(TEXTS, "document"))
    assert (cached.hits, cached.misses) == (0, 4)
    # A new process (a new CachedEncoder over the same folder) reads everything back.
    again = CachedEncoder(counting, tmp_path / "cache")
    second = again.encode(list(reversed(TEXTS)) + ["def mul(a, b):\n    return a * b"], "document")
    assert counting.seen[3:] == ["def mul(a, b):\n    return a * b"]
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


class FailingEncoder(CountingEncoder):
    """Raises on the second call: a build killed after its first slice."""

    def encode(self, texts, kind, show_progress=False):
        if self.seen:
            raise RuntimeError("killed")
        return super().encode(texts, kind, show_progress)


def test_slices_are_flushed_as_they_are_embedded_shortest_first(tmp_path: Path, default_encoder) -> None:
    texts = [f"def f{i}():\n    return {'x' * i}" for i in range(7, 0, -1)]  # longest first
    progress: list[tuple[int, int]] = []
    with pytest.raises(RuntimeError, match="killed"):
        CachedEncoder(FailingEncoder(default_encoder), tmp_path / "cache", slice_size=3).encode(texts, "document")
    resumed = CountingEncoder(default_encoder)
    cached = CachedEncoder(resumed, tmp_path / "cache", slice_size=3)
    vectors = cached.encode(texts, "document", progress=lambda done, total: progress.append((done, total)))
    assert resumed.seen == list(reversed(texts))[3:]  # the 3 shortest were stored before the kill
    assert progress == [(0, 4), (3, 4), (4, 4)]
    # bf16 on AMX rounds differently for different batch shapes (up to 6e-4 seen): the tolerance follows the precision
    np.testing.assert_allclose(vectors, default_encoder.encode(texts, "document"), atol=2e-3 if default_encoder.use_bf16() else 1e-5, rtol=0)


def test_carry_links_shards_or_compacts_a_mostly_dead_store(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path / "ns", dimension=2)
    assert not (tmp_path / "ns").exists()  # created by the first put, not by opening
    keys = [text_hash(str(i), "document") for i in range(6)]
    store.put(keys[:3], np.arange(6, dtype=np.float32).reshape(3, 2))
    store.put(keys[3:], np.arange(6, 12, dtype=np.float32).reshape(3, 2))
    assert store.carry(tmp_path / "linked", keys[1:5]) == 6
    shard = next((tmp_path / "ns").glob("shard-*.npy"))
    assert os.stat(shard).st_ino == os.stat(tmp_path / "linked" / shard.name).st_ino  # a hard link, no copy
    assert EmbeddingStore(tmp_path / "linked", 2).get(keys)[1].tolist() == store.get(keys)[1].tolist()
    assert store.carry(tmp_path / "compacted", [keys[4], keys[0]]) == 2  # 6 rows, 2 alive
    compacted = EmbeddingStore(tmp_path / "compacted", 2)
    assert len(compacted) == 2 and len(list((tmp_path / "compacted").glob("*.npy"))) == 1
    assert compacted.get([keys[0], keys[4]])[1].tolist() == [[0.0, 1.0], [8.0, 9.0]]
