"""FAISS index types side by side at 100k and 1M vectors: recall@10 vs exact, build time, memory, query latency.

    flock /tmp/codehunt-heavy.lock python benchmarks/index_types.py [--sizes 100000 1000000] [--queries 1000]
        [--types flat hnsw ivf ivfpq] [--workdir /tmp/codehunt-bench/index-types] [--json OUT.json]

Data (real embeddings of real code, replicated with noise):

1. Base vectors: every function of the CoSQA corpus (6,267 Python functions) and of the CodeSearchNet Ruby dev
   corpus (2,661 Ruby methods), embedded with the default model (all-MiniLM-L6-v2, 384-d) through the cached
   evaluation indexes of ``codehunt eval`` (``~/.cache/codehunt/eval-indexes``, built on first use): 8,928 vectors.
2. Queries: the real CoSQA (500) and CSN-Ruby (1,400) dev queries embedded as queries; ``--queries`` of them,
   seeded sample, are searched.
3. Replication to N vectors: row ``i`` is base vector ``i mod 8,928`` plus isotropic Gaussian noise of standard
   deviation ``sigma`` per dimension, L2-normalised again (copy 0 of every base vector is the vector itself).
   ``sigma`` is chosen so that a copy's expected cosine to its parent, ``1 / sqrt(1 + d * sigma^2)``, equals the
   median cosine between a real base vector and its nearest real neighbour (printed: 0.705, so sigma = 0.0513), so a
   copy is as far from its parent as real code is from its closest real neighbour. Seed 0 throughout. Caveat: the
   ~112 copies of each vector at 1M form tight clusters of near-ties, easier for IVF and harder for HNSW than a
   corpus of 1M distinct functions.

Measurements, each type built from scratch on the same vectors:

* recall@10: mean over queries of |top-10 of the index ∩ exact top-10| / 10 (exact = ``IndexFlatIP``);
* build s: wall time of ``build_dense_index`` (IVF training on its sample included);
* bytes/vector: ``len(faiss.serialize_index(index)) / N`` (what ``Index.load`` holds in RAM) and the
  :func:`~codehunt.index.dense.memory_bytes` formula beside it;
* query p50 / p95 ms: one query per call (interactive search), on every CPU thread FAISS uses;
* for IVF types, one more row at the default nprobe with the index memory-mapped (``IO_FLAG_MMAP``): resident-set
  growth after loading it and after one query, against its file size, and the query p50 (page cache warm).

Query-time knobs (efSearch, nprobe) are swept on the built index so defaults can be read off the table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def resident_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def shared_data() -> Path:
    return Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"


def real_vectors(datasets: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(base document vectors, query vectors) of the default model over the shared BEIR dev sets."""
    from codehunt.evaluate import open_or_build_index
    from codehunt.index.beir import load_beir

    documents, queries = [], []
    encoder = None
    for name in datasets:
        data = load_beir(shared_data() / name, "dev")
        index = open_or_build_index(data.corpus_path, None, None, show_progress=False)
        documents.append(index.dense.reconstruct_n(0, index.dense.ntotal))  # (n_docs, dim), flat index: exact vectors
        encoder = encoder or index.encoder
        queries.append(encoder.encode(list(data.queries.values()), "query"))  # (n_queries, dim)
    return np.concatenate(documents).astype(np.float32), np.concatenate(queries).astype(np.float32)


def noise_sigma(base: np.ndarray) -> tuple[float, float]:
    """(sigma, median nearest-neighbour cosine): the per-dimension noise that puts a copy that far from its parent."""
    import faiss

    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    scores, _ = flat.search(base, 2)  # column 0 is the vector itself
    median = float(np.median(scores[:, 1]))
    return float(np.sqrt((1.0 / median**2 - 1.0) / base.shape[1])), median


def replicate(base: np.ndarray, count: int, sigma: float, seed: int = 0) -> np.ndarray:
    """``count`` rows: base row ``i mod len(base)`` plus N(0, sigma^2) noise (none on copy 0), renormalised."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, base.shape[1]), dtype=np.float32)  # (count, dim)
    block = 65_536
    for start in range(0, count, block):
        rows = np.arange(start, min(count, start + block))
        chunk = base[rows % len(base)] + rng.standard_normal((len(rows), base.shape[1]), dtype=np.float32) * sigma
        chunk[rows < len(base)] = base[rows[rows < len(base)]]
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        out[rows] = chunk
    return out


def recall_at(found: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(f[:k].tolist()) & set(e[:k].tolist())) / k for f, e in zip(found, exact)]))


def latencies_ms(index, queries: np.ndarray, k: int = 10) -> tuple[float, float, np.ndarray]:
    """(p50, p95) of one-query searches, and the ids found (n_queries, k)."""
    from codehunt.index.dense import search_dense_index

    times, ids = [], []
    search_dense_index(index, queries[:1], k)  # warm up
    for row in range(len(queries)):
        started = time.perf_counter()
        _, found = search_dense_index(index, queries[row : row + 1], k)
        times.append((time.perf_counter() - started) * 1000)
        ids.append(found[0])
    return float(np.percentile(times, 50)), float(np.percentile(times, 95)), np.array(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000, help="queries for recall (latency: the first --latency-queries)")
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--types", nargs="+", default=["flat", "hnsw", "ivf", "ivfpq"],
                        help="index types, each optionally with DenseConfig fields: ivfpq:pq_m=96,ivf_nlist=2048")
    parser.add_argument("--datasets", nargs="+", default=["cosqa", "csn_ruby"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/codehunt-bench/index-types"))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    import faiss

    from codehunt.index.dense import DenseConfig, build_dense_index, ivf_lists, load_dense_index, memory_bytes, save_dense_index

    base, all_queries = real_vectors(args.datasets)
    sigma, median_cos = noise_sigma(base)
    rng = np.random.default_rng(0)
    queries = all_queries[np.sort(rng.choice(len(all_queries), min(args.queries, len(all_queries)), replace=False))]
    print(f"{len(base)} real vectors (dim {base.shape[1]}), {len(queries)} real queries; median nearest-neighbour cosine "
          f"{median_cos:.3f} -> sigma {sigma:.4f}; FAISS {faiss.__version__}, {faiss.omp_get_max_threads()} threads",
          file=sys.stderr)
    rows: list[dict] = []
    for size in args.sizes:
        vectors = replicate(base, size, sigma)
        exact_index = faiss.IndexFlatIP(vectors.shape[1])
        exact_index.add(vectors)
        _, exact = exact_index.search(queries, 10)  # (n_queries, 10) ground truth
        del exact_index
        for spec in args.types:
            index_type, _, fields = spec.partition(":")
            overrides = {key: int(value) for key, value in (item.split("=") for item in fields.split(",") if item)}
            config = DenseConfig(index_type=index_type, use_gpu=False, **overrides)
            started = time.perf_counter()
            index = build_dense_index(vectors, config)
            build_seconds = time.perf_counter() - started
            size_bytes = len(faiss.serialize_index(index))
            knobs: list[tuple[str, int | None]] = [("", None)]
            if index_type == "hnsw":
                knobs = [("efSearch", ef) for ef in (32, 64, 128, 256)]
            elif index_type in ("ivf", "ivfpq"):
                knobs = [("nprobe", probe) for probe in (8, 16, 32, 64, 128)]
            for knob, value in knobs:
                if knob == "efSearch":
                    index.hnsw.efSearch = value
                elif knob == "nprobe":
                    index.nprobe = value
                _, found = index.search(queries, 10)
                p50, p95, _ = latencies_ms(index, queries[: args.latency_queries])
                row = {
                    "n": size, "type": spec, "knob": f"{knob}={value}" if knob else "",
                    "recall_at_10": round(recall_at(found, exact), 4), "build_s": round(build_seconds, 1),
                    "bytes_per_vector": round(size_bytes / size, 1),
                    "formula_bytes_per_vector": round(memory_bytes(index_type, size, vectors.shape[1], config) / size, 1),
                    "query_p50_ms": round(p50, 2), "query_p95_ms": round(p95, 2),
                }
                if index_type in ("ivf", "ivfpq"):
                    row["nlist"] = ivf_lists(config, size)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
            if index_type in ("ivf", "ivfpq"):
                row = {"n": size, "type": spec, "knob": f"nprobe={config.ivf_nprobe} mmap"}
                row.update(mmap_row(index, config, queries[: args.latency_queries], args.workdir))
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
            del index
        del vectors
    print_table(rows, sigma, median_cos, len(base), len(queries))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


def mmap_row(index, config, queries: np.ndarray, workdir: Path) -> dict:
    """Save ``index``, map it back (``load_dense_index(mmap=True)``) at the default nprobe: resident-set growth after
    the load and after one query, against the file size, and the (warm page cache) query p50."""
    from codehunt.index.dense import load_dense_index, save_dense_index

    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        path = Path(folder) / "dense.faiss"
        save_dense_index(index, path)
        before = resident_mb()
        mapped = load_dense_index(path, config, mmap=True)
        loaded = resident_mb() - before
        mapped.search(queries[:1], 10)
        one_query = resident_mb() - before
        p50, _, _ = latencies_ms(mapped, queries)
        file_mb = path.stat().st_size / 1e6
        del mapped
    return {"mmap_load_mb": round(loaded, 1), "mmap_1query_mb": round(one_query, 1), "mmap_query_p50_ms": round(p50, 2),
            "file_mb": round(file_mb, 1)}


def print_table(rows: list[dict], sigma: float, median_cos: float, base: int, queries: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"FAISS index types: {base} real code vectors replicated with noise (sigma {sigma:.4f}, "
                        f"parent cosine ~{median_cos:.2f}), {queries} real queries, {os.cpu_count()} CPUs")
    columns = ["n", "type", "knob", "recall_at_10", "build_s", "bytes_per_vector", "formula_bytes_per_vector",
               "query_p50_ms", "query_p95_ms", "mmap_load_mb", "mmap_1query_mb", "mmap_query_p50_ms", "file_mb"]
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(*(str(row.get(column, "")) for column in columns))
    Console(width=220, stderr=False).print(table)


if __name__ == "__main__":
    main()
