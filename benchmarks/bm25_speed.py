"""Time ``index.bm25.BM25Index`` against ``rank_bm25.BM25Okapi`` on real code, and check they agree.

The corpus is the real cosqa + csn_ruby functions from the shared data folder, tokenised
with ``index.tokenize.tokenize_code``; to reach ``--docs`` documents the functions are
repeated whole and the remainder sampled without replacement (seeded), then shuffled.
Queries are the first ``--queries`` cosqa queries. Every query's scores are compared with
``np.array_equal`` and its top-k with a full sort of the reference scores, in the same run.

    flock /tmp/codehunt-heavy.lock python benchmarks/bm25_speed.py --docs 200000
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from codehunt.index.bm25 import BM25Index  # noqa: E402
from codehunt.index.tokenize import tokenize_code  # noqa: E402


def read_texts(path: Path, limit: int | None = None) -> list[str]:
    texts: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            texts.append(json.loads(line)["text"])
            if limit is not None and len(texts) == limit:
                break
    return texts


def reference_top_k(scores: np.ndarray, matching: np.ndarray, k: int) -> np.ndarray:
    """Score descending, ties by lower id, over the documents that hold a query term."""
    candidates = np.flatnonzero(matching)
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200_000, help="number of documents to index")
    parser.add_argument("--queries", type=int, default=50, help="number of cosqa queries to time")
    parser.add_argument("--k", type=int, default=10, help="k for top_k")
    parser.add_argument("--seed", type=int, default=0, help="seed for the resampling")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("CODEHUNT_SHARED", REPO.parent / "shared")) / "data",
        help="folder holding cosqa/ and csn_ruby/",
    )
    args = parser.parse_args()
    from rank_bm25 import BM25Okapi

    sources = [args.data / "cosqa" / "corpus.jsonl", args.data / "csn_ruby" / "corpus.jsonl"]
    missing = [str(path) for path in sources if not path.exists()]
    if missing:
        sys.exit(f"real corpora not found: {', '.join(missing)}")
    texts = [text for path in sources for text in read_texts(path)]
    start = time.perf_counter()
    unique_docs = [tokenize_code(text) for text in texts]
    tokenize_s = time.perf_counter() - start

    rng = np.random.default_rng(args.seed)
    copies, remainder = divmod(args.docs, len(unique_docs))
    picks = np.concatenate(
        [np.tile(np.arange(len(unique_docs)), copies), rng.choice(len(unique_docs), remainder, replace=False)]
    )
    rng.shuffle(picks)
    docs = [unique_docs[i] for i in picks]
    print(
        f"corpus: {len(unique_docs)} real functions (cosqa + csn_ruby), tokenised in {tokenize_s:.2f} s "
        f"({len(unique_docs) / tokenize_s:,.0f} docs/s); repeated {copies}x + {remainder} sampled without "
        f"replacement (seed {args.seed}) and shuffled to reach {len(docs)} documents, "
        f"{sum(map(len, docs)):,} tokens"
    )

    start = time.perf_counter()
    reference = BM25Okapi(docs)
    reference_build_s = time.perf_counter() - start
    start = time.perf_counter()
    index = BM25Index.build(docs)
    index_build_s = time.perf_counter() - start
    print(f"vocabulary {len(index.vocabulary):,} terms, {len(index.doc_ids):,} postings")

    queries = [tokenize_code(text) for text in read_texts(args.data / "cosqa" / "queries.jsonl", args.queries)]
    reference_ms: list[float] = []
    scores_ms: list[float] = []
    top_k_ms: list[float] = []
    mismatches = 0
    for query in queries:
        start = time.perf_counter()
        expected = reference.get_scores(query)
        reference_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        got = index.scores(query)
        scores_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        ids, top_scores = index.top_k(query, args.k)
        top_k_ms.append((time.perf_counter() - start) * 1000)

        matching = np.zeros(len(docs), dtype=bool)
        for token in set(query):
            term = index.term_ids.get(token)
            if term is not None:
                matching[index.doc_ids[index.offsets[term] : index.offsets[term + 1]]] = True
        expected_ids = reference_top_k(expected, matching, args.k)
        if not (
            np.array_equal(got, expected)
            and np.array_equal(ids, expected_ids)
            and np.array_equal(top_scores, expected[expected_ids])
        ):
            mismatches += 1

    ref_p50 = statistics.median(reference_ms)
    scores_p50 = statistics.median(scores_ms)
    top_k_p50 = statistics.median(top_k_ms)
    print(f"{len(queries)} cosqa queries, {statistics.mean(map(len, queries)):.1f} tokens on average")
    print()
    print("| docs | build BM25Okapi s | build BM25Index s | get_scores p50 ms | scores p50 ms | top_k p50 ms "
          "| speed-up scores | speed-up top_k |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {len(docs):,} | {reference_build_s:.2f} | {index_build_s:.2f} | {ref_p50:.2f} | {scores_p50:.2f} "
        f"| {top_k_p50:.2f} | {ref_p50 / scores_p50:.1f}x | {ref_p50 / top_k_p50:.1f}x |"
    )
    print()
    print(
        f"equality: {len(queries) - mismatches}/{len(queries)} queries bit-identical scores "
        f"(np.array_equal) and identical top-{args.k}"
    )
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
