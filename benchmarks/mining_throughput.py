"""Mine, filter and hard-negative the docstring pairs of the installed Python standard library.

Prints pairs/s for mining, filtering and negative mining, the peak resident memory after
each stage, the share of pairs the consistency filter drops, and 20 kept and 20 dropped
pairs to check by hand. Run it under the heavy-job lock:

    flock /tmp/codehunt-heavy.lock python benchmarks/mining_throughput.py --limit 4000

The stdlib is copied (``*.py`` only, test directories excluded) into the work folder first:
``iter_directory`` lists a directory inside a git work tree with ``git ls-files``, and a
pyenv-installed stdlib lives inside pyenv's own repository, which ignores it.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path

# This file is named like the package it measures: drop its own folder from the import path so
# `import mining` finds the package, not this script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

EXCLUDED_DIRS = {"test", "tests", "idle_test", "site-packages", "__pycache__", "lib2to3", "turtledemo"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def copy_stdlib(target: Path) -> int:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    count = 0
    for path in sorted(stdlib.rglob("*.py")):
        relative = path.relative_to(stdlib)
        if any(part in EXCLUDED_DIRS for part in relative.parts[:-1]) or relative.parts[0].startswith("test"):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        count += 1
    return count


def show(record: dict, extra: str = "") -> str:
    code = "\n".join(record["positive"].split("\n")[:4])
    return f"  [{record['path']}::{record['qualname']}]{extra}\n  Q: {record['query']}\n" + textwrap.indent(code, "    | ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="cap the number of mined pairs")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temp dir)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--num-negatives", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from codehunt.index.encoder import EncoderConfig, SentenceTransformerEncoder
    from codehunt.mining.filter import FilterConfig, filter_consistent_pairs
    from codehunt.mining.negatives import NegativesConfig, mine_negatives
    from codehunt.mining.pairs import PairsConfig, mine_pairs

    work = args.work or Path(tempfile.mkdtemp(prefix="codehunt-mining-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    files = copy_stdlib(work / "stdlib")
    print(f"stdlib: {files} .py files copied to {work / 'stdlib'} (test dirs excluded)")

    started = time.perf_counter()
    mined = mine_pairs(PairsConfig(source=work / "stdlib", output=work / "pairs.jsonl", limit=args.limit))
    mine_seconds = time.perf_counter() - started
    print(f"pairs: {mined.pairs} in {mine_seconds:.1f}s ({mined.pairs / mine_seconds:.0f} pairs/s); dropped {mined.dropped}")
    print(f"peak RSS after pair mining: {peak_rss_mb():.0f} MB")

    started = time.perf_counter()
    encoder = SentenceTransformerEncoder(EncoderConfig(model=args.model))
    print(f"model load: {time.perf_counter() - started:.1f}s (excluded from the rates below)")

    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    filtered = filter_consistent_pairs(
        FilterConfig(input=work / "pairs.jsonl", output=work / "pairs.filtered.jsonl", top_k=args.top_k, cache_dir=cache),
        encoder=encoder,
    )
    share = filtered.dropped / filtered.pairs
    print(
        f"filter (cold cache, includes encoding {filtered.pairs} queries + positives): {filtered.seconds:.1f}s, "
        f"{filtered.pairs / filtered.seconds:.1f} pairs/s; kept {filtered.kept}, dropped {filtered.dropped} ({share:.1%})"
    )
    print(f"peak RSS after filtering: {peak_rss_mb():.0f} MB")
    refiltered = filter_consistent_pairs(
        FilterConfig(input=work / "pairs.jsonl", output=work / "again.jsonl", top_k=args.top_k, cache_dir=cache), encoder=encoder
    )
    assert refiltered.kept == filtered.kept
    print(f"filter again (warm cache): {refiltered.seconds:.1f}s, {refiltered.pairs / refiltered.seconds:.0f} pairs/s")

    negatives = mine_negatives(
        NegativesConfig(
            input=work / "pairs.filtered.jsonl", output=work / "triples.jsonl", num_negatives=args.num_negatives,
            cache_dir=cache, seed=args.seed,
        ),
        encoder=encoder,
    )
    report = json.loads(negatives.report.read_text(encoding="utf-8"))
    print(
        f"negatives (dense + BM25 over the {report['corpus_documents']} kept positives, warm cache for the kept texts): "
        f"{negatives.seconds:.1f}s, {negatives.pairs / negatives.seconds:.0f} pairs/s; rows {negatives.rows}, "
        f"skipped {negatives.skipped}; guard drops {report['guard_drops']}"
    )
    print(f"peak RSS after negative mining: {peak_rss_mb():.0f} MB")

    rng = random.Random(args.seed)
    kept = [json.loads(line) for line in filtered.output.read_text(encoding="utf-8").splitlines()]
    dropped = [json.loads(line) for line in filtered.dropped_output.read_text(encoding="utf-8").splitlines()]
    print("\n=== 20 kept pairs ===")
    for record in rng.sample(kept, min(20, len(kept))):
        print(show(record))
    print("\n=== 20 dropped pairs (with the positive that out-ranked them) ===")
    for record in rng.sample(dropped, min(20, len(dropped))):
        print(show(record, f"  score {record['score']:.3f} < {record['best_competitor_score']:.3f} of {record['best_competitor_id']}"))
    triples = [json.loads(line) for line in negatives.output.read_text(encoding="utf-8").splitlines()]
    print("\n=== 3 triples ===")
    for row in rng.sample(triples, min(3, len(triples))):
        print(f"  Q: {row['anchor']}\n  +: {row['positive_id']} ({row['positive_score']:.3f})")
        for i in range(1, args.num_negatives + 1):
            print(f"  -: {row[f'negative_{i}_id']} ({row[f'negative_{i}_score']:.3f}, rank {row[f'negative_{i}_rank']}, {row[f'negative_{i}_source']})")
    summary = {
        "pairs": mined.pairs, "limit": args.limit, "mine_pairs_per_s": mined.pairs / mine_seconds,
        "filter_pairs_per_s_cold": filtered.pairs / filtered.seconds, "filter_pairs_per_s_warm": refiltered.pairs / refiltered.seconds,
        "dropped_share": share, "negatives_pairs_per_s": negatives.pairs / negatives.seconds,
        "peak_rss_mb": peak_rss_mb(), "work": str(work),
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"\nsummary: {json.dumps(summary)}")


if __name__ == "__main__":
    main()
