"""Warm issue-localization latency: one issue on an already-indexed revision, reranking included.

What ``codehunt serve`` (or an agent's session) pays per issue once the revision's index, its unit table and
the models are loaded: embedding the issue's passages, the dense and BM25 lists, the evidence boosts, the
structure vote and the cross-encoder over the top ``rerank_depth`` units. Each SWE-bench Verified dev instance
whose repository is in ``--repos`` is localized twice: the first call builds the revision's unit table and call
graph (what serve caches per index generation), the second is timed. The issue is embedded by a model without
the on-disk embedding cache, so no run reads another's query vectors.

    flock /tmp/codehunt-heavy.lock python benchmarks/localize_latency.py --repos /tmp/swe-repos \\
        --only psf/requests,pytest-dev/pytest [--reranker DIR] [--model DIR]

The revisions must be indexed already (``benchmarks/localize.py`` builds and caches them): a missing index is
reported and skipped, not built, so the table never mixes in indexing time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from codehunt.localize import LocalizeConfig, UnitTable, read_instances, repo_directory, revision_index_path
from codehunt.localize.issue import localize_with_index
from codehunt.reranker.model import load_rescorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "swebench"
    parser.add_argument("--instances", type=Path, default=shared / "verified_dev.jsonl")
    parser.add_argument("--repos", type=Path, required=True, help="folder of owner__name git directories")
    parser.add_argument("--only", default="", help="comma-separated owner/name list (default: every repo present)")
    parser.add_argument("--reranker", type=Path, action="append", default=[], help="cross-encoder dir (repeatable): a row each")
    parser.add_argument("--model", default="default", help="embedding model the revisions were indexed with")
    parser.add_argument("--cache", type=Path, help="index cache (default $CODEHUNT_CACHE or ~/.cache/codehunt)")
    args = parser.parse_args()
    if not args.instances.is_file():
        sys.exit(f"no instances at {args.instances}: set CODEHUNT_SHARED or pass --instances")

    from codehunt.index.encoder import SentenceTransformerEncoder
    from codehunt.index.index import Index
    from codehunt.index.sources import resolve_revision
    from codehunt.localize.revisions import index_config_for

    config = LocalizeConfig(cache_dir=args.cache, model=args.model)
    encoder = SentenceTransformerEncoder(index_config_for(config).encoder)  # no embedding cache: the issue is embedded
    systems: list[tuple[str, LocalizeConfig, object]] = [("default (no reranker)", config, None)]
    for reranker in args.reranker:  # the stored combination, as `codehunt localize --rerank DIR` applies it
        systems.append((f"default + {reranker.name}", replace(config, rerank=reranker),
                        load_rescorer(reranker, mode=config.mode)))
    wanted = {name for name in args.only.split(",") if name}
    instances = [r for r in read_instances(args.instances)
                 if (not wanted or r["repo"] in wanted) and repo_directory(args.repos, r["repo"]).exists()]
    seconds: dict[str, list[float]] = {label: [] for label, _, _ in systems}
    skipped = 0
    for number, instance in enumerate(instances, start=1):
        repo = repo_directory(args.repos, instance["repo"])
        path = revision_index_path(repo, resolve_revision(repo, instance["base_commit"]), config)
        if not path.exists():
            skipped += 1
            continue
        index = Index.load(path, encoder)
        table = UnitTable(index)
        for label, system_config, rescorer in systems:
            localize_with_index(index, instance["problem_statement"], system_config, rescorer, table=table)  # warm-up
            began = time.perf_counter()
            localize_with_index(index, instance["problem_statement"], system_config, rescorer, table=table)
            seconds[label].append(time.perf_counter() - began)
        print(f"[{number}/{len(instances)}] {instance['instance_id']}: "
              + ", ".join(f"{label} {seconds[label][-1]:.2f}s" for label, _, _ in systems), file=sys.stderr)
    if not seconds[systems[0][0]]:
        sys.exit(f"no instance had its revision indexed under the cache: run benchmarks/localize.py first ({skipped} skipped)")
    table_out = Table(title=f"Warm localization latency per issue, {len(seconds[systems[0][0]])} issues "
                            f"(rerank depth {config.rerank_depth}; {skipped} without an index skipped)")
    for header in ("system", "p50 s", "p95 s", "max s", "mean s"):
        table_out.add_column(header, justify="left" if header == "system" else "right")
    for label, _, _ in systems:
        values = np.asarray(seconds[label])
        table_out.add_row(label, f"{np.percentile(values, 50):.2f}", f"{np.percentile(values, 95):.2f}",
                          f"{values.max():.2f}", f"{values.mean():.2f}")
    Console(width=160).print(table_out)


if __name__ == "__main__":
    main()
