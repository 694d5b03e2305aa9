"""Localization training data from real fixes: commit message -> the functions the commit changed, mined from the
git histories of many public Python repositories that the evaluation does not use.

    python benchmarks/fix_pairs.py --repos /tmp/fix-repos --work /tmp/fix [--top-k 20 --top-k 100] [--dev-repo NAME] \
        [--negatives 7]

``--repos`` holds one git repository (bare or a work tree, or a link to one) per project, named ``owner__name``.

1. Every repository through ``codehunt mine pairs --kind commits`` with the leakage rules of
   ``../shared/data/training_exclusions.txt``: a repository it lists (every repository the localization
   evaluation uses is among them) yields nothing and is reported as dropped; test code is never a positive. Each
   repository's part is kept in ``WORK/parts`` and reused by a later run (delete it to mine again); a repository
   that cannot be read (a partial mirror) is reported and left out.
2. One pass over the concatenation drops positives seen twice (vendored copies across repositories), and each
   positive is written as a localization index embeds a unit (``path qualname`` line, then the code:
   ``codehunt.index.corpus.embedding_text``), so training sees what ``codehunt localize`` ranks.
3. With ``--top-k``: the localization-aware consistency filter (``codehunt mine filter --group-by repo``): a pair
   is kept when its changed function ranks within the top K for its commit message among the functions mined from
   its own repository, for each K asked; the report gives the kept share per repository. ``WORK/pairs.top{K}.jsonl``
   is ready for ``codehunt train retriever``.
4. With ``--dev-repo NAME`` (repeatable): those repositories are held out of every training file
   (``WORK/pairs.top{K}.train.jsonl``, and ``WORK/pairs.all.train.jsonl``: every pair, unfiltered, the filter's
   control arm) and their unfiltered pairs become a BEIR dev set in ``WORK/dev`` (commit message -> the functions
   it changed), for ``codehunt train retriever --dev WORK/dev``: steps are chosen on repositories the model never
   saw, none of them an evaluation repository.
5. With ``--negatives N`` (needs ``--dev-repo``): each training file gets N hard negatives per pair, dense + BM25
   from the pair's own repository (``codehunt mine negatives --group-by repo``), in ``WORK/triples.top{K}.jsonl``,
   for ``codehunt train reranker``.

Prints one table: pairs and the main skip reasons per repository, then the filter rows.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
REPORT_LINE = re.compile(r"wrote (\d+) .* pairs to .*; dropped: (\{.*\})")


class CommandFailed(Exception):
    """A codehunt child process exited non-zero; the message is its last stderr line."""


def codehunt(*args: str) -> str:
    """Run one codehunt command in a child process; its last stderr line (the summary)."""
    done = subprocess.run([sys.executable, "-m", "codehunt", *args], capture_output=True, text=True, check=False)
    last = (done.stderr.strip().splitlines() or [""])[-1]
    if done.returncode != 0:
        raise CommandFailed(f"codehunt {' '.join(args[:2])} failed: {last}")
    return last


def mine_repository(repo: Path, part: Path, exclusions: Path, max_commits: int | None) -> dict:
    """Commit pairs of one repository (reused when its part exists), with the skip counts of its report."""
    summary_path = part.with_suffix(".summary.json")
    if part.is_file() and summary_path.is_file():
        return json.loads(summary_path.read_text(encoding="utf-8"))
    options = ["--max-commits", str(max_commits)] if max_commits else []
    began = time.perf_counter()
    try:
        line = codehunt("mine", "pairs", str(repo), "-o", str(part), "--kind", "commits", "--exclusions", str(exclusions), *options)
    except CommandFailed as failed:  # e.g. a partial mirror that lacks old objects: reported, not fatal
        line = str(failed)
        print(f"  {repo.name}: {line}", file=sys.stderr)
    match = REPORT_LINE.search(line)
    summary = {"pairs": int(match.group(1)) if match else 0,
               "dropped": json.loads(match.group(2).replace("'", '"')) if match else {}, "line": line,
               "failed": match is None, "seconds": round(time.perf_counter() - began, 1)}
    if not part.is_file():  # nothing kept (an excluded repository): an empty part, so the run is resumable
        part.write_text("", encoding="utf-8")
    summary_path.write_text(json.dumps(summary), encoding="utf-8")
    return summary


def write_as_indexed(source: Path, target: Path) -> int:
    """Rewrite each pair's positive the way the index embeds its unit; returns the number of pairs."""
    from codehunt.index.corpus import embedding_text
    from codehunt.index.storage import write_jsonl_atomic
    from codehunt.index.types import Chunk
    from codehunt.mining.records import read_pairs

    def records():
        for pair in read_pairs(source):
            chunk = Chunk(pair.positive_id, pair.path, pair.qualname, "function", "python", 1, 1, pair.positive)
            yield {**pair.to_json(), "positive": embedding_text(chunk)}

    return write_jsonl_atomic(target, records())


def write_dev_set(pairs_path: Path, repos: set[str], folder: Path) -> tuple[int, int]:
    """A BEIR folder (corpus, queries, qrels/dev.tsv) from the pairs of ``repos``; (queries, documents)."""
    from codehunt.index.storage import write_jsonl_atomic, write_text_atomic
    from codehunt.mining.records import normalize_whitespace, read_pairs

    documents: dict[str, dict] = {}
    queries: dict[str, str] = {}
    judged: dict[str, set[str]] = {}
    for pair in read_pairs(pairs_path):
        if pair.repo not in repos:
            continue
        doc_id = f"{pair.repo}:{pair.positive_id}"
        documents.setdefault(doc_id, {"_id": doc_id, "title": "", "text": pair.positive, "path": pair.path})
        query = normalize_whitespace(pair.query)
        query_id = queries.setdefault(query, f"q{len(queries)}")
        judged.setdefault(query_id, set()).add(doc_id)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(folder / "corpus.jsonl", documents.values())
    write_jsonl_atomic(folder / "queries.jsonl", ({"_id": qid, "text": text} for text, qid in queries.items()))
    rows = "".join(f"{qid}\t{doc}\t1\n" for qid, docs in judged.items() for doc in sorted(docs))
    write_text_atomic(folder / "qrels" / "dev.tsv", "query-id\tcorpus-id\tscore\n" + rows)
    return len(queries), len(documents)


def without_repos(source: Path, target: Path, repos: set[str]) -> int:
    """``source``'s pairs minus those of ``repos``; returns how many are left."""
    from codehunt.index.storage import write_jsonl_atomic
    from codehunt.mining.records import read_pairs

    return write_jsonl_atomic(target, (p.to_json() for p in read_pairs(source) if p.repo not in repos))


def mine_negatives(train: Path, triples: Path, negatives: int, model: str, cache: Path) -> None:
    """Hard negatives for the reranker, each from the pair's own repository: the functions a localizer weighs a
    fix against, not another project's (easy) code."""
    codehunt("mine", "negatives", str(train), "-o", str(triples), "--group-by", "repo", "--num-negatives", str(negatives),
             "--model", model, "--cache-dir", str(cache))
    report = json.loads(triples.with_name(f"{triples.name[: -len('.jsonl')]}.report.json").read_text(encoding="utf-8"))
    print(f"  hard negatives ({negatives} per pair, own repository): {report['rows']} rows, "
          f"{report['skipped_too_few_negatives']} skipped, guards dropped {report['guard_drops']}, {report['seconds']:.0f} s")


def main() -> None:
    try:
        run()
    except CommandFailed as failed:
        sys.exit(str(failed))


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=Path, required=True, help="folder of owner__name git repositories")
    parser.add_argument("--work", type=Path, default=Path("/tmp/codehunt-fixes"))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-commits", type=int, default=None, help="newest commits read per repository")
    parser.add_argument("--top-k", type=int, action="append", default=[], help="filter with this K (repeatable)")
    parser.add_argument("--model", default="default", help="the filter's scorer model")
    parser.add_argument("--dev-repo", action="append", default=[], help="hold this repository out as the dev set")
    parser.add_argument("--negatives", type=int, default=0,
                        help="hard negatives per training pair, from its own repository (for the reranker; 0: none)")
    parser.add_argument("--reverse", action="store_true", help="mine the repositories in reverse order")
    parser.add_argument("--mine-only", action="store_true",
                        help="stop after mining the parts (a second process with --reverse shares the work)")
    args = parser.parse_args()
    if args.negatives and not args.dev_repo:
        parser.error("--negatives mines the training files, which need --dev-repo")
    exclusions = args.data / "training_exclusions.txt"
    if not exclusions.is_file():
        sys.exit(f"{exclusions} is missing: the leakage rules are required to mine training data")
    if not args.repos.is_dir():
        sys.exit(f"{args.repos} is not a folder: pass a folder of owner__name git repositories")
    parts = args.work / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    repos = sorted(p for p in args.repos.iterdir() if not p.name.startswith("."))
    summaries: dict[str, dict] = {}
    for number, repo in enumerate(reversed(repos) if args.reverse else repos, 1):
        summaries[repo.name] = mine_repository(repo, parts / f"{repo.name}.jsonl", exclusions, args.max_commits)
        print(f"mined {number}/{len(repos)} repositories: {repo.name} {summaries[repo.name]['pairs']} pairs", file=sys.stderr)
    if args.mine_only:
        return
    raw = args.work / "pairs.raw.jsonl"
    with raw.open("w", encoding="utf-8") as handle:
        for repo in repos:
            handle.write((parts / f"{repo.name}.jsonl").read_text(encoding="utf-8"))
    deduped = args.work / "pairs.deduped.jsonl"
    dedupe_line = codehunt("mine", "pairs", str(raw), "-o", str(deduped), "--kind", "file", "--exclusions", str(exclusions))
    pairs = args.work / "pairs.jsonl"
    write_as_indexed(deduped, pairs)

    print("| repository | pairs | excluded | test code | no function changed | huge | version bump | short message |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, summary in summaries.items():
        dropped = summary["dropped"]
        print(f"| {name} | {summary['pairs']} | {dropped.get('excluded-project', 0)} | {dropped.get('test-code', 0)} "
              f"| {dropped.get('no-function-changed', 0)} "
              f"| {dropped.get('huge-commit', 0)} | {dropped.get('version-bump', 0)} | {dropped.get('short-message', 0)} |")
    total = sum(s["pairs"] for s in summaries.values())
    with_pairs = sum(1 for s in summaries.values() if s["pairs"])
    failed = [name for name, s in summaries.items() if s.get("failed")]
    print(f"\n{total} raw pairs from {with_pairs} repositories; across repositories: {dedupe_line}")
    if failed:
        print(f"could not be read (left out): {', '.join(failed)}")
    for k in args.top_k:
        filtered = args.work / f"pairs.top{k}.jsonl"
        codehunt("mine", "filter", str(pairs), "-o", str(filtered), "--group-by", "repo", "--top-k", str(k),
                 "--model", args.model, "--cache-dir", str(args.work / "cache"))
        report = json.loads(filtered.with_name(f"pairs.top{k}.report.json").read_text(encoding="utf-8"))
        print(f"filter top-{k} within the own repository: kept {report['kept']} of {report['pairs']} "
              f"({report['kept_share']:.1%}), {report['seconds']:.0f} s")
        if args.dev_repo:
            train = args.work / f"pairs.top{k}.train.jsonl"
            left = without_repos(filtered, train, set(args.dev_repo))
            print(f"  without the dev repositories: {left} training pairs")
            if args.negatives:
                mine_negatives(train, args.work / f"triples.top{k}.jsonl", args.negatives, args.model, args.work / "cache")
    if args.dev_repo:
        left = without_repos(pairs, args.work / "pairs.all.train.jsonl", set(args.dev_repo))
        print(f"unfiltered, without the dev repositories: {left} training pairs ({args.work / 'pairs.all.train.jsonl'})")
        queries, documents = write_dev_set(pairs, set(args.dev_repo), args.work / "dev")
        print(f"dev set {args.work / 'dev'} ({', '.join(args.dev_repo)}): {queries} queries, {documents} documents")


if __name__ == "__main__":
    main()
