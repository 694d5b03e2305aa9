"""Reranker variants side by side: does each beat the first stage it reorders, on every dev set and first stage?

For every reranker directory given (different starts, objectives, teachers), on each dev set
(cosqa, csn_ruby) and each first stage (dense, bm25, hybrid), in one run:

* the first stage alone (nDCG@10),
* the reranker alone over the first stage's top ``--depth``,
* the combination ``codehunt train rerank-weight`` picks on these dev sets (RRF or score
  interpolation, one weight per first stage), with its paired-bootstrap 95% interval against the
  first stage, and the combination fit on the *other* set (leave-one-set-out: the honest
  estimate for data the weight was not fit on),
* ROC AUC on CoSQA's 604 human-labelled dev pairs beside the bi-encoder cosine's.

The cross-encoder scores each (query, candidate) once across first stages. Nothing is written into
the reranker directories unless ``--store`` is given (then each gets its fit, as ``rerank-weight`` would).

    flock /tmp/codehunt-heavy.lock python benchmarks/rerank_quality.py --reranker DIR [DIR ...] \\
        [--modes dense bm25 hybrid] [--depth 20] [--store] [--json out.json]
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

from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder
from codehunt.rerank_weight import fit_rerank_weight
from codehunt.reranker.evaluate import evaluate_bi_encoder_pointwise, evaluate_pointwise
from codehunt.reranker.model import load_rescorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
    parser.add_argument("--reranker", type=Path, nargs="+", required=True, help="cross-encoder dirs to compare")
    parser.add_argument("--sets", nargs="+", default=["cosqa", "csn_ruby"], help="BEIR folders under the shared data")
    parser.add_argument("--modes", nargs="+", default=["dense", "bm25", "hybrid"], choices=["dense", "bm25", "hybrid"])
    parser.add_argument("--depth", type=int, default=20, help="first-stage candidates each reranker rescores")
    parser.add_argument("--store", action="store_true", help="write each fit into its reranker directory")
    parser.add_argument("--objective", choices=["worst", "mean"], default="worst",
                        help="how the sets choose the combination (codehunt.rerank_weight.choose_combination)")
    parser.add_argument("--json", type=Path, help="also write every report here")
    args = parser.parse_args()
    folders = [data / name for name in args.sets]
    if not all((folder / "corpus.jsonl").is_file() for folder in folders):
        sys.exit(f"dev sets not found under {data}: set CODEHUNT_SHARED")
    pairs = data / "cosqa" / "extra" / "qa_dev_pairs.jsonl"

    started = time.perf_counter()
    bi_auc = evaluate_bi_encoder_pointwise(SentenceTransformerEncoder(EncoderConfig(model="default")), pairs)["auc"]
    reports, aucs, seconds = {}, {}, {}
    for path in args.reranker:
        began = time.perf_counter()
        aucs[str(path)] = evaluate_pointwise(load_rescorer(path), pairs)["auc"]
        reports[str(path)] = fit_rerank_weight(path, folders, args.modes, args.depth, write=args.store, objective=args.objective)
        seconds[str(path)] = time.perf_counter() - began
        print(f"{path}: AUC {aucs[str(path)]:.3f}, {seconds[str(path)]:.0f}s", file=sys.stderr)

    table = Table(title=f"Rerankers over each first stage's top {args.depth}, nDCG@10 on dev (bi-encoder cosine AUC {bi_auc:.3f})")
    for column in ("reranker", "AUC", "first stage", "set", "first stage alone", "reranker alone", "fit combination",
                   "vs first stage [95% CI]", "fit on other set"):
        table.add_column(column, justify="left" if column in ("reranker", "first stage", "set", "fit combination") else "right")
    for path, report in reports.items():
        for mode, fit_report in report["per_mode"].items():
            fit = fit_report["fit"]
            for name in fit["dev_sets"]:
                interval = fit["vs_first_stage"][name]
                other = fit["leave_one_set_out"].get(name)
                table.add_row(
                    Path(path).name, f"{aucs[path]:.3f}", mode, name, f"{fit['first_stage_ndcg_at_10'][name]:.4f}",
                    f"{fit['ndcg_at_10'][name]['reranker alone']:.4f}", fit_report["label"],
                    f"{interval['delta']:+.4f} [{interval['low']:+.4f}, {interval['high']:+.4f}]",
                    f"{other['ndcg_at_10']:.4f} ({other['fit_on_others']})" if other else "-",
                )
    Console(width=220).print(table)
    print(f"wall {time.perf_counter() - started:.0f}s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"bi_encoder_auc": bi_auc, "auc": aucs, "seconds": seconds, "reports": reports}, indent=1),
                             encoding="utf-8")


if __name__ == "__main__":
    main()
