"""An on-disk embedding store, so re-indexing, resuming a killed build or re-mining never re-encodes a text.

:class:`CachedEncoder` wraps any :class:`~codehunt.index.encoder.Encoder` and is one itself; the
model it wraps stays reachable as ``.encoder`` (``Index.build`` reads the model's settings there).
Every index keeps one in ``IDX/embeddings/`` (``Index.build``); mining and localization share one
under ``$CODEHUNT_CACHE``.

Vectors are keyed by a namespace (the model's fingerprint, sha256 of its weights; its token
window; ``-bf16`` when it runs under bf16 autocast) and a hash of ``(kind, prompt, text)``.
New texts are encoded in length-sorted slices and every slice is flushed at once as one
``.npy`` shard plus a JSON list of its keys, listed in ``index.json``: a build killed
half-way keeps all but its last slice, and the next one starts from there. Shards are
memory-mapped on read, so a store of millions of vectors costs only its key table in RAM.
No pickle: every file is ``.npy`` (``allow_pickle=False``) or JSON, every file is published
atomically, under an ``flock`` so two miners can share one store.

Limits: a shared store is never evicted (delete the folder to reset); an index's store is
compacted when it is carried into a new build (:meth:`EmbeddingStore.carry`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from codehunt.index.encoder import Encoder, TextKind
from codehunt.index.errors import CorruptIndexError
from codehunt.index.storage import save_npy_atomic, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX_NAME = "index.json"
SLICE_SIZE = 512
"""Texts per slice: each slice is one call of the wrapped encoder and one flushed shard."""

EmbedProgress = Callable[[int, int], None]
"""``progress(embedded, total)``: called with 0 before the first slice and after every slice."""


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
    """Vectors of one model (one namespace directory): ``get`` by key, ``put`` new ones as a shard.

    The directory is created by the first ``put``, so a build that fails before it embeds anything
    leaves no folder behind.
    """

    def __init__(self, directory: Path, dimension: int):
        self.directory = Path(directory)
        self.dimension = dimension
        self._rows: dict[str, tuple[int, int]] = {}  # key -> (shard number, row)
        self._shards: list[np.ndarray] = []
        self._shard_names: list[str] = []
        self._refresh()

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

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
        hits = [self._rows.get(key) for key in keys]
        found = np.fromiter((hit is not None for hit in hits), dtype=bool, count=len(keys))
        locations = np.array([hit for hit in hits if hit is not None], dtype=np.int64).reshape(-1, 2)  # (found, 2): shard, row
        vectors = np.empty((len(locations), self.dimension), dtype=np.float32)  # (found, dim)
        order = np.argsort(locations[:, 0], kind="stable")  # grouped by shard: one gather per shard
        shards, starts = np.unique(locations[order, 0], return_index=True)
        for shard, start, end in zip(shards.tolist(), starts.tolist(), [*starts[1:].tolist(), len(order)]):
            out_rows = order[start:end]
            vectors[out_rows] = self._shards[shard][locations[out_rows, 1]]
        return found, vectors

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` (n, dim) under ``keys`` as one new shard."""
        if len(keys) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dimension):
            raise ValueError(f"{len(keys)} keys but vectors of shape {vectors.shape}")
        self.directory.mkdir(parents=True, exist_ok=True)
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

    def carry(self, target: Path, keep: Iterable[str] | None) -> int:
        """Publish this store's vectors into the empty folder ``target`` (inside a staging index); return its rows.

        Shards are written once and never changed, so they are hard-linked (copied where the file
        system has no hard links): carrying a store costs no vector IO. When more than half the rows
        are dead (texts that no key in ``keep`` still needs), the live rows are written as one
        compacted shard instead, so an index that is updated for years keeps a store of about its size.
        ``keep=None`` carries every shard as it is (a caller that knows most rows are live).
        """
        keep = None if keep is None else [key for key in dict.fromkeys(keep) if key in self._rows]
        shards = self._read_index()
        if not shards:
            return 0
        target = Path(target)
        if keep is not None and len(self._rows) > 2 * len(keep):
            compacted = EmbeddingStore(target, self.dimension)
            _, vectors = self.get(keep)
            compacted.put(keep, vectors)
            return len(keep)
        target.mkdir(parents=True, exist_ok=True)
        for shard in shards:
            for suffix in (".npy", ".keys.json"):
                source = self.directory / f"{shard['name']}{suffix}"
                try:
                    os.link(source, target / source.name)
                except OSError:
                    shutil.copy2(source, target / source.name)
        write_json_atomic(target / INDEX_NAME, {"format_version": FORMAT_VERSION, "dimension": self.dimension, "shards": shards})
        return len(self._rows)


class CachedEncoder:
    """An :class:`~codehunt.index.encoder.Encoder` that looks every text up in an :class:`EmbeddingStore` first.

    ``cache_dir/<namespace>/`` holds one model's vectors (:func:`store_namespace`); ``hits`` and
    ``misses`` count texts served from disk and texts encoded. New texts are encoded
    ``slice_size`` at a time, shortest first (the length sort keeps padding low, as one big call
    would), and each slice is stored before the next starts.
    """

    def __init__(self, encoder: Encoder, cache_dir: Path, slice_size: int = SLICE_SIZE):
        self.encoder = encoder
        self.name = encoder.name
        self.dimension = encoder.dimension
        self.namespace = store_namespace(encoder)
        self.store = EmbeddingStore(Path(cache_dir) / self.namespace, encoder.dimension)
        self.slice_size = max(1, slice_size)
        self.hits = 0
        self.misses = 0

    def fingerprint(self) -> str:
        return self.encoder.fingerprint()

    def _prompt(self, kind: TextKind) -> str:
        prompt = getattr(self.encoder, "prompt", None)
        return prompt(kind) if callable(prompt) else ""

    def keys(self, texts: Sequence[str], kind: TextKind) -> list[str]:
        """The store key of each text."""
        prompt = self._prompt(kind)
        return [text_hash(text, kind, prompt) for text in texts]

    def encode(
        self, texts: Sequence[str], kind: TextKind, show_progress: bool = False, progress: EmbedProgress | None = None,
        keys: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Vectors for ``texts`` (n, dim) float32: stored ones read back, the rest encoded slice by slice and stored.

        ``progress(embedded, total)`` counts the distinct texts the store lacked; without it,
        ``show_progress`` draws one tqdm bar over them (never one per slice). ``keys``: the texts'
        :meth:`keys`, when the caller has them already.
        """
        keys = self.keys(texts, kind) if keys is None else keys
        found, cached = self.store.get(keys)
        if found.all():
            result = cached  # (n, dim): nothing to encode, no second copy
        else:
            result = np.empty((len(texts), self.dimension), dtype=np.float32)  # (n, dim)
            result[found] = cached
        missing = np.flatnonzero(~found)
        unique: dict[str, int] = {}
        for position in missing:
            unique.setdefault(keys[position], int(position))
        new_keys = list(unique)
        if progress is None and show_progress and new_keys:
            progress = _tqdm_progress(len(new_keys))
        if progress is not None:
            progress(0, len(new_keys))
        vectors = np.empty((len(new_keys), self.dimension), dtype=np.float32)  # (new, dim)
        order = sorted(range(len(new_keys)), key=lambda row: len(texts[unique[new_keys[row]]]))
        for start in range(0, len(order), self.slice_size):
            rows = order[start : start + self.slice_size]
            part = self.encoder.encode([texts[unique[new_keys[row]]] for row in rows], kind, False)  # (slice, dim)
            self.store.put([new_keys[row] for row in rows], part)  # flushed now: a killed build keeps it
            vectors[rows] = part
            if progress is not None:
                progress(min(start + len(rows), len(order)), len(order))
        if len(missing):
            row_of = {key: row for row, key in enumerate(new_keys)}
            result[missing] = vectors[[row_of[keys[position]] for position in missing]]
        self.hits += int(found.sum())
        self.misses += len(missing)
        log.debug("embedding store %s: %d hits, %d encoded", self.namespace, int(found.sum()), len(new_keys))
        return result


def store_namespace(encoder: Encoder) -> str:
    """``<fingerprint>-L<max_length>`` (``-bf16`` appended under bf16 autocast): vectors that are interchangeable.

    The window and the precision are read from the model under a wrapper (``.encoder``), so a
    wrapper that counts or filters calls shares its model's store.
    """
    base = encoder
    while hasattr(base, "encoder"):
        base = base.encoder
    max_length = getattr(base, "max_length", 0)
    use_bf16 = getattr(base, "use_bf16", None)
    suffix = "-bf16" if callable(use_bf16) and use_bf16() else ""
    return f"{encoder.fingerprint()}-L{max_length}{suffix}"


def _tqdm_progress(total: int) -> EmbedProgress:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="embedding", unit="text")

    def update(done: int, total: int) -> None:
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update
