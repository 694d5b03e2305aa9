"""FAISS indexes over unit vectors (inner product = cosine): exact, HNSW, IVF and IVF-PQ.

``flat`` is exact; ``hnsw`` (Malkov & Yashunin, 2018) trades a little recall for sub-linear
search; ``ivf`` (inverted file, flat codes) visits ``nprobe`` of ``nlist`` k-means cells; ``ivfpq``
(Jégou et al., 2011) also compresses each vector to ``pq_m`` bytes, for corpora that do not fit
in memory as float32. ``auto`` picks one from the corpus size (:func:`resolve_index_type`), from
the measurements in ``benchmarks/index_types.py``. Where faiss-gpu is installed and a GPU is
visible, flat, IVF and IVF-PQ searches run on the GPU (FAISS has no GPU HNSW).

Defaults, read off ``benchmarks/index_types.py`` (8,928 real all-MiniLM-L6-v2 code vectors replicated
with noise to 100k and 1M, 1,000 real queries, 2 CPU threads; the table is in its docstring): flat
costs 32 ms per query at 100k and 122 ms at 1M, so ``auto`` keeps exact search up to 100k vectors.
Above, IVF (4*sqrt(n) lists, nprobe 64) reached recall@10 0.983 at 3.1 ms on 1M, built in 183 s and
took 1550 bytes per vector, where HNSW (M=32, efConstruction=80) took 241 s and 1808 bytes for
recall 0.82 (efSearch 128) or 0.89 (efSearch 256); so ``auto`` picks ``ivf`` above 100k, and an IVF
index can also be memory-mapped and moved to a GPU. HNSW is the faster choice at 100k (0.991 at
0.43 ms vs IVF 0.962 at 0.9 ms), chosen by hand. IVF-PQ with dim/4 bytes per vector tops out at
recall 0.83 (100k) / 0.75 (1M), PQ error rather than probing: it is for indexes that must be 14x
smaller, chosen by hand. Caveat: the replicas make tight clusters of near-ties, which favour IVF and
hurt HNSW more than a corpus of 1M distinct functions would.

Memory, in bytes per vector of dimension ``d`` (:func:`memory_bytes` computes it, the tests
check it against FAISS's own serialised size):

* flat: ``4d``
* hnsw: ``4d + 4 * (2M + M / (M - 1)) + 12`` (``2M`` links on level 0, ``M`` on each upper level, which a vector
  reaches with probability ``M^-level``; 12 bytes of level bookkeeping)
* ivf: ``4d + 8`` per vector, plus ``4d * nlist`` for the centroids
* ivfpq: ``pq_m + 8`` per vector, plus ``4d * nlist + 4d * 256`` for centroids and PQ code books

An IVF index larger than memory still loads: :func:`load_dense_index` memory-maps its inverted
lists (``faiss.IO_FLAG_MMAP``) when the file is larger than half the available RAM, so only
the centroids stay resident and a search pages in the ``nprobe`` lists it reads. Flat and HNSW
vectors are memory-mapped too (``IO_FLAG_MMAP_IFC``), but a flat search reads every vector and
an HNSW search jumps across them, so both stay fast only while the file fits in the page cache;
HNSW's graph is always read into RAM. Limit: the rest of an ``Index`` (``corpus.jsonl`` chunks,
BM25 postings) is still read into memory by ``Index.load``.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from codehunt.index.errors import BadInputError, ConfigError, CorruptIndexError

log = logging.getLogger(__name__)

INDEX_TYPES = ("flat", "hnsw", "ivf", "ivfpq", "auto")
BUILT_TYPES = ("flat", "hnsw", "ivf", "ivfpq")
"""What an index is once built: ``auto`` resolves to one of these."""
MIN_POINTS_PER_LIST = 39
"""FAISS's k-means wants at least this many training points per centroid (it warns below)."""
PQ_CODEBOOK = 256
"""Centroids per PQ sub-quantiser (8-bit codes); training needs ``MIN_POINTS_PER_LIST`` times as many vectors."""
PQ_TRAIN_POINTS_PER_CODE = 64
"""PQ code books train on at most ``64 * 256`` vectors of the IVF sample: k-means of 256 centroids in 4-8
dimensions is slow in FAISS (~0.4 s per sub-quantiser per 12k points on one core) and gains little from more."""
IVF_FOURCC = (b"IwFl", b"IwPQ", b"IvFl", b"IvPQ")
"""The first bytes of a FAISS IVF-flat / IVF-PQ file (new and old layouts)."""


@dataclass(frozen=True)
class DenseConfig:
    """How the vectors are indexed."""

    index_type: str = field(
        default="auto",
        metadata={"help": "auto (flat up to auto_flat_max vectors, else auto_large_type) | flat (exact) | hnsw | ivf | ivfpq"},
    )
    hnsw_m: int = field(default=32, metadata={"help": "HNSW graph degree"})
    hnsw_ef_construction: int = field(default=80, metadata={"help": "HNSW build beam"})
    hnsw_ef_search: int = field(default=128, metadata={"help": "HNSW search beam"})
    ivf_nlist: int = field(default=0, metadata={"help": "IVF cells (0: about 4*sqrt(n), at most n/39)"})
    ivf_nprobe: int = field(default=64, metadata={"help": "IVF cells visited per query"})
    ivf_train_size: int = field(
        default=0, metadata={"help": "vectors sampled to train IVF centroids (0: 64 per cell, all when fewer)"}
    )
    pq_m: int = field(default=0, metadata={"help": "PQ sub-quantisers = bytes per vector (0: dimension/4); must divide the dimension"})
    auto_flat_max: int = field(default=100_000, metadata={"help": "auto: exact search up to this many vectors"})
    auto_large_type: str = field(default="ivf", metadata={"help": "auto: the type above auto_flat_max (ivf | hnsw | ivfpq)"})
    seed: int = field(default=0, metadata={"help": "seed of the IVF training sample and k-means"})
    use_gpu: bool = field(default=True, metadata={"help": "search on GPU when faiss-gpu and a GPU are present"})

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_TYPES:
            raise ConfigError(f"unknown index type {self.index_type!r}: choose one of {', '.join(INDEX_TYPES)}")
        if self.auto_large_type not in ("hnsw", "ivf", "ivfpq"):
            raise ConfigError(f"unknown --auto-large-type {self.auto_large_type!r}: choose hnsw, ivf or ivfpq")
        for name in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("ivf_nlist", "pq_m", "ivf_train_size", "auto_flat_max"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0 (0: chosen from the corpus), got {getattr(self, name)}")


def resolve_index_type(config: DenseConfig, count: int) -> str:
    """The index type a build of ``count`` vectors makes: ``config.index_type``, or for ``auto`` flat up to
    ``auto_flat_max`` vectors and ``auto_large_type`` above (the thresholds come from ``benchmarks/index_types.py``)."""
    if config.index_type != "auto":
        return config.index_type
    return "flat" if count <= config.auto_flat_max else config.auto_large_type


def ivf_lists(config: DenseConfig, count: int) -> int:
    """IVF cells for ``count`` vectors: ``ivf_nlist``, or about ``4 * sqrt(count)`` capped so every cell gets
    ``MIN_POINTS_PER_LIST`` training points."""
    if config.ivf_nlist:
        return config.ivf_nlist
    return max(1, min(int(4 * math.sqrt(count)), count // MIN_POINTS_PER_LIST))


def pq_subquantizers(config: DenseConfig, dim: int) -> int:
    """``pq_m``, or the largest divisor of ``dim`` up to ``dim / 4`` (4 dimensions, one byte, per sub-quantiser)."""
    if config.pq_m:
        return config.pq_m
    return next(m for m in range(max(1, dim // 4), 0, -1) if dim % m == 0)


def memory_bytes(index_type: str, count: int, dim: int, config: DenseConfig = DenseConfig()) -> int:
    """Estimated in-memory size of a built index (the formulas of the module docstring)."""
    if index_type == "auto":
        index_type = resolve_index_type(config, count)
    if index_type == "flat":
        return 4 * dim * count
    if index_type == "hnsw":
        m = config.hnsw_m
        links = 2 * m + (m / (m - 1) if m > 1 else 0)
        return int(count * (4 * dim + 4 * links + 12))
    if index_type in ("ivf", "ivfpq"):
        nlist = ivf_lists(config, count)
        centroids = 4 * dim * nlist
        if index_type == "ivf":
            return count * (4 * dim + 8) + centroids
        return count * (pq_subquantizers(config, dim) + 8) + centroids + 4 * dim * PQ_CODEBOOK
    raise BadInputError(f"unknown index type {index_type!r}: choose one of {', '.join(BUILT_TYPES)}")


def build_dense_index(vectors: np.ndarray, config: DenseConfig = DenseConfig()) -> Any:
    """Build a FAISS index over ``vectors`` (n, dim) float32, rows L2-normalised.

    IVF centroids (and PQ code books) are trained on a seeded sample of ``ivf_train_size`` rows;
    a corpus too small for the requested cells is a :class:`BadInputError` that names the limit.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise BadInputError(f"expected vectors of shape (n, dim), got {vectors.shape}")
    count, dim = vectors.shape
    index_type = resolve_index_type(config, count)
    if index_type not in BUILT_TYPES:
        raise BadInputError(f"unknown index type {index_type!r}: choose one of {', '.join(INDEX_TYPES)}")
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        index.hnsw.efSearch = config.hnsw_ef_search
    else:
        index = _trained_ivf(vectors, index_type, config)
    if index_type != "auto" and config.index_type == "auto":
        log.info("index type auto: %s for %d vectors", index_type, count)
    index.add(vectors)
    return index


def _trained_ivf(vectors: np.ndarray, index_type: str, config: DenseConfig) -> Any:
    import faiss

    count, dim = vectors.shape
    nlist = ivf_lists(config, count)
    needed = MIN_POINTS_PER_LIST * nlist
    if index_type == "ivfpq":
        needed = max(needed, MIN_POINTS_PER_LIST * PQ_CODEBOOK)
    if count < needed:
        hint = "lower --ivf-nlist (0 picks a count that fits) or " if config.ivf_nlist else ""
        raise BadInputError(
            f"{index_type} with {nlist} lists needs at least {needed} vectors to train ({MIN_POINTS_PER_LIST} per list"
            + (f", {MIN_POINTS_PER_LIST * PQ_CODEBOOK} for the PQ code books" if index_type == "ivfpq" else "")
            + f"); the corpus has {count}: {hint}use --index-type flat or hnsw for a corpus this small"
        )
    train_size = config.ivf_train_size or 64 * nlist
    train_size = min(count, max(train_size, needed))
    if train_size < count:
        rows = np.sort(np.random.default_rng(config.seed).choice(count, train_size, replace=False))
        sample = vectors[rows]  # (train_size, dim)
    else:
        sample = vectors
    quantizer = faiss.IndexFlatIP(dim)
    if index_type == "ivf":
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        pq_m = pq_subquantizers(config, dim)
        if dim % pq_m:
            raise BadInputError(f"--pq-m {pq_m} must divide the dimension {dim}")
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        index.pq.cp.seed = config.seed
        index.pq.cp.max_points_per_centroid = PQ_TRAIN_POINTS_PER_CODE
    index.cp.seed = config.seed
    index.cp.max_points_per_centroid = max(256, -(-train_size // nlist))  # the sample was drawn here, not by FAISS
    index.train(sample)
    index.nprobe = min(config.ivf_nprobe, nlist)
    return index


def dense_index_type(index: Any) -> str:
    """Which of ``BUILT_TYPES`` a FAISS index is (also for one moved to a GPU)."""
    name = type(index).__name__.replace("Gpu", "")
    if "HNSW" in name:
        return "hnsw"
    if "IVFPQ" in name:
        return "ivfpq"
    if "IVFFlat" in name:
        return "ivf"
    if "Flat" in name:
        return "flat"
    raise BadInputError(f"not a codehunt dense index: FAISS {type(index).__name__}")


def save_dense_index(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(_to_cpu(index), str(path))


def available_memory_bytes() -> int:
    """``MemAvailable`` from ``/proc/meminfo`` (0 where it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def should_mmap(path: Path, available: int | None = None) -> bool:
    """Map rather than read a dense index when its file is larger than half the available RAM."""
    available = available_memory_bytes() if available is None else available
    return available > 0 and path.stat().st_size > available // 2


def load_dense_index(path: Path, config: DenseConfig = DenseConfig(), mmap: bool | None = None) -> Any:
    """Read a FAISS index, turning FAISS's C++ assertions into a CorruptIndexError.

    ``mmap`` (None: :func:`should_mmap`) memory-maps the file instead of reading it: IVF inverted
    lists through ``IO_FLAG_MMAP``, flat and HNSW vectors through ``IO_FLAG_MMAP_IFC``. A mapped
    index stays on the CPU (copying it to a GPU would read all of it).
    """
    import faiss

    if not path.is_file():
        raise CorruptIndexError(f"{path} is missing: rebuild the index with `codehunt index build`")
    if mmap is None:
        mmap = should_mmap(path)
    flags = _mmap_flags(path) if mmap else 0
    try:
        index = faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        raise CorruptIndexError(f"{path} is not a readable FAISS index ({str(exc).splitlines()[0][:120]}); rebuild it") from exc
    if flags:
        log.info("memory-mapped %s (%d bytes)", path, path.stat().st_size)
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = config.hnsw_ef_search
    if hasattr(index, "nprobe"):
        index.nprobe = min(config.ivf_nprobe, index.nlist)
    return index if flags else _maybe_to_gpu(index, config)


def _mmap_flags(path: Path) -> int:
    """IVF lists map through the on-disk inverted lists (``IO_FLAG_MMAP``), flat codes through ``IO_FLAG_MMAP_IFC``
    (FAISS cannot combine the two: the on-disk lists need a plain file reader)."""
    import faiss

    with path.open("rb") as handle:
        fourcc = handle.read(4)
    if fourcc in IVF_FOURCC:
        return faiss.IO_FLAG_MMAP
    return getattr(faiss, "IO_FLAG_MMAP_IFC", 0)  # 0 on a FAISS before 1.10: read whole


def search_dense_index(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids), each (n_queries, k'); k' = min(k, ntotal); -1 ids are dropped by callers."""
    k = min(k, index.ntotal)
    if k <= 0:
        empty = np.zeros((len(queries), 0))
        return empty.astype(np.float32), empty.astype(np.int64)
    if type(index).__name__.startswith("Gpu") and k > 2048:  # FAISS GPU selects at most 2048 per query
        k = 2048
    with one_thread_for(len(queries)):
        scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, ids


FEW_QUERIES = 4
"""Up to this many queries are searched on one OpenMP thread (see ``one_thread_for``)."""


@contextlib.contextmanager
def one_thread_for(count: int) -> Iterator[None]:
    """Search a handful of queries on one OpenMP thread.

    Why: FAISS spreads even a single query's exact scan over its threads, and on this 2-core CPU that made it
    slower, not faster: one query over the Quickstart's 34k vectors, k=200, took 6.2 ms p50 on 2 threads and
    3.0 ms on 1 (200 CoSQA queries; HNSW and IVF already search one query on one thread). The thread count is
    an OpenMP per-thread setting (``omp_set_num_threads`` sets the calling thread's ``nthreads-var``), so
    setting and restoring it here touches no other thread's searches; batches keep every thread.
    """
    import faiss

    if count > FEW_QUERIES:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def gpu_available() -> bool:
    """faiss-gpu is installed and sees at least one GPU."""
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _to_cpu(index: Any) -> Any:
    import faiss

    if hasattr(faiss, "index_gpu_to_cpu") and type(index).__name__.startswith("Gpu"):
        return faiss.index_gpu_to_cpu(index)
    return index


_GPU_RESOURCES: list[Any] = []


def _maybe_to_gpu(index: Any, config: DenseConfig) -> Any:
    import faiss

    if not config.use_gpu or not os.environ.get("CUDA_VISIBLE_DEVICES", "0") or not gpu_available():
        return index
    if isinstance(index, faiss.IndexHNSW):
        return index  # FAISS has no GPU HNSW
    if not _GPU_RESOURCES:
        _GPU_RESOURCES.append(faiss.StandardGpuResources())
    options = faiss.GpuClonerOptions()
    options.useFloat16LookupTables = True  # IVF-PQ with more than 32 sub-quantisers needs them in shared memory
    try:
        moved = faiss.index_cpu_to_gpu(_GPU_RESOURCES[0], 0, index, options)
    except RuntimeError as exc:  # a layout the GPU kernels lack (say, pq_m 128): search stays on the CPU
        log.warning("FAISS index stays on the CPU: %s", str(exc).splitlines()[0][:160])
        return index
    log.info("moved the FAISS index to GPU 0")
    return moved
