"""Quality benchmark: every system on every dev set, side by side, in one run.

Rows: BM25, the untrained default encoder (dense), hybrid (RRF), and — when given — a
trained retriever (dense and hybrid), each optionally followed by a reranker. Columns:
nDCG@10, MRR@10, Recall@1, Recall@10 per set, plus search wall time. Indexes are cached
(``$CODEHUNT_CACHE``), so the embedding cost is paid once per (corpus, model).

    python benchmarks/quality.py [--retriever MODEL_DIR] [--reranker RERANKER_DIR] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codehunt.beir import load_beir
from codehunt.evaluate import open_or_build_index, run_queries
from index.metrics import evaluate_run

SETS = ("cosqa", "csn_ruby")
COLUMNS = ("ndcg_at_10", "mrr_at_10", "recall_at_1", "recall_at_10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--retriever", type=Path, help="trained retriever model dir (adds rows)")
    parser.add_argument("--reranker", type=Path, help="trained cross-encoder dir (adds +reranker rows)")
    parser.add_argument("--rerank-depth", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not (args.data / "cosqa").is_dir():
        sys.exit(f"no data at {args.data}: set CODEHUNT_SHARED")

    rescorer = None
    if args.reranker:
        from reranker.model import load_rescorer

        rescorer = load_rescorer(args.reranker)
    systems = [("BM25", "default", "bm25", False), ("dense (untrained default)", "default", "dense", False),
               ("hybrid (default + BM25)", "default", "hybrid", False)]
    if rescorer is not None:
        systems += [("BM25 + reranker", "default", "bm25", True), ("dense + reranker", "default", "dense", True),
                    ("hybrid + reranker", "default", "hybrid", True)]
    if args.retriever:
        model = str(args.retriever.resolve())
        systems += [("dense (trained retriever)", model, "dense", False), ("hybrid (trained + BM25)", model, "hybrid", False)]
        if rescorer is not None:
            systems += [("trained retriever + reranker", model, "dense", True)]

    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.sets:
        data = load_beir(args.data / name, "dev")
        for system, model, mode, rerank in systems:
            index = open_or_build_index(data.corpus_path, None, model, show_progress=True)
            started = time.perf_counter()
            run = run_queries(index, data.queries, mode, rescorer=rescorer if rerank else None, rerank_depth=args.rerank_depth)
            seconds = time.perf_counter() - started
            metrics = evaluate_run(data.qrels, run).aggregate
            results.setdefault(system, {})[name] = {**{c: metrics[c] for c in COLUMNS}, "seconds": seconds, "queries": len(data.queries)}
            print(f"{system:32s} {name:9s} ndcg@10={metrics['ndcg_at_10']:.4f} ({seconds:.1f}s)", file=sys.stderr)

    table = Table(title="Quality on dev splits (search time covers all queries; index build excluded)")
    table.add_column("system")
    for name in args.sets:
        for column in ("nDCG@10", "MRR@10", "R@1", "R@10", "time s"):
            table.add_column(f"{name} {column}", justify="right")
    for system, per_set in results.items():
        cells = []
        for name in args.sets:
            m = per_set[name]
            cells += [f"{m['ndcg_at_10']:.4f}", f"{m['mrr_at_10']:.4f}", f"{m['recall_at_1']:.4f}", f"{m['recall_at_10']:.4f}", f"{m['seconds']:.1f}"]
        table.add_row(system, *cells)
    Console(width=200).print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
