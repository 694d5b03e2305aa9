"""An on-disk embedding cache, so re-mining (another margin, another sampler) or re-indexing never re-encodes.

:class:`CachedEncoder` wraps any :class:`~codehunt.index.encoder.Encoder` and is one itself; the
model it wraps stays reachable as ``.encoder`` (``Index.build`` reads the model's settings there).

Vectors are keyed by the model's fingerprint (sha256 of its weights), its token window and
a hash of ``(kind, prompt, text)``; each batch of new vectors is one ``.npy`` shard plus a
JSON list of its keys, and ``index.json`` lists the shards. Shards are memory-mapped on
read, so a cache of millions of vectors costs only its key table in RAM. No pickle: every
file is ``.npy`` (``allow_pickle=False``) or JSON, and every file is published atomically,
under an ``flock`` so two miners can share one cache.

Limits: shards are never compacted or evicted (delete the folder to reset); vectors from
bf16 and fp32 runs of the same model share keys (they differ by ~1e-3 in cosine).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from codehunt.index.encoder import Encoder, TextKind
from codehunt.index.errors import CorruptIndexError
from codehunt.index.storage import save_npy_atomic, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX_NAME = "index.json"


def text_hash(text: str, kind: str, prompt: str = "") -> str:
    """The cache key of one text: sha256 over kind, prompt and text (32 hex characters)."""
    digest = hashlib.sha256()
    for part in (kind, prompt, text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:32]


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    import fcntl

    with (directory / ".lock").open("a", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class EmbeddingStore:
    """Vectors of one model (one namespace directory): ``get`` by key, ``put`` new ones as a shard."""

    def __init__(self, directory: Path, dimension: int):
        self.directory = Path(directory)
        self.dimension = dimension
        self.directory.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, tuple[int, int]] = {}  # key -> (shard number, row)
        self._shards: list[np.ndarray] = []
        self._shard_names: list[str] = []
        self._refresh()

    def __len__(self) -> int:
        return len(self._rows)

    def _read_index(self) -> list[dict[str, Any]]:
        path = self.directory / INDEX_NAME
        if not path.is_file():
            return []
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CorruptIndexError(f"{path} is unreadable ({exc}): delete the cache folder {self.directory}") from exc
        if meta.get("format_version") != FORMAT_VERSION or meta.get("dimension") != self.dimension:
            raise CorruptIndexError(
                f"{path} has format {meta.get('format_version')} and dimension {meta.get('dimension')}; expected "
                f"{FORMAT_VERSION} and {self.dimension}: delete the cache folder {self.directory}"
            )
        return list(meta.get("shards", []))

    def _refresh(self) -> None:
        """Map every shard listed in index.json that is not loaded yet."""
        for shard in self._read_index():
            name = shard["name"]
            if name in self._shard_names:
                continue
            vectors_path, keys_path = self.directory / f"{name}.npy", self.directory / f"{name}.keys.json"
            try:
                vectors = np.load(vectors_path, mmap_mode="r", allow_pickle=False)
                keys = json.loads(keys_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CorruptIndexError(f"cache shard {vectors_path} is unreadable ({exc}): delete {self.directory}") from exc
            if vectors.shape != (len(keys), self.dimension) or vectors.dtype != np.float32:
                raise CorruptIndexError(
                    f"cache shard {vectors_path} holds {vectors.shape} {vectors.dtype}, its key list {len(keys)} keys "
                    f"of dimension {self.dimension}: delete {self.directory}"
                )
            number = len(self._shards)
            self._shards.append(vectors)
            self._shard_names.append(name)
            for row, key in enumerate(keys):
                self._rows.setdefault(key, (number, row))

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask (n,), vectors (found, dim) float32 in key order) for ``keys``."""
        found = np.fromiter((key in self._rows for key in keys), dtype=bool, count=len(keys))
        vectors = np.empty((int(found.sum()), self.dimension), dtype=np.float32)
        locations = [self._rows[key] for key, hit in zip(keys, found) if hit]
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for out_row, (shard, row) in enumerate(locations):
            by_shard.setdefault(shard, []).append((out_row, row))
        for shard, rows in by_shard.items():
            out_rows = np.array([r[0] for r in rows], dtype=np.int64)
            vectors[out_rows] = self._shards[shard][np.array([r[1] for r in rows], dtype=np.int64)]
        return found, vectors

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` (n, dim) under ``keys`` as one new shard."""
        if len(keys) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dimension):
            raise ValueError(f"{len(keys)} keys but vectors of shape {vectors.shape}")
        name = f"shard-{uuid.uuid4().hex[:12]}"
        save_npy_atomic(self.directory / f"{name}.npy", vectors)
        write_text_atomic(self.directory / f"{name}.keys.json", json.dumps(list(keys)))
        with _locked(self.directory):
            shards = self._read_index()
            shards.append({"name": name, "count": len(keys)})
            write_json_atomic(
                self.directory / INDEX_NAME,
                {"format_version": FORMAT_VERSION, "dimension": self.dimension, "shards": shards},
            )
        self._refresh()


class CachedEncoder:
    """An :class:`~codehunt.index.encoder.Encoder` that looks every text up in an :class:`EmbeddingStore` first.

    ``cache_dir/<fingerprint>-L<max_length>/`` holds one model's vectors; ``hits`` and
    ``misses`` count texts served from disk and texts encoded.
    """

    def __init__(self, encoder: Encoder, cache_dir: Path):
        self.encoder = encoder
        self.name = encoder.name
        self.dimension = encoder.dimension
        max_length = getattr(encoder, "max_length", 0)
        self.namespace = f"{encoder.fingerprint()}-L{max_length}"
        self.store = EmbeddingStore(Path(cache_dir) / self.namespace, encoder.dimension)
        self.hits = 0
        self.misses = 0

    def fingerprint(self) -> str:
        return self.encoder.fingerprint()

    def _prompt(self, kind: TextKind) -> str:
        prompt = getattr(self.encoder, "prompt", None)
        return prompt(kind) if callable(prompt) else ""

    def encode(self, texts: Sequence[str], kind: TextKind, show_progress: bool = False) -> np.ndarray:
        """Vectors for ``texts`` (n, dim) float32: cached ones read back, the rest encoded and stored."""
        prompt = self._prompt(kind)
        keys = [text_hash(text, kind, prompt) for text in texts]
        found, cached = self.store.get(keys)
        result = np.empty((len(texts), self.dimension), dtype=np.float32)  # (n, dim)
        result[found] = cached
        missing = np.flatnonzero(~found)
        if len(missing):
            unique: dict[str, int] = {}
            for position in missing:
                unique.setdefault(keys[position], int(position))
            new_keys = list(unique)
            vectors = self.encoder.encode([texts[unique[key]] for key in new_keys], kind, show_progress)
            self.store.put(new_keys, vectors)
            row_of = {key: row for row, key in enumerate(new_keys)}
            result[missing] = vectors[[row_of[keys[position]] for position in missing]]
        self.hits += int(found.sum())
        self.misses += len(missing)
        log.debug("embedding cache %s: %d hits, %d encoded", self.namespace, int(found.sum()), len(missing))
        return result
