"""The file-level code-search dev set (``../shared/data/codesearch_files``): load it, bring its sources, score.

Natural-language, architecture and symbol queries over real repositories pinned at a revision, each judged by
the files that answer it (derived from MinishLab/semble's benchmark). Scored as that benchmark defines it
(:func:`codehunt.index.metrics.first_match_ndcg`): per query nDCG@10, a repository's score is the mean over its
queries, the overall score the mean over repositories, a category's the mean over repositories of their
category means.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from codehunt.index.errors import BadInputError
from codehunt.index.metrics import first_match_ndcg
from codehunt.index.storage import read_jsonl_objects
from codehunt.index.trec import read_qrels_tsv

CATEGORIES = ("semantic", "architecture", "symbol")


@dataclass(frozen=True)
class CodesearchRepo:
    """One repository of the set: where it comes from, its queries (id -> text, category) and judged files."""

    name: str
    language: str
    repository: str
    revision: str
    root: str | None
    queries: dict[str, str]
    categories: dict[str, str]
    qrels: dict[str, set[str]]


def load_codesearch_files(folder: Path, split: str = "dev") -> list[CodesearchRepo]:
    """Every repository of the set in ``folder`` (``repos.jsonl`` + ``<name>/queries.jsonl`` + qrels)."""
    folder = Path(folder)
    repos_file = folder / "repos.jsonl"
    if not repos_file.is_file():
        raise BadInputError(f"{repos_file} is missing: point at the codesearch_files folder of the shared data")
    repos = []
    for _, record in read_jsonl_objects(repos_file, "a repository record (name, repository, revision)"):
        name = record["name"]
        qrels_raw = read_qrels_tsv(folder / name / "qrels" / f"{split}.tsv")
        queries: dict[str, str] = {}
        categories: dict[str, str] = {}
        for _, query in read_jsonl_objects(folder / name / "queries.jsonl", "a query record (_id, text, category)"):
            qid = str(query["_id"])
            if qid in qrels_raw:
                queries[qid] = query["text"]
                categories[qid] = query.get("category", "semantic")
        qrels = {qid: {path for path, grade in judged.items() if grade > 0} for qid, judged in qrels_raw.items()}
        repos.append(CodesearchRepo(name, record.get("language", ""), record["repository"], record["revision"],
                                    record.get("root"), queries, categories, qrels))
    return repos


def find_git_dir(repos_dir: Path, repository: str) -> Path | None:
    """A git directory for ``owner/name`` under ``repos_dir``: ``owner__name``, ``owner+name/repo``, ``name``."""
    owner, name = repository.split("/", 1)
    for candidate in (repos_dir / f"{owner}__{name}", repos_dir / f"{owner}+{name}" / "repo", repos_dir / name,
                      repos_dir / f"{owner}__{name}.git", repos_dir / f"{name}.git"):
        if candidate.is_dir():
            return candidate
    return None


def checkout_source(repo: CodesearchRepo, git_dir: Path, cache: Path) -> Path:
    """``repo.root`` at ``repo.revision``, extracted once under ``cache`` (paths relative to root, as the qrels)."""
    target = cache / f"{repo.name}-{repo.revision[:12]}"
    if target.is_dir():
        return target
    args = ["git", "--git-dir", str(git_dir), "archive", "--format=tar", repo.revision]
    if repo.root:
        args.append(repo.root)
    result = subprocess.run(args, capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise BadInputError(f"git archive {repo.revision[:12]} failed in {git_dir}: {message}; fetch that revision")
    staging = cache / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    prefix = f"{repo.root.rstrip('/')}/" if repo.root else ""
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            relative = member.name[len(prefix):]
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            extracted = archive.extractfile(member)
            if extracted is not None:
                destination.write_bytes(extracted.read())
    staging.rename(target)
    return target


def score_queries(repo: CodesearchRepo, ranked_paths: Mapping[str, Sequence[str]], k: int = 10) -> dict[str, float]:
    """Per query id, nDCG@k of its ranked paths against the judged files."""
    return {qid: first_match_ndcg(ranked_paths.get(qid, []), repo.qrels[qid], k) for qid in repo.queries}


def summarise(repos: Sequence[CodesearchRepo], per_query: Mapping[str, float]) -> dict[str, float]:
    """Overall (mean over repositories) and per-category scores, as the benchmark averages them."""
    overall = []
    by_category: dict[str, list[float]] = {category: [] for category in CATEGORIES}
    for repo in repos:
        values = [per_query[qid] for qid in repo.queries]
        overall.append(sum(values) / len(values))
        for category in CATEGORIES:
            chosen = [per_query[qid] for qid in repo.queries if repo.categories[qid] == category]
            if chosen:
                by_category[category].append(sum(chosen) / len(chosen))
    summary = {"all": sum(overall) / len(overall)}
    summary.update({category: sum(v) / len(v) for category, v in by_category.items() if v})
    return summary
