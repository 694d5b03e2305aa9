"""Trained retrievers against the packaged model on every dev set, dense, with paired-bootstrap intervals.

    flock /tmp/codehunt-heavy.lock python benchmarks/retriever_eval.py --retriever MODEL_DIR [MODEL_DIR ...]
        [--repos /work/.mirror] [--json out.json]

Rows: BM25, the untrained default model (all-MiniLM-L6-v2), and each ``--retriever``. Columns per set: nDCG@10
and its change from the untrained model with a 95% paired-bootstrap interval (2,000 resamples of the queries)
and wins/losses. Sets: cosqa dev and csn_ruby dev (``../shared/data``), and, with ``--repos`` (git directories
of its repositories), the file-level code-search dev set (``codesearch_files``: dense search, files ranked by
the ``top3`` aggregation, nDCG@10 per query as its README defines it). Indexes are cached per (corpus, model)
(``$CODEHUNT_CACHE``), so the untrained rows cost nothing after the first run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from codehunt.index.metrics import MetricReport, evaluate_run, paired_bootstrap

from codehunt.beir import load_beir
from codehunt.codesearch_files import (
    checkout_source,
    find_git_dir,
    load_codesearch_files,
    score_queries,
)
from codehunt.index.paths import cache_root
from codehunt.evaluate import open_or_build_index, run_queries


def beir_report(data_dir: Path, name: str, model: str, mode: str) -> MetricReport:
    data = load_beir(data_dir / name, "dev")
    index = open_or_build_index(data.corpus_path, None, model)
    return evaluate_run(data.qrels, run_queries(index, data.queries, mode))


def codesearch_report(data_dir: Path, repos_dir: Path, model: str, mode: str) -> MetricReport:
    """Per-query file-level nDCG@10 over every repository of the code-search dev set (ids prefixed by repo)."""
    per_query: dict[str, float] = {}
    tag = "default" if model == "default" else hashlib.sha1(str(Path(model).resolve()).encode()).hexdigest()[:10]
    for repo in load_codesearch_files(data_dir / "codesearch_files"):
        git_dir = find_git_dir(repos_dir, repo.repository)
        if git_dir is None:
            sys.exit(f"no git directory for {repo.repository} under {repos_dir}: fetch it (owner__name or owner+name/repo)")
        source = checkout_source(repo, git_dir, cache_root() / "codesearch-src")
        suffix = "" if tag == "default" else f"-{tag}"
        index = open_or_build_index(source, cache_root() / "eval-indexes" / f"codesearch-{source.name}{suffix}", model)
        ranked = {qid: [f.path for f in index.search_files(text, 10, mode)] for qid, text in repo.queries.items()}
        per_query.update(score_queries(repo, ranked))
    return MetricReport({"ndcg_at_10": sum(per_query.values()) / len(per_query)},
                        {q: {"ndcg_at_10": v} for q, v in per_query.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retriever", type=Path, nargs="+", required=True, help="trained model directories")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data")
    parser.add_argument("--sets", nargs="+", default=["cosqa", "csn_ruby", "codesearch_files"])
    parser.add_argument("--repos", type=Path, help="git directories of the code-search set's repositories")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sets = [s for s in args.sets if s != "codesearch_files" or args.repos is not None]
    if len(sets) < len(args.sets):
        print("codesearch_files skipped: pass --repos DIR (git directories of its repositories)", file=sys.stderr)
    systems = {"BM25": ("default", "bm25"), "untrained (packaged MiniLM)": ("default", "dense")}
    systems.update({f"trained {path}": (str(path), "dense") for path in args.retriever})
    reports: dict[str, dict[str, MetricReport]] = {}
    for label, (model, mode) in systems.items():
        print(f"{label} ...", file=sys.stderr, flush=True)
        reports[label] = {name: (codesearch_report(args.data, args.repos, model, mode) if name == "codesearch_files"
                                 else beir_report(args.data, name, model, mode)) for name in sets}
    base = reports["untrained (packaged MiniLM)"]
    print("\n| system | " + " | ".join(f"{s} nDCG@10 | vs untrained [95% CI] w/l" for s in sets) + " |")
    print("|---|" + "---:|---|" * len(sets))
    figures = {}
    for label, per_set in reports.items():
        cells, figures[label] = [], {}
        for name in sets:
            change = paired_bootstrap(base[name], per_set[name])
            score = per_set[name].aggregate["ndcg_at_10"]
            cells += [f"{score:.4f}", f"{change.delta:+.4f} [{change.low:+.4f}, {change.high:+.4f}] {change.wins}/{change.losses}"]
            figures[label][name] = {"ndcg_at_10": score, "vs_untrained": vars(change)}
        print(f"| {label} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
