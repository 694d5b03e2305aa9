"""Pointwise quality of rerankers against the bi-encoder, on CoSQA's human-labelled dev pairs.

``cosqa/extra/qa_dev_pairs.jsonl`` holds 604 (query, code, label 0/1) judgements. Every
system scores every pair in one run: the bi-encoder by the cosine of its query and code
embeddings (the first stage's own notion of relevance), each reranker by its logit.
ROC AUC is threshold-free; accuracy is at the best threshold on the same pairs (an
optimistic bound, labelled as such).

    flock /tmp/codehunt-heavy.lock python benchmarks/rerank_pointwise.py --reranker DIR [DIR ...]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder
from codehunt.reranker.evaluate import evaluate_bi_encoder_pointwise, evaluate_pointwise
from codehunt.reranker.model import load_rescorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--pairs", type=Path, default=shared / "data" / "cosqa" / "extra" / "qa_dev_pairs.jsonl")
    parser.add_argument("--bi-encoder", default="default", help="bi-encoder baseline: 'default', a dir or a hub name")
    parser.add_argument("--reranker", type=Path, nargs="+", required=True, help="cross-encoder dirs to score")
    args = parser.parse_args()
    if not args.pairs.is_file():
        sys.exit(f"no labelled pairs at {args.pairs}: set CODEHUNT_SHARED or pass --pairs")

    rows = []
    started = time.perf_counter()
    rows.append((f"bi-encoder cosine ({args.bi_encoder})", evaluate_bi_encoder_pointwise(SentenceTransformerEncoder(EncoderConfig(model=args.bi_encoder)), args.pairs),
                 time.perf_counter() - started))
    for path in args.reranker:
        started = time.perf_counter()
        rows.append((f"cross-encoder {path}", evaluate_pointwise(load_rescorer(path), args.pairs), time.perf_counter() - started))

    table = Table(title=f"Pointwise, {args.pairs.name}: {rows[0][1]['pairs']} pairs, {rows[0][1]['positives']} positive")
    for column in ("system", "ROC AUC", "best-threshold accuracy (optimistic)", "seconds"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for name, metrics, seconds in rows:
        table.add_row(name, f"{metrics['auc']:.3f}", f"{metrics['best_accuracy']:.3f}", f"{seconds:.1f}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
