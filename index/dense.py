"""FAISS indexes over unit vectors (inner product = cosine): exact, HNSW and IVF-PQ.

``flat`` is exact and the default; ``hnsw`` trades a little recall for sub-linear search;
``ivfpq`` compresses vectors for corpora that do not fit in memory as float32. Where
faiss-gpu is installed and a GPU is visible, flat and IVF-PQ searches run on the GPU.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codehunt.index.errors import BadInputError, ConfigError, CorruptIndexError

log = logging.getLogger(__name__)

INDEX_TYPES = ("flat", "hnsw", "ivfpq")


@dataclass(frozen=True)
class DenseConfig:
    """How the vectors are indexed."""

    index_type: str = field(default="flat", metadata={"help": "flat (exact) | hnsw | ivfpq"})
    hnsw_m: int = field(default=32, metadata={"help": "HNSW graph degree"})
    hnsw_ef_construction: int = field(default=200, metadata={"help": "HNSW build beam"})
    hnsw_ef_search: int = field(default=128, metadata={"help": "HNSW search beam"})
    ivf_nlist: int = field(default=0, metadata={"help": "IVF cells (0: about 4*sqrt(n))"})
    ivf_nprobe: int = field(default=16, metadata={"help": "IVF cells visited per query"})
    pq_m: int = field(default=0, metadata={"help": "PQ sub-quantisers (0: dimension/8); must divide the dimension"})
    use_gpu: bool = field(default=True, metadata={"help": "search on GPU when faiss-gpu and a GPU are present"})

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_TYPES:
            raise ConfigError(f"unknown index type {self.index_type!r}: choose one of {', '.join(INDEX_TYPES)}")
        for name in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("ivf_nlist", "pq_m"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0 (0: chosen from the corpus), got {getattr(self, name)}")


def build_dense_index(vectors: np.ndarray, config: DenseConfig = DenseConfig()) -> Any:
    """Build a FAISS index over ``vectors`` (n, dim) float32, rows L2-normalised."""
    import faiss

    if config.index_type not in INDEX_TYPES:
        raise BadInputError(f"unknown index type {config.index_type!r}: choose one of {', '.join(INDEX_TYPES)}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dim = vectors.shape
    if config.index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif config.index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
    else:
        nlist = config.ivf_nlist or max(1, int(4 * math.sqrt(count)))
        pq_m = config.pq_m or max(1, dim // 8)
        if dim % pq_m:
            raise BadInputError(f"--pq-m {pq_m} must divide the dimension {dim}")
        # FAISS wants ~39 training points per centroid and 256 per PQ code book.
        if count < max(39 * nlist, 256):
            raise BadInputError(
                f"ivfpq needs at least {max(39 * nlist, 256)} vectors to train {nlist} cells; the corpus has {count}: "
                "use --index-type flat or hnsw for a corpus this small"
            )
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = config.ivf_nprobe
    index.add(vectors)
    return index


def save_dense_index(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(_to_cpu(index), str(path))


def load_dense_index(path: Path, config: DenseConfig = DenseConfig()) -> Any:
    """Read a FAISS index, turning FAISS's C++ assertions into a CorruptIndexError."""
    import faiss

    if not path.is_file():
        raise CorruptIndexError(f"{path} is missing: rebuild the index with `codehunt index build`")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise CorruptIndexError(f"{path} is not a readable FAISS index ({str(exc).splitlines()[0][:120]}); rebuild it") from exc
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = config.hnsw_ef_search
    if hasattr(index, "nprobe"):
        index.nprobe = config.ivf_nprobe
    return _maybe_to_gpu(index, config)


def search_dense_index(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids), each (n_queries, k'); k' = min(k, ntotal); -1 ids are dropped by callers."""
    k = min(k, index.ntotal)
    if k <= 0:
        empty = np.zeros((len(queries), 0))
        return empty.astype(np.float32), empty.astype(np.int64)
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, ids


def _to_cpu(index: Any) -> Any:
    import faiss

    if hasattr(faiss, "index_gpu_to_cpu") and type(index).__name__.startswith("Gpu"):
        return faiss.index_gpu_to_cpu(index)
    return index


def _maybe_to_gpu(index: Any, config: DenseConfig) -> Any:
    import faiss

    if not config.use_gpu or not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        return index
    if isinstance(index, faiss.IndexHNSW):
        return index  # FAISS has no GPU HNSW
    resources = faiss.StandardGpuResources()
    log.info("moving the FAISS index to GPU 0")
    return faiss.index_cpu_to_gpu(resources, 0, index)
