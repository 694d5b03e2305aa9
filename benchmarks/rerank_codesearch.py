"""Rerankers on the file-level code-search dev set: does `codehunt search --level file --rerank DIR` beat its first stage?

The third dev set the reranker issue names, beside cosqa and csn_ruby (``benchmarks/rerank_quality.py``):
``../shared/data/codesearch_files`` (141 natural-language, architecture and symbol queries over seven real
repositories at pinned revisions; file-level nDCG@10 per query, averaged over repositories' queries as its README
defines). Each query runs what the CLI runs: the first stage's top 100 units, the reranker's stored combination
(``codehunt train rerank-weight``; nothing is fit here) over the top ``--rerank-depth``, files ranked from the
units (``top3``). Rows per first stage: the stage alone, then each reranker, with the paired-bootstrap 95%
interval against the stage alone and queries won/lost. Indexes are the default model's, cached per repository
(``$CODEHUNT_CACHE``/eval-indexes), the same ones ``benchmarks/retriever_eval.py`` and ``fusion.py`` use.

    flock /tmp/codehunt-heavy.lock python benchmarks/rerank_codesearch.py --repos /work/.mirror \\
        --reranker DIR [DIR ...] [--modes hybrid dense bm25] [--rerank-depth 50] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from codehunt.codesearch_files import checkout_source, find_git_dir, load_codesearch_files, score_queries
from codehunt.index.paths import cache_root
from codehunt.evaluate import open_or_build_index
from codehunt.index.file_ranking import rank_files
from codehunt.index.metrics import MetricReport, paired_bootstrap
from codehunt.pipeline import search_loaded
from codehunt.reranker.model import load_rescorer

SEARCH_DEPTH = 100
"""Units the first stage returns before files are ranked: what `codehunt search --level file` asks for."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=Path, required=True, help="git directories of the set's repositories")
    parser.add_argument("--reranker", type=Path, nargs="+", required=True, help="cross-encoder directories")
    parser.add_argument("--modes", nargs="+", default=["hybrid", "dense", "bm25"], choices=["hybrid", "dense", "bm25"])
    parser.add_argument("--rerank-depth", type=int, default=50, help="units each reranker rescores (the CLI's default: 50)")
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = args.data / "codesearch_files"
    if not folder.is_dir():
        sys.exit(f"{folder} not found: set CODEHUNT_SHARED to the shared folder")
    started = time.perf_counter()
    indexes = []
    for repo in load_codesearch_files(folder):
        git_dir = find_git_dir(args.repos, repo.repository)
        if git_dir is None:
            sys.exit(f"no git directory for {repo.repository} under {args.repos}: fetch it (owner__name or owner+name/repo)")
        source = checkout_source(repo, git_dir, cache_root() / "codesearch-src")
        indexes.append((repo, open_or_build_index(source, cache_root() / "eval-indexes" / f"codesearch-{source.name}", "default")))

    def report(mode: str, rescorer: object | None) -> MetricReport:
        per_query: dict[str, float] = {}
        for repo, index in indexes:
            ranked = {}
            for qid, text in repo.queries.items():
                hits = search_loaded(index, text, SEARCH_DEPTH, mode, rescorer, args.rerank_depth)
                ranked[qid] = [f.path for f in rank_files(hits, index.search_config.file_aggregation, 10)]
            per_query.update(score_queries(repo, ranked))
        return MetricReport({"ndcg_at_10": sum(per_query.values()) / len(per_query)},
                            {q: {"ndcg_at_10": v} for q, v in per_query.items()})

    figures: dict[str, dict[str, object]] = {}
    print("\n| first stage | system | code-search file nDCG@10 | vs first stage [95% CI] | won/lost | s |")
    print("|---|---|---:|---:|---:|---:|")
    for mode in args.modes:
        began = time.perf_counter()
        base = report(mode, None)
        figures[mode] = {"first stage": base.aggregate["ndcg_at_10"]}
        print(f"| {mode} | first stage alone | {base.aggregate['ndcg_at_10']:.4f} | - | - | {time.perf_counter() - began:.0f} |", flush=True)
        for path in args.reranker:
            began = time.perf_counter()
            rescorer = load_rescorer(path, mode=mode)
            reranked = report(mode, rescorer)
            change = paired_bootstrap(base, reranked)
            figures[mode][str(path)] = {"ndcg_at_10": reranked.aggregate["ndcg_at_10"], "vs_first_stage": vars(change),
                                        "combination": str(rescorer.config)}
            print(f"| {mode} | {path.name} (stored combination) | {reranked.aggregate['ndcg_at_10']:.4f} | "
                  f"{change.delta:+.4f} [{change.low:+.4f}, {change.high:+.4f}] | {change.wins}/{change.losses} | "
                  f"{time.perf_counter() - began:.0f} |", flush=True)
    print(f"wall {time.perf_counter() - started:.0f}s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
