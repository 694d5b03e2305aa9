"""Issue-localization benchmark: every step of ``codehunt localize`` switched on one at a time, in one run.

On the SWE-bench Verified dev instances (``shared/data/swebench/verified_dev.jsonl``) whose
repositories are in ``--repos`` (``owner__name`` git directories, bare or not), each
instance's repository is indexed at its ``base_commit`` (cached per commit, embeddings
cached by text, so later revisions only embed what changed), then every row below ranks the
same candidates:

* BM25 on the whole issue text (the usual baseline), and on its code identifiers + title;
* dense on the issue truncated to the encoder window, and on passages with MaxP;
* hybrid (RRF of the chosen dense and BM25 sides);
* + traceback-frame, + path, + identifier boosts, each alone, then all together;
* the default configuration (``LocalizeConfig()``), and its file ranking aggregated by ``rrf``;
* + the vote of earlier commits with similar messages (``codehunt.localize.history``, BugLocator) at several weights;
* the default's vote of the best candidates for themselves and their callers and callees
  (``codehunt.localize.structure``, weight 0.5) at other weights, 0 (off) among them;
* the default's vote of the best candidate methods for their class and its ``__init__`` (``structure.constructor_votes``,
  weight 0.25) off, for the ``__init__`` only, and at other weights;
* the default's vote of the best candidates for their file's module-level unit (``structure.module_votes``,
  weight 1) off and at other weights;
* with ``--model DIR`` (repeatable): dense, hybrid and the default again over an index built with that model
  (a localization retriever trained on ``benchmarks/fix_pairs.py``'s pairs);
* + each cross-encoder reranker given with ``--reranker`` (repeatable): alone, RRF-fused with the first stage
  (w=1), and with the combination stored in its directory (``codehunt train rerank-weight``; what ``--rerank DIR``
  applies; over the top 10, the default depth, whose set is then the first stage's, so function Acc@10 cannot
  move), that combination over the top 30, and reading the issue's identifiers + title instead of its text
  (``--rerank-query code``); with ``--model`` as well, each model's default + each reranker's stored combination.

Metrics (CoRNStack / SweRank): file Acc@1/3/5, function Acc@5/10 (a hit needs *all* gold
items in the top k), Recall@10 and MRR; see ``codehunt.localize.resolve_gold`` for how gold
units are matched. Test files are left out, as in SWE-bench.

    flock /tmp/codehunt-heavy.lock python benchmarks/localize.py --repos /tmp/swe-repos \\
        [--only psf/requests,pallets/flask] [--reranker DIR ...] [--model DIR ...] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codehunt.issue_text import extract_evidence
from codehunt.localize import (
    LocalizeConfig,
    UnitTable,
    aggregate_metrics,
    bm25_ranking,
    dense_ranking,
    files_at,
    make_encoder,
    rank_issue,
    read_gold,
    read_instances,
    repo_directory,
    revision_index,
    score_instance,
)
from codehunt.localize.history import history_votes
from codehunt.reranker.model import load_rescorer

COLUMNS = (
    ("file_acc_at_1", "file Acc@1"), ("file_acc_at_3", "file Acc@3"), ("file_acc_at_5", "file Acc@5"), ("file_mrr", "file MRR"),
    ("function_acc_at_5", "fn Acc@5"), ("function_acc_at_10", "fn Acc@10"), ("function_recall_at_10", "fn R@10"),
    ("function_mrr", "fn MRR"),
)


HISTORY_WEIGHTS = (0.25, 0.5, 1.0, 2.0)
"""Weights of the earlier-similar-commits vote tried (``codehunt.localize.history``), each a row."""
STRUCTURE_WEIGHTS = (0.0, 0.25, 1.0)
"""Weights of the callers-and-callees vote tried beside the default's 0.5 (``codehunt.localize.structure``), each a row."""
CONSTRUCTOR_WEIGHTS = (0.25, 0.5)
"""Weights of the methods-vote-for-their-constructor signal tried without the class unit (``constructor_class``
off), each a row."""
CLASS_CONSTRUCTOR_WEIGHTS = (0.5, 1.0)
"""Weights tried for the vote going to the class unit and its ``__init__`` beside the default's 0.25."""
MODULE_WEIGHTS = (0.0, 0.5, 2.0)
"""Weights tried for the vote of the best candidates for their file's module-level unit (``structure.module_votes``)
beside the default's 1; 0 is off."""


def rows(default: LocalizeConfig, rerankers: list[Path] | None = None, models: list[str] | None = None) -> list[tuple[str, LocalizeConfig]]:
    """(label, config) per table row; list variants are keyed by the config's query fields."""
    plain = replace(default, boosts=False, structure_weight=0.0, constructor_weight=0.0, module_weight=0.0)
    none = replace(default, boosts=True, frame_weight=0.0, path_weight=0.0, name_weight=0.0, structure_weight=0.0,
                   constructor_weight=0.0, module_weight=0.0)
    result = [
        ("BM25, whole issue", replace(plain, mode="bm25", bm25_query="full")),
        ("BM25, identifiers + title", replace(plain, mode="bm25", bm25_query="code")),
        ("dense, truncated issue", replace(plain, mode="dense", dense_query="truncate")),
        ("dense, passages (MaxP)", replace(plain, mode="dense", dense_query="max")),
        ("dense, passage mean", replace(plain, mode="dense", dense_query="mean")),
        ("hybrid, whole issue", replace(plain, bm25_query="full", dense_query="truncate")),
        ("hybrid (MaxP + identifiers)", plain),
        ("hybrid + frame boost", replace(none, frame_weight=1.0)),
        ("hybrid + path boost", replace(none, path_weight=0.5)),
        ("hybrid + name boost", replace(none, name_weight=0.5)),
        ("hybrid + frame + path + name", replace(none, frame_weight=1.0, path_weight=0.5, name_weight=0.5)),
        ("default", default),
        *[(f"default + history (w={w:g})", replace(default, history_weight=w)) for w in HISTORY_WEIGHTS],
        *[(f"default, structure w={w:g}", replace(default, structure_weight=w)) for w in STRUCTURE_WEIGHTS],
        ("default, class + constructor vote off", replace(default, constructor_weight=0.0)),
        *[(f"default, constructor only w={w:g}", replace(default, constructor_weight=w, constructor_class=False))
          for w in CONSTRUCTOR_WEIGHTS],
        *[(f"default, class + constructor w={w:g}", replace(default, constructor_weight=w, constructor_class=True))
          for w in CLASS_CONSTRUCTOR_WEIGHTS],
        *[(f"default, module vote w={w:g}", replace(default, module_weight=w)) for w in MODULE_WEIGHTS],
        *[(f"default, dense query {how}", replace(default, dense_query=how)) for how in ("truncate", "mean")],
        ("default, files by rrf (k=5)", replace(default, file_aggregation="rrf", file_rrf_k=5)),
    ]
    for reranker in rerankers or []:
        name = reranker.name
        result.append((f"default + {name} alone", replace(default, rerank=reranker, rerank_fusion=0.0)))
        result.append((f"default + {name} fused with first stage (w=1)", replace(default, rerank=reranker, rerank_fusion=1.0)))
        result.append((f"default + {name}, its stored combination", replace(default, rerank=reranker)))
        result.append((f"default + {name}, stored, depth 30", replace(default, rerank=reranker, rerank_depth=30)))
        result.append((f"default + {name}, stored, query = identifiers + title",
                       replace(default, rerank=reranker, rerank_query="code")))
    for model in models or []:
        name = Path(model).name
        trained = replace(default, model=model)
        result.append((f"{name}: dense, passages (MaxP)", replace(trained, boosts=False, structure_weight=0.0, constructor_weight=0.0, module_weight=0.0, mode="dense", dense_query="max")))
        result.append((f"{name}: hybrid (MaxP + identifiers)", replace(trained, boosts=False, structure_weight=0.0, constructor_weight=0.0, module_weight=0.0)))
        result.append((f"{name}: default", trained))
        for reranker in rerankers or []:
            result.append((f"{name}: default + {reranker.name}, its stored combination", replace(trained, rerank=reranker)))
    return result


PAIRED_METRICS = (("file_acc_at_1", "file Acc@1"), ("function_acc_at_10", "fn Acc@10"))


def print_paired_differences(results: dict[str, list], labels: list[str], baseline: str = "default") -> None:
    """Each row minus the default, per instance, with a 95% paired-bootstrap interval and instance wins/losses:
    on a few dozen instances one instance is several points, and the interval says how little that proves."""
    from codehunt.index.metrics import MetricReport, paired_bootstrap

    def report(label: str, metric: str) -> MetricReport:
        per = {r.instance_id: {metric: r.metrics.get(metric, 0.0)} for r in results[label] if metric in r.metrics}
        return MetricReport({}, per)

    table = Table(title=f"Paired differences against '{baseline}' (95% bootstrap interval; instances won / lost)")
    table.add_column("system")
    for _, header in PAIRED_METRICS:
        table.add_column(header, justify="right")
    for label in labels:
        if label == baseline:
            continue
        cells = []
        for metric, _ in PAIRED_METRICS:
            base, other = report(baseline, metric), report(label, metric)
            if not base.per_query or set(base.per_query) != set(other.per_query):
                cells.append("-")
                continue
            d = paired_bootstrap(base, other, metric)
            cells.append(f"{100 * d.delta:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}] {d.wins}/{d.losses}")
        table.add_row(label, *cells)
    Console(width=200).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "swebench"
    parser.add_argument("--instances", type=Path, default=shared / "verified_dev.jsonl")
    parser.add_argument("--gold", type=Path, default=shared / "verified_dev_gold.jsonl")
    parser.add_argument("--repos", type=Path, required=True, help="folder of owner__name git directories")
    parser.add_argument("--only", default="", help="comma-separated owner/name list (default: every repo present)")
    parser.add_argument("--reranker", type=Path, action="append", default=[],
                        help="cross-encoder dir (repeatable): 3 rows each, and one per --model")
    parser.add_argument("--model", action="append", default=[],
                        help="another embedding model (e.g. a localization retriever): its own index per revision, 3 rows")
    parser.add_argument("--cache", type=Path, help="index + embedding cache (default $CODEHUNT_CACHE or ~/.cache/codehunt)")
    parser.add_argument("--json", type=Path, help="also write aggregate, per-repo and per-instance results here")
    args = parser.parse_args()
    if not args.instances.is_file():
        sys.exit(f"no instances at {args.instances}: set CODEHUNT_SHARED or pass --instances")

    started = time.perf_counter()
    default = LocalizeConfig(cache_dir=args.cache)
    table_rows = rows(default, args.reranker, args.model)
    rescorers = {  # the stored combination is the hybrid stage's, as `codehunt localize --rerank DIR` reads it
        (reranker, fusion): load_rescorer(reranker, first_stage_weight=fusion, mode=default.mode)
        for reranker in args.reranker for fusion in (0.0, 1.0, None)
    }
    gold = read_gold(args.gold)
    wanted = {name for name in args.only.split(",") if name}
    instances = [
        r for r in read_instances(args.instances)
        if (not wanted or r["repo"] in wanted) and repo_directory(args.repos, r["repo"]).exists() and r["instance_id"] in gold
    ]
    if not instances:
        sys.exit(f"no instance has its repository under {args.repos}")
    models = list(dict.fromkeys([default.model, *(config.model for _, config in table_rows)]))
    encoders = {model: make_encoder(replace(default, model=model)) for model in models}
    results: dict[str, list] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    build_seconds = history_seconds = 0.0
    for number, instance in enumerate(instances, start=1):
        repo = repo_directory(args.repos, instance["repo"])
        began = time.perf_counter()
        tables = {}
        for model, encoder in encoders.items():
            index = revision_index(repo, instance["base_commit"], replace(default, model=model), encoder)
            tables[model] = UnitTable(index)
        build_seconds += time.perf_counter() - began
        table = tables[default.model]
        issue = instance["problem_statement"]
        evidence = extract_evidence(issue)
        present = files_at(repo, instance["base_commit"])
        began = time.perf_counter()
        votes = history_votes(repo, instance["base_commit"], issue, replace(default, history_weight=1.0), set(table.paths))
        history_seconds += time.perf_counter() - began
        lists: dict[tuple[str, str, int, str], list[str]] = {}
        for label, config in table_rows:
            began = time.perf_counter()
            table = tables[config.model]
            key_dense = ("dense", config.dense_query, config.passage_chars, config.model)
            key_bm25 = ("bm25", config.bm25_query, 0, config.model)
            if config.mode != "bm25" and key_dense not in lists:
                lists[key_dense] = dense_ranking(table, issue, config)
            if config.mode != "dense" and key_bm25 not in lists:
                lists[key_bm25] = bm25_ranking(table, issue, evidence, config)
            given = {"dense": lists.get(key_dense, []), "bm25": lists.get(key_bm25, [])}
            ranking = rank_issue(table, issue, config, rescorers.get((config.rerank, config.rerank_fusion)) if config.rerank else None, given,
                                 history=votes if config.history_weight > 0 else None)
            seconds[label] += time.perf_counter() - began
            results[label].append(score_instance(instance, table, ranking, gold[instance["instance_id"]], present, config.include_tests))
        last = results["default"][-1].metrics
        print(f"[{number}/{len(instances)}] {instance['instance_id']}: default file_mrr={last.get('file_mrr', 0):.2f} "
              f"fn_mrr={last.get('function_mrr', 0):.2f}", file=sys.stderr)

    repos = sorted({r["repo"] for r in instances})
    counts = {repo: sum(1 for r in instances if r["repo"] == repo) for repo in repos}
    aggregates = {label: aggregate_metrics(results[label]) for label, _ in table_rows}
    title = (f"Issue localization, SWE-bench Verified dev: {len(instances)} instances of "
             + ", ".join(f"{repo.split('/')[1]} {n}" for repo, n in counts.items()))
    table = Table(title=title)
    table.add_column("system")
    for _, header in COLUMNS:
        table.add_column(header, justify="right")
    table.add_column("rank s", justify="right")
    for label, _ in table_rows:
        agg = aggregates[label]
        table.add_row(label, *[f"{100 * agg.get(key, 0.0):.1f}" for key, _ in COLUMNS], f"{seconds[label]:.1f}")
    Console(width=200).print(table)
    print_paired_differences(results, [label for label, _ in table_rows])
    wall = time.perf_counter() - started
    print(f"instances {len(instances)} (file level {int(aggregates[table_rows[0][0]]['file_instances'])}, function level "
          f"{int(aggregates[table_rows[0][0]]['function_instances'])}); index build/load {build_seconds:.0f}s; history votes {history_seconds:.1f}s; wall {wall:.0f}s")
    if args.json:
        per_repo = {
            label: {repo: aggregate_metrics([r for r in results[label] if r.repo == repo]) for repo in repos} for label, _ in table_rows
        }
        payload = {
            "instances": len(instances), "repos": counts, "wall_seconds": wall, "index_seconds": build_seconds,
            "aggregate": aggregates, "per_repo": per_repo, "rank_seconds": dict(seconds),
            "per_instance": {label: [r.to_json() for r in results[label]] for label, _ in table_rows},
        }
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
