"""FAISS index types against exact search: recall, training on a sample, size errors, memory formula, mmap, GPU."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.dense import (
    BUILT_TYPES,
    DenseConfig,
    build_dense_index,
    dense_index_type,
    gpu_available,
    ivf_lists,
    load_dense_index,
    memory_bytes,
    resolve_index_type,
    save_dense_index,
    search_dense_index,
    should_mmap,
)
from codehunt.index.errors import BadInputError, CorruptIndexError


def clustered(count: int, dim: int = 64, clusters: int = 200, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres (cosine to the centre ~0.7): structure ANN can exploit, but
    harder than real code embeddings (neighbours inside a cluster are isotropic noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rows = centres[rng.integers(0, clusters, count)] + rng.standard_normal((count, dim)).astype(np.float32) * (1.0 / np.sqrt(dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ vectors.T  # (n_queries, n)
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(e.tolist())) / len(e) for f, e in zip(found, exact)]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    vectors = clustered(20_000)
    queries = clustered(200, seed=1)
    return vectors, queries


@pytest.fixture(scope="module")
def exact(data) -> np.ndarray:
    return exact_top(*data, 10)


@pytest.mark.parametrize(
    "config, floor",
    [
        (DenseConfig(index_type="flat"), 1.0),
        (DenseConfig(index_type="hnsw"), 0.85),  # the defaults; 0.99 on real code vectors (benchmarks/index_types.py)
        (DenseConfig(index_type="ivf"), 0.9),
        (DenseConfig(index_type="ivfpq", pq_m=8), 0.3),  # 8 bytes per 64-d vector
    ],
    ids=["flat", "hnsw", "ivf", "ivfpq"],
)
def test_recall_at_10_against_exact_search(config, floor, data, exact):
    vectors, queries = data
    index = build_dense_index(vectors, replace(config, use_gpu=False))
    _, found = search_dense_index(index, queries, 10)
    value = recall(found, exact)
    assert value >= floor, f"{config.index_type}: recall@10 {value:.3f} < {floor}"
    if config.index_type == "ivfpq":
        assert value < 0.9  # 8-byte codes of 64-d vectors are lossy: a near-exact result means PQ was skipped
    assert dense_index_type(index) == config.index_type


def test_ivf_visiting_every_list_is_exact(data, exact):
    """Differential: IVF with nprobe = nlist scores every vector exactly, so it must return the exact top 10."""
    vectors, queries = data
    config = DenseConfig(index_type="ivf", ivf_nlist=64)
    index = build_dense_index(vectors, config)
    index.nprobe = 64
    scores, found = search_dense_index(index, queries, 10)
    exact_scores = np.take_along_axis(queries @ vectors.T, exact, axis=1)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-5)
    assert recall(found, exact) > 0.99  # ties aside, the same ids


def test_recall_grows_with_nprobe(data, exact):
    vectors, queries = data
    index = build_dense_index(vectors, DenseConfig(index_type="ivf", ivf_nlist=256))
    values = []
    for nprobe in (1, 8, 64):
        index.nprobe = nprobe
        values.append(recall(search_dense_index(index, queries, 10)[1], exact))
    assert values[0] < values[1] < values[2], values


def test_ivf_trains_on_a_seeded_sample(data):
    """The centroids are k-means of ``ivf_train_size`` rows drawn with ``seed``: built by hand they are the same."""
    import faiss

    vectors, _ = data
    config = DenseConfig(index_type="ivf", ivf_nlist=50, ivf_train_size=3000, seed=7)
    ours = build_dense_index(vectors, config)
    rows = np.sort(np.random.default_rng(7).choice(len(vectors), 3000, replace=False))
    reference = faiss.IndexIVFFlat(faiss.IndexFlatIP(64), 64, 50, faiss.METRIC_INNER_PRODUCT)
    reference.cp.seed = 7
    reference.cp.max_points_per_centroid = 256
    reference.train(vectors[rows])
    np.testing.assert_array_equal(ours.quantizer.reconstruct_n(0, 50), reference.quantizer.reconstruct_n(0, 50))
    again = build_dense_index(vectors, config)
    other_seed = build_dense_index(vectors, replace(config, seed=8))
    assert bytes(faiss.serialize_index(again)) == bytes(faiss.serialize_index(ours))
    assert not np.array_equal(other_seed.quantizer.reconstruct_n(0, 50), ours.quantizer.reconstruct_n(0, 50))


@pytest.mark.parametrize(
    "count, config, message",
    [
        (1000, DenseConfig(index_type="ivf", ivf_nlist=100), r"ivf with 100 lists needs at least 3900 vectors .* has 1000: lower --ivf-nlist"),
        (20, DenseConfig(index_type="ivf"), r"ivf with 1 lists needs at least 39 vectors .* has 20: use --index-type flat or hnsw"),
        (5000, DenseConfig(index_type="ivfpq"), r"ivfpq with 128 lists needs at least 9984 vectors .*PQ code books.* has 5000"),
        (12_000, DenseConfig(index_type="ivfpq", pq_m=7), r"--pq-m 7 must divide the dimension 64"),
    ],
    ids=["ivf-lists", "ivf-tiny", "ivfpq-codebooks", "pq-m"],
)
def test_a_corpus_too_small_for_the_lists_is_a_clear_error(count, config, message):
    with pytest.raises(BadInputError, match=message):
        build_dense_index(clustered(count), config)


def test_default_lists_fit_a_small_corpus():
    """``ivf_nlist=0`` never asks for more lists than the corpus can train: 4*sqrt(n), capped at n/39."""
    assert ivf_lists(DenseConfig(), 1_000_000) == 4000
    assert ivf_lists(DenseConfig(), 2000) == 2000 // 39
    assert ivf_lists(DenseConfig(ivf_nlist=7), 10) == 7
    index = build_dense_index(clustered(2000), DenseConfig(index_type="ivf"))
    assert index.nlist == 51 and index.ntotal == 2000


def test_auto_is_flat_below_the_threshold_and_the_large_type_above():
    assert resolve_index_type(DenseConfig(index_type="auto"), 10) == "flat"
    assert DenseConfig().index_type == "auto"  # the measured defaults: exact up to 100k vectors, IVF above
    assert resolve_index_type(DenseConfig(), 100_000) == "flat" and resolve_index_type(DenseConfig(), 100_001) == "ivf"
    config = DenseConfig(index_type="auto", auto_flat_max=1000, auto_large_type="ivf")
    assert resolve_index_type(config, 1000) == "flat" and resolve_index_type(config, 1001) == "ivf"
    assert resolve_index_type(DenseConfig(index_type="hnsw"), 1) == "hnsw"
    assert dense_index_type(build_dense_index(clustered(500), config)) == "flat"
    assert dense_index_type(build_dense_index(clustered(3000), config)) == "ivf"


@pytest.mark.parametrize("index_type", BUILT_TYPES)
def test_memory_formula_matches_faiss(index_type):
    """The per-type formula of the module docstring (and the README) within 5% of FAISS's serialised size."""
    import faiss

    vectors = clustered(10_000, dim=32)
    config = DenseConfig(index_type=index_type, ivf_nlist=64)
    index = build_dense_index(vectors, config)
    actual = len(faiss.serialize_index(index))
    estimate = memory_bytes(index_type, len(vectors), 32, config)
    assert abs(estimate - actual) / actual < 0.05, (index_type, estimate, actual)


@pytest.mark.parametrize("index_type", BUILT_TYPES)
@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mmap"])
def test_save_and_load_keep_results(index_type, mmap, tmp_path, data):
    vectors, queries = data
    config = DenseConfig(index_type=index_type, ivf_nprobe=8, pq_m=8, hnsw_ef_search=40, use_gpu=False)
    index = build_dense_index(vectors[:12_000], config)
    expected = search_dense_index(index, queries, 10)
    save_dense_index(index, tmp_path / "dense.faiss")
    loaded = load_dense_index(tmp_path / "dense.faiss", config, mmap=mmap)
    got = search_dense_index(loaded, queries, 10)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
    if index_type in ("ivf", "ivfpq"):
        import faiss

        assert loaded.nprobe == 8
        lists = faiss.downcast_InvertedLists(faiss.extract_index_ivf(loaded).invlists)
        assert type(lists).__name__ == ("OnDiskInvertedLists" if mmap else "ArrayInvertedLists")
    if index_type == "hnsw":
        assert loaded.hnsw.efSearch == 40


RESIDENT_PROBE = """
import json, os, sys
from pathlib import Path
import faiss  # imported before the first measurement: its libraries are not the index
import numpy as np
from codehunt.index.dense import DenseConfig, load_dense_index, search_dense_index

def resident():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

path, mmap = Path(sys.argv[1]), sys.argv[2] == "mmap"
queries = np.random.default_rng(3).standard_normal((10, 128)).astype(np.float32)
before = resident()
index = load_dense_index(path, DenseConfig(ivf_nprobe=2), mmap=mmap)
search_dense_index(index, queries / np.linalg.norm(queries, axis=1, keepdims=True), 10)
print(json.dumps({"grown": resident() - before, "lists": type(index.invlists).__name__}))
"""


@pytest.mark.skipif(not Path("/proc/self/statm").is_file(), reason="needs /proc to read the resident set")
def test_a_mapped_ivf_index_stays_mostly_on_disk(tmp_path):
    """100 MB of IVF lists, mapped, searched by 10 queries with nprobe 2: most of the file never enters RAM.

    Measured in a fresh process each (the resident set of this one carries every earlier test's heap)."""
    import subprocess
    import sys

    vectors = clustered(200_000, dim=128, clusters=500)
    config = DenseConfig(index_type="ivf", ivf_nlist=256, ivf_train_size=256 * 39)
    save_dense_index(build_dense_index(vectors, config), tmp_path / "dense.faiss")
    del vectors
    size = (tmp_path / "dense.faiss").stat().st_size
    grown = {}
    for mode in ("mmap", "read"):
        result = subprocess.run([sys.executable, "-c", RESIDENT_PROBE, str(tmp_path / "dense.faiss"), mode],
                                capture_output=True, text=True, check=True)
        grown[mode] = json.loads(result.stdout.strip().splitlines()[-1])["grown"]
    assert size > 100e6
    assert grown["mmap"] < 0.2 * size, (grown, size)  # ~20 of 256 lists touched: ~10% of the file
    assert grown["read"] > 0.8 * size, (grown, size)  # the control: read whole, the same file is all resident


def test_mmap_is_chosen_when_the_file_outgrows_half_the_memory(tmp_path):
    path = tmp_path / "dense.faiss"
    path.write_bytes(b"\0" * 1000)
    assert should_mmap(path, available=1999)
    assert not should_mmap(path, available=2000)
    assert not should_mmap(path, available=0)  # unknown memory: read whole, as before


@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mmap"])
def test_a_truncated_index_is_a_corrupt_index_error(mmap, tmp_path):
    save_dense_index(build_dense_index(clustered(3000), DenseConfig(index_type="ivf")), tmp_path / "dense.faiss")
    data = (tmp_path / "dense.faiss").read_bytes()
    (tmp_path / "dense.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptIndexError, match="dense.faiss is not a readable FAISS index"):
        load_dense_index(tmp_path / "dense.faiss", mmap=mmap)


def test_auto_builds_record_the_chosen_type(tmp_path):
    """An ``Index`` built with ``index_type="auto"`` records the type it became, which ``index info`` prints."""
    from codehunt.index.corpus import Corpus
    from codehunt.index.index import Index, IndexConfig
    from codehunt.index.types import Chunk

    class HashEncoder:
        name, dimension = "hash", 32

        def encode(self, texts, kind, show_progress=False):
            rows = np.stack([np.random.default_rng(abs(hash(text)) % 2**32).standard_normal(32) for text in texts])
            return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

        def fingerprint(self):
            return "hash"

    chunks = [Chunk(f"d{i}", f"d{i}.py", f"f{i}", "document", "python", 1, 1, f"def f{i}(): return {i}") for i in range(300)]
    config = IndexConfig(dense=DenseConfig(index_type="auto", auto_flat_max=100, auto_large_type="hnsw"))
    index = Index.build_from_corpus(Corpus(chunks, []), tmp_path / "idx", config, encoder=HashEncoder())
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["index_type"] == "hnsw" and manifest["config"]["dense"]["index_type"] == "auto"
    loaded = Index.load(tmp_path / "idx")
    assert dense_index_type(loaded.dense) == "hnsw" and loaded.dense.ntotal == 300
    assert index.manifest.index_type == "hnsw"
    from typer.testing import CliRunner

    from codehunt.cli import app

    info = CliRunner().invoke(app, ["index", "info", str(tmp_path / "idx")])
    assert info.exit_code == 0, info.output
    dense = json.loads(info.stdout)["dense"]
    assert dense["index_type"] == "hnsw" and dense["chosen_by"] == "auto: flat up to 100 vectors, hnsw above"
    assert dense["memory_bytes"] == memory_bytes("hnsw", 300, 32, config.dense)


requires_gpu = pytest.mark.skipif(not gpu_available(), reason="needs faiss-gpu (the [gpu] extra) and a visible GPU")


@pytest.mark.gpu
@requires_gpu
@pytest.mark.parametrize("index_type", ["flat", "ivf", "ivfpq"])
def test_gpu_search_matches_cpu(index_type, tmp_path, data):
    vectors, queries = data
    config = DenseConfig(index_type=index_type, ivf_nprobe=16, pq_m=16)
    save_dense_index(build_dense_index(vectors, config), tmp_path / "dense.faiss")
    cpu = load_dense_index(tmp_path / "dense.faiss", replace(config, use_gpu=False), mmap=False)
    gpu = load_dense_index(tmp_path / "dense.faiss", config, mmap=False)
    assert type(gpu).__name__.startswith("Gpu") and not type(cpu).__name__.startswith("Gpu")
    cpu_ids = search_dense_index(cpu, queries, 10)[1]
    gpu_ids = search_dense_index(gpu, queries, 10)[1]
    assert recall(gpu_ids, cpu_ids) > (0.99 if index_type == "flat" else 0.9)
    save_dense_index(gpu, tmp_path / "back.faiss")  # a GPU index saves through the CPU copy
    assert dense_index_type(load_dense_index(tmp_path / "back.faiss", replace(config, use_gpu=False))) == index_type


@pytest.mark.gpu
@requires_gpu
def test_gpu_keeps_hnsw_and_mapped_indexes_on_the_cpu(tmp_path, data):
    vectors, _ = data
    for index_type, mmap in (("hnsw", False), ("ivf", True)):
        save_dense_index(build_dense_index(vectors, DenseConfig(index_type=index_type)), tmp_path / f"{index_type}.faiss")
        loaded = load_dense_index(tmp_path / f"{index_type}.faiss", DenseConfig(), mmap=mmap)
        assert not type(loaded).__name__.startswith("Gpu")
