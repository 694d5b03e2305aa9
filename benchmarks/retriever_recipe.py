"""The retriever recipe, end to end on CPU, with its ablation — one command.

    flock /tmp/codehunt-heavy.lock python benchmarks/retriever_recipe.py --work /tmp/recipe [--swe-repos DIR]

1. Mine pairs from real sources: the installed standard library's docstrings (positives
   without their docstrings as in CodeSearchNet, or with them: ``--keep-docstring``), CoNaLa's
   training pairs (``../shared/data/conala``), their queries as written or rewritten as
   search-box queries (``--query-style web``), and — with ``--swe-repos`` — SWE-bench
   Verified dev issues of the repositories found there.
2. Consistency-filter them (CoRNStack, top-2) and mine hard negatives (dense + BM25).
3. Train one retriever per ablation variant (same data, steps, seed) and evaluate each,
   dense, on cosqa dev and csn_ruby dev, next to BM25 and the untrained model, in this run;
   each row's nDCG@10 change from the untrained model comes with a 95% paired-bootstrap interval.

Every step is a ``codehunt`` command, so each one can be re-run by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codehunt.beir import load_beir
from codehunt.evaluate import open_or_build_index, run_queries
from codehunt.index.metrics import MetricReport, evaluate_run, paired_bootstrap
from codehunt.mining.query_style import QUERY_STYLES

VARIANTS: dict[str, list[str]] = {
    "in-batch only": ["--queue-size", "0", "--hard-negatives", "0"],
    "+ queue (MoCo)": ["--hard-negatives", "0"],
    "+ hard negatives": [],
    "+ hard negatives, negatives without gradient": ["--no-negative-grad"],  # faster; measured against "+ hard negatives"
    # Fewer negatives, and negatives without the queue: what each costs per pair, and whether the queue or the
    # negatives cost cosqa (the "+ hard negatives" row carries both).
    "+ hard negatives (1)": ["--hard-negatives", "1"],
    "in-batch + hard negatives (3), no queue": ["--queue-size", "0", "--hard-negatives", "3"],
    "in-batch + hard negatives (1), no queue": ["--queue-size", "0", "--hard-negatives", "1"],
    # The next rows add one option each to "+ queue" (not to "+ hard negatives", which trains 4x slower on CPU).
    "queue + augmentation": ["--hard-negatives", "0", "--augment", "all", "--intra-modal"],
    "queue + DCL": ["--hard-negatives", "0", "--loss", "dcl"],
    "queue + MoCHi": ["--hard-negatives", "0", "--mochi", "64,16,8"],
}

PAIRED_COMPARISONS = [
    ("+ hard negatives", "+ hard negatives, negatives without gradient"),
    ("+ hard negatives", "+ hard negatives (1)"),
    ("in-batch only", "in-batch + hard negatives (3), no queue"),
    ("in-batch only", "in-batch + hard negatives (1), no queue"),
]
"""(reference row, cheaper or narrower row) pairs compared query by query after the table, when both ran."""


def codehunt(*args: str) -> None:
    print("$ codehunt " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "codehunt", *args], check=True)


def evaluate_reports(data_dir: Path, sets: list[str], model: str, mode: str) -> dict[str, MetricReport]:
    """Per-set metric reports (aggregate and per query) of one model, dense or BM25, on the dev splits."""
    reports = {}
    for name in sets:
        data = load_beir(data_dir / name, "dev")
        index = open_or_build_index(data.corpus_path, None, model)
        reports[name] = evaluate_run(data.qrels, run_queries(index, data.queries, mode))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/codehunt-recipe"))
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data")
    parser.add_argument("--swe-repos", type=Path, help="folder of owner__name git repos for SWE-bench issue pairs")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="which ablation rows to train")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--queue-size", type=int, default=1024)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--sets", nargs="+", default=["cosqa", "csn_ruby"])
    parser.add_argument("--keep-docstring", action="store_true",
                        help="stdlib positives keep their docstrings, as CoSQA's code does (use another --work)")
    parser.add_argument("--drop-summary", action="store_true",
                        help="with --keep-docstring: positives keep their docstrings without the summary the query came from")
    parser.add_argument("--query-style", choices=QUERY_STYLES, default="as-is",
                        help="web: mined queries rewritten as search-box queries, as CoSQA's are (use another --work)")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)

    pairs = work / "pairs.jsonl"
    if not pairs.is_file():
        stdlib = sysconfig.get_paths()["stdlib"]
        style = ["--query-style", args.query_style]
        exclusions = args.data / "training_exclusions.txt"  # leakage rules: excluded projects dropped and counted
        style += ["--exclusions", str(exclusions)] if exclusions.is_file() else []
        codehunt("mine", "pairs", stdlib, "--kind", "docstring", "-o", str(work / "pairs.stdlib.jsonl"), *style,
                 *(["--keep-docstring"] if args.keep_docstring else []), *(["--drop-summary"] if args.drop_summary else []))
        codehunt("mine", "pairs", str(args.data / "conala" / "train_pairs.jsonl"), "--kind", "file",
                 "-o", str(work / "pairs.conala.jsonl"), *style)
        parts = [work / "pairs.stdlib.jsonl", work / "pairs.conala.jsonl"]
        if args.swe_repos:
            codehunt("mine", "pairs", str(args.data / "swebench" / "verified_dev.jsonl"), "--kind", "issues",
                     "--repos", str(args.swe_repos), "-o", str(work / "pairs.swebench.jsonl"))
            parts.append(work / "pairs.swebench.jsonl")
        pairs.write_text("".join(p.read_text(encoding="utf-8") for p in parts), encoding="utf-8")
    triples = work / "triples.jsonl"
    if not triples.is_file():
        codehunt("mine", "filter", str(pairs), "-o", str(work / "pairs.filtered.jsonl"), "--cache-dir", str(work / "cache"))
        codehunt("mine", "negatives", str(work / "pairs.filtered.jsonl"), "-o", str(triples), "--cache-dir", str(work / "cache"))

    base_reports = evaluate_reports(args.data, args.sets, "default", "dense")
    rows: list[tuple[str, dict[str, MetricReport], dict | None]] = [
        ("BM25", evaluate_reports(args.data, args.sets, "default", "bm25"), None),
        ("untrained default (dense)", base_reports, None),
    ]
    common = ["--steps", str(args.steps), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
              "--queue-size", str(args.queue_size), "--max-seq-length", str(args.max_seq_length), "--overwrite"]
    for name in args.variants:
        model_dir = work / "models" / name.replace(" ", "_").replace("+", "plus").replace("(", "").replace(")", "")
        if not (model_dir / "codehunt_training.json").is_file():
            codehunt("train", "retriever", str(triples), "-o", str(model_dir), *common, *VARIANTS[name])
        info = json.loads((model_dir / "codehunt_training.json").read_text(encoding="utf-8"))
        rows.append((name, evaluate_reports(args.data, args.sets, str(model_dir.resolve()), "dense"), info))
        print(f"{name}: {({s: rows[-1][1][s].aggregate['ndcg_at_10'] for s in args.sets})}", file=sys.stderr, flush=True)

    title = (f"Retriever ablation: {args.steps} steps x {args.batch_size} pairs, lr {args.lr}, query style "
             f"{args.query_style}, dense search, dev splits; delta = nDCG@10 minus the untrained model's, "
             "[95% paired bootstrap interval], queries won/lost")
    table = Table(title=title)
    table.add_column("system")
    for name in args.sets:
        table.add_column(f"{name} nDCG@10", justify="right")
        table.add_column(f"{name} MRR@10", justify="right")
        table.add_column(f"{name} delta", justify="right")
    table.add_column("train pairs/s", justify="right")
    table.add_column("peak RSS MB", justify="right")
    records = []
    for name, reports, info in rows:
        cells, record = [], {"system": name, "metrics": {}, "training": info}
        for s in args.sets:
            report = reports[s]
            change = paired_bootstrap(base_reports[s], report)
            cells += [f"{report.aggregate['ndcg_at_10']:.4f}", f"{report.aggregate['mrr_at_10']:.4f}",
                      f"{change.delta:+.4f} [{change.low:+.4f}, {change.high:+.4f}] {change.wins}/{change.losses}"]
            record["metrics"][s] = {k: report.aggregate[k] for k in ("ndcg_at_10", "mrr_at_10", "recall_at_10")}
            record["metrics"][s]["ndcg_at_10_vs_untrained"] = vars(change)
        cells += [f"{info['pairs_per_second']:.1f}", f"{info['peak_rss_mb']:.0f}"] if info else ["-", "-"]
        table.add_row(name, *cells)
        records.append(record)
    Console(width=240).print(table)
    by_name = {name: reports for name, reports, _ in rows}
    for reference, variant in PAIRED_COMPARISONS:  # is the cheaper row within noise of the one it replaces?
        if variant in by_name and reference in by_name:
            for s in args.sets:
                change = paired_bootstrap(by_name[reference][s], by_name[variant][s])
                print(f"{s}: '{variant}' minus '{reference}' nDCG@10 {change.delta:+.4f} "
                      f"[{change.low:+.4f}, {change.high:+.4f}] {change.wins}/{change.losses}")
    (work / "ablation.json").write_text(json.dumps(records, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
