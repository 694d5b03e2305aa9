"""Rerank latency per query on CPU: p50/p95 at depth 20/50/100, fp32 vs bf16, on real CoSQA candidates.

Each query's candidates are its BM25 top-``depth`` over the real CoSQA corpus (what a first
stage returns), rescored with ``CrossEncoderRescorer.rescore_texts`` on the full function
texts. Latency does not depend on the weights, so the default model (untrained head) is a
fair stand-in for a trained reranker of the same architecture; pass ``--model`` for another.
A second table switches one speed choice at a time at depth 50: length-sorted batches and
``max_length`` (the code is cut from the end, so shorter windows keep the signature).

    flock /tmp/codehunt-heavy.lock python benchmarks/rerank_latency.py --queries 30
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from codehunt.index.bm25 import BM25Index  # noqa: E402
from codehunt.index.precision import cpu_has_fast_bf16  # noqa: E402
from codehunt.index.tokenize import tokenize_code  # noqa: E402
from codehunt.reranker.config import RerankConfig  # noqa: E402
from codehunt.reranker.model import CrossEncoderRescorer, load_rescorer  # noqa: E402


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def candidates(data: Path, n_queries: int, depth: int) -> list[tuple[str, list[str]]]:
    """(query, BM25 top-``depth`` code texts) for the first ``n_queries`` CoSQA queries."""
    corpus = read_jsonl(data / "cosqa" / "corpus.jsonl")
    queries = read_jsonl(data / "cosqa" / "queries.jsonl")[:n_queries]
    texts = [record["text"] for record in corpus]
    bm25 = BM25Index.build([tokenize_code(text) for text in texts])
    result = []
    for record in queries:
        ids, _ = bm25.top_k(tokenize_code(record["text"]), depth)
        result.append((record["text"], [texts[i] for i in ids.tolist()]))
    return result


def time_queries(rescorer: CrossEncoderRescorer, lists: list[tuple[str, list[str]]], depth: int) -> dict:
    """Per-query wall time of ``rescore_texts`` on the top ``depth``; 2 warm-up queries first."""
    for query, texts in lists[:2]:
        rescorer.rescore_texts(query, texts[:depth])
    times, pairs = [], 0
    for query, texts in lists:
        start = time.perf_counter()
        rescorer.rescore_texts(query, texts[:depth])
        times.append(time.perf_counter() - start)
        pairs += len(texts[:depth])
    ms = np.asarray(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "pairs_per_s": pairs / float(np.sum(times))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="reranker dir, hub name, or 'default' (untrained head)")
    parser.add_argument("--queries", type=int, default=30, help="CoSQA queries to time")
    parser.add_argument("--depths", default="20,50,100", help="comma list of candidate depths")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per forward pass")
    parser.add_argument("--max-length", type=int, default=256, help="tokens per pair in the main table")
    parser.add_argument("--skip-ablation", action="store_true", help="only the fp32/bf16 table")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("CODEHUNT_SHARED", REPO.parent / "shared")) / "data",
        help="folder holding cosqa/",
    )
    args = parser.parse_args()
    if not (args.data / "cosqa" / "corpus.jsonl").is_file():
        sys.exit(f"CoSQA not found under {args.data}: pass --data or set CODEHUNT_SHARED")
    import torch

    depths = [int(d) for d in args.depths.split(",")]
    lists = candidates(args.data, args.queries, max(depths))
    base = RerankConfig(batch_size=args.batch_size, max_length=args.max_length, precision="fp32")
    rescorer = load_rescorer(args.model, base)
    model = rescorer.model
    first_query, first_texts = lists[0]
    lengths = [len(ids) for ids in rescorer.tokenizer([first_query] * len(first_texts), first_texts)["input_ids"]]
    print(f"model {args.model}; {len(lists)} CoSQA queries, BM25 candidates; torch threads {torch.get_num_threads()}; "
          f"cpu fast bf16: {cpu_has_fast_bf16()}; batch {args.batch_size}; max_length {rescorer.max_length}, "
          f"query <= {rescorer.max_query_length} tokens")
    print(f"untruncated pair length (tokens) for query 1's candidates: median {int(np.median(lengths))}, "
          f"max {max(lengths)}")
    figures: dict = {"config": vars(args) | {"data": str(args.data), "json": str(args.json)}, "main": [], "ablation": []}

    print(f"\n{'depth':>5} {'precision':>9} {'p50 ms':>9} {'p95 ms':>9} {'pairs/s':>9}")
    for depth in depths:
        for precision in ("fp32", "bf16"):
            run = CrossEncoderRescorer(model, dataclasses.replace(base, precision=precision))
            row = {"depth": depth, "precision": precision, **time_queries(run, lists, depth)}
            figures["main"].append(row)
            print(f"{depth:>5} {precision:>9} {row['p50_ms']:>9.1f} {row['p95_ms']:>9.1f} {row['pairs_per_s']:>9.1f}")

    if not args.skip_ablation:
        best = "bf16" if cpu_has_fast_bf16() else "fp32"
        variants = [("as above", {}), ("unsorted batches", {"sort_by_length": False}),
                    ("max_length 128", {"max_length": 128}), ("max_length 512", {"max_length": 512})]
        print(f"\ndepth 50, {best}: one choice changed at a time")
        print(f"{'variant':>18} {'p50 ms':>9} {'p95 ms':>9} {'pairs/s':>9}")
        for label, change in variants:
            run = CrossEncoderRescorer(model, dataclasses.replace(base, precision=best, **change))
            row = {"variant": label, "precision": best, **time_queries(run, lists, 50)}
            figures["ablation"].append(row)
            print(f"{label:>18} {row['p50_ms']:>9.1f} {row['p95_ms']:>9.1f} {row['pairs_per_s']:>9.1f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
