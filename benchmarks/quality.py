"""Quality benchmark: every system on every dev set, side by side, in one run.

Rows: BM25, the untrained default encoder (dense), hybrid (RRF), and — when given — a
trained retriever (dense and hybrid), each optionally followed by a reranker — alone, or
fused with the first stage's order at each ``--rerank-fusion`` weight. Columns: nDCG@10,
MRR@10, Recall@1, Recall@10 per set, plus search wall time. Indexes are cached
(``$CODEHUNT_CACHE``), so the embedding cost is paid once per (corpus, model).

    python benchmarks/quality.py [--retriever MODEL_DIR] [--reranker RERANKER_DIR [--rerank-fusion 0 1 2]
        [--rerank-modes bm25 dense] [--rerank-depth 30]] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from codehunt.beir import load_beir
from codehunt.evaluate import open_or_build_index, run_queries
from codehunt.index.metrics import evaluate_run
from codehunt.reranker.config import RerankConfig
from codehunt.reranker.model import CrossEncoderRescorer, load_rescorer

SETS = ("cosqa", "csn_ruby")
COLUMNS = ("ndcg_at_10", "mrr_at_10", "recall_at_1", "recall_at_10")


class MemoizedRescorer(CrossEncoderRescorer):
    """``plain``'s model under another ``config``, with cross-encoder scores shared through ``memo``.

    Rows that differ only in how the reranker's and the first stage's orders are fused then
    pay for the cross-encoder once per (query, candidate): the first such row's time is the
    reranking cost, the later rows' time is the fusion alone.
    """

    def __init__(self, plain: CrossEncoderRescorer, config: RerankConfig, memo: dict[tuple[str, str], float]):
        super().__init__(plain.model, config, name=plain.name, trained_query_length=plain.max_query_length)
        self.plain = plain
        self.memo = memo

    def rescore_texts(self, query: str, texts: Sequence[str]) -> np.ndarray:
        missing = [text for text in dict.fromkeys(texts) if (query, text) not in self.memo]
        if missing:
            for text, score in zip(missing, self.plain.rescore_texts(query, missing)):
                self.memo[(query, text)] = float(score)
        return np.array([self.memo[(query, text)] for text in texts], dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--retriever", type=Path, help="trained retriever model dir (adds rows)")
    parser.add_argument("--reranker", type=Path, help="trained cross-encoder dir (adds +reranker rows)")
    parser.add_argument("--rerank-depth", type=int, default=50)
    parser.add_argument("--rerank-fusion", type=float, nargs="*", default=[0.0],
                        help="first-stage weights to fuse with the reranker's order (one row each; 0 = reranker alone)")
    parser.add_argument("--rerank-modes", nargs="+", default=["bm25", "dense", "hybrid"], choices=["bm25", "dense", "hybrid"],
                        help="first stages of the default model to rerank (one row each)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not (args.data / "cosqa").is_dir():
        sys.exit(f"no data at {args.data}: set CODEHUNT_SHARED")

    rescorers: dict[str, MemoizedRescorer] = {}
    if args.reranker:
        plain = load_rescorer(args.reranker)
        memo: dict[tuple[str, str], float] = {}
        for weight in args.rerank_fusion:
            label = "reranker" if weight == 0 else f"reranker fused w={weight:g}"
            rescorers[label] = MemoizedRescorer(plain, RerankConfig(first_stage_weight=weight), memo)
    systems = [("BM25", "default", "bm25", None), ("dense (untrained default)", "default", "dense", None),
               ("hybrid (default + BM25)", "default", "hybrid", None)]
    stage_names = {"bm25": "BM25", "dense": "dense", "hybrid": "hybrid"}
    for label in rescorers:
        systems += [(f"{stage_names[mode]} + {label}", "default", mode, label) for mode in args.rerank_modes]
    if args.retriever:
        model = str(args.retriever.resolve())
        systems += [("dense (trained retriever)", model, "dense", None), ("hybrid (trained + BM25)", model, "hybrid", None)]
        systems += [(f"trained retriever + {label}", model, "dense", label) for label in rescorers]

    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.sets:
        data = load_beir(args.data / name, "dev")
        for system, model, mode, rerank in systems:
            index = open_or_build_index(data.corpus_path, None, model, show_progress=True)
            started = time.perf_counter()
            run = run_queries(index, data.queries, mode, rescorer=rescorers.get(rerank) if rerank else None, rerank_depth=args.rerank_depth)
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
