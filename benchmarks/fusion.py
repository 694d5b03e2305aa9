"""Fusion benchmark: every way of fusing dense and BM25, on every dev set, side by side, in one run.

Each query's dense and BM25 candidates (the default model, depth 100, one entry per unit) are computed once;
every fusion variant is then applied to the same candidates, so the rows differ only in the fusion. Sets: cosqa
dev and csn_ruby dev (nDCG@10 as ``codehunt eval`` computes it), and the file-level code-search dev set
(``codesearch_files``: nDCG@10 at chunk level and at file level, per category, as its README defines them).
The last table gives each variant's paired-bootstrap interval (95%, queries resampled) against dense alone and
against BM25 alone; the chosen default must have no interval entirely below zero on any set.

    python benchmarks/fusion.py --repos /work/.mirror [--sets cosqa csn_ruby codesearch_files] [--json out.json]

``--repos`` is a folder of git directories of the code-search repositories (``owner__name``,
``owner+name/repo`` or ``name``); without it that set is skipped, saying so.
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
from codehunt.codesearch_files import CATEGORIES, checkout_source, find_git_dir, load_codesearch_files, score_queries, summarise
from codehunt.index.paths import cache_root
from codehunt.evaluate import open_or_build_index
from codehunt.index.file_ranking import rank_files
from codehunt.index.fusion import FusionConfig, fuse
from codehunt.index.index import Index, hit_from_chunk
from codehunt.index.metrics import MetricReport, evaluate_run, paired_bootstrap
from codehunt.index.ranking import SearchConfig, rank_hybrid

DEPTH = 100


DEFAULT = "default: minmax w=0.8 + symbol, path, diversity"


def variants() -> dict[str, FusionConfig | SearchConfig | str]:
    """Every system of the table: the two halves, the previous RRF default, each fusion family at several
    weights (fusion alone), and the new default with each of its ranking features taken out in turn."""
    rows: dict[str, FusionConfig | SearchConfig | str] = {
        "bm25": "bm25", "dense": "dense", "rrf (previous default)": FusionConfig("rrf", 0.5)}
    for weight in (0.7, 0.8, 0.9):
        rows[f"rrf w={weight}"] = FusionConfig("rrf", weight)
    for how in ("minmax", "zscore"):
        for weight in (0.5, 0.6, 0.7, 0.8, 0.9):
            rows[f"{how} w={weight}"] = FusionConfig(how, weight)
    for prose, code in ((0.8, 0.3), (0.8, 0.5), (0.7, 0.3), (0.9, 0.3), (0.8, 0.1)):
        rows[f"auto (zscore, prose {prose} / code {code})"] = FusionConfig("auto", prose, code)
    default = SearchConfig()
    rows[DEFAULT] = default
    rows["  without symbol match"] = SearchConfig(symbol_boost=0.0)
    rows["  without path match"] = SearchConfig(path_boost=0.0)
    rows["  without file diversity"] = SearchConfig(file_diversity=0.0)
    rows["  with auto fusion"] = SearchConfig(fusion=FusionConfig("auto", 0.8, 0.5))
    rows["  with zscore fusion"] = SearchConfig(fusion=FusionConfig("zscore", 0.8))
    return rows


def candidate_lists(index: Index, queries: list[str]) -> tuple[list, list]:
    dense = index.candidate_rankings(queries, DEPTH, "dense")
    lexical = index.candidate_rankings(queries, DEPTH, "bm25")
    return dense, lexical


def ranked_positions(system: FusionConfig | SearchConfig | str, query: str, dense: list, lexical: list, chunks: list) -> list[tuple[int, float]]:
    if system == "dense":
        return dense
    if system == "bm25":
        return lexical
    if isinstance(system, SearchConfig):
        return rank_hybrid(dense, lexical, chunks, query, system)[:DEPTH]
    assert isinstance(system, FusionConfig)
    return fuse(dense, lexical, system, query)[:DEPTH]


def beir_rows(data_dir: Path, name: str, systems: dict) -> dict[str, MetricReport]:
    data = load_beir(data_dir / name, "dev")
    index = open_or_build_index(data.corpus_path, None, "default", show_progress=True)
    qids = list(data.queries)
    texts = [data.queries[q] for q in qids]
    dense, lexical = candidate_lists(index, texts)
    reports = {}
    for label, system in systems.items():
        run = {}
        for qid, text, d, b in zip(qids, texts, dense, lexical):
            ranking = ranked_positions(system, text, d, b, index.chunks)
            run[qid] = {index.chunks[pos].unit: float(len(ranking) - i) for i, (pos, _) in enumerate(ranking)}
        reports[label] = evaluate_run(data.qrels, run)
    return reports


def codesearch_rows(data_dir: Path, repos_dir: Path, systems: dict, aggregation: str) -> tuple[dict, dict, dict]:
    """Per system: chunk-level and file-level per-query nDCG@10 (ids prefixed by repo), and summaries."""
    repos = load_codesearch_files(data_dir / "codesearch_files")
    chunk_q: dict[str, dict[str, float]] = {label: {} for label in systems}
    file_q: dict[str, dict[str, float]] = {label: {} for label in systems}
    for repo in repos:
        git_dir = find_git_dir(repos_dir, repo.repository)
        if git_dir is None:
            sys.exit(f"no git directory for {repo.repository} under {repos_dir}: fetch it (owner__name or owner+name/repo)")
        source = checkout_source(repo, git_dir, cache_root() / "codesearch-src")
        started = time.perf_counter()
        index = open_or_build_index(source, cache_root() / "eval-indexes" / f"codesearch-{source.name}", "default", show_progress=True)
        qids = list(repo.queries)
        texts = [repo.queries[q] for q in qids]
        dense, lexical = candidate_lists(index, texts)
        print(f"  {repo.name}: {index.manifest.unit_count} units, {len(qids)} queries ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
        for label, system in systems.items():
            chunk_paths, file_paths = {}, {}
            for qid, text, d, b in zip(qids, texts, dense, lexical):
                ranking = ranked_positions(system, text, d, b, index.chunks)
                hits = [hit_from_chunk(index.chunks[pos], rank, score) for rank, (pos, score) in enumerate(ranking, start=1)]
                chunk_paths[qid] = [hit.path for hit in hits[:10]]
                file_paths[qid] = [f.path for f in rank_files(hits, aggregation, 10)]
            chunk_q[label].update(score_queries(repo, chunk_paths))
            file_q[label].update(score_queries(repo, file_paths))
    chunk_summary = {label: summarise(repos, values) for label, values in chunk_q.items()}
    file_summary = {label: summarise(repos, values) for label, values in file_q.items()}
    return {"chunk": chunk_q, "file": file_q}, chunk_summary, file_summary


def as_report(per_query: dict[str, float]) -> MetricReport:
    return MetricReport({"ndcg_at_10": sum(per_query.values()) / len(per_query)}, {q: {"ndcg_at_10": v} for q, v in per_query.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--data", type=Path, default=shared / "data")
    parser.add_argument("--sets", nargs="+", default=["cosqa", "csn_ruby", "codesearch_files"])
    parser.add_argument("--repos", type=Path, help="folder of git directories for the code-search set")
    parser.add_argument("--file-aggregation", default="top3", choices=["max", "top3", "decay"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not (args.data / "cosqa").is_dir():
        sys.exit(f"no data at {args.data}: set CODEHUNT_SHARED")
    systems = variants()
    per_set: dict[str, dict[str, MetricReport]] = {}
    summaries: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.sets:
        started = time.perf_counter()
        if name == "codesearch_files":
            if args.repos is None:
                print("codesearch_files skipped: pass --repos DIR (git directories of its repositories)", file=sys.stderr)
                continue
            per_query, chunk_summary, file_summary = codesearch_rows(args.data, args.repos, systems, args.file_aggregation)
            per_set["codesearch chunk"] = {label: as_report(v) for label, v in per_query["chunk"].items()}
            per_set["codesearch file"] = {label: as_report(v) for label, v in per_query["file"].items()}
            summaries["codesearch chunk"] = chunk_summary
            summaries["codesearch file"] = file_summary
        else:
            per_set[name] = beir_rows(args.data, name, systems)
            summaries[name] = {label: {"all": report.aggregate["ndcg_at_10"]} for label, report in per_set[name].items()}
        print(f"{name}: {time.perf_counter() - started:.0f}s", file=sys.stderr)

    console = Console(width=250)
    table = Table(title="nDCG@10 on the dev sets (same candidates for every row; codesearch: mean over repositories)")
    table.add_column("fusion")
    columns = []
    for name in summaries:
        keys = ["all"] + ([c for c in CATEGORIES] if name.startswith("codesearch") else [])
        columns += [(name, key) for key in keys]
        for key in keys:
            table.add_column(name if key == "all" else f"{name.split()[1]} {key}", justify="right")
    for label in systems:
        table.add_row(label, *(f"{summaries[name][label].get(key, float('nan')):.4f}" for name, key in columns))
    console.print(table)

    intervals = Table(title="paired bootstrap vs dense and vs BM25 (delta nDCG@10 [95% interval], per-query resampling)")
    intervals.add_column("fusion")
    for name in per_set:
        intervals.add_column(f"{name} vs dense", justify="right")
        intervals.add_column(f"{name} vs bm25", justify="right")
    for label in systems:
        cells = []
        for name, reports in per_set.items():
            for base in ("dense", "bm25"):
                d = paired_bootstrap(reports[base], reports[label])
                cells.append(f"{d.delta:+.4f} [{d.low:+.3f},{d.high:+.3f}]")
        intervals.add_row(label, *cells)
    console.print(intervals)
    if args.json:
        args.json.write_text(json.dumps(summaries, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
