"""The fp16 scan gives exactly the flat index's top k: on real code vectors, and on near-ties fp16 cannot order."""
from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from codehunt.index.half_scan import HalfPrecisionScan, flat_vectors  # noqa: E402


def flat(vectors: np.ndarray):
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def assert_same_top_k(scan: HalfPrecisionScan, index, queries: np.ndarray, k: int) -> None:
    got_scores, got_ids = scan.search(queries, k)
    want_scores, want_ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, index.ntotal))
    np.testing.assert_allclose(got_scores, want_scores, rtol=0, atol=2e-6)
    vectors = flat_vectors(index)
    for row, query in enumerate(queries):
        exact = vectors @ query
        order = np.lexsort((np.arange(len(exact)), -exact))[:k]  # the exact top k, ties by id
        assert got_ids[row].tolist() == order.tolist()


def test_real_code_vectors_give_the_flat_top_k(default_encoder):
    import inspect
    import json
    import pathlib

    texts = []
    for module in (json, pathlib, inspect):
        source = inspect.getsource(module)
        texts += [block for block in source.split("\n\n") if block.strip()][:120]
    vectors = default_encoder.encode(texts, "document")
    index = flat(vectors)
    scan = HalfPrecisionScan(flat_vectors(index))
    queries = default_encoder.encode(["parse a json document", "join two paths", "get the source of a function", "x"], "query")
    for k in (1, 10, 50, len(texts) + 5):
        assert_same_top_k(scan, index, queries, k)
    scores, ids = scan.search(queries, len(texts) + 5)
    assert ids.shape == (4, len(texts)) and (ids >= 0).all()  # k is capped at the vectors held


def test_near_ties_that_fp16_cannot_order_come_out_in_exact_order():
    rng = np.random.default_rng(0)
    base = rng.normal(size=384).astype(np.float32)
    base /= np.linalg.norm(base)
    near = base + rng.normal(scale=1e-5, size=(3000, 384)).astype(np.float32)  # scores within ~1e-4 of each other
    far = rng.normal(size=(3000, 384)).astype(np.float32)
    vectors = np.concatenate([far[:1500], near, far[1500:]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = flat(vectors)
    scan = HalfPrecisionScan(flat_vectors(index))
    query = (base + rng.normal(scale=1e-3, size=384).astype(np.float32))[None, :]
    query /= np.linalg.norm(query)
    rough_ids = scan.codes.search(query, 10)[1][0]
    exact_ids = index.search(query, 10)[1][0]
    assert rough_ids.tolist() != exact_ids.tolist()  # the fp16 scan alone does get these wrong
    for k in (1, 10, 100):
        assert_same_top_k(scan, index, query, k)


def test_only_in_memory_flat_inner_product_indexes_are_copied():
    vectors = np.eye(4, dtype=np.float32)
    assert flat_vectors(flat(vectors)) is not None
    assert flat_vectors(faiss.IndexFlatL2(4)) is None
    assert flat_vectors(faiss.IndexHNSWFlat(4, 8, faiss.METRIC_INNER_PRODUCT)) is None
    assert flat_vectors(faiss.IndexFlatIP(4)) is None  # empty


def test_a_hybrid_search_gives_the_same_hits_with_and_without_the_scan(tmp_path, default_encoder):
    import inspect
    import json

    from codehunt.index.index import Index, IndexConfig

    source = tmp_path / "src"
    source.mkdir()
    (source / "jsonmod.py").write_text(inspect.getsource(json.decoder) + "\n" + inspect.getsource(json.encoder), encoding="utf-8")
    index = Index.build(source, tmp_path / "idx", IndexConfig(), encoder=default_encoder)
    queries = ["decode a json string", "escape a unicode character", "scan a number"]
    with_scan = [index.search(q, 10, mode) for q in queries for mode in ("dense", "hybrid")]
    assert index._half_scan is not None and index._half_scan[1] is not None  # the scan answered
    index._half_scan = (index.dense, None)  # the plain FAISS scan
    without = [index.search(q, 10, mode) for q in queries for mode in ("dense", "hybrid")]
    for a, b in zip(with_scan, without):
        assert [h.doc_id for h in a] == [h.doc_id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=0, atol=2e-6)
